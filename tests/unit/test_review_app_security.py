"""The review app's guard (issue 29): 127.0.0.1 only, this run's token (then a session cookie) or 403,
another Host refused, each POST needing the page's CSRF token and this origin, a strict Content Security
Policy on every answer, CRM values escaped, and a stale write answered 409 with the reason."""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from crm_ops.plan import write_plan
from crm_ops.plan.format import Action, Header, Plan
from crm_ops.plan.reviewstate import ReviewState
from crm_ops.reviewapp import ReviewServer
from crm_ops.reviewapp.guard import CSP
from crm_ops.reviewapp.web import Review

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _plan() -> Plan:
    actions = tuple(
        Action("update", "salesforce", "Contact", f"003{i}", "email", f" u{i}@x.com", f"u{i}@x.com",
               "person.email.normalised", "warning", 0.99, "trim", label=HOSTILE, approved=True).with_id()
        for i in range(3)
    )  # fmt: skip
    return Plan(Header("20261207T140000-abcdef", "2026-12-07T14:00:00Z", "sandbox", version=3), actions)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ReviewServer]:
    plan = _plan()
    write_plan(plan, tmp_path)

    def no_refusal(action_id: str, value: str | None) -> list[str]:
        return []  # the rules' check of an edit is tested in test_review_app_browser, test_review_edits

    review = Review(plan, ReviewState(tmp_path, plan), dict, no_refusal, "cron")
    with ReviewServer(review) as server:
        yield server


def _ask(
    server: ReviewServer, method: str, path: str, body: object = None, **headers: str
) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    data = None if body is None else json.dumps(body).encode()
    sent = {"Host": f"127.0.0.1:{server.port}", **{k.replace("_", "-"): v for k, v in headers.items()}}
    if data is not None:
        sent["Content-Type"] = "application/json"
    connection.request(method, path, body=data, headers=sent)
    answer = connection.getresponse()
    answer.read()
    connection.close()
    return answer


def _session(server: ReviewServer) -> tuple[str, str, str]:
    """Signed in with the token: (cookie header, CSRF token, review state version)."""
    answer = _ask(server, "GET", f"/?token={server.review.token}")
    assert answer.status == 303 and answer.getheader("location") == "/"
    cookie = answer.getheader("set-cookie") or ""
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", "/", headers={"Cookie": cookie.split(";")[0]})
    page = connection.getresponse()
    html = page.read().decode()
    connection.close()
    assert page.status == 200 and page.getheader("content-security-policy") == CSP
    assert HOSTILE not in html and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', html)
    etag = re.search(r'data-etag="([^"]+)"', html)
    assert csrf and etag
    return cookie.split(";")[0], csrf.group(1), etag.group(1)


def test_without_the_token_or_from_another_host_every_request_is_refused(served: ReviewServer) -> None:
    assert _ask(served, "GET", "/").status == 403
    assert _ask(served, "GET", "/?token=wrong").status == 403
    assert _ask(served, "GET", "/static/app.css").status == 403
    refused = _ask(served, "GET", f"/?token={served.review.token}", Host="attacker.example:80")
    assert refused.status == 403 and refused.getheader("content-security-policy") == CSP
    cookie, _, _ = _session(served)
    assert _ask(served, "GET", "/", Cookie="crm_ops_review=forged").status == 403
    assert _ask(served, "GET", "/", Cookie=cookie).status == 200


def test_a_post_needs_the_csrf_token_and_this_origin_and_a_stale_one_is_409(served: ReviewServer) -> None:
    cookie, csrf, etag = _session(served)
    first = served.review.plan.actions[0].action_id
    decide = {"ids": [first], "answer": "no", "etag": etag}
    assert _ask(served, "POST", "/api/decide", decide, Cookie=cookie).status == 403
    assert _ask(served, "POST", "/api/decide", decide, Cookie=cookie, X_CSRF_Token="wrong").status == 403
    other = _ask(served, "POST", "/api/decide", decide, Cookie=cookie, X_CSRF_Token=csrf,
                 Origin="https://attacker.example")  # fmt: skip
    assert other.status == 403
    assert served.review.state.read().etag == etag  # nothing saved by any of them
    saved = _ask(served, "POST", "/api/decide", decide, Cookie=cookie, X_CSRF_Token=csrf, X_Reviewer="Ann")
    assert saved.status == 200
    assert served.review.state.read().reviewers[first][0] == "Ann"
    # the same page's version again: another reviewer saved since
    stale = _ask(served, "POST", "/api/decide", {**decide, "answer": "yes"}, Cookie=cookie, X_CSRF_Token=csrf)
    assert stale.status == 409
    assert served.review.state.read().answers[first] == "no"


def test_the_token_opens_one_tab_once_and_each_run_has_its_own_cookie(served: ReviewServer) -> None:
    cookie, _, _ = _session(served)
    name = cookie.split("=", 1)[0]
    other = Review(_plan(), served.review.state, dict, lambda a, v: [], "cron")
    assert name.startswith("crm_ops_review_") and name != other.secrets.cookie
    # the printed address again (history, scrollback, a process list): refused without this tab's cookie
    again = _ask(served, "GET", f"/?token={served.review.token}")
    assert again.status == 403 and again.getheader("set-cookie") is None
    # the tab it opened keeps working, and reopening the address in it is no refusal
    assert _ask(served, "GET", "/", Cookie=cookie).status == 200
    reopened = _ask(served, "GET", f"/?token={served.review.token}", Cookie=cookie)
    assert reopened.status == 303 and reopened.getheader("set-cookie") is None
    # another run's cookie name with this run's session: not this run's cookie
    assert _ask(served, "GET", "/", Cookie=f"crm_ops_review={served.review.session}").status == 403


def test_a_post_from_this_host_on_another_port_or_scheme_is_refused(served: ReviewServer) -> None:
    cookie, csrf, etag = _session(served)
    first = served.review.plan.actions[0].action_id
    decide = {"ids": [first], "answer": "no", "etag": etag}
    for origin in (
        "http://127.0.0.1:1",
        f"http://localhost:{served.port + 1}",
        f"https://127.0.0.1:{served.port}",
        "http://127.0.0.1",
    ):
        refused = _ask(served, "POST", "/api/decide", decide, Cookie=cookie, X_CSRF_Token=csrf, Origin=origin)
        assert refused.status == 403, origin
    assert served.review.state.read().etag == etag
    saved = _ask(served, "POST", "/api/decide", decide, Cookie=cookie, X_CSRF_Token=csrf,
                 Origin=f"http://127.0.0.1:{served.port}")  # fmt: skip
    assert saved.status == 200
