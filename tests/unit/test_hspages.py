"""The HubSpot pull's fast paths (issue 30) give what the slow ones gave: the list and association calls sent
around the client's request building are the client's own requests (URL, query, headers, body), their
error answers are translated the same, and association answers decoded by polars are the links the
orjson walk finds (the way every answer was read before), for the shapes HubSpot answers in; an answer
polars cannot read falls back to that walk, and a proxy's page is still reported as one."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import orjson
import polars as pl
import pytest
from hubspot import HubSpot

from crm_ops.connectors import hspages
from crm_ops.connectors.hsapi import HubSpotApis, RawCalls, RawFailureError
from crm_ops.connectors.hserrors import translate
from crm_ops.errors import FatalApiError, NotApiAnswerError, RetriableApiError

HOST = "https://api.hubapi.example"
TOKEN = "pat-na1-test"


class _Answer:
    """What urllib3 gives back: status, reason, headers, the body's bytes."""

    def __init__(self, body: bytes = b"{}", status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.data, self.status, self.reason = body, status, "OK" if status < 400 else "Too Many Requests"
        self.headers = headers or {"Content-Type": "application/json"}


def _capture(pool: Any, monkeypatch: pytest.MonkeyPatch, answer: _Answer) -> list[dict[str, Any]]:
    """Each request the pool is asked to send, as (method, full URL, headers, JSON body)."""
    sent: list[dict[str, Any]] = []

    def request(method: str, url: str, fields: Any = None, body: Any = None, **kw: Any) -> _Answer:
        if fields:  # the client hands GET parameters to urllib3, which encodes them so
            url += "?" + urlencode(fields)
        headers = dict(kw["headers"])
        sent.append(
            {"method": method, "url": url, "headers": headers, "body": json.loads(body) if body else None}
        )
        return answer

    monkeypatch.setattr(pool, "request", request)
    return sent


@pytest.fixture
def apis() -> HubSpotApis:
    return HubSpotApis(HubSpot(access_token=TOKEN, host=HOST))


@pytest.mark.parametrize("after", [None, "100000200"])
@pytest.mark.parametrize("archived", [False, True])
def test_a_list_page_is_the_request_the_client_sends(
    apis: HubSpotApis, monkeypatch: pytest.MonkeyPatch, after: str | None, archived: bool
) -> None:
    props = ["email", "firstname", "hs_object_id", "weird name&=ü"]
    sent = _capture(apis.objects.api_client.rest_client.pool_manager, monkeypatch, _Answer())
    kwargs: dict[str, Any] = {"after": after} if after else {}
    apis.objects.get_page(
        "contacts", limit=100, properties=props, archived=archived, _preload_content=False, **kwargs
    )
    raw = RawCalls(apis, TOKEN)
    raw.list_page("contacts", 100, raw.list_query(props), after, archived, _preload_content=False,
                  _request_timeout=(5.0, 60.0))  # fmt: skip
    assert sent[0] == sent[1]
    assert sent[1]["headers"]["Authorization"] == f"Bearer {TOKEN}"


def test_an_association_read_is_the_request_the_client_sends(
    apis: HubSpotApis, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [{"id": str(i)} for i in range(100000000, 100001000)] + [{"id": "100000007", "after": "MTAw"}]
    sent = _capture(apis.associations.api_client.rest_client.pool_manager, monkeypatch, _Answer())
    apis.associations.get_page(
        "contacts",
        "companies",
        batch_input_public_fetch_associations_batch_request={"inputs": ids},
        _preload_content=False,
    )
    client_sent = sent[0]
    sent = _capture(apis.objects.api_client.rest_client.pool_manager, monkeypatch, _Answer())
    RawCalls(apis, TOKEN).association_read(
        "contacts",
        "companies",
        orjson.dumps({"inputs": ids}),
        _preload_content=False,
        _request_timeout=(5, 60),
    )
    assert sent == [client_sent]


def test_an_error_answer_of_a_raw_call_is_translated_as_the_clients(
    apis: HubSpotApis, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = json.dumps({"status": "error", "policyName": "TEN_SECONDLY_ROLLING", "message": "slow down"})
    _capture(apis.objects.api_client.rest_client.pool_manager, monkeypatch, _Answer(body.encode(), 429))
    raw = RawCalls(apis, TOKEN)
    with pytest.raises(RawFailureError) as failed:
        raw.list_page("contacts", 100, "", None, False, _preload_content=False, _request_timeout=(5, 60))
    mapped = translate(failed.value)
    assert isinstance(mapped, RetriableApiError)
    assert (mapped.status, mapped.code, mapped.retry_after) == (429, "TEN_SECONDLY_ROLLING", 1.0)
    _capture(
        apis.objects.api_client.rest_client.pool_manager, monkeypatch, _Answer(b'{"message": "no"}', 400)
    )
    with pytest.raises(RawFailureError) as refused:
        raw.association_read("contacts", "companies", b"{}", _preload_content=False, _request_timeout=(5, 60))
    assert isinstance(translate(refused.value), FatalApiError)


def _link(to: int, *kinds: tuple[int | None, str | None]) -> dict[str, Any]:
    return {
        "toObjectId": to,
        "associationTypes": [
            {"category": "HUBSPOT_DEFINED", "typeId": t, "label": label} for t, label in kinds
        ],
    }


UNLABELLED, PRIMARY = (279, None), (1, "Primary")
ANSWERS = {
    "primary second": {
        "status": "COMPLETE",
        "results": [
            {"from": {"id": "1"}, "to": [_link(200, UNLABELLED), _link(201, UNLABELLED, PRIMARY)]},
            {"from": {"id": "2"}, "to": [_link(300, UNLABELLED)]},
            {"from": {"id": "3"}, "to": []},
            {"from": {"id": "4"}, "to": [_link(400, (None, "Primary")), _link(401, (5, None))]},
            {"from": {"id": "5"}, "to": [_link(500)]},
        ],
        "startedAt": "2026-12-01T00:00:00Z",
    },
    "paged": {
        "results": [
            {
                "from": {"id": "7"},
                "to": [_link(700, UNLABELLED)],
                "paging": {"next": {"after": "MTAx", "link": "?after=MTAx"}},
            },
            {"from": {"id": "8"}, "to": [_link(800, (2, "Primary"))], "paging": {"next": {"after": ""}}},
        ]
    },
    "unicode labels": {"results": [{"from": {"id": "9"}, "to": [_link(900, (77, 'Entscheider "ü" 🙂'))]}]},
    "nothing": {"results": []},
    "no results key": {},
    "errors beside results": {
        "status": "COMPLETE",
        "results": [{"from": {"id": "1"}, "to": [_link(2, PRIMARY)]}],
        "numErrors": 1,
        "errors": [
            {"status": "error", "category": "OBJECT_NOT_FOUND", "message": "x", "context": {"id": ["9"]}}
        ],
    },
}


@pytest.mark.parametrize("name", ANSWERS)
def test_polars_reads_an_association_answer_as_the_orjson_walk_does(name: str) -> None:
    raw = json.dumps(ANSWERS[name]).encode()
    fast = hspages.decode_links(raw)
    assert fast is not None, "polars reads every shape HubSpot answers in"
    slow = hspages.links_of(orjson.loads(raw))
    assert fast.frame.equals(slow.frame)
    assert fast.pending == slow.pending


def test_the_primary_link_is_the_first_marked_one_else_the_first() -> None:
    links = hspages.decode_links(json.dumps(ANSWERS["primary second"]).encode())
    assert links is not None
    ids = pl.Series(["5", "1", "2", "3", "4", "6", "1"])
    assert hspages.primary_of(links.frame, ids).to_list() == ["500", "201", "300", None, "400", None, "201"]
    paged = hspages.decode_links(json.dumps(ANSWERS["paged"]).encode())
    assert paged is not None and paged.pending == [{"id": "7", "after": "MTAx"}]


@pytest.mark.parametrize(
    "body",
    [
        b'{"results":[{"from":{"id":"1"},"to":[{"toObjectId":2,"associationTypes":[{"typeId":"1"}]}]}]}',
        b'{"results": [{"from": {"id": "1"}, "to": [{"toObjectId": [2]}]}]}',
        b'{"results": [{"from": {"id": "1"}, "to": [{"toObjectId": {"id": 2}}]}]}',
        b"[1, 2]",
    ],
)
def test_an_answer_polars_cannot_read_is_walked_by_orjson(body: bytes) -> None:
    assert hspages.decode_links(body) is None
    read = hspages.read_links(lambda response: orjson.loads(response.data))
    links = read(_Answer(body))
    assert links.frame.equals(hspages.links_of(orjson.loads(body)).frame)


def test_a_proxys_page_in_place_of_an_association_answer_is_reported_as_one() -> None:
    page = b"<html><head><title>Sign in to Example Proxy</title></head></html>"

    def parse(response: Any) -> Any:
        from crm_ops.connectors.hubspot import _parsed

        return _parsed(HOST, response)

    with pytest.raises(NotApiAnswerError, match="Sign in to Example Proxy"):
        hspages.read_links(parse)(_Answer(page, headers={"Content-Type": "text/html"}))


def test_rows_are_the_records_properties_with_their_id_and_tombstone_stamp() -> None:
    results = [
        {
            "id": "1",
            "properties": {"email": "a@x.io", "lastmodifieddate": "2026-01-01T00:00:00Z"},
            "archived": False,
        },
        {
            "id": "2",
            "properties": {"lastmodifieddate": "2026-01-01T00:00:00Z"},
            "archived": True,
            "archivedAt": "2026-02-01T00:00:00.000Z",
        },
        {"properties": {"hs_object_id": "3"}, "archived": True, "archivedAt": "1700000000000"},
    ]
    rows = hspages.rows(results, "lastmodifieddate")
    assert [r["hs_object_id"] for r in rows] == ["1", "2", "3"]
    assert [r["archived"] for r in rows] == ["false", "true", "true"]
    assert rows[1]["lastmodifieddate"] == "2026-02-01T00:00:00.000Z"  # deleted after its last change
    assert rows[2]["lastmodifieddate"] == "1700000000000"
