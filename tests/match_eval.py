"""Scoring duplicate detection and cross-CRM matching against the sandbox's ground truth."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace

import polars as pl

from crm_ops.match import MatchResult
from crm_ops.sandbox.generator import SeededData
from crm_ops.schema.fieldmap import ASSOCIATION_PREFIX, EntityMap
from crm_ops.schema.mapapply import apply
from crm_ops.schema.maploading import load_map
from crm_ops.schema.objectmaps import shipped_object_map

# the manifest's (system, object) of a duplicate pair -> matching's (system, entity)
ENTITY_OF = {
    ("salesforce", "Contact"): "Contact",
    ("salesforce", "Account"): "Account",
    ("salesforce", "Lead"): "Lead",
    ("hubspot", "contacts"): "Contact",
    ("hubspot", "companies"): "Account",
}
# the same for the objects of the shipped "cases" map, and for deals (deduplicated when a profile asks)
CASES = {("salesforce", "Case"): "Case", ("hubspot", "tickets"): "Case"}
DEALS = {("hubspot", "deals"): "Opportunity"}


def _pairs(frame: pl.DataFrame, a: str, b: str) -> set[tuple[str, str]]:
    return {tuple(sorted(p)) for p in frame.select(a, b).iter_rows()}


def _cluster_pairs(duplicates: pl.DataFrame) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for _, group in duplicates.group_by("cluster_id"):
        ids = sorted(group["record_id"].to_list())
        out |= {(ids[i], ids[j]) for i in range(len(ids)) for j in range(i + 1, len(ids))}
    return out


def canonical_frames(data: SeededData, object_maps: Sequence[str] = ()) -> dict[str, dict[str, pl.DataFrame]]:
    """The seeded records of both CRMs in the canonical schema, mapped by the shipped field maps and the
    shipped object maps named in ``object_maps`` ("cases"; HubSpot's associations as the parent ids a
    pull gives them): what matching reads after a pull."""
    declared = [path for name in object_maps for path in shipped_object_map(name)]
    frames: dict[str, dict[str, pl.DataFrame]] = {"salesforce": {}, "hubspot": {}}
    for entity, emap in load_map("salesforce", declared=declared).entities.items():
        frames["salesforce"][entity] = apply(emap, data.salesforce[emap.object])
    tables = {**data.hubspot, "owners": data.hubspot_owners}
    for entity, emap in load_map("hubspot", declared=declared).entities.items():
        if emap.object not in tables:
            continue
        raw = tables[emap.object].with_columns(pl.col("id").alias("hs_object_id"))
        for target in emap.associations():
            links = data.hubspot_associations.get((emap.object, target))
            if links is not None:
                first = links.sort("type_id").group_by("from_id").agg(pl.col("to_id").first().cast(pl.String))
                raw = raw.join(
                    first.rename({"to_id": ASSOCIATION_PREFIX + target}),
                    left_on="id",
                    right_on="from_id",
                    how="left",
                )
        frames["hubspot"][entity] = apply(_candidates_chosen(emap, raw), raw)
    return frames


def _candidates_chosen(emap: EntityMap, raw: pl.DataFrame) -> EntityMap:
    """``emap`` with each ``any_of`` column reading the first of its candidates ``raw`` has, as a pull
    resolves the map against the org (a ticket's create date is ``createdate``, not ``hs_createdate``)."""
    columns = dict(emap.columns)
    for column, src in emap.columns.items():
        present = next((c for c in src.candidates if c in raw.columns), None)
        if present is not None:
            columns[column] = replace(src, field=present, candidates=())
    return replace(emap, columns=columns)


@dataclass(frozen=True)
class DedupeScore:
    """Matching's duplicate pairs in one CRM's entity against the seeded ones."""

    system: str
    entity: str
    seeded: int  # true pairs
    found: int  # pairs matching found
    hits: int  # found pairs that are true
    lookalikes: int = 0  # pairs seeded as alike and distinct (the manifest's ``lookalikes``)
    merged: int = 0  # of those, pairs matching found: each a wrong merge, counted in ``found`` too
    recalled: int | None = None  # seeded pairs found, when not ``hits`` (links: ``hits`` counts copies' too)

    @property
    def precision(self) -> float:
        """The share of found pairs that are true (1 when none was found and none seeded)."""
        return self.hits / self.found if self.found else float(self.seeded == 0)

    @property
    def recall(self) -> float:
        """The share of true pairs found (1 when none was seeded)."""
        found = self.hits if self.recalled is None else self.recalled
        return found / self.seeded if self.seeded else 1.0


def dedupe_scores(
    duplicates: pl.DataFrame,
    result: MatchResult,
    declared: dict[tuple[str, str], str] | None = None,
    lookalikes: pl.DataFrame | None = None,
) -> list[DedupeScore]:
    """Per (system, entity) (Salesforce Contact, Account, Lead and Lead-Contact; HubSpot Contact and
    Account; and the objects ``declared`` maps to a profile's entities, such as the custom objects), the
    seeded duplicate pairs (the manifest's ``duplicates``) against ``result``'s; with ``lookalikes`` (the
    manifest's), how many of the pairs seeded as alike and distinct were found too."""
    entity_of = {**ENTITY_OF, **(declared or {})}
    distinct: dict[tuple[str, str], set[tuple[str, str]]] = {}
    same = (
        lookalikes.filter(
            (pl.col("system") == pl.col("other_system")) & (pl.col("object") == pl.col("other_object"))
        )
        if lookalikes is not None
        else pl.DataFrame()
    )
    for (system, obj), group in same.group_by("system", "object") if same.height else ():
        entity = entity_of.get((str(system), str(obj)))
        if entity is not None:
            distinct[(str(system), entity)] = _pairs(group, "record_id", "other_id")
    truth: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for (system, obj), group in duplicates.filter(pl.col("kind") != "lead_contact").group_by(
        "system", "object"
    ):
        entity = entity_of.get((str(system), str(obj)))
        if entity is not None:  # an object no profile here declares: not matched, not scored
            truth[(str(system), entity)] = _cluster_pairs(group)
    truth[("salesforce", "Lead-Contact")] = _cluster_pairs(
        duplicates.filter(pl.col("kind") == "lead_contact")
    )
    keys = sorted(set(truth) | set(result.duplicates.select("system", "entity").unique().iter_rows()))
    out = []
    for system, entity in keys:
        mine = result.duplicates.filter((pl.col("system") == system) & (pl.col("entity") == entity))
        found = _pairs(mine, "left_id", "right_id")
        seeded = truth.get((system, entity), set())
        alike = distinct.get((system, entity), set())
        out.append(
            DedupeScore(
                system, entity, len(seeded), len(found), len(found & seeded), len(alike), len(found & alike)
            )
        )
    return out


def duplicate_scores(duplicates: pl.DataFrame, result: MatchResult) -> tuple[float, float, int, int]:
    """Precision and recall of Salesforce's duplicate pairs (contact copies and lead-vs-contact), found
    and true counts."""
    core = [obj for system, obj in ENTITY_OF if system == "salesforce"]
    truth_pairs = _cluster_pairs(
        duplicates.filter((pl.col("system") == "salesforce") & pl.col("object").is_in(core))
    )
    found = _pairs(result.duplicates.filter(pl.col("system") == "salesforce"), "left_id", "right_id")
    hits = len(found & truth_pairs)
    return hits / max(1, len(found)), hits / max(1, len(truth_pairs)), len(found), len(truth_pairs)


def _people(duplicates: pl.DataFrame) -> dict[str, set[str]]:
    """Each record in a duplicate cluster: its clusters (the records of one person or company)."""
    out: dict[str, set[str]] = {}
    for record, cluster in duplicates.select("record_id", "cluster_id").iter_rows():
        out.setdefault(record, set()).add(cluster)
    return out


def link_scores_by_object(
    matches: pl.DataFrame,
    result: MatchResult,
    lookalikes: pl.DataFrame | None = None,
    duplicates: pl.DataFrame | None = None,
) -> list[DedupeScore]:
    """Per Salesforce object (Contact, Lead, Account, Opportunity), the seeded Salesforce-HubSpot pairs
    (the manifest's ``matches``) against ``result``'s links, as ``DedupeScore``s of system ``cross``;
    with ``lookalikes``, how many cross-CRM pairs seeded as alike and distinct were linked. With
    ``duplicates``, a link between a copy and the other CRM's record of its person or company (or two
    copies of one) counts as right, as it is: only the originals' pairs are seeded, and recall counts
    those."""
    people = _people(duplicates) if duplicates is not None else {}
    right = {
        (a, b)
        for sf_id, hs_id in matches.select("sf_id", "hs_id").iter_rows()
        for a in people.get(sf_id, {sf_id})
        for b in people.get(hs_id, {hs_id})
    }
    alike: dict[str, set[tuple[str, str]]] = {}
    if lookalikes is not None:
        for row in lookalikes.filter(pl.col("system") != pl.col("other_system")).iter_rows(named=True):
            sf = row["system"] == "salesforce"
            obj = row["object"] if sf else row["other_object"]
            pair = (row["record_id"], row["other_id"]) if sf else (row["other_id"], row["record_id"])
            alike.setdefault(obj, set()).add(pair)
    out = []
    objects = sorted(set(matches["sf_object"].unique()) | set(result.links["sf_entity"].unique()))
    for obj in objects:
        truth = set(matches.filter(pl.col("sf_object") == obj).select("sf_id", "hs_id").iter_rows())
        found = set(result.links.filter(pl.col("sf_entity") == obj).select("sf_id", "hs_id").iter_rows())
        hits = sum(
            1
            for sf_id, hs_id in found
            if any((a, b) in right for a in people.get(sf_id, {sf_id}) for b in people.get(hs_id, {hs_id}))
        )
        wrong = alike.get(obj, set())
        out.append(
            DedupeScore(
                "cross", obj, len(truth), len(found), hits, len(wrong), len(found & wrong), len(found & truth)
            )
        )
    return out


def link_scores(matches: pl.DataFrame, result: MatchResult) -> tuple[float, float, int, int]:
    """Precision and recall of Salesforce-HubSpot pairs."""
    truth = set(matches.select("sf_id", "hs_id").iter_rows())
    found = set(result.links.select("sf_id", "hs_id").iter_rows())
    hits = len(found & truth)
    return hits / max(1, len(found)), hits / max(1, len(truth)), len(found), len(truth)


def synthetic_people(n: int, seed: int, prefix: str = "r") -> pl.DataFrame:
    """``n`` records, most with an e-mail and a phone of their own; some share one (a copy, a
    household), and a few hold an office address or switchboard shared beyond ``max_block``."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        email = f"person{rng.randrange(n * 20)}@acme-widgets.co.uk" if rng.random() < 0.9 else None
        phone = f"+44 20 7{rng.randrange(10**6):06d}" if rng.random() < 0.8 else None
        if rng.random() < 0.05:
            email = f"shared{rng.randrange(40)}@acme-widgets.co.uk"
        if rng.random() < 0.03:
            phone = "+44 20 7000 0001" if rng.random() < 0.5 else f"+44 20 7999 {rng.randrange(30):04d}"
        if rng.random() < 0.01:
            email = "office@acme-widgets.co.uk"
        rows.append((f"{prefix}{i:05d}", email, phone, rng.choice(["Lee", "Okafor", "Smith", None])))
    return pl.DataFrame(
        rows,
        schema={"id": pl.String, "email": pl.String, "phone": pl.String, "last_name": pl.String},
        orient="row",
    )
