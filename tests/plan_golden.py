"""A plan's files as the per-action code made them (before issue 30 made plans a column at a time),
kept to hold the new code to them byte for byte.

``tests/data/plan_golden`` holds the inputs: the findings of a ``crm-ops run`` on a seeded sandbox
(``crm-ops sandbox serve --records 3000 --seed 7``) with hand-made findings added for what a sandbox
rarely has (text JSON and CSV must escape or neutralise, sources, unmergeable duplicates, conversions
with and without an account, proposals for the same field, converted leads...), the snapshots' columns a
plan reads (a few labels made awkward), matching's links; and the expectation, ``plan.jsonl`` and
``plan.csv`` as the per-action code wrote them (commit 8993dbf), gzipped, and ``bare.*`` the same for
the plan ``build(bare=True)`` makes::

    PYTHONPATH=<checkout of 8993dbf>/src python tests/plan_golden.py STATE_DIR   # a pulled sandbox's

``build`` makes the plan of those inputs again, with the same id, time, addresses and review settings.
"""

from __future__ import annotations

import gzip
import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from crm_ops.config import ReviewSettings
from crm_ops.plan import build_plan, write_plan
from crm_ops.plan.context import Addresses, Context
from crm_ops.plan.format import Plan
from crm_ops.plan.review import Review
from crm_ops.schema.relations import shipped_relations

FOLDER = Path(__file__).parent / "data" / "plan_golden"
PLAN_ID = "20261207T204657-abcdef"
NOW = datetime(2026, 12, 7, 20, 46, 57, tzinfo=UTC)
KEPT = {
    "id",
    "account_id",
    "contact_id",
    "opportunity_id",
    "first_name",
    "last_name",
    "email",
    "name",
    "domain",
    "website",
    "amount",
    "company",
    "role",
    "is_converted",
    "is_deleted",
}
CONVERTED = {("salesforce", "00Q-converted-by-hand")}


def inputs() -> tuple[pl.DataFrame, dict[str, dict[str, pl.DataFrame]], pl.DataFrame]:
    """The findings, the snapshots (by system, then entity) and the links."""
    frames: dict[str, dict[str, pl.DataFrame]] = {}
    for path in sorted((FOLDER / "frames").glob("*.parquet")):
        system, entity = path.stem.split(".")
        frames.setdefault(system, {})[entity] = pl.read_parquet(path)
    return pl.read_parquet(FOLDER / "findings.parquet"), frames, pl.read_parquet(FOLDER / "links.parquet")


def build(monkeypatch: Any = None, *, bare: bool = False) -> Plan:
    """The plan of the inputs, its id and time fixed (``monkeypatch``: a pytest fixture, else patched
    here for good); ``bare``: of the findings without their details, with neither snapshots nor review
    settings, errors without a fix not flagged."""
    import crm_ops.plan.build as building

    if monkeypatch is not None:
        monkeypatch.setattr(building, "new_plan_id", lambda now=None: PLAN_ID)
    else:
        setattr(building, "new_plan_id", lambda now=None: PLAN_ID)  # noqa: B010  # the maker's run only
    findings, frames, links = inputs()
    if bare:
        return build_plan(
            findings.drop("detail"), profile="bare", now=NOW, flag_errors=False, converted=CONVERTED
        )
    review = Review(
        ReviewSettings(("tag:format", "match.duplicate", "person.email.normalised"), 0.95),
        {"person.email.normalised": frozenset({"format"}), "person.phone.e164": frozenset({"format"})},
    )
    return build_plan(
        findings,
        profile="golden",
        snapshots={"salesforce.Contact": "20261207T204658-bfd7c1b9"},
        rules={"people.yaml": "d7d6a94b852747c7"},
        now=NOW,
        context=Context(
            frames, links, Addresses("https://golden.my.salesforce.com/", 4242, "app-eu1.hubspot.com")
        ),
        review=review,
        converted=CONVERTED,
        relations=shipped_relations(),
    )


