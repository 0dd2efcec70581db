"""How the connectors reach a CRM over the network: proxies from the environment, TLS verified our way.

Corporate networks put a forward proxy between crm-ops and the CRM (``HTTPS_PROXY`` / ``HTTP_PROXY``,
with ``NO_PROXY`` for the hosts that skip it). ``requests`` honours those only with ``trust_env`` on,
and ``trust_env`` also lets ``REQUESTS_CA_BUNDLE`` replace the CA a session was told to verify against
and lets ``~/.netrc`` replace the bearer token. ``CrmSession`` keeps ``trust_env`` off and takes just the
proxies from the environment, per URL, so TLS is still verified against the configured CA bundle (or
the system store) whatever the environment says, through the proxy's tunnel.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from requests.utils import get_environ_proxies

if TYPE_CHECKING:
    from requests.sessions import _Settings


class CrmSession(requests.Session):
    """A requests session for one CRM: environment proxies (NO_PROXY honoured), our own TLS trust."""

    def __init__(self, ca_bundle: str | None, connect_timeout: float | None = None) -> None:
        super().__init__()
        self.trust_env = False  # no REQUESTS_CA_BUNDLE over our CA, no netrc over our token
        self.verify = ca_bundle or True
        self.connect_timeout = connect_timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        """A request whose connection is made within ``connect_timeout`` (the answer's wait as given)."""
        timeout = kwargs.get("timeout")
        if self.connect_timeout is not None and not isinstance(timeout, tuple):
            connect = self.connect_timeout if timeout is None else min(self.connect_timeout, timeout)
            kwargs["timeout"] = (connect, timeout)
        return super().request(method, url, *args, **kwargs)

    def merge_environment_settings(
        self,
        url: str | bytes | None,
        proxies: Mapping[str, str] | None,
        stream: bool | None,
        verify: bool | str | None,
        cert: Any,
    ) -> _Settings:
        """The request's settings with the environment's proxy for ``url`` (none when NO_PROXY says so)."""
        target = url.decode() if isinstance(url, bytes) else url or ""
        merged = {**get_environ_proxies(target), **(proxies or {})}
        return super().merge_environment_settings(url, merged, stream, verify, cert)


def proxy_for(url: str) -> str | None:
    """The environment's proxy for ``url`` (``HTTPS_PROXY`` for https, ``HTTP_PROXY`` for http), or None
    when there is none or ``NO_PROXY`` covers the host. For a client that takes one proxy (HubSpot's)."""
    proxies = get_environ_proxies(url)
    scheme = urlsplit(url).scheme or "https"
    return proxies.get(scheme) or proxies.get("all")


def tls_hint(ca_bundle: str | None) -> str:
    """What to do about a certificate that does not verify, in words an admin can act on."""
    where = f"the CA bundle {ca_bundle}" if ca_bundle else "the system's certificate store"
    return (
        f"the server's TLS certificate does not verify against {where}; if a proxy inspects TLS, set "
        "ca_bundle to its CA bundle (verification is never turned off)"
    )


def proxy_hint(reason: object) -> str:
    """What to say when the proxy refused the connection or could not be reached."""
    return f"the proxy refused or could not be reached ({reason}); check HTTPS_PROXY / NO_PROXY"
