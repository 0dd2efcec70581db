"""From findings to a plan: the proposals become actions, one per record and field, best first, each
with its default approval (``crm_ops.plan.review``) and what a person needs to judge it
(``crm_ops.plan.context``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from crm_ops.plan.context import Context
from crm_ops.plan.format import (
    ACTION_SCHEMA,
    SHOWN,
    Header,
    Plan,
    detail_explain,
    detail_survivor,
    new_plan_id,
)
from crm_ops.plan.review import Review, irreversible
from crm_ops.rules.model import FINDINGS_SCHEMA
from crm_ops.schema.relations import Relations, shipped_relations

OTHER_RECORD = ("match.lead_duplicates_contact", "match.duplicate")  # rules whose flags name another record
ASSOCIATIONS = frozenset({"account_id"})  # fields that link a record to another (HubSpot: an association)
WRITABLE = ("salesforce", "hubspot")  # the systems a plan writes into; sources are read-only


def build_plan(
    findings: pl.DataFrame,
    *,
    profile: str,
    snapshots: Mapping[str, str] | None = None,
    rules: Mapping[str, str] | None = None,
    flag_errors: bool = True,
    now: datetime | None = None,
    context: Context | None = None,
    review: Review | None = None,
    converted: Collection[tuple[str, str]] | None = None,
    relations: Relations | None = None,
) -> Plan:
    """A plan from findings (rules' and matching's, same table).

    A finding with a proposal (a value, or a confidence for clearing one) becomes an ``update`` (an
    ``associate`` for a link to another record, such as an orphan's account); a duplicate becomes a
    ``merge`` into its survivor, carrying what the survivor ends with (``detail``); a lead duplicating a
    contact a ``convert`` into it (a ``flag`` when the contact has no account to convert onto); an
    error-level finding without a fix (when ``flag_errors``) a ``flag`` for a human. A converted lead
    gets no action at all: Salesforce refuses every edit of one (CANNOT_UPDATE_CONVERTED_LEAD); its
    contact carries the person now (the leads are known from ``context``'s snapshots, else
    ``converted``: (system, lead id) pairs). A duplicate of an object its CRM has no merge API for
    (``crm_ops.schema.relations.MERGE_APIS``: a custom object, a Salesforce opportunity) is a ``flag``
    naming its survivor, for a person to merge by hand or delete one. ``relations`` (the profile's maps:
    each entity's object and parent references; the shipped maps' when None) decide that, and give each
    merge the children it moves (``detail["moves"]``: live records by ``<entity>.<column>`` pointing at
    the merged-away record in ``context``'s snapshots). Where several
    findings propose values for the same field of the same record, the most confident wins and the
    others are named in its reason. A record that a merge folds into another (or a lead converted) gets
    no other action: its fixes are moot once it is merged, and writing them would make the merge a
    conflict (its ``updated_at`` would move).

    ``context`` (the snapshots the findings came from, matching's links, the CRMs' addresses) gives each
    action its labels and URLs; ``review`` (the profile's review settings and the rules' tags) its
    default approval. Without ``review`` nothing starts approved but what the default settings mark
    safe, and without the rules' tags no tag matches: pass ``Review.for_rules(rules, settings)``.
    """
    missing = set(FINDINGS_SCHEMA) - set(findings.columns)
    if missing:
        raise ValueError(f"not a findings table: missing {', '.join(sorted(missing))}")
    relations = relations or shipped_relations()
    frozen = set(converted or ()) | (converted_leads(context.frames) if context is not None else set())
    if frozen:
        keys = pl.DataFrame(
            {"system": [s for s, _ in frozen], "record_id": [r for _, r in frozen]},
            schema={"system": pl.String, "record_id": pl.String},
        ).with_columns(pl.lit("Lead").alias("entity"))
        findings = findings.join(keys, on=["system", "entity", "record_id"], how="anti")
    detail = pl.col("detail") if "detail" in findings.columns else pl.lit(None)
    found = findings.select(
        *(pl.col(c).cast(t) for c, t in FINDINGS_SCHEMA.items()), detail.cast(pl.String).alias("detail")
    ).sort(["confidence", "rule"], descending=[True, False], nulls_last=True, maintain_order=True)
    table = _chosen(
        found.with_columns(_kinds(found, relations, flag_errors)).filter(pl.col("kind").is_not_null())
    )
    table = _actions(table, relations)
    if context is not None:
        table = context.annotate_table(table)
    table = _merges(table, context, relations)
    review = review or Review()
    table = review.annotate_table(table).drop("irreversible")
    header = Header(
        plan_id=new_plan_id(now),
        created_at=(now or datetime.now(UTC)).isoformat(),
        profile=profile,
        snapshots=dict(snapshots or {}),
        rules=dict(rules or {}),
        review={"approve": list(review.settings.approve), "min_confidence": review.settings.min_confidence},
    )
    return Plan(header, table=table)


def _kinds(found: pl.DataFrame, relations: Relations, flag_errors: bool) -> pl.Expr:
    """Each finding's action kind (null: none). A duplicate is merged where the CRM has a merge API for
    the object, else a person merges it by hand (a flag); a lead duplicating a contact is converted into
    it when the contact has an account (the finding's detail says), else flagged; a proposal for a link
    field associates, one for another field updates; a source (billing, product, files) is read-only: a
    person fixes it there (a flag); an error without a fix is flagged when ``flag_errors``."""
    rule, field, system = pl.col("rule"), pl.col("field"), pl.col("system")
    has_proposal = pl.col("confidence").is_not_null()
    pairs = found.filter(rule == "match.duplicate").select("system", "entity").unique().rows()
    pair = pl.concat_str(system, pl.lit("\x1f"), pl.col("entity"))
    mergeable = pair.is_in([f"{s}\x1f{e}" for s, e in pairs if relations.mergeable(s, e)])
    details = found.filter(rule == "match.lead_duplicates_contact")["detail"].unique().drop_nulls().to_list()
    onto_account = pl.col("detail").is_in(
        [d for d in details if d and (json.loads(d) or {}).get("account_id")]
    )
    kind: pl.Expr = (
        pl.when(rule == "match.duplicate")
        .then(pl.when(mergeable).then(pl.lit("merge")).otherwise(pl.lit("flag")))
        .when(rule == "match.lead_duplicates_contact")
        .then(pl.when(onto_account).then(pl.lit("convert")).otherwise(pl.lit("flag")))
        .when(has_proposal & field.is_in(list(ASSOCIATIONS)))
        .then(pl.lit("associate"))
        .when(has_proposal & (field.fill_null("") != "") & (field != "id"))
        .then(pl.lit("update"))
    )
    kind = pl.when(kind.is_not_null() & ~system.is_in(list(WRITABLE))).then(pl.lit("flag")).otherwise(kind)
    flagged = (
        pl.when(pl.col("severity") == "error").then(pl.lit("flag"))
        if flag_errors
        else pl.lit(None, pl.String)
    )
    return pl.coalesce(kind, flagged).alias("kind")


def _chosen(found: pl.DataFrame) -> pl.DataFrame:
    """One finding per action (kind, record and field), the best (``found`` is sorted best first), with
    the rules of the others (``also``). A record a merge folds into another (or a lead converted) keeps
    only that: its fixes are moot once it is merged, and writing them would make the merge a conflict
    (its ``updated_at`` would move)."""
    key = ["kind", "system", "entity", "record_id", "slot"]
    chosen = (
        found.with_columns(pl.col("field").fill_null("").alias("slot"))
        .group_by(key, maintain_order=True)
        .agg(pl.all().exclude("rule").first(), pl.col("rule").first(), pl.col("rule").slice(1).alias("also"))
    )
    folded = chosen.filter(pl.col("kind").is_in(["merge", "convert"])).select("system", "entity", "record_id")
    moot = ~pl.col("kind").is_in(["merge", "convert"])
    kept = chosen.join(
        folded.unique(), on=["system", "entity", "record_id"], how="anti", maintain_order="left"
    )
    return pl.concat([chosen.filter(~moot), kept.filter(moot)]) if folded.height else chosen


def _actions(chosen: pl.DataFrame, relations: Relations) -> pl.DataFrame:
    """The chosen findings as a plan's table (``ACTION_SCHEMA``), sorted by record, each with its id
    (``Action.with_id``): a flag proposes nothing, but names the other record (the contact a lead
    duplicates, a duplicate's survivor) for a person to see; an unmerged duplicate's reason says why."""
    kind, rule = pl.col("kind"), pl.col("rule")
    pairs = chosen.filter(rule == "match.duplicate").select("system", "entity").unique().rows()
    why = pl.DataFrame(
        [(s, e, relations.no_merge(s, e)) for s, e in pairs],
        schema={"system": pl.String, "entity": pl.String, "no_merge": pl.String},
        orient="row",
    )
    reason = (
        pl.when((kind == "flag") & (rule == "match.duplicate"))
        .then(pl.concat_str(pl.col("message"), pl.lit(": "), pl.col("no_merge")))
        .otherwise(pl.col("message"))
    )
    reason = (
        pl.when(pl.col("also").list.len() > 0)
        .then(
            pl.concat_str(reason, pl.lit(" (also proposed by: "), pl.col("also").list.join(", "), pl.lit(")"))
        )
        .otherwise(reason)
    )
    table = (
        chosen.join(why, on=["system", "entity"], how="left", maintain_order="left")
        .select(
            "kind",
            "system",
            "entity",
            "record_id",
            "field",
            pl.col("current_value").alias("seen_value"),
            pl.when(kind == "flag")
            .then(pl.lit(None, pl.String))
            .otherwise(pl.col("proposed_value"))
            .alias("proposed_value"),
            "rule",
            "severity",
            "confidence",
            reason.alias("reason"),
            pl.when(kind.is_in(["merge", "convert"])).then(pl.col("detail")).alias("detail"),
            pl.when(rule.is_in(list(OTHER_RECORD))).then(pl.col("proposed_value")).alias("other_id"),
        )
        .sort(
            ["system", "entity", "record_id", "kind", pl.col("field").fill_null(""), "rule"],
            maintain_order=True,
        )
    )
    key = table.select(
        pl.concat_str(
            [
                pl.col(c).fill_null("None")
                for c in ("kind", "system", "entity", "record_id", "field", "proposed_value", "rule")
            ],
            separator="\x1f",
        )
    ).to_series()
    ids = [hashlib.sha256(k.encode("utf-8", "surrogatepass")).hexdigest()[:16] for k in key.to_list()]
    blank = pl.lit(None, pl.String)
    return table.with_columns(
        pl.Series("action_id", ids, pl.String),
        *(blank.alias(c) for c in ("label", "account", "url", "other_label", "other_url")),
        pl.lit(None, pl.Boolean).alias("approved"),
        pl.lit("").alias("review_reason"),
    ).select(list(ACTION_SCHEMA))


def _merges(table: pl.DataFrame, context: Context | None, relations: Relations) -> pl.DataFrame:
    """``table`` with each merge's and conversion's detail completed and shown: a merge's children
    counted (``detail["moves"]``, ``Context.moves``; no ``moves`` without ``context``), the detail as JSON
    (keys sorted), what the review file shows of it (``SHOWN``) and what undoing it cannot put back
    (``irreversible``). The only step that reads each merge's detail in Python, one merge at a time."""
    merge_like = pl.col("kind").is_in(["merge", "convert"])
    few = table.with_row_index("row").filter(merge_like)
    merges = few.filter(pl.col("kind") == "merge").select("system", "entity", "record_id")
    counted = context.moves(merges, relations) if context is not None and merges.height else None
    if counted is not None:
        few = few.join(counted, on=["system", "entity", "record_id"], how="left", maintain_order="left")
    else:
        few = few.with_columns(
            pl.lit(None, pl.List(pl.Struct({"child": pl.String, "n": pl.Int64}))).alias("moves")
        )
    out: dict[str, list[Any]] = {"detail": [], "survivor_values": [], "explain": [], "irreversible": []}
    explained: dict[str, str] = {}
    for kind, system, raw, moves in few.select("kind", "system", "detail", "moves").iter_rows():
        detail = json.loads(raw) if raw else None
        if kind == "merge" and context is not None:  # without snapshots, nothing is counted
            detail = {**(detail or {}), "moves": {m["child"]: m["n"] for m in moves or []}}
        out["detail"].append(json.dumps(detail, sort_keys=True) if detail is not None else None)
        out["survivor_values"].append(detail_survivor(detail))
        why = (detail or {}).get("explain")
        if not isinstance(why, str):
            out["explain"].append(detail_explain(detail))
        else:  # pairs matched alike explain alike: each text read once
            out["explain"].append(explained.get(why) or explained.setdefault(why, detail_explain(detail)))
        out["irreversible"].append(irreversible(kind, system, detail))
    shown = pl.concat(
        [few.select("row"), pl.DataFrame(out, schema=dict.fromkeys(out, pl.String))], how="horizontal"
    )
    return (
        table.drop("detail")
        .with_row_index("row")
        .join(shown, on="row", how="left", maintain_order="left")
        .with_columns(pl.col(c).fill_null("") for c in SHOWN)
        .select([*ACTION_SCHEMA, *SHOWN, "irreversible"])
    )


def converted_leads(frames: Mapping[str, Mapping[str, pl.DataFrame]]) -> set[tuple[str, str]]:
    """The (system, id) of every converted lead in ``frames`` (by system, then entity)."""
    out: set[tuple[str, str]] = set()
    for system, entities in frames.items():
        leads = entities.get("Lead")
        if leads is not None and "is_converted" in leads.columns:
            ids = leads.filter(pl.col("is_converted").fill_null(False))["id"].cast(pl.String)
            out |= {(system, str(i)) for i in ids.to_list()}
    return out


def latest_findings(state_dir: Path) -> list[Path]:
    """The newest rules findings and the newest matching findings under a state dir."""
    out = []
    checks = sorted((state_dir / "findings").glob("*.parquet"))
    if checks:
        out.append(checks[-1])
    matches = sorted((state_dir / "match").glob("*/findings.parquet"))
    if matches:
        out.append(matches[-1])
    return out


def links_beside(findings: list[Path]) -> pl.DataFrame | None:
    """Matching's cross-CRM links written beside findings files (``links.parquet``), if any: the twins
    drift syncs are between."""
    frames = []
    for path in findings:
        beside = path.parent / "links.parquet"
        if beside.is_file():
            try:
                frames.append(pl.read_parquet(beside))
            except (OSError, pl.exceptions.ComputeError):
                continue  # the plan is still worth having without them
    return pl.concat(frames, how="diagonal_relaxed") if frames else None