def _finding(**values: Any) -> dict[str, Any]:
    base = dict.fromkeys(["field", "current_value", "proposed_value", "confidence", "detail"])
    return {"severity": "warning", "message": "hand-made", **base, **values}


def _hand_made(frames: dict[str, dict[str, pl.DataFrame]]) -> list[dict[str, Any]]:
    """Findings a sandbox rarely makes."""
    sf = frames["salesforce"]
    contacts, leads = sf["Contact"]["id"].to_list(), sf["Lead"]["id"].to_list()
    opps, accounts = sf["Opportunity"]["id"].to_list(), sf["Account"]["id"].to_list()
    hs_contacts = frames["hubspot"]["Contact"]["id"].to_list()
    odd = ["=SUM(A1)", "-5", "+1 555", "@who", "\tTab", "a,b", 'say "hi"', "back\\slash", "line\nfeed"]
    odd += ["lone\rCR", "nul\x00byte", "Zoë Ångström", "東京", "emoji 😀", "del\x7f", "  spaced  ", ""]
    out = [
        _finding(rule="hand.odd", system="salesforce", entity="Contact", record_id=contacts[i], field="title",
                 current_value=text, proposed_value=text[::-1], confidence=0.97, message=f"odd {text}")
        for i, text in enumerate(odd)
    ]  # fmt: skip
    opted = {"field": "email_opt_out", "value": True, "rule": "any_true", "from": [hs_contacts[20]]}
    opt_out = {"values": [opted], "notes": ["n1"]}
    sf_, hs_, c_ = "salesforce", "hubspot", "Contact"
    # rule, system, entity, record, field, proposed value, confidence, severity, message, detail
    rows = [
        # a field proposed by three rules, two at one confidence: the first rule wins, the others named
        ("hand.b", sf_, c_, contacts[30], "phone", "+15550001", 0.9, None, None, None),
        ("hand.a", sf_, c_, contacts[30], "phone", "+15550002", 0.9, None, None, None),
        ("hand.c", sf_, c_, contacts[30], "phone", "+15550003", 0.99, None, None, None),
        # a field None and a field "": one slot
        ("hand.none", sf_, c_, contacts[31], None, None, None, "error", None, None),
        ("hand.blank", sf_, c_, contacts[31], "", None, None, "error", None, None),
        # a proposal for the id: no action, unless an error; a warning without a fix: none
        ("hand.id", sf_, c_, contacts[32], "id", "x", 0.99, None, None, None),
        ("hand.id.error", sf_, c_, contacts[33], "id", "x", 0.99, "error", None, None),
        ("hand.warning", sf_, c_, contacts[34], None, None, None, None, None, None),
        # a source is read-only
        ("billing.email", "billing", "Invoice", "INV-1", "email", "a@b.c", 0.99, None, None, None),
        # confidences as Python writes them
        *(("hand.confidence", hs_, c_, hs_contacts[i], "lastname", "Lee", c, None, None, None)
          for i, c in enumerate([1e-05, 0.1 + 0.2, 1.0, 0.0, 0.949999, 0.95, 2 / 3])),
        # an association, a flag for an unmergeable duplicate (a Salesforce opportunity), conversions
        ("hand.orphan", sf_, c_, contacts[35], "account_id", accounts[0], 0.8, None, None, None),
        ("match.duplicate", sf_, "Opportunity", opps[1], None, opps[0], 0.96, None, "duplicate deal",
         '{"values": []}'),
        ("match.lead_duplicates_contact", sf_, "Lead", leads[0], None, contacts[36], 0.97, None, None,
         json.dumps({"account_id": accounts[1]})),
        ("match.lead_duplicates_contact", sf_, "Lead", leads[1], None, contacts[37], 0.97, None, None,
         json.dumps({"account_id": None})),
        ("hand.lead", sf_, "Lead", "00Q-converted-by-hand", "email", "x@y.z", 0.99, None, None, None),
        # a HubSpot merge that opts the survivor out; an update of the merged-away record: moot
        ("match.duplicate", hs_, c_, hs_contacts[20], None, hs_contacts[21], 0.99, None, "duplicate",
         json.dumps(opt_out)),
        ("hand.moot", hs_, c_, hs_contacts[20], "email", "x@y.z", 0.99, None, None, None),
    ]  # fmt: skip
    names: tuple[str, ...] = (
        "rule",
        "system",
        "entity",
        "record_id",
        "field",
        "proposed_value",
        "confidence",
    )
    names += ("severity", "message", "detail")
    for row in rows:
        given = {
            k: v for k, v in zip(names, row, strict=True) if v is not None or k in ("field", "confidence")
        }
        out.append(_finding(**given))
    return out


