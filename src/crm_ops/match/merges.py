"""Merge and conversion proposals as findings, each carrying what the survivor ends with (``detail``).

A ``match.duplicate`` finding is one record to merge into its survivor (``proposed_value``); every
finding of a cluster carries the same ``detail`` (JSON): the survivor, the master ordering, the values
the survivor will change and where each came from (``crm_ops.match.survivor``), notes for the reviewer,
and the fingerprints of the members' matched fields (a rejection is remembered against them); and, when
the pairs carry it, ``explain``: why the record is said to duplicate, its best pair's ``explain`` text
(``crm_ops.explain``: the prior and each field's level and weight; the pair whose score and reasons the
finding's confidence and message give).

A ``match.lead_duplicates_contact`` finding proposes converting a lead into the contact it duplicates
(``proposed_value``), on the contact's account; its ``detail`` holds the contact's values after the
conversion (the same merge rules, the contact as master), the fingerprints and the pair's ``explain``.

With a ``ProposalGate``, every value a survivor would take from another member passes the rules of
its field first; one that fails (a placeholder title, a broken address) is not taken: the survivor
keeps its own, and a note names the value, where it came from and the rule it fails.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from crm_ops.match.engine import clusters
from crm_ops.match.survivor import MergeRules, chosen_columns, cluster_details, rank_clusters, text
from crm_ops.rules.engine import Gate
from crm_ops.rules.model import FINDINGS_SCHEMA

MATCH_FINDINGS_SCHEMA: dict[str, pl.DataType] = {**FINDINGS_SCHEMA, "detail": pl.String()}
# a lead's columns a conversion does not carry to the contact: the company is the account's, the lead
# source is kept (convertLead's overwriteLeadSource is false) and so is the contact's owner
NOT_CONVERTED = frozenset({"company", "website", "lead_source", "owner_id"})


def finding(rows: pl.DataFrame) -> pl.DataFrame:
    """Rows in the findings table's shape (matching's, with ``detail``)."""
    return rows.select(
        [
            pl.col(c).cast(t) if c in rows.columns else pl.lit(None, t).alias(c)
            for c, t in MATCH_FINDINGS_SCHEMA.items()
        ]
    )


def empty() -> pl.DataFrame:
    """No findings, in matching's shape."""
    return pl.DataFrame(schema=MATCH_FINDINGS_SCHEMA)


def _stamp(column: str) -> pl.Expr:
    return (
        pl.col(column)
        .dt.convert_time_zone("UTC")
        .dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .alias("current_value")
    )


def gate_values(details: Mapping[str, dict[str, Any]], system: str, entity: str, gate: Gate | None) -> None:
    """Drop from each cluster's ``values`` those that fail a rule of their field on the survivor (a note
    says which and why); ``details`` is changed in place."""
    if gate is None:
        return
    wanted: dict[str, list[tuple[str, str | None]]] = {}
    for d in details.values():
        for v in d["values"]:
            wanted.setdefault(v["field"], []).append((d["survivor"], text(v["value"])))
    failing: dict[str, dict[tuple[str, str], list[str]]] = {}
    for column, rows in wanted.items():
        schema = {"record_id": pl.String, "proposed_value": pl.String}
        proposals = pl.DataFrame(rows, schema=schema, orient="row")
        failing[column] = gate.failures(system, entity, column, proposals)
    if not any(failing.values()):
        return
    for d in details.values():
        kept = []
        for v in d["values"]:
            value = text(v["value"])
            fails = failing.get(v["field"], {}).get((d["survivor"], value or ""))
            if fails and value is not None:
                source = ", ".join(str(x) for x in v.get("from") or [])
                d["notes"].append(f"{v['field']} not taken from {source}: {value!r} fails {', '.join(fails)}")
            else:
                kept.append(v)
        d["values"] = kept


def _explain(pairs: pl.DataFrame) -> list[str]:
    """``["explain"]`` when the pairs carry why they matched (``crm_ops.explain``), else nothing: pairs
    by linked id, a source's links and pairs scored before the column was added have none."""
    return ["explain"] if "explain" in pairs.columns else []


def _with_explain(detail: dict[str, Any], text: str | None) -> dict[str, Any]:
    """A proposal's ``detail`` with its pair's ``explain`` text (none without one)."""
    return {**detail, "explain": text} if text else detail


