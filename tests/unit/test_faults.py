"""Fault profiles parse strictly and draw the same faults for the same seed; replies are lost only of
committed writes, told apart by operation."""

from __future__ import annotations

from email.message import Message

import pytest

from crm_ops.sandbox.http import (
    FAULT_PROFILES,
    FaultInjector,
    FaultProfile,
    Request,
    Response,
    parse_fault_profile,
)
from crm_ops.sandbox.lostreply import LostReplies, hubspot_operation, salesforce_operation


def test_named_and_custom_profiles() -> None:
    assert parse_fault_profile("flaky") is FAULT_PROFILES["flaky"]
    custom = parse_fault_profile("429=0.1, 503=0.2,drop=0.05,slow=0.01,slow_seconds=3")
    assert custom == FaultProfile(
        "custom", rate_429=0.1, rate_503=0.2, rate_drop=0.05, rate_slow=0.01, slow_seconds=3
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("429=2", "between 0 and 1"),
        ("404=0.1", "KEY=VALUE"),
        ("429=lots", "must be a number"),
        ("bogus", "KEY=VALUE"),
    ],
)
def test_bad_profiles_name_the_part_at_fault(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_fault_profile(text)


def test_draws_are_deterministic_and_near_their_rates() -> None:
    profile = FaultProfile("t", rate_429=0.1, rate_503=0.1, rate_drop=0.05)
    a = [FaultInjector(profile, seed=5).draw() for _ in range(1)]
    first, second = FaultInjector(profile, seed=5), FaultInjector(profile, seed=5)
    seq1 = [first.draw() for _ in range(5000)]
    seq2 = [second.draw() for _ in range(5000)]
    assert seq1 == seq2
    assert a[0] == seq1[0]
    assert 400 < seq1.count("429") < 600
    assert 400 < seq1.count("503") < 600
    assert 180 < seq1.count("drop") < 320
    assert first.counts["429"] == seq1.count("429")
    assert FaultInjector(FAULT_PROFILES["none"], seed=1).draw() is None


def test_a_named_profile_can_be_changed_entry_by_entry() -> None:
    changed = parse_fault_profile("real-world,validation=0.2,lock_row=0")
    base = FAULT_PROFILES["real-world"]
    assert (changed.rate_validation, changed.rate_lock_row) == (0.2, 0.0)
    assert changed.rate_concurrent == base.rate_concurrent and changed.daily_after == base.daily_after
    assert base.rate_lock_row > 0 and base.rate_validation > 0


def test_lost_replies_parse_with_their_operations() -> None:
    profile = parse_fault_profile("lost_reply=0.2,lost_reply_every=3,lost_reply_ops=merge+create")
    assert (profile.rate_lost_reply, profile.lost_reply_every) == (0.2, 3)
    assert profile.lost_reply_ops == ("merge", "create") and profile.loses_replies
    assert not profile.active and not parse_fault_profile("flaky").loses_replies
    with pytest.raises(ValueError, match="lost_reply_ops takes update\\+create"):
        parse_fault_profile("lost_reply=1,lost_reply_ops=merge+upsert")
    with pytest.raises(ValueError, match="between 0 and 1"):
        parse_fault_profile("lost_reply=1.5")


def _request(method: str, path: str, body: bytes = b"") -> Request:
    return Request(method, path, {}, Message(), body)


@pytest.mark.parametrize(
    ("method", "path", "body", "operation"),
    [
        ("POST", "/services/Soap/u/59.0", b"<s:Body><p:merge><p:request/></p:merge>", "merge"),
        ("POST", "/services/Soap/u/59.0", b"<s:Body><undelete><ids>1</ids></undelete>", "undelete"),
        ("POST", "/services/Soap/u/59.0", b"<s:Body><p:convertLead>", "convert"),
        ("POST", "/services/Soap/u/59.0", b"<s:Body><login>", None),
        ("PATCH", "/services/data/v59.0/composite/sobjects", b"{}", "update"),
        ("POST", "/services/data/v59.0/sobjects/Contact", b"{}", "create"),
        ("DELETE", "/services/data/v59.0/sobjects/Contact/003x", b"", "delete"),
        ("GET", "/services/data/v59.0/query", b"", None),
        ("POST", "/services/data/v59.0/jobs/ingest", b"{}", "bulk_open"),
        ("PUT", "/services/data/v59.0/jobs/ingest/750x/batches", b"Id\n1\n", "bulk_upload"),
        ("PATCH", "/services/data/v59.0/jobs/ingest/750x", b'{"state":"UploadComplete"}', "bulk_close"),
        ("POST", "/services/data/v59.0/jobs/query", b"{}", None),
    ],
)
def test_salesforce_writes_are_told_apart(method: str, path: str, body: bytes, operation: str | None) -> None:
    assert salesforce_operation(_request(method, path, body)) == operation


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [
        ("POST", "/crm/v3/objects/contacts/merge", "merge"),
        ("POST", "/crm/v3/objects/contacts", "create"),
        ("POST", "/crm/v3/objects/companies/batch/create", "create"),
        ("POST", "/crm/v3/objects/contacts/batch/update", "update"),
        ("PATCH", "/crm/v3/objects/contacts/101", "update"),
        ("POST", "/crm/v3/objects/contacts/batch/archive", "delete"),
        ("POST", "/crm/v3/objects/contacts/search", None),
        ("POST", "/crm/v3/objects/contacts/batch/read", None),
        ("POST", "/crm/v4/associations/contacts/companies/batch/associate/default", "associate"),
        ("POST", "/crm/v4/associations/contacts/companies/batch/read", None),
        ("PUT", "/contacts/v1/secondary-email/101/email/a%40b.c", "update"),
        ("GET", "/crm/v3/objects/contacts", None),
    ],
)
def test_hubspot_writes_are_told_apart(method: str, path: str, operation: str | None) -> None:
    assert hubspot_operation(_request(method, path)) == operation


def test_only_committed_writes_of_the_chosen_operations_lose_their_reply() -> None:
    lost = LostReplies.of(hubspot_operation, "merge", every=2)
    merge, create = (
        _request("POST", "/crm/v3/objects/contacts/merge"),
        _request("POST", "/crm/v3/objects/contacts"),
    )
    assert [lost.lose(merge, Response(200)) for _ in range(5)] == [True, False, True, False, True]
    assert not lost.lose(create, Response(201))  # not chosen
    assert not lost.lose(merge, Response(400))  # refused: nothing committed, the answer arrives
    assert lost.counts() == {"merge": 3}
    seeded = [LostReplies.of(hubspot_operation, rate=0.3, seed=9) for _ in range(2)]
    draws = [[s.lose(create, Response(201)) for _ in range(400)] for s in seeded]
    assert draws[0] == draws[1] and 80 < sum(draws[0]) < 160
    with pytest.raises(ValueError, match="upsert"):
        LostReplies.of(hubspot_operation, "upsert")
