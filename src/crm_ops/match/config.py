"""Match rules as configuration, like Salesforce matching rules: which fields, how each compares, weights.

A ``MatchConfig`` lists ``FieldRule``s (field, comparator, weight) and the blocking keys that decide
which records are compared at all. A pair's score is the weighted mean of its fields' similarities
(0-1), over the fields both records have; pairs at or above ``threshold`` match. Comparators:

- ``exact``: equal after trimming; ``normalised``: equal after the field's normaliser (e-mail lowercased,
  phone to its last 9 digits, name casefolded without accents and spaces, company without legal form);
- ``fuzzy``: rapidfuzz's ratio of the normalised values (``scorer`` may name token_sort_ratio etc.);
- ``phonetic``: equal phonetic codes of the normalised values (jellyfish's, by ``phonetic``: soundex,
  metaphone, nysiis or match_rating);
- ``first_name``: equal, a known nickname (Bob/Robert), an initial, or fuzzy;
- ``date``: equal within ``days``.

A field with ``also`` is compared with those multi-value columns of the other record too (``;``-
separated): an e-mail equal to one of the other record's secondary e-mails (``additional_emails``,
HubSpot's ``hs_additional_emails``) agrees fully, and the blocking key on that field finds the pair.

Blocking keys are lists of fields whose normalised values, joined, form a key: records sharing a key are
candidates. A key value shared by more than ``max_block`` records (a placeholder e-mail, a shared switchboard
number) says nothing about identity and is skipped, so the cost stays close to linear in the records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crm_ops.errors import ConfigError

COMPARATORS = ("exact", "normalised", "fuzzy", "phonetic", "first_name", "date")
NORMALISERS = ("text", "email", "phone", "name", "company", "domain", "country")
PHONETICS = ("soundex", "metaphone", "nysiis", "match_rating")


@dataclass(frozen=True)
class FieldRule:
    """How one field takes part in a match."""

    field: str
    comparator: str = "normalised"
    weight: float = 1.0
    normaliser: str = "text"
    other_field: str | None = None  # the field's name on the right side, when linking two shapes
    scorer: str = "ratio"
    days: int = 0
    # multi-value columns (``;``-separated) of the other record this field is also compared with: one
    # record's e-mail against another's secondary e-mails
    also: tuple[str, ...] = ()
    # a column both records must agree on (or one lack) for this field to be compared at all: amounts
    # only in the same currency
    same: str | None = None
    phonetic: str = "soundex"  # the phonetic comparator's code (PHONETICS)


@dataclass(frozen=True)
class MatchConfig:
    """A matching rule set for one entity (or one pair of entities, when linking)."""

    name: str
    fields: tuple[FieldRule, ...]
    blocking: tuple[tuple[str, ...], ...]
    threshold: float = 0.8
    max_block: int = 50
    min_fields: int = 2  # a pair needs at least this many fields present on both sides
    extra: dict[str, Any] = field(default_factory=dict)

    def with_overrides(self, raw: Mapping[str, Any], where: str) -> MatchConfig:
        """A copy with a profile's overrides (threshold, max_block, fields, blocking) applied."""
        problems = []
        unknown = set(raw) - {"threshold", "max_block", "min_fields", "fields", "blocking"}
        if unknown:
            problems.append(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}")
        fields = self.fields
        if "fields" in raw:
            parsed = []
            for i, spec in enumerate(raw["fields"]):
                if not isinstance(spec, Mapping) or "field" not in spec:
                    problems.append(f"{where}.fields[{i}]: needs at least 'field'")
                    continue
                bad = set(spec) - set(FieldRule.__dataclass_fields__)
                if bad:
                    problems.append(f"{where}.fields[{i}]: unknown key(s) {', '.join(sorted(bad))}")
                    continue
                values = dict(spec)
                if "also" in values:
                    also = values["also"]
                    if not isinstance(also, list) or not all(isinstance(a, str) for a in also):
                        problems.append(f"{where}.fields[{i}].also: a list of column names")
                        continue
                    values["also"] = tuple(also)
                rule = FieldRule(**values)
                if rule.comparator not in COMPARATORS:
                    problems.append(
                        f"{where}.fields[{i}]: comparator must be one of {', '.join(COMPARATORS)}"
                    )
                if rule.phonetic not in PHONETICS:
                    problems.append(f"{where}.fields[{i}]: phonetic must be one of {', '.join(PHONETICS)}")
                if rule.normaliser not in NORMALISERS:
                    problems.append(
                        f"{where}.fields[{i}]: normaliser must be one of {', '.join(NORMALISERS)}"
                    )
                parsed.append(rule)
            fields = tuple(parsed)
        threshold = float(raw.get("threshold", self.threshold))
        if not 0 < threshold <= 1:
            problems.append(f"{where}.threshold: must be in (0, 1], got {threshold}")
        if problems:
            raise ConfigError(problems)
        blocking = tuple(tuple(b) for b in raw.get("blocking", self.blocking))
        return MatchConfig(
            self.name,
            fields,
            blocking,
            threshold,
            int(raw.get("max_block", self.max_block)),
            int(raw.get("min_fields", self.min_fields)),
            dict(self.extra),
        )


