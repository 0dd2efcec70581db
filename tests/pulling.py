"""Helpers for pull tests: a profile on a running sandbox, and the ground truth mapped independently."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from crm_ops.config import Profile, load_profile, sandbox_config, sandbox_profile
from crm_ops.sandbox.generator import SeedConfig
from crm_ops.sandbox.hubspot import HubSpotLimits
from crm_ops.sandbox.realworld import RealWorld
from crm_ops.sandbox.server import Sandbox, SandboxConfig
from crm_ops.schema.entities import ENTITIES
from crm_ops.schema.maploading import shipped_map_path


def profile_for(
    sandbox: Sandbox,
    folder: Path,
    extra: str = "",
    name: str = "sandbox",
    salesforce: dict[str, Any] | None = None,
    hubspot: dict[str, Any] | None = None,
) -> Profile:
    """A config file for ``sandbox`` in ``folder`` (secrets in the environment), loaded."""
    return sandbox_profile(
        sandbox.env,
        folder,
        name=name,
        extra=extra,
        hubspot_rate=hubspot_rate(sandbox),
        salesforce=salesforce,
        hubspot={**hubspot_searches(sandbox), **(hubspot or {})},
    )


def hubspot_rate(box: Sandbox) -> int:
    """The calls per 10 s a profile of ``box`` stays under: just under the sandbox's window."""
    return min(box.config.hubspot_limits.per_ten_seconds - 10, 100_000)


def hubspot_searches(box: Sandbox) -> dict[str, int]:
    """The HubSpot setting that keeps a profile's searches just under ``box``'s search limit: HubSpot's
    own (5 a second) gives the default, 4; a fast sandbox's lets a test search without waiting a second
    for every fifth search (a doctor's counts, restores' look-ups, incremental pulls)."""
    return {"search_per_second": max(1, min(box.config.hubspot_limits.search_per_second - 1, 100_000))}


def _spec(value: Any) -> dict[str, Any]:
    return {"field": value} if isinstance(value, str) else dict(value)


def expected(
    system: str, entity: str, tables: dict[str, pl.DataFrame], assoc: dict[Any, pl.DataFrame]
) -> pl.DataFrame:
    """The ground truth of one entity in canonical form, built from the YAML map without crm_ops' mapper."""
    spec = yaml.safe_load(shipped_map_path(system).read_text())["entities"][entity]
    obj = spec["object"]
    if system == "hubspot" and obj == "deal_contacts":
        links = assoc[("deals", "contacts")]
        deals = tables["deals"].filter(~pl.col("archived")).select("id", "hs_lastmodifieddate")
        source = (
            links.join(deals, left_on="from_id", right_on="id")
            .select(
                pl.format("{}-{}", "from_id", "to_id").alias("id"),
                pl.col("from_id").cast(pl.String).alias("deal_id"),
                pl.col("to_id").cast(pl.String).alias("contact_id"),
                "hs_lastmodifieddate",
                pl.lit(False).alias("archived"),
            )
            .unique("id")
        )
    elif system == "hubspot" and obj == "owners":
        source = tables["owners"]
    else:
        source = tables[obj]
        if system == "hubspot":
            source = source.with_columns(pl.col("id").alias("hs_object_id"))
            if "archivedAt" in source.columns:
                # a tombstone is as recent as its deletion
                modified = "lastmodifieddate" if obj == "contacts" else "hs_lastmodifieddate"
                source = source.with_columns(pl.max_horizontal(modified, "archivedAt").alias(modified))
    columns = {**spec.get("required", {}), **spec.get("optional", {})}
    out = []
    for column, dtype in ENTITIES[entity].items():
        s = _spec(columns[column]) if column in columns else None
        if s is not None and "any_of" in s:
            present = [name for name in s["any_of"] if name in source.columns]
            s = {**{k: v for k, v in s.items() if k != "any_of"}, "field": present[0]} if present else None
        if column == "source_system":
            expr = pl.lit(system)
        elif s is None:
            expr = pl.lit(None)
        elif "constant" in s:
            expr = pl.lit(s["constant"])
        elif "association" in s:
            links = assoc[(obj, s["association"])]
            primary = (
                links.sort(["from_id", "type_id"])
                .group_by("from_id", maintain_order=True)
                .agg(pl.col("to_id").first().alias("__to"))
            )
            source = source.join(primary, left_on="id", right_on="from_id", how="left")
            expr = pl.col("__to")
        elif (s.get("field") or s["property"]) not in source.columns and s.get("absent_ok"):
            expr = pl.lit(None)  # absent in this org, as a normal set-up (a single-currency org)
        else:
            expr = pl.col(s.get("field") or s["property"])
            if s.get("transform") == "date":
                expr = expr.dt.date()
            elif s.get("transform") == "fraction_to_percent":
                expr = expr * 100
            elif s.get("transform") == "negate":
                expr = ~expr
        if dtype == pl.String():
            expr = (
                expr.cast(pl.Int64, strict=False).cast(pl.String).fill_null(expr.cast(pl.String))
                if (system == "hubspot" and column.endswith("id"))
                else expr.cast(pl.String)
            )
        out.append(expr.cast(dtype).alias(column))
    return source.select(out).sort("id")


