"""Scoring the shipped rules against the sandbox's ground truth (used by tests and the benchmark)."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from crm_ops.schema.maploading import load_map

# which shipped rules find which kind of injected defect
KIND_RULES: dict[str, tuple[str, ...]] = {
    "email_malformed": ("person.email.valid",),
    "email_format": ("person.email.normalised",),
    "placeholder": ("person.placeholder", "person.phone.placeholder", "person.title.placeholder"),
    "phone_format": ("person.phone.e164", "account.phone.e164"),
    "country_alias": ("person.country.iso", "account.country.iso"),
    "state_alias": ("person.state.iso", "account.state.iso"),
    "missing_required": ("person.email.required", "account.name.required", "opportunity.amount.required"),
    "name_format": ("person.last_name.format", "account.name.format"),
    "website_format": ("account.website.domain", "account.domain.bare"),
    "freemail_account": ("account.website.freemail",),
    "email_domain_mismatch": ("contact.email.account_domain",),
    "orphan": ("contact.account.exists", "opportunity.account.exists"),
    "opp_negative_amount": ("opportunity.amount.negative",),
    "opp_past_close_open": ("opportunity.close_date.past_open",),
    "stage_probability_mismatch": ("opportunity.probability.stage",),
    "opp_no_contact_role": ("opportunity.contact_role.missing",),
    "inactive_owner": ("person.owner.active", "account.owner.active", "opportunity.owner.active"),
    "stale": ("person.stale", "account.stale"),
}
OBJECTS = {
    ("salesforce", "Account"): "Account",
    ("salesforce", "Contact"): "Contact",
    ("salesforce", "Lead"): "Lead",
    ("salesforce", "Opportunity"): "Opportunity",
    ("hubspot", "contacts"): "Contact",
    ("hubspot", "companies"): "Account",
}


@dataclass(frozen=True)
class Score:
    """How one kind of defect was found."""

    kind: str
    truth: int
    found: int
    true_positives: int
    fixes_expected: int
    fixes_right: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.found if self.found else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.truth if self.truth else 1.0

    @property
    def fix_rate(self) -> float:
        return self.fixes_right / self.fixes_expected if self.fixes_expected else 1.0


def _same(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a is b
    try:
        return abs(float(a) - float(b)) < 1e-9
    except ValueError:
        return a == b


def score(
    defects: pl.DataFrame, findings: pl.DataFrame, frames: dict[str, dict[str, pl.DataFrame]]
) -> list[Score]:
    """Precision, recall and fix accuracy of the shipped rules, per kind of defect.

    Defects on records that are deleted (tombstones) are left out: rules judge live records only.
    """
    deleted = {
        (system, entity, rid)
        for system, entities in frames.items()
        for entity, frame in entities.items()
        if "is_deleted" in frame.columns
        for rid in frame.filter(pl.col("is_deleted"))["id"].to_list()
    }
    maps = {s: load_map(s) for s in ("salesforce", "hubspot")}
    truth = defects.with_columns(
        pl.struct("system", "object")
        .map_elements(lambda r: OBJECTS.get((r["system"], r["object"])), return_dtype=pl.String)
        .alias("entity")
    )
    out = []
    for kind, rules in KIND_RULES.items():
        t = truth.filter(pl.col("kind") == kind)
        t = t.filter(
            ~pl.struct("system", "entity", "record_id").map_elements(
                lambda r: (r["system"], r["entity"], r["record_id"]) in deleted, return_dtype=pl.Boolean
            )
        )
        f = findings.filter(pl.col("rule").is_in(list(rules)))
        t_keys = set(t.select("system", "entity", "record_id").iter_rows())
        f_keys = set(f.select("system", "entity", "record_id").iter_rows())
        proposed = {
            (s, e, r, fld): v
            for s, e, r, fld, v in f.select(
                "system", "entity", "record_id", "field", "proposed_value"
            ).iter_rows()
        }
        expected = right = 0
        for s, e, r, fld, correct in t.select(
            "system", "entity", "record_id", "field", "correct_value"
        ).iter_rows():
            if correct is None or e is None:
                continue
            column = maps[s].entity(e).column_for(fld)
            expected += 1
            right += _same(proposed.get((s, e, r, column)), correct)
        out.append(Score(kind, len(t_keys), len(f_keys), len(t_keys & f_keys), expected, right))
    return out
