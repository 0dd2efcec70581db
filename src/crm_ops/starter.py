"""The commented config ``crm-ops init`` writes for a real org: safe defaults, never a secret.

What it chooses, and why (a person about to point crm-ops at production would choose the same):
- Salesforce signs in with the JWT bearer flow by default: username-password OAuth is blocked by default in
  orgs created since Summer '23, and a JWT key file never expires on a schedule. Client credentials (a
  My Domain URL) and password are one edit away, commented.
- ``production = true`` for a profile named prod (or when asked): apply and run refuse to write without
  ``--allow-production``.
- No ``[run] auto_apply``: the nightly batch plans and reports, and writes nothing until a person lists the
  rules they trust.
- Secrets are named, never written: the environment variables each one comes from are listed for the
  user to set (``crm-ops init`` prints them).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from crm_ops.config import HS_SECRETS, LOGIN_DOMAINS, SF_AUTH, SF_SECRETS
from crm_ops.errors import ConfigError

# What each secret is, in the words of the screen the user finds it on.
SECRET_WORDS = {
    "jwt_key_file": "path of the JWT private key (PEM) whose certificate the connected app holds",
    "client_secret": "the connected app's consumer secret",
    "password": "the integration user's password",
    "security_token": "the integration user's security token",
    "access_token": "a Salesforce session id",
}
# Which secrets each Salesforce auth method reads from the environment.
SF_AUTH_SECRETS = {
    "jwt": ("jwt_key_file",),
    "client_credentials": ("client_secret",),
    "password": ("password", "security_token", "client_secret"),
    "session": ("access_token",),
}
PROFILE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class StarterChoices:
    """What ``crm-ops init`` asks: the org, how to sign in, where state lives."""

    profile: str = "prod"
    salesforce: bool = True
    hubspot: bool = True
    auth: str = "jwt"
    login_url: str = "login"  # login, test, or the org's My Domain URL
    username: str = "integration@example.com"
    client_id: str = "REPLACE-with-the-connected-app-consumer-key"
    state_dir: str | None = None
    production: bool | None = None  # None: true for a profile named prod
    ca_bundle: str | None = None  # a TLS-inspecting proxy's CA (or a sandbox's); the system store otherwise
    hubspot_url: str = "https://api.hubapi.com"

    def check(self) -> None:
        """Every problem with the choices at once."""
        problems = []
        if not PROFILE_NAME.match(self.profile):
            problems.append(f"--profile {self.profile!r}: letters, digits, - and _ only")
        if self.auth not in SF_AUTH:
            problems.append(f"--auth {self.auth!r}: use one of {', '.join(SF_AUTH)}")
        if self.login_url not in LOGIN_DOMAINS and not self.login_url.startswith("https://"):
            problems.append(f"--login-url {self.login_url!r}: use login, test or your My Domain's URL")
        if self.auth == "client_credentials" and self.login_url in LOGIN_DOMAINS:
            problems.append(
                "--auth client_credentials posts to the org's own My Domain: give --login-url "
                "https://<your-domain>.my.salesforce.com"
            )
        if not (self.salesforce or self.hubspot):
            problems.append("nothing to configure: keep Salesforce or HubSpot")
        if problems:
            raise ConfigError(problems)

    @property
    def is_production(self) -> bool:
        """Whether the profile is marked production."""
        return self.profile == "prod" if self.production is None else self.production


def secret_variables(choices: StarterChoices) -> list[tuple[str, str]]:
    """(environment variable, what it holds) for each secret the config will read."""
    out = []
    if choices.salesforce:
        for name in SF_AUTH_SECRETS[choices.auth]:
            out.append((SF_SECRETS[name], f"Salesforce: {SECRET_WORDS[name]}"))
    if choices.hubspot:
        out.append((HS_SECRETS["token"], "HubSpot: the private app's access token"))
    return out


def starter_config(choices: StarterChoices) -> str:
    """The config file's text: one profile, commented, with the safe defaults above."""
    choices.check()
    p = choices.profile
    state = choices.state_dir or f".crm-ops/{p}"
    lines = [
        "# crm-ops configuration, written by `crm-ops init`. Secrets never go in this file: each one is read",
        "# from the environment variable named below (see `crm-ops init` output, or the README).",
        "# Check it with `crm-ops doctor --profile " + p + "` before the first pull.",
        "",
        f"[profiles.{p}]",
        f"state_dir = {json.dumps(state)}          # snapshots, journals and run reports (keep it private)",
        f"production = {'true' if choices.is_production else 'false'}"
        "                 # true: apply and run write only with --allow-production",
        "",
    ]
    if choices.salesforce:
        login = choices.login_url
        lines += [
            f"[profiles.{p}.salesforce]",
            f"auth = {json.dumps(choices.auth)}"
            "                     # jwt | client_credentials | password | session",
            f"login_url = {json.dumps(login)}"
            "                # login, test, or https://<your-domain>.my.salesforce.com",
            f"username = {json.dumps(choices.username)}   # the integration user",
            f"client_id = {json.dumps(choices.client_id)}",
            "# JWT: the connected app holds the certificate; the private key file comes from "
            + SF_SECRETS["jwt_key_file"],
            "# Username-password sign-in is blocked by default in orgs created since Summer '23: prefer jwt.",
            (
                f"ca_bundle = {json.dumps(choices.ca_bundle)}"
                if choices.ca_bundle
                else '# ca_bundle = "/etc/ssl/corp-ca.pem"  # if a proxy inspects TLS (HTTPS_PROXY is read)'
            ),
            "api_budget_share = 0.5                 # stop (resumably) before half the daily API allowance",
            "bulk_threshold = 20000                 # more rows than this go through Bulk API 2.0",
            "",
        ]
    if choices.hubspot:
        lines += [
            f"[profiles.{p}.hubspot]",
            f"# the private app token comes from {HS_SECRETS['token']}",
            f"base_url = {json.dumps(choices.hubspot_url)}",
            *([f"ca_bundle = {json.dumps(choices.ca_bundle)}"] if choices.ca_bundle else []),
            "rate_per_ten_seconds = 90              # under HubSpot's 100-190 per 10 s, room for others",
            "",
        ]
    lines += [
        f"[profiles.{p}.run]",
        "# The nightly batch (`crm-ops run`) writes nothing until you list the rules you trust, e.g.",
        '# auto_apply = ["tag:format"]',
        "# min_confidence = 0.95",
        *(
            [
                "# On this production profile a run that would apply something stops before it pulls",
                "# (exit 2) unless you let it write unattended here (or pass --allow-production):",
                "# allow_production = true",
            ]
            if choices.is_production
            else []
        ),
        'fail_on = "error"',
        "",
        f"# [profiles.{p}.maps.salesforce.Contact]",
        '# linked_id = "HubSpot_Contact_Id__c"   # where your org keeps the HubSpot id, if it does',
        "# email_opt_out = false                 # switch off an optional column your org hides",
        "",
    ]
    return "\n".join(lines)