def survivorship(
    frame: pl.DataFrame,
    pairs: pl.DataFrame,
    system: str,
    entity: str,
    rules: MergeRules | None = None,
    *,
    matched: Sequence[str] = (),
    twins: Mapping[str, dict[str, Any]] | None = None,
    gate: Gate | None = None,
    members: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Merge proposals for the clusters of ``pairs``: each record merged into the cluster's master (by
    ``rules``' ordering), with the survivor's values decided by ``rules`` in ``detail``.

    ``matched`` are the fields the pairs were matched on (fingerprinted, for remembered decisions);
    ``twins`` maps a member id to its linked record in the other CRM (for ``from:<system>`` rules);
    ``gate``: the rules the survivor's new values must pass (``gate_values``); ``members``: the pairs'
    ``clusters`` when the caller has them already."""
    rules = rules or MergeRules()
    if pairs.is_empty():
        return empty()
    members = clusters(pairs) if members is None else members
    carried = ["score", "reasons", *_explain(pairs)]
    scores = (
        pl.concat(
            [
                pairs.select(pl.col("left_id").alias("id"), *carried),
                pairs.select(pl.col("right_id").alias("id"), *carried),
            ]
        )
        .sort("score", descending=True)
        .unique("id", keep="first")
    )
    ranked = rank_clusters(frame, members, rules.master_for(entity)).join(scores, on="id", how="left")
    details = cluster_details(ranked, chosen_columns(frame), entity, system, rules, matched, twins)
    gate_values(details, system, entity, gate)
    losers = ranked.filter(pl.col("id") != pl.col("survivor"))
    if "explain" in losers.columns:  # each record's own best pair: why it is said to duplicate
        texts = [
            json.dumps(_with_explain(details[cluster], why), sort_keys=True)
            for cluster, why in losers.select("cluster_id", "explain").iter_rows()
        ]
        losers = losers.with_columns(pl.Series("detail", texts, dtype=pl.String))
    else:
        detail = pl.DataFrame(
            {
                "cluster_id": list(details),
                "detail": [json.dumps(d, sort_keys=True) for d in details.values()],
            },
            schema={"cluster_id": pl.String, "detail": pl.String},
        )
        losers = losers.join(detail, on="cluster_id", how="left")
    return finding(
        losers.select(
            pl.lit("match.duplicate").alias("rule"),
            pl.lit(entity).alias("entity"),
            pl.lit(system).alias("system"),
            pl.col("id").alias("record_id"),
            pl.lit("merge_into").alias("field"),
            # the record as last seen: applying the merge is a conflict if it changed since
            _stamp("updated_at"),
            pl.lit("warning").alias("severity"),
            pl.format("Duplicate of {} (agreeing: {})", "survivor", pl.col("reasons").fill_null("")).alias(
                "message"
            ),
            pl.col("survivor").alias("proposed_value"),
            pl.col("score").alias("confidence"),
            "detail",
        )
    )


def conversions(
    leads: pl.DataFrame,
    contacts: pl.DataFrame,
    pairs: pl.DataFrame,
    rules: MergeRules | None = None,
    *,
    matched: Sequence[str] = (),
    gate: Gate | None = None,
) -> pl.DataFrame:
    """Proposals to convert each lead of ``pairs`` (left_id) into its contact (right_id), with the
    contact's values after the conversion in ``detail`` (the contact is the master; the lead's fields
    are decided by the merge rules, so an opted-out lead leaves the contact opted out)."""
    rules = rules or MergeRules()
    if pairs.is_empty():
        return empty()
    common = [c for c in contacts.columns if c in leads.columns]
    both = pl.concat([leads.select(common), contacts.select(common)], how="vertical_relaxed")
    carried = [c for c in chosen_columns(both) if c not in NOT_CONVERTED]
    members = pl.concat(
        [
            pairs.select("left_id", pl.col("left_id").alias("cluster_id")).rename({"left_id": "id"}),
            pairs.select("right_id", pl.col("left_id").alias("cluster_id")).rename({"right_id": "id"}),
        ]
    )
    ranked = rank_clusters(both, members, rules.master_for("Contact"), first=pairs["right_id"].to_list())
    details = cluster_details(ranked, carried, "Contact", "salesforce", rules, matched)
    gate_values(details, "salesforce", "Contact", gate)
    account = contacts.select(pl.col("id").alias("right_id"), pl.col("account_id").alias("__account"))
    seen = leads.select(pl.col("id").alias("left_id"), "updated_at")
    rows = pairs.join(account, on="right_id", how="left").join(seen, on="left_id", how="left")
    why = (
        rows["explain"]
        if "explain" in rows.columns
        else pl.repeat(None, rows.height, dtype=pl.String, eager=True)
    )
    detail = [
        json.dumps(_with_explain({**details[lead], "account_id": acct}, text), sort_keys=True)
        for lead, acct, text in zip(rows["left_id"], rows["__account"], why, strict=True)
    ]
    return finding(
        rows.with_columns(pl.Series("detail", detail, dtype=pl.String)).select(
            pl.lit("match.lead_duplicates_contact").alias("rule"),
            pl.lit("Lead").alias("entity"),
            pl.lit("salesforce").alias("system"),
            pl.col("left_id").alias("record_id"),
            pl.lit("converted_contact_id").alias("field"),
            _stamp("updated_at"),
            pl.lit("warning").alias("severity"),
            pl.format(
                "Lead duplicates contact {} (agreeing: {}): convert it into the contact",
                "right_id",
                "reasons",
            ).alias("message"),
            pl.col("right_id").alias("proposed_value"),
            pl.col("score").alias("confidence"),
            "detail",
        )
    )
