"""Which actions of a plan start approved, and why the others need a person.

An action starts approved (``approve = yes`` in ``plan.csv``, and what ``crm-ops apply`` writes
without ``--review``) only when it is an ``update`` of a rule marked safe (listed in
``[profiles.P.review] approve`` by id or ``tag:x``; by default the rules tagged ``format``) with a
confidence at or above ``min_confidence`` (0.95 by default). Everything else starts ``no``, with the
reason in the ``review_reason`` column:

- a merge (``match.duplicate``): a person decides, unless ``approve`` names ``match.duplicate`` by id
  and undo can restore all it does (a HubSpot merge that opts the survivor out cannot be undone: HubSpot
  does not resubscribe by API, and the reason says so);
- a lead conversion (``convert``): always a person, and the reason says it cannot be undone;
- a drift sync (``match.drift.*``): it overwrites the other CRM's value, unless named by id;
- an association (an orphan linked to an account found for it): unless its rule is named by id;
- a flag: nothing is written, it is for a person;
- an update of a rule not marked safe, or under the confidence bar.

A tag never pre-approves a merge, a sync or an association: those need their rule by name.

What a person may change in the review file, and what ``apply --review`` refuses of it (answers other
than yes/no/not_duplicate/blank, rows twice, ids or rows of another plan, edited identity columns), is
``crm_ops.plan.reviewfile``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from crm_ops.config import ReviewSettings
from crm_ops.plan.format import DECIDED_BY_PERSON, Action, Plan, actions_table
from crm_ops.rules.model import Rule

DRIFT_PREFIX = "match.drift."
UNDER_BAR = "confidence under the bar"


CONVERT_IRREVERSIBLE = (
    "cannot be undone: Salesforce cannot unconvert a lead (undo puts back only the contact's values)"
)
HUBSPOT_OPT_OUT = "cannot be undone: HubSpot does not resubscribe an opted-out address by API"


def irreversible_parts(action: Action) -> str:
    """What undoing ``action`` cannot put back, in words (empty: undo restores it all)."""
    return irreversible(action.kind, action.system, action.detail)


def irreversible(kind: str, system: str, detail: Mapping[str, Any] | None) -> str:
    """What undoing an action of ``kind`` in ``system`` with ``detail`` cannot put back (empty: all)."""
    if kind == "convert":
        return CONVERT_IRREVERSIBLE
    values = (detail or {}).get("values") or []
    opts_out = any(v.get("field") == "email_opt_out" and v.get("value") is True for v in values)
    if kind == "merge" and system == "hubspot" and opts_out:
        return f"the survivor's opt-out {HUBSPOT_OPT_OUT}"
    return ""


def under_bar(confidence: float | None, bar: float) -> str:
    """The review reason of an action under the confidence bar."""
    shown = "none" if confidence is None else f"{confidence:.2f}"
    return f"confidence {shown} < {bar:.2f}"


def reason_group(reason: str) -> str:
    """A review reason without its numbers (for counting): the confidence reasons are one group."""
    return UNDER_BAR if reason.startswith("confidence ") else reason


@dataclass(frozen=True)
class Review:
    """Review settings and the tags of the rules a plan was made with."""

    settings: ReviewSettings = field(default_factory=ReviewSettings)
    tags: Mapping[str, AbstractSet[str]] = field(default_factory=dict)

    @classmethod
    def for_rules(cls, rules: Iterable[Rule], settings: ReviewSettings | None = None) -> Review:
        """From loaded rules (their tags) and a profile's settings."""
        return cls(settings or ReviewSettings(), {r.id: frozenset(r.tags) for r in rules})

    def named(self, rule: str) -> bool:
        """Whether the settings list ``rule`` by its id."""
        return rule in self.settings.approve

    def safe(self, rule: str) -> bool:
        """Whether ``rule`` is marked safe: listed by id or by one of its tags."""
        wanted = set(self.settings.approve)
        return rule in wanted or any(f"tag:{t}" in wanted for t in self.tags.get(rule, ()))

    def annotate_table(self, table: pl.DataFrame, irreversible: str = "irreversible") -> pl.DataFrame:
        """A plan's table (``crm_ops.plan.format.ACTION_SCHEMA``) with each action's default approval
        (``approved``) and why it is not approved (``review_reason``: empty when it is), a column at a
        time; column ``irreversible`` holds what undoing each cannot put back (``irreversible``; null or
        empty: all). The first that holds decides: an undo plan's actions are approved; a flag, a lead
        conversion and a merge that cannot be undone whole are a person's; a merge, a drift sync and an
        association only when the settings name their rule; an update only when its rule is safe; and
        nothing under the confidence bar."""
        bar = self.settings.min_confidence
        kind, rule, confidence = pl.col("kind"), pl.col("rule"), pl.col("confidence")
        rules = table["rule"].unique().drop_nulls().to_list()
        named = rule.is_in([r for r in rules if self.named(r)])
        safe = rule.is_in([r for r in rules if self.safe(r)])
        drift = rule.str.starts_with(DRIFT_PREFIX)
        lost = pl.col(irreversible).fill_null("")
        shown = table["confidence"].unique().drop_nulls().to_list()
        under = confidence.replace_strict(
            shown,
            [under_bar(c, bar) for c in shown],
            default=pl.lit(under_bar(None, bar)),
            return_dtype=pl.String,
        )
        steps: list[tuple[pl.Expr, bool, pl.Expr | str]] = [
            (kind == "unmerge", True, ""),
            (kind == "flag", False, "flag: for a person, nothing is written"),
            (kind == "convert", False, f"lead conversion: a person decides; {CONVERT_IRREVERSIBLE}"),
            (
                (kind == "merge") & (lost != ""),
                False,
                pl.concat_str(pl.lit("merge: a person decides; "), lost),
            ),
            ((kind == "merge") & ~named, False, "merge: a person decides"),
            (drift & ~named, False, "drift sync overwrites the other CRM"),
            (
                (kind == "associate") & ~named,
                False,
                "association: links the record to another a rule guessed",
            ),
            ((kind == "update") & ~drift & ~safe, False, "rule not marked safe"),
            (confidence.is_null() | (confidence < bar), False, under),
        ]
        approved: Any = pl
        why: Any = pl
        for when, yes, reason in steps:
            approved = approved.when(when).then(pl.lit(yes))
            why = why.when(when).then(pl.lit(reason) if isinstance(reason, str) else reason)
        return table.with_columns(
            approved.otherwise(pl.lit(True)).alias("approved"),
            why.otherwise(pl.lit("")).alias("review_reason"),
        )


