"""Near misses: why a pair of records was, or was not, proposed (``crm-ops match --why ID1 ID2``).

``why_pair(frames, id1, id2)`` finds the two records in the snapshots, picks the rule set that compares
them (their entity's within one CRM; ``Lead-Contact`` for a Salesforce lead and contact; the cross-CRM
``cross.<entity>`` across Salesforce and HubSpot, a Salesforce lead and a HubSpot contact by
``cross.Contact``), scores the pair whether or not blocking found it (the engine's ``prepare`` and
``score`` with ``keep_all``: nothing left out for its score) and says, key by key, whether blocking would
have compared it: the key's value shared by both and held by at most ``max_block`` records (compared),
held by more (compared only if a sub-block holds both: ``engine._sub_blocked``), found through a
secondary value, or not shared at all. A pair is proposed when blocking compares it and its score
reaches the threshold with ``min_fields`` present; a person's rejection, one-to-one linking and ids
already linked are not judged here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from crm_ops.errors import ConfigError
from crm_ops.explain import outcome, waterfall
from crm_ops.match.config import DEFAULTS, LEAD_CONTACT, MatchConfig
from crm_ops.match.engine import _candidates, key_columns, prepare, score, secondary_columns
from crm_ops.match.orchestrate import CROSS_ENTITIES
from crm_ops.match.run import PolarsEngine
from crm_ops.values.wordlists import WordLists
from crm_ops.values.wordlists import shipped as shipped_lists

Frames = Mapping[str, Mapping[str, pl.DataFrame]]
Where = tuple[str, str, str]  # (system, entity, id)


@dataclass(frozen=True)
class PairWhy:
    """Why a pair was or was not proposed: the rule set that compares the two records (``rule_set``,
    its key: ``Contact``, ``Lead-Contact``, ``cross.Contact``), each record (system, entity, id) on its
    side, the pair's score, reasons and ``explain`` text (None until scoring explains itself) against
    the threshold, whether ``score`` keeps it (threshold and ``min_fields``), one line per blocking key
    (``blocking``) and whether any key compares it (``compared``), and notes (a record deleted, a
    converted lead)."""

    rule_set: str
    left: Where
    right: Where
    score: float
    threshold: float
    kept: bool
    reasons: str
    explain: str | None
    blocking: tuple[str, ...]
    compared: bool
    notes: tuple[str, ...] = ()

    @property
    def proposed(self) -> bool:
        """Blocking compares the pair and its score keeps it (and neither record is out of matching)."""
        return self.compared and self.kept and not self.notes

    def lines(self) -> list[str]:
        """The explanation as text, one line each (``crm-ops match --why`` prints them)."""
        (ls, le, lid), (rs, re_, rid) = self.left, self.right
        verdict = "proposed" if self.proposed else "not proposed"
        out = [f"{ls} {le} {lid} and {rs} {re_} {rid}, by rule set {self.rule_set}: {verdict}"]
        out += [f"  note: {n}" for n in self.notes]
        out.append(
            f"  score {self.score:.4f} against threshold {self.threshold}"
            + (
                ""
                if self.kept
                else " (below it, too few fields present on both, or ruled out: the veto fields all "
                "differ, a required field missing, or one record opened after the other was closed)"
            )
            + (f"; agreeing: {self.reasons}" if self.reasons else "")
        )
        if self.explain:
            out.append("  why (field, level, weight, running total):")
            out += [
                f"    {field:<14} {level:<12} {weight:+7.2f} {running:+8.2f}"
                for field, level, weight, running in waterfall(self.explain)
            ]
            kind, value = outcome(self.explain)
            out.append(f"    {kind} {value:.4f}")
        out.append("  blocking:" + ("" if self.compared else " never compared"))
        out += [f"    {line}" for line in self.blocking]
        return out


def _find(frames: Frames, record_id: str, entity: str | None) -> list[tuple[str, str, pl.DataFrame]]:
    """Where ``record_id`` is: (system, entity, its row) for each table holding it."""
    out = []
    for system, entities in frames.items():
        for name, frame in entities.items():
            if entity not in (None, name) or "id" not in frame.columns:
                continue
            rows = frame.filter(pl.col("id").cast(pl.String) == record_id)
            if rows.height:
                out.append((system, name, rows.head(1)))
    return out


def _one(frames: Frames, record_id: str, entity: str | None) -> tuple[str, str, pl.DataFrame]:
    found = _find(frames, record_id, entity)
    if not found:
        where = f" among the {entity} records" if entity else ""
        raise ConfigError(f"--why: no record {record_id!r}{where} in the current snapshots (pull first?)")
    if len(found) > 1:
        places = ", ".join(f"{s} {e}" for s, e, _ in found)
        raise ConfigError(f"--why: {record_id!r} is a record of {places}: name the entity (--entity)")
    return found[0]


def rule_set_for(
    a: tuple[str, str], b: tuple[str, str], configs: Mapping[str, MatchConfig]
) -> tuple[str, MatchConfig, bool]:
    """The rule set comparing a record of (system, entity) ``a`` with one of ``b``: its key, the config
    and whether ``a`` is on the left (``b`` first when it is the Salesforce or lead side). A pair no rule
    set compares is a ``ConfigError``."""
    cfg = {**DEFAULTS, **configs}
    (sa, ea), (sb, eb) = a, b
    if sa == sb and ea == eb and ea in cfg and "." not in ea and ea != "Lead-Contact":
        return ea, cfg[ea], True
    if sa == sb == "salesforce" and {ea, eb} == {"Lead", "Contact"}:
        return "Lead-Contact", cfg.get("Lead-Contact", LEAD_CONTACT), ea == "Lead"
    if {sa, sb} == {"salesforce", "hubspot"}:
        sf, hs = (ea, eb) if sa == "salesforce" else (eb, ea)
        for entity, key in CROSS_ENTITIES:
            if hs == entity and (sf == entity or (entity == "Contact" and sf == "Lead")):
                return key, cfg[key], sa == "salesforce"
    raise ConfigError(f"--why: no rule set compares a {sa} {ea} with a {sb} {eb}")


def _subset(
    prepared: pl.DataFrame, config: MatchConfig, key: Sequence[str], values: set[str]
) -> pl.DataFrame:
    """The records whose value of ``key`` (or one of its secondary values) is among ``values``: every
    record of the blocks the pair could meet in on that key."""
    k = pl.concat_str([pl.col(c).cast(pl.String) for c in key_columns(config, key)], separator="\x1f")
    hit = k.is_in(list(values)).fill_null(False)
    named = secondary_columns(config, key)
    if named is not None and named[1] in prepared.columns:
        items = pl.col(named[1]).list.eval(pl.element().cast(pl.String).is_in(list(values))).list.any()
        hit = hit | items.fill_null(False)
    return prepared.filter(hit)


def _key_text(row: pl.DataFrame, config: MatchConfig, key: Sequence[str]) -> set[str]:
    """The pair member's value of ``key`` and its secondary values, as blocking's text."""
    k = pl.concat_str([pl.col(c).cast(pl.String) for c in key_columns(config, key)], separator="\x1f")
    out = {v for v in row.select(k).to_series().to_list() if v is not None}
    named = secondary_columns(config, key)
    if named is not None and named[1] in row.columns:
        out |= {str(v) for items in row[named[1]].to_list() if items for v in items if v is not None}
    return out


def _blocking(
    lp: pl.DataFrame, rp: pl.DataFrame | None, pair: tuple[str, str], config: MatchConfig
) -> tuple[list[str], bool]:
    """One line per blocking key saying whether it compares ``pair`` (left id, right id) over the
    ``prepare``d records ``lp`` and ``rp`` (None: within ``lp``), and whether any does."""
    other = lp if rp is None else rp
    left, right = lp.filter(pl.col("id") == pair[0]), other.filter(pl.col("id") == pair[1])
    wanted = tuple(sorted(pair)) if rp is None else pair
    lines, compared = [], False
    for key in config.blocking:
        name = "+".join(key)
        mine, theirs = _key_text(left, config, key), _key_text(right, config, key)
        k = pl.concat_str([pl.col(c).cast(pl.String) for c in key_columns(config, key)], separator="\x1f")
        own = left.select(k).item(), right.select(k).item()
        values = mine | theirs
        one = dataclasses.replace(config, blocking=(key,))
        sub_l = _subset(lp, config, key, values)
        sub_r = None if rp is None else _subset(rp, config, key, values)
        cands = _candidates(sub_l, sub_r, one)
        found = wanted in set(cands.select("left_id", "right_id").iter_rows())
        compared |= found
        shared = own[0] is not None and own[0] == own[1]
        size = 0
        if shared:
            size = sub_l.filter(k == own[0]).height + (
                0 if sub_r is None else sub_r.filter(k == own[0]).height
            )
        over = f"its value is held by {size:,} records, over max_block {config.max_block}"
        if found and shared and size <= config.max_block:
            lines.append(f"{name}: shared (a block of {size:,} records): compared")
        elif found and shared:
            lines.append(f"{name}: shared, {over}: compared in a sub-block")
        elif found:
            lines.append(f"{name}: one record's value is among the other's secondary values: compared")
        elif shared:
            lines.append(f"{name}: shared, {over}, and no sub-block holds both: not compared")
        elif own[0] is None or own[1] is None:
            lines.append(f"{name}: missing on {'both records' if own == (None, None) else 'one record'}")
        else:
            lines.append(f"{name}: the two records' values differ")
    return lines, compared


def why_pair(
    frames: Frames,
    id1: str,
    id2: str,
    *,
    configs: Mapping[str, MatchConfig] | None = None,
    lists: WordLists | None = None,
    entity: str | None = None,
) -> PairWhy:
    """Why the records ``id1`` and ``id2`` of ``frames`` ({system: {entity: frame}}, a run's snapshots)
    were or were not proposed as a pair, under ``configs`` (a profile's rule sets over ``DEFAULTS``) and
    ``lists`` (the word lists; the shipped ones): see the module's notes. ``entity`` names the entity
    of both when an id is in two tables. A record not found, or a pair no rule set compares, is a
    ``ConfigError``."""
    words = lists or shipped_lists()
    a, b = _one(frames, id1, entity), _one(frames, id2, entity)
    key, config, a_left = rule_set_for(a[:2], b[:2], configs or {})
    (ls, le, lrow), (rs, re_, rrow) = (a, b) if a_left else (b, a)
    within = (ls, le) == (rs, re_)
    engine = PolarsEngine(frames, [], words)  # matching's own choice of records, without the rules' gate
    notes, prepared = [], []
    for (system, name, row), side in (((ls, le, lrow), "left"), ((rs, re_, rrow), "right")):
        table = frames[system][name]
        matched = engine.open_leads(table) if name == "Lead" else engine.live(table)
        if matched.join(row.select("id"), on="id", how="semi").is_empty():
            why = "converted or deleted" if name == "Lead" else "deleted"
            notes.append(f"{system} {name} {row['id'][0]} is {why}: matching leaves it out")
            matched = pl.concat([matched, row], how="diagonal_relaxed")  # scored all the same
        if name == "Contact" and key == "Lead-Contact":
            matched = engine.with_account_names(matched, frames[system].get("Account"))
        prepared.append(prepare(matched, config, side, words))
    lp, rp = prepared[0], None if within else prepared[1]
    pair = (str(lrow["id"][0]), str(rrow["id"][0]))
    lines, compared = _blocking(lp, rp, pair, config)
    cands = pl.DataFrame({"left_id": [pair[0]], "right_id": [pair[1]]})
    right = lp if rp is None else rp
    scored = score(cands, lp, right, config, words, keep_all=True)
    kept = score(cands, lp, right, config, words).height > 0
    first = scored.row(0, named=True)
    return PairWhy(
        rule_set=key,
        left=(ls, le, pair[0]),
        right=(rs, re_, pair[1]),
        score=float(first["score"]),
        threshold=config.threshold,
        kept=kept,
        reasons=str(first["reasons"] or ""),
        explain=first.get("explain"),
        blocking=tuple(lines),
        compared=compared,
        notes=tuple(notes),
    )