F = FieldRule

CONTACT = MatchConfig(
    "Contact",
    fields=(
        F("email", "fuzzy", 0.35, "email", also=("additional_emails",)),
        F("phone", "normalised", 0.25, "phone"),
        F("last_name", "fuzzy", 0.15, "name"),
        F("first_name", "first_name", 0.1, "name"),
        F("account_id", "exact", 0.15),
    ),
    blocking=(("email",), ("phone",), ("last_name", "account_id")),
)
LEAD_CONTACT = MatchConfig(
    "Lead-Contact",
    fields=(
        F("email", "fuzzy", 0.4, "email"),
        F("phone", "normalised", 0.25, "phone"),
        F("last_name", "fuzzy", 0.15, "name"),
        F("first_name", "first_name", 0.1, "name"),
        F("company", "fuzzy", 0.1, "company", other_field="account_name"),
    ),
    blocking=(("email",), ("phone",)),
)
ACCOUNT = MatchConfig(
    "Account",
    fields=(
        F("name", "fuzzy", 0.4, "company", scorer="token_sort_ratio"),
        F("website", "normalised", 0.35, "domain"),
        F("phone", "normalised", 0.15, "phone"),
        F("country", "normalised", 0.1, "country"),
    ),
    blocking=(("website",), ("name",), ("phone",)),
    threshold=0.85,
)
# linking Salesforce to HubSpot: fields of the same canonical name on both sides
CROSS_CONTACT = MatchConfig(
    "Contact (Salesforce-HubSpot)",
    fields=(
        F("email", "normalised", 0.4, "email", also=("additional_emails",)),
        F("phone", "normalised", 0.2, "phone"),
        F("last_name", "fuzzy", 0.2, "name"),
        F("first_name", "first_name", 0.2, "name"),
    ),
    # a name alone is a weak key at a million contacts (thousands of John Smiths): names are compared
    # on pairs that share an address or a phone, not used to find them
    blocking=(("email",), ("phone",)),
    threshold=0.8,
)
CROSS_ACCOUNT = MatchConfig(
    "Account (Salesforce-HubSpot)",
    fields=(
        F("name", "fuzzy", 0.45, "company", scorer="token_sort_ratio"),
        F("website", "normalised", 0.4, "domain", other_field="domain"),
        F("country", "normalised", 0.15, "country"),
    ),
    blocking=(("name",), ("website",)),
    threshold=0.85,
)
CROSS_OPPORTUNITY = MatchConfig(
    "Opportunity (Salesforce-HubSpot)",
    fields=(
        F("name", "fuzzy", 0.5, "text"),
        F("amount", "exact", 0.3, same="currency"),  # amounts in two currencies are not compared
        F("close_date", "date", 0.2, days=3),
    ),
    blocking=(("name",),),
    threshold=0.85,
)
DEFAULTS = {
    "Contact": CONTACT,
    "Lead-Contact": LEAD_CONTACT,
    "Account": ACCOUNT,
    "cross.Contact": CROSS_CONTACT,
    "cross.Account": CROSS_ACCOUNT,
    "cross.Opportunity": CROSS_OPPORTUNITY,
}