def default_approvals(plan: Plan, review: Review) -> dict[str, bool]:
    """Each action's default approval: as written in the plan, or (version 1 plans, which do not say)
    as ``review`` decides it now."""
    approvals = {a.action_id: a.approved for a in plan.actions if a.approved is not None}
    undecided = [a for a in plan.actions if a.approved is None]
    if undecided:
        lost = pl.Series("irreversible", [irreversible_parts(a) for a in undecided], pl.String)
        decided = review.annotate_table(actions_table(undecided).with_columns(lost))
        approvals.update(zip(decided["action_id"], decided["approved"], strict=True))
    return {a.action_id: approvals[a.action_id] for a in plan.actions}


def auto_appliable(min_confidence: float) -> pl.Expr:
    """The rows of a plan's table ``auto_apply`` may choose from: at or above ``min_confidence``, an
    update, an association or a merge (a condition for ``Plan.where``)."""
    return (pl.col("confidence").fill_null(0.0) >= min_confidence) & pl.col("kind").is_in(
        ["update", "associate", "merge"]
    )


def auto_apply(
    actions: Iterable[Action],
    *,
    wanted: Iterable[str],
    min_confidence: float,
    tags: Mapping[str, AbstractSet[str]],
) -> list[Action]:
    """What the nightly run may write unattended: actions at or above ``min_confidence`` whose rule the
    run settings list (an update or association by id or tag, a merge only by id), and, of those, only
    the ones approved by default unless the run settings name their rule by id."""
    wanted = set(wanted)
    listed = Review(ReviewSettings(tuple(wanted), min_confidence), tags).safe
    chosen = []
    for a in actions:
        if (a.confidence or 0.0) < min_confidence:
            continue
        if a.kind == "convert" or irreversible_parts(a):
            continue  # what undo cannot put back is never written unattended
        field_write = a.kind in ("update", "associate") and listed(a.rule)
        if not (field_write or (a.kind == "merge" and a.rule in wanted)):
            continue
        if not a.approved and a.rule not in wanted:
            continue  # a person has to look at it first, unless the run names its rule
        chosen.append(a)
    return chosen


def rejections(actions: Iterable[Action]) -> list[dict[str, str]]:
    """What remembering rejected merges and conversions keeps (``State.remember_rejections``): each pair
    with the fingerprints of its records' matched fields as the plan saw them (actions without them,
    from plans older than version 3, cannot be remembered and are left out)."""
    out = []
    for a in actions:
        prints = (a.detail or {}).get("fingerprints") or {}
        other = a.proposed_value or ""
        if a.kind not in ("merge", "convert") or a.record_id not in prints or other not in prints:
            continue
        out.append(
            {
                "system": a.system,
                "entity": "Lead-Contact" if a.kind == "convert" else a.entity,
                "record_id": a.record_id,
                "other_id": other,
                "record_print": str(prints[a.record_id]),
                "other_print": str(prints[other]),
            }
        )
    return out


def verdicts(plan: Plan, answers: Mapping[str, str]) -> list[dict[str, str]]:
    """People's verdicts on the merges and conversions of ``plan`` they decided in a review file
    (``answers``, ``ReviewFile.answers``): ``yes`` a ``duplicate``, ``not_duplicate`` (or ``no`` on a plan
    of version 3 or later, where those rows start blank) not one, each with the pair's explanation as the
    plan carried it (``State.remember_verdicts``; ``crm_ops.match.calibration`` reads them)."""
    out = []
    for a in plan.actions:
        answer = answers.get(a.action_id)
        if a.kind not in DECIDED_BY_PERSON or not a.proposed_value:
            continue
        if answer == "yes":
            verdict = "duplicate"
        elif answer == "not_duplicate" or (answer == "no" and plan.header.version >= 3):
            verdict = "not_duplicate"
        else:
            continue
        out.append(
            {
                "system": a.system,
                "entity": "Lead-Contact" if a.kind == "convert" else a.entity,
                "record_id": a.record_id,
                "other_id": a.proposed_value,
                "verdict": verdict,
                "explain": str((a.detail or {}).get("explain") or ""),
            }
        )
    return out
