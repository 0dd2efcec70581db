"""A page in place of the API's JSON is named by host, status and content type, whatever it is labelled."""

from __future__ import annotations

import pytest
import requests

from crm_ops.connectors.answers import check
from crm_ops.errors import NotApiAnswerError

PAGE = b"<!doctype html><html><head><title>Sign in to Corp SSO</title></head><body>...</body></html>"


def _answer(content_type: str, body: bytes, status: int = 200) -> requests.Response:
    answer = requests.Response()
    answer.status_code, answer._content = status, body
    answer.headers["Content-Type"] = content_type
    answer.url = "https://acme.my.salesforce.com/services/data/v61.0/query?q=SELECT+Id+FROM+Contact"
    return answer


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "application/json;charset=UTF-8", ""])
def test_a_sign_in_page_is_not_the_api_s_answer_whatever_its_label(content_type: str) -> None:
    with pytest.raises(NotApiAnswerError) as caught:
        check("salesforce", _answer(content_type, b"\n  " + PAGE))
    message = str(caught.value)
    assert "acme.my.salesforce.com answered 200" in message and "Sign in to Corp SSO" in message


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"totalSize": 0, "records": []}'),
        ("application/json", b"[]"),
        ("text/xml", b"<?xml version='1.0'?><soapenv:Envelope/>"),  # SOAP answers are markup
        ("text/csv", b'"Id","Title"\n'),
        ("text/html", b""),  # 204-like: nothing to parse
    ],
)
def test_the_api_s_own_answers_pass(content_type: str, body: bytes) -> None:
    check("salesforce", _answer(content_type, body))
