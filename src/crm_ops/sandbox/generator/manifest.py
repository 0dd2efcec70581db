"""The ground truth of a seeded sandbox (``Manifest``) and the seeded tables (``SeededData``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from crm_ops.sandbox.generator.config import SeedConfig

_DEFECTS_SCHEMA = {
    "system": pl.String,
    "object": pl.String,
    "record_id": pl.String,
    "field": pl.String,
    "kind": pl.String,
    "bad_value": pl.String,
    "correct_value": pl.String,
}
_DUPLICATES_SCHEMA = {
    "system": pl.String,
    "object": pl.String,
    "cluster_id": pl.String,
    "record_id": pl.String,
    "kind": pl.String,
    "is_original": pl.Boolean,
}
_MATCHES_SCHEMA = {"sf_object": pl.String, "sf_id": pl.String, "hs_object": pl.String, "hs_id": pl.String}
_DRIFT_SCHEMA = {
    "sf_object": pl.String,
    "sf_id": pl.String,
    "hs_object": pl.String,
    "hs_id": pl.String,
    "sf_field": pl.String,
    "hs_field": pl.String,
    "sf_value": pl.String,
    "hs_value": pl.String,
}
_MANIFEST_FILES = {
    "defects": "defects.parquet",
    "duplicates": "duplicates.parquet",
    "matches": "matches.parquet",
    "drift": "drift.parquet",
    "deleted": "deleted.parquet",
    "lookalikes": "lookalikes.parquet",
}
# Records seeded as deleted: Salesforce's recycle bin (IsDeleted, seen by queryAll) and HubSpot's
# archived records (archived=true list pulls), with when each was deleted.
DELETED_SCHEMA: dict[str, pl.DataType] = {
    "system": pl.String(),
    "object": pl.String(),
    "record_id": pl.String(),
    "deleted_at": pl.Datetime("ms", "UTC"),
}


# Pairs of records that look alike and are distinct (issue 28: namesakes, households, namesake companies,
# a colleague's case, another deal of one company): merging or linking any is wrong. ``record_id`` is the
# record made to look like ``other_id``, in the same object or, for a link, the other CRM's.
LOOKALIKES_SCHEMA: dict[str, pl.DataType] = {
    "system": pl.String(),
    "object": pl.String(),
    "record_id": pl.String(),
    "other_system": pl.String(),
    "other_object": pl.String(),
    "other_id": pl.String(),
    "kind": pl.String(),
}


@dataclass
class Manifest:
    """The ground truth of a seeded sandbox."""

    defects: pl.DataFrame
    duplicates: pl.DataFrame
    matches: pl.DataFrame
    drift: pl.DataFrame
    config: dict[str, Any] = field(default_factory=dict)
    deleted: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=DELETED_SCHEMA))
    lookalikes: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=LOOKALIKES_SCHEMA))

    def write(self, directory: Path) -> Path:
        """Write the tables as Parquet and ``manifest.json`` (config, counts, files), each atomically."""
        directory.mkdir(parents=True, exist_ok=True)
        for name, filename in _MANIFEST_FILES.items():
            tmp = directory / (filename + ".tmp")
            getattr(self, name).write_parquet(tmp)
            tmp.replace(directory / filename)
        counts = {
            "defects_by_kind": dict(sorted(self.defects.group_by("kind").len().iter_rows())),
            "duplicate_clusters": int(self.duplicates["cluster_id"].n_unique()),
            "matches": self.matches.height,
            "drift": self.drift.height,
            "deleted": self.deleted.height,
            "lookalikes": self.lookalikes.height,
        }
        target = directory / "manifest.json"
        tmp = target.with_suffix(".json.tmp")
        tmp.write_text(
            json.dumps(
                {"config": self.config, "counts": counts, "files": _MANIFEST_FILES}, indent=2, default=str
            )
        )
        tmp.replace(target)
        return target

    @classmethod
    def read(cls, manifest_json: Path) -> Manifest:
        """Load a manifest written by ``write``."""
        meta = json.loads(manifest_json.read_text())
        tables = {
            name: pl.read_parquet(manifest_json.parent / filename) for name, filename in meta["files"].items()
        }
        return cls(config=meta["config"], **tables)


@dataclass
class SeededData:
    """Every table of both CRMs, and the manifest."""

    config: SeedConfig
    salesforce: dict[str, pl.DataFrame]
    hubspot: dict[str, pl.DataFrame]
    hubspot_owners: pl.DataFrame
    hubspot_associations: dict[tuple[str, str], pl.DataFrame]
    manifest: Manifest