def assert_same(pulled: pl.DataFrame, truth: pl.DataFrame, label: str) -> None:
    """Row for row, value for value (floats to 1e-6); names the first differing column and row."""
    pulled = pulled.select(truth.columns).sort("id")
    assert pulled.height == truth.height, (
        f"{label}: {pulled.height} rows pulled, ground truth has {truth.height}"
    )
    assert pulled["id"].to_list() == truth["id"].to_list(), f"{label}: ids differ"
    for column in truth.columns:
        a, b = pulled[column], truth[column]
        if a.dtype.is_float():
            same = ((a - b).abs() < 1e-6) | (a.is_null() & b.is_null())
        else:
            same = (a == b) | (a.is_null() & b.is_null())
        same = same.fill_null(False)
        if not same.all():
            i = int((~same).arg_max() or 0)
            raise AssertionError(
                f"{label}.{column}: {(~same).sum()} rows differ; first at id {truth['id'][i]}: "
                f"pulled {a[i]!r}, ground truth {b[i]!r}"
            )


FAST_HUBSPOT = HubSpotLimits(per_ten_seconds=1_000_000, search_per_second=100_000)
# the seeded data's "today", fixed once per test session: sandboxes a test compares (a calm twin and a
# faulty one) seed the same dates even when the session crosses midnight
TODAY = datetime.now(UTC).date()


@contextmanager
def fast_sandbox(records: int, seed: int) -> Iterator[Sandbox]:
    """A sandbox of ``records`` contacts, HubSpot's window wide open (rate limits have their own tests)."""
    with Sandbox(
        SandboxConfig(seed=SeedConfig(records=records, seed=seed, as_of=TODAY), hubspot_limits=FAST_HUBSPOT)
    ) as sb:
        yield sb


@contextmanager
def real_world_sandbox(records: int, seed: int, faults: str = "none", **settings: Any) -> Iterator[Sandbox]:
    """A fast sandbox with real-world settings (``RealWorld`` keyword arguments) and a fault profile."""
    config = SandboxConfig(
        seed=SeedConfig(records=records, seed=seed, as_of=TODAY),
        hubspot_limits=FAST_HUBSPOT,
        faults=faults,
        fault_seed=seed,
        real_world=RealWorld(**settings),
    )
    with Sandbox(config) as sb:
        yield sb


def assert_pulled(puller: Any, box: Sandbox, system: str, entities: list[str]) -> None:
    """Each entity's current snapshot equals the sandbox's ground truth."""
    data = box.data
    tables = data.salesforce if system == "salesforce" else {**data.hubspot, "owners": data.hubspot_owners}
    for entity in entities:
        current = puller.state.current(system, entity)
        assert current is not None, f"{system}.{entity}: no snapshot"
        truth = expected(system, entity, tables, data.hubspot_associations)
        assert_same(current.snapshot.read(), truth, f"{system}.{entity}")


def jwt_profile(box: Sandbox, folder: Path, **settings: Any) -> Profile:
    """``profile_for`` signing in to Salesforce by JWT at the sandbox (so sessions can be renewed)."""
    profile_for(
        box, folder, salesforce=settings.pop("salesforce", None), hubspot=settings.pop("hubspot", None)
    )
    env = box.env
    path = folder / "crm-ops.toml"
    jwt = (
        f'auth = "jwt"\nusername = "{env["CRM_OPS_SF_USERNAME"]}"\n'
        f'client_id = "{env["CRM_OPS_SF_CLIENT_ID"]}"\n'
        f'oauth_url = "{env["CRM_OPS_SF_INSTANCE_URL"]}"\naudience = "login"'
    )
    path.write_text(path.read_text().replace('auth = "session"', jwt, 1))
    return load_profile(path, "sandbox")


def changed_cells(
    before: pl.DataFrame, after: pl.DataFrame, columns: list[str] | None = None
) -> set[tuple[str, str]]:
    """(id, column) of every cell that differs between two versions of a table (rows added or gone
    count in every column); ``columns`` defaults to all but ``id``."""
    joined = before.join(after, on="id", suffix="__new", how="full", coalesce=True)
    cells = set()
    for column in columns if columns is not None else [c for c in before.columns if c != "id"]:
        for rid in joined.filter(pl.col(column).ne_missing(pl.col(f"{column}__new")))["id"].to_list():
            cells.add((rid, column))
    return cells


def object_maps_profile(box: Sandbox, folder: Path, object_maps: str = "") -> Profile:
    """A profile of ``box`` in ``folder``; ``object_maps``: the TOML value of that setting, if any."""
    folder.mkdir(parents=True, exist_ok=True)
    os.environ.update(box.env)
    text = sandbox_config(
        box.env, folder / "state", hubspot_rate=hubspot_rate(box), hubspot=hubspot_searches(box)
    )
    if object_maps:
        text = text.replace("[profiles.sandbox]\n", f"[profiles.sandbox]\nobject_maps = {object_maps}\n", 1)
    (folder / "crm-ops.toml").write_text(text)
    return load_profile(folder / "crm-ops.toml", "sandbox")
