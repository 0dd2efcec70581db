"""Matching over the snapshots: duplicates in each CRM, leads that duplicate contacts, and the two CRMs
linked record to record, with drift on linked pairs and the merges, conversions and syncs to propose,
as findings.

    from crm_ops.match import run_matching
    result = run_matching(frames)          # {system: {entity: frame}}, e.g. crm_ops.check.snapshot_frames
    result.duplicates, result.links, result.findings, result.unmatched

Merges carry what the survivor ends with (``crm_ops.match.survivor``, ``crm_ops.match.merges``); pairs
a person rejected are left out while their records are unchanged (``crm_ops.match.decisions``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import structlog

from crm_ops.config import Profile
from crm_ops.errors import ConfigError
from crm_ops.match.config import CONTACT, DEFAULTS, OPT_IN, FieldRule, MatchConfig
from crm_ops.match.engine import find_duplicates, link_records
from crm_ops.match.links import DRIFT_FIELDS, drift, link
from crm_ops.match.merges import survivorship
from crm_ops.match.normalmemo import shared_normalisation
from crm_ops.match.orchestrate import CROSS_ENTITIES, DEDUPED, MatchResult, matched_fields, orchestrate
from crm_ops.match.sources import source_links
from crm_ops.match.survivor import ORDERINGS, MergeRules
from crm_ops.rules.engine import ProposalGate
from crm_ops.rules.loader import load_rules
from crm_ops.rules.model import Rule
from crm_ops.schema.entities import ENTITY_NAMES, entity_names, is_entity, live
from crm_ops.values.wordlists import PROFILE_KEYS, WordLists
from crm_ops.values.wordlists import shipped as shipped_lists

log = structlog.get_logger("crm_ops.match")
Frames = Mapping[str, Mapping[str, pl.DataFrame]]


class PolarsEngine:
    """``crm_ops.match.orchestrate.MatchEngine`` on polars frames, in memory: the rules' gate over
    ``frames`` (none when ``rules`` is empty), the word lists ``lists``."""

    def __init__(self, frames: Frames, rules: Sequence[Rule], lists: WordLists | None) -> None:
        self.gate = ProposalGate(rules, frames) if rules else None
        self.lists = lists

    def live(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The records not deleted."""
        return live(frame)

    def open_leads(self, leads: pl.DataFrame) -> pl.DataFrame:
        """The live leads not yet converted."""
        return live(leads).filter(~pl.col("is_converted").fill_null(False))

    def with_account_names(self, contacts: pl.DataFrame, accounts: pl.DataFrame | None) -> pl.DataFrame:
        """Contacts with their account's name as ``account_name``."""
        if accounts is None:
            return contacts.with_columns(pl.lit(None, pl.String).alias("account_name"))
        names = accounts.select(pl.col("id").alias("account_id"), pl.col("name").alias("account_name"))
        return contacts.join(names, on="account_id", how="left")

    def duplicates(self, frame: pl.DataFrame, config: MatchConfig, stats: dict[str, int]) -> pl.DataFrame:
        """``find_duplicates``."""
        return find_duplicates(frame, config, stats=stats, lists=self.lists)

    def pairs(
        self, left: pl.DataFrame, right: pl.DataFrame, config: MatchConfig, stats: dict[str, int]
    ) -> pl.DataFrame:
        """``link_records``."""
        return link_records(left, right, config, stats=stats, lists=self.lists)

    def link(
        self,
        sf: pl.DataFrame,
        hs: pl.DataFrame,
        config: MatchConfig,
        sf_link: str,
        hs_link: str,
        stats: dict[str, int],
    ) -> pl.DataFrame:
        """``crm_ops.match.links.link``."""
        return link(sf, hs, config, sf_link, hs_link, stats, self.lists)

    def unlinked(self, frame: pl.DataFrame, links: pl.DataFrame, column: str) -> pl.DataFrame:
        """The records whose id is not in ``links``' ``column``."""
        return frame.join(links.select(pl.col(column).alias("id")), on="id", how="anti")

    def cross_links(self, entity: str, links: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
        """The links by Salesforce entity, stacked as ``LINK_SCHEMA``."""
        return pl.concat([_link_rows(entity, sf_entity, frame) for sf_entity, frame in links.items()])

    def collect(self, frame: pl.DataFrame, schema: Mapping[str, Any]) -> pl.DataFrame:
        """The frame's ``schema`` columns."""
        return frame.select(list(schema))

    def records(self, frame: pl.DataFrame, ids: pl.Series) -> pl.DataFrame:
        """The records whose id is in ``ids``."""
        return frame.filter(pl.col("id").is_in(ids.implode()))

    def drift(
        self,
        entity: str,
        sf: pl.DataFrame,
        hs: pl.DataFrame,
        links: pl.DataFrame,
        truth: Mapping[str, str],
    ) -> pl.DataFrame:
        """``crm_ops.match.links.drift`` with the gate."""
        return drift(entity, sf, hs, links, truth, self.gate, self.lists)

    def proposals(self, make: Callable[..., pl.DataFrame]) -> pl.DataFrame:
        """``make`` with the gate."""
        return make(gate=self.gate)

    def source_links(self, frames: Frames) -> pl.DataFrame:
        """``crm_ops.match.sources.source_links``."""
        return source_links(frames, self.lists)

    def close(self) -> None:
        """Nothing to release."""


def _link_rows(entity: str, sf_entity: str, links: pl.DataFrame) -> pl.DataFrame:
    return links.select(
        pl.lit(entity).alias("entity"),
        pl.lit(sf_entity).alias("sf_entity"),
        pl.col("left_id").alias("sf_id"),
        pl.col("right_id").alias("hs_id"),
        "method",
        "score",
        "reasons",
        "explain",
    )


@shared_normalisation()  # e-mails and phones normalised once for every rule set reading the same ones
def run_matching(
    frames: Frames,
    *,
    configs: Mapping[str, MatchConfig] | None = None,
    source_of_truth: Mapping[str, str] | None = None,
    merge_rules: MergeRules | None = None,
    rejected: Sequence[Mapping[str, Any]] = (),
    rules: Sequence[Rule] | None = None,
    lists: WordLists | None = None,
    linked_sources: pl.DataFrame | None = None,
    verdicts: Sequence[Mapping[str, Any]] = (),
    learn_from_decisions: bool = False,
) -> MatchResult:
    """Duplicates, lead-vs-contact, cross-CRM links and drift over snapshot frames (polars), in
    ``crm_ops.match.orchestrate``'s order.

    ``frames``: {system: {entity: frame}} of canonical columns (``crm_ops.schema.entities``;
    ``crm_ops.check.snapshot_frames``). ``configs``: match rule sets replacing ``DEFAULTS``' of the same
    key (Contact, Lead-Contact, Lead, Account, cross.Contact, cross.Account, cross.Opportunity), and
    rule sets of other entities (an opportunity's, a custom object's), which are deduplicated in each CRM
    too; a column one names that a frame lacks is a ``ConfigError``. ``source_of_truth``: per field
    (``"*"`` the rest) which CRM's value drift proposes (salesforce | hubspot | latest). ``merge_rules``
    decide each merge's master and the survivor's values; ``rejected`` are the remembered rejections
    (``State.rejections``): those pairs are left out while their records are unchanged. ``rules`` (the
    shipped rules when None; none checked when empty) are what every proposed value must pass in the CRM
    it is written into: drift syncs and the values a merge gives its survivor. ``lists``: the nickname,
    free-mail and placeholder lists (``crm_ops.values.wordlists``; the shipped ones).
    ``linked_sources``: the sources' links when the caller has them (``match.sources.source_links``).
    ``verdicts``: people's decisions on proposed pairs (``State.verdicts``): each Fellegi-Sunter rule
    set's expected precision is held to them (``crm_ops.match.calibration``; a notice when it is
    over-confident), and with ``learn_from_decisions`` its ``m`` learns from the pairs they confirmed."""
    if rules is None:
        rules, _ = load_rules([])
    return orchestrate(
        PolarsEngine(frames, rules, lists),
        frames,
        configs=configs,
        source_of_truth=source_of_truth,
        merge_rules=merge_rules,
        rejected=rejected,
        linked_sources=linked_sources,
        verdicts=verdicts,
        learn_from_decisions=learn_from_decisions,
    )


# ``[profiles.P.match] learn_from_decisions``: m learned from the pairs people confirmed too
LEARN = "learn_from_decisions"

LEGACY_SURVIVOR = {
    "most_complete": ("most_complete", "oldest"),
    "oldest": ("oldest", "most_complete"),
    "most_recent": ("most_recent", "most_complete"),
}


def with_survivor(rules: MergeRules, survivor: str) -> MergeRules:
    """``rules`` with the master chosen by one of the plain orderings (``--survivor``)."""
    if survivor not in ORDERINGS:
        raise ConfigError(f"survivor: must be {', '.join(ORDERINGS)}, got {survivor!r}")
    return MergeRules(LEGACY_SURVIVOR[survivor], rules.fields, {}, rules.entity_fields,
                      rules.secondary_systems, rules.converted_status)  # fmt: skip


def matched_entities(profile: Profile) -> frozenset[str]:
    """The entities matching reads whole for ``profile``: the core ones, those it deduplicates or links
    by default (cases among them), and every entity of a ``[profiles.P.match.<Entity>]`` table."""
    tables = {k for k, v in profile.match.items() if isinstance(v, dict)}
    return frozenset({*ENTITY_NAMES, *DEDUPED, *(e for e, _ in CROSS_ENTITIES), *tables})


def profile_settings(profile: Profile) -> dict[str, Any]:
    """``run_matching`` keyword arguments from ``profile``'s ``[profiles.P.match]`` table (merge rules,
    survivor, sources of truth, per-rule overrides, word lists read relative to the config file); a
    ``ConfigError`` names each bad key as ``<config file> profiles.<name>.match.<key>``."""
    where = f"{profile.source} profiles.{profile.name}.match"
    return settings_from_profile(profile.match, where, Path(profile.source).parent)


def _config(key: str, raw: Mapping[str, Any], where: str) -> MatchConfig:
    """The match rule set ``key`` names: a default one with ``raw``'s overrides (``DEFAULTS``, or
    ``OPT_IN``'s for an entity deduplicated only when named: Opportunity), or, for an entity with no
    default (a custom object), one made of ``raw`` alone, which must then give ``fields`` and
    ``blocking``."""
    if key in DEFAULTS:
        return DEFAULTS[key].with_overrides(raw, where)
    if key in OPT_IN:  # a default the profile opts into by naming the entity
        return OPT_IN[key].with_overrides(raw, where)
    missing = [k for k in ("fields", "blocking") if k not in raw]
    if missing:
        raise ConfigError(
            f"{where}: {key} has no default match rule, so its table must give {' and '.join(missing)} "
            "(fields: [{field, comparator, weight, ...}], blocking: [[field, ...], ...])"
        )
    # every setting the base has is replaced by raw's (fields, blocking) or checked with raw's values
    base = MatchConfig(key, (FieldRule("id"),), (("id",),), min_fields=1)
    return base.with_overrides({"min_fields": 2, **raw}, where)


def settings_from_profile(raw: Mapping[str, Any], where: str, base: Path | None = None) -> dict[str, Any]:
    """``run_matching`` keyword arguments from a profile's ``[profiles.P.match]`` table.

    Keys: ``merge`` (the merge rules: master ordering, per-field rules, see
    ``crm_ops.match.survivor.MergeRules.from_profile``), ``survivor`` (the older, plain choice of master:
    most_complete | oldest | most_recent), ``source_of_truth`` (field -> salesforce | hubspot | latest,
    ``"*"`` for the rest) and, per match rule (Contact, Lead-Contact, Lead, Account, "cross.Contact",
    "cross.Account", "cross.Opportunity"), overrides of its threshold, fields, blocking; ``Opportunity``
    and ``Case`` (their default rule sets, ``crm_ops.match.config.OPT_IN``, with the table's overrides:
    an empty table takes it as it is), which ``run_matching`` then deduplicates in each CRM; per entity
    with no default rule (a declared custom object), a whole rule set (``fields`` and ``blocking``
    required), deduplicated the same way; and additions to the word lists
    (``crm_ops.values.wordlists.PROFILE_KEYS``: ``freemail_domains_extra``, ``nicknames_extra``,
    ``placeholder_*_extra``, ``wordlists_file`` read relative to ``base``, the config file's folder);
    ``learn_from_decisions`` (false by default): Fellegi-Sunter rule sets learn ``m`` from the pairs
    people confirmed in review files too (``crm_ops.match.calibration``).
    """
    problems = []
    learn = raw.get(LEARN, False)
    if not isinstance(learn, bool):
        problems.append(f"{where}.{LEARN}: true or false, got {learn!r}")
    survivor = raw.get("survivor")
    if survivor is not None and survivor not in ORDERINGS:
        problems.append(f"{where}.survivor: must be most_complete, oldest or most_recent, got {survivor!r}")
    truth = dict(raw.get("source_of_truth", {}))
    bad = {k: v for k, v in truth.items() if v not in ("salesforce", "hubspot", "latest")}
    if bad:
        problems.append(f"{where}.source_of_truth: values must be salesforce, hubspot or latest, got {bad}")
    rules = MergeRules()
    merge = raw.get("merge", {})
    if not isinstance(merge, Mapping):
        problems.append(f"{where}.merge: a table (master, fields, Contact, Account)")
    else:
        try:
            rules = MergeRules.from_profile(merge, f"{where}.merge")
        except ConfigError as exc:
            problems += exc.problems
    configs = {}
    for key, value in raw.items():
        if key in ("survivor", "source_of_truth", "merge", LEARN, *PROFILE_KEYS):
            continue
        if not isinstance(value, Mapping) or (key not in DEFAULTS and not is_entity(key)):
            problems.append(
                f"{where}.{key}: unknown setting; match rules are {', '.join(DEFAULTS)} or an entity's "
                f"name (a core one or one the profile declares: {', '.join(entity_names())})"
            )
            continue
        try:
            configs[key] = _config(key, value, f"{where}.{key}")
        except ConfigError as exc:
            problems += exc.problems
    lists = None
    if any(k in raw for k in PROFILE_KEYS):
        try:
            lists = shipped_lists().extended(raw, where, base)
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)
    if survivor is not None and not (isinstance(merge, Mapping) and "master" in merge):
        rules = with_survivor(rules, survivor)
    return {
        "configs": configs,
        "source_of_truth": truth,
        "merge_rules": rules,
        "lists": lists,
        "learn_from_decisions": learn,
    }


__all__ = [
    "CONTACT",
    "DRIFT_FIELDS",
    "MatchResult",
    "PolarsEngine",
    "matched_fields",
    "run_matching",
    "settings_from_profile",
    "survivorship",
    "with_survivor",
]
