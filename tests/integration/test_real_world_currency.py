"""Multi-currency orgs (issue 15 item 17): a ``currency`` column that a single-currency org lacks as a
matter of course (no warning, no doctor failure), and amounts never compared across currencies."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from crm_ops.check import current_frames
from crm_ops.doctor import run_doctor
from crm_ops.match.config import CROSS_OPPORTUNITY
from crm_ops.match.engine import link_records
from crm_ops.match.run import run_matching
from crm_ops.pull import Puller
from tests.pulling import profile_for, real_world_sandbox

pytestmark = pytest.mark.integration
PULLED = ["Account", "Contact", "Opportunity", "Owner"]


def test_a_single_currency_org_lacks_the_column_without_a_warning_or_a_doctor_failure(tmp_path: Path) -> None:
    with real_world_sandbox(200, 91) as box:
        profile = profile_for(box, tmp_path)
        puller = Puller(profile)
        results = puller.pull_many(["salesforce", "hubspot"], PULLED, full=True)
        warnings = [w for r in results for w in r.warnings]
        assert not [w for w in warnings if "CurrencyIsoCode" in w or "deal_currency_code" in w], warnings
        frames = current_frames(puller.state)
        assert (
            frames["salesforce"]["Opportunity"]["currency"].null_count()
            == frames["salesforce"]["Opportunity"].height
        )
        puller.close()
        findings = [
            f for f in run_doctor(profile) if "currency" in f.detail.lower() or "Currency" in f.detail
        ]
        assert findings and all(f.status == "ok" for f in findings), findings


def test_amounts_are_never_compared_across_currencies_and_a_currency_drift_is_reported(
    tmp_path: Path,
) -> None:
    with real_world_sandbox(1500, 93, currencies=("USD", "EUR", "GBP")) as box:
        puller = Puller(profile_for(box, tmp_path))
        results = puller.pull_many(["salesforce", "hubspot"], PULLED, full=True)
        assert not [w for r in results for w in r.warnings if "urrency" in w]
        frames = current_frames(puller.state)
        puller.close()
    sf, hs = frames["salesforce"]["Opportunity"], frames["hubspot"]["Opportunity"]
    assert set(sf["currency"].drop_nulls()) == {"USD", "EUR", "GBP"} == set(hs["currency"].drop_nulls())
    assert frames["salesforce"]["Account"]["currency"].null_count() == 0
    matched = run_matching(frames)
    links = matched.links.filter(pl.col("entity") == "Opportunity")
    pairs = links.join(sf.select("id", "currency", "amount"), left_on="sf_id", right_on="id").join(
        hs.select("id", "currency", "amount"), left_on="hs_id", right_on="id", suffix="_hs"
    )
    apart = pairs.filter(pl.col("currency") != pl.col("currency_hs"))
    assert apart.height > 10
    findings = matched.findings
    amount = findings.filter(pl.col("rule") == "match.drift.amount")
    ids = set(apart["sf_id"].to_list()) | set(apart["hs_id"].to_list())
    assert not set(amount["record_id"].to_list()) & ids, "an amount is compared only in one currency"
    currency = findings.filter(pl.col("rule") == "match.drift.currency")
    assert currency.height == apart.height
    assert currency["proposed_value"].is_null().all() and currency["confidence"].is_null().all()
    assert currency["message"].str.contains("not compared").all()
    # and the cross-CRM matching of opportunities leaves the amount out when the currencies differ
    left = pl.DataFrame({"id": ["a"], "name": ["Acme renewal"], "amount": [1000.0], "close_date": [None],
                         "currency": ["USD"], "created_at": [None]})  # fmt: skip
    right = left.with_columns(pl.lit("b").alias("id"), pl.lit("EUR").alias("currency"))
    (pair,) = link_records(left, right, CROSS_OPPORTUNITY).to_dicts() or [{"reasons": ""}]
    assert "amount" not in pair["reasons"]
    same = link_records(left, right.with_columns(pl.lit("usd").alias("currency")), CROSS_OPPORTUNITY)
    assert "amount" in same["reasons"].item()