def make_from_run(state_dir: Path, links: pl.DataFrame) -> None:
    """Write the inputs and the expectation from a pulled sandbox's state and matching's links."""
    run = sorted((state_dir / "runs").glob("*/findings.parquet"))[-1]
    frames: dict[str, dict[str, pl.DataFrame]] = {}
    for folder in sorted((state_dir / "snapshots").glob("*/*")):
        newest = sorted(folder.glob("*.parquet"))[-1]
        frame = pl.read_parquet(newest)
        frames.setdefault(folder.parent.name, {})[folder.name] = frame.select(
            c for c in frame.columns if c in KEPT
        )
    awkward(frames)
    findings = pl.read_parquet(run)
    extra = pl.DataFrame(_hand_made(frames), schema=findings.schema)
    (FOLDER / "frames").mkdir(parents=True, exist_ok=True)
    pl.concat([findings, extra]).write_parquet(FOLDER / "findings.parquet")
    links.write_parquet(FOLDER / "links.parquet")
    for system, entities in frames.items():
        for entity, frame in entities.items():
            frame.write_parquet(FOLDER / "frames" / f"{system}.{entity}.parquet")
    for bare, name in ((False, "plan"), (True, "bare")):
        with tempfile.TemporaryDirectory() as tmp:
            write_plan(build(bare=bare), Path(tmp))
            for suffix in (".jsonl", ".csv"):
                written = (Path(tmp) / f"plan{suffix}").read_bytes()
                (FOLDER / f"{name}{suffix}.gz").write_bytes(gzip.compress(written, mtime=0))


def awkward(frames: dict[str, dict[str, pl.DataFrame]]) -> None:
    """A few labels made awkward: spaces Python splits on that a regex may not, no name, odd amounts."""
    sf = frames["salesforce"]
    contacts = sf["Contact"].with_row_index("i")
    firsts = {0: "Ann\x1cMarie", 1: " \u00a0Zoë\u2003", 2: None, 3: "", 4: "=cmd"}
    lasts = {2: None, 3: "  "}
    emails = {2: None, 3: None}
    sf["Contact"] = contacts.with_columns(
        pl.col("i")
        .replace_strict(firsts, default=pl.col("first_name"), return_dtype=pl.String)
        .alias("first_name"),
        pl.col("i")
        .replace_strict(lasts, default=pl.col("last_name"), return_dtype=pl.String)
        .alias("last_name"),
        pl.col("i").replace_strict(emails, default=pl.col("email"), return_dtype=pl.String).alias("email"),
    ).drop("i")
    opps = sf["Opportunity"].with_row_index("i")
    amounts = {0: 1234567.5, 1: 0.004, 2: None, 3: 1e21, 4: -12.0}
    sf["Opportunity"] = opps.with_columns(
        pl.col("i")
        .replace_strict(amounts, default=pl.col("amount"), return_dtype=pl.Float64)
        .alias("amount"),
        pl.when(pl.col("i") == 2).then(None).otherwise(pl.col("name")).alias("name"),
    ).drop("i")


if __name__ == "__main__":
    sys.exit(make_from_run(Path(sys.argv[1]), pl.read_parquet(sys.argv[2])) or 0)  # type: ignore[func-returns-value]
