"""A full pull of every entity of both CRMs equals the generator's ground truth, at 100k contacts."""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
import pytest

from crm_ops.check import current_frames
from crm_ops.match import run_matching
from crm_ops.pull import Puller, PullResult
from crm_ops.rules import load_rules, run_rules
from crm_ops.sandbox.server import Sandbox
from tests.match_eval import duplicate_scores, link_scores
from tests.pulling import assert_same, expected, fast_sandbox, profile_for
from tests.rule_eval import score

pytestmark = pytest.mark.integration
RECORDS = 100_000


@pytest.fixture(scope="module")
def big() -> Iterator[Sandbox]:
    with fast_sandbox(RECORDS, 5) as sb:
        yield sb


@pytest.fixture(scope="module")
def pulled(big: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> tuple[Puller, list[PullResult]]:
    profile = profile_for(big, tmp_path_factory.mktemp("gt"), extra="")
    puller = Puller(profile)
    return puller, puller.pull_many(["salesforce", "hubspot"])


@pytest.mark.parametrize(
    ("system", "entity"),
    [
        ("salesforce", "Account"),
        ("salesforce", "Contact"),
        ("salesforce", "Lead"),
        ("salesforce", "Opportunity"),
        ("salesforce", "Owner"),
        ("salesforce", "ContactRole"),
        ("hubspot", "Account"),
        ("hubspot", "Contact"),
        ("hubspot", "Opportunity"),
        ("hubspot", "Owner"),
        ("hubspot", "ContactRole"),
    ],
)
def test_full_pull_equals_ground_truth(
    big: Sandbox, pulled: tuple[Puller, list[PullResult]], system: str, entity: str
) -> None:
    puller, _ = pulled
    data = big.data
    tables = data.salesforce if system == "salesforce" else {**data.hubspot, "owners": data.hubspot_owners}
    truth = expected(system, entity, tables, data.hubspot_associations)
    current = puller.state.current(system, entity)
    assert current is not None
    assert_same(current.snapshot.read(), truth, f"{system}.{entity}")


def test_large_salesforce_objects_went_through_bulk_and_hubspot_at_the_call_floor(
    big: Sandbox, pulled: tuple[Puller, list[PullResult]]
) -> None:
    _, results = pulled
    by = {(r.system, r.entity): r for r in results}
    contacts = by[("salesforce", "Contact")]
    assert contacts.total == big.data.salesforce["Contact"].height
    # COUNT + create job + (at least one) status poll + results pages of 50k: far under REST's 2,000 a page
    assert contacts.api_calls <= 4 + contacts.total // 50_000 + 10
    hs = by[("hubspot", "Contact")]
    pages = -(-big.data.hubspot["contacts"].filter(~pl.col("archived")).height // 100)
    archived_pages = max(1, -(-big.data.hubspot["contacts"]["archived"].sum() // 100))
    assoc_calls = -(-hs.total // 1000) + 5
    assert hs.api_calls <= 1 + pages + archived_pages + assoc_calls


def test_shipped_rules_find_the_injected_defects_and_their_fixes(
    big: Sandbox, pulled: tuple[Puller, list[PullResult]]
) -> None:
    """Each kind of injected defect: precision and recall >= 0.99, the right fix >= 0.99 of the time."""
    puller, _ = pulled
    frames = current_frames(puller.state)
    rules, problems = load_rules()
    assert problems == []
    result = run_rules(rules, frames)
    assert result.errors == []
    weak = [
        f"{s.kind}: precision {s.precision:.3f} recall {s.recall:.3f} "
        f"fixes {s.fixes_right}/{s.fixes_expected}"
        for s in score(big.data.manifest.defects, result.findings, frames)
        if s.truth < 20 or min(s.precision, s.recall, s.fix_rate) < 0.99
    ]
    assert weak == []


def test_duplicates_and_cross_crm_links_match_the_ground_truth(
    big: Sandbox, pulled: tuple[Puller, list[PullResult]]
) -> None:
    """Duplicate pairs: precision >= 0.98, recall >= 0.95; Salesforce-HubSpot pairs: >= 0.99 and >= 0.97."""
    puller, _ = pulled
    frames = current_frames(puller.state)
    result = run_matching(frames)
    precision, recall, found, truth = duplicate_scores(big.data.manifest.duplicates, result)
    assert truth > 1000
    assert precision >= 0.98 and recall >= 0.95, (precision, recall, found, truth)
    precision, recall, found, truth = link_scores(big.data.manifest.matches, result)
    assert truth > 50_000
    assert precision >= 0.99 and recall >= 0.97, (precision, recall, found, truth)
    merges = result.findings.filter(pl.col("rule") == "match.duplicate")
    assert merges.height > 0 and merges["proposed_value"].is_not_null().all()
