"""Pulling: each entity of each CRM into a Parquet snapshot, full or since its watermark, resumable.

For one entity a pull goes:

1. Resume the entity's unfinished pull if there is one (same window, same cursor), else start one:
   full the first time or when asked, else incremental from the watermark less the overlap.
2. For each page the connector yields: write it as a part file (temporary name, fsync, rename), then
   commit the page's cursor with the part count. A kill between the two re-fetches that page on resume,
   and the extra part file (numbered past the committed count) is overwritten: nothing is lost or doubled.
3. Build the snapshot: the parts (last version of each id). A full pull writes them as a new base; an
   incremental pull writes them as a layer over the previous snapshot (``crm_ops.layered``: the base and
   its layers, the newest file's row winning per id), or, once the layers would hold more than
   ``COMPACT_SHARE`` of the base's rows or number ``MAX_LAYERS``, writes the previous snapshot and the
   parts as a new base (compaction). Each file is written atomically, sorted by id, under a name of
   its own pull (a file the current snapshot uses is never written again). Measure the snapshot
   (``crm_ops.entitystats``: volume, freshness, per column null rate, distinct count, top values; and
   the live records the CRM counts, one call); then, in one transaction, make it current (its base and
   layers), keep its statistics and move the watermark to the newest change seen, never past the pull's
   window end (a source's row stamped ahead of our clock would otherwise hide the rows stamped before
   it). The watermark never passes data not yet in a snapshot.

Layout under the profile's state_dir::

    state.sqlite
    pulls/<pull id>/part-000001.parquet     the pages of one pull (removed once it is current)
    snapshots/<system>/<Entity>/<pull id>.parquet         a base: the entity as of a full pull, a
                                                          compaction or a formula refresh
    snapshots/<system>/<Entity>/<pull id>.layer.parquet   a layer: the rows one incremental pull brought

The state file names each snapshot's base and layers (``State.current``); the files of the last
``KEEP_SNAPSHOTS`` snapshots are kept (a base stays while a kept snapshot still lies over it).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import structlog

from crm_ops import durable
from crm_ops.config import CrmSettings, Profile
from crm_ops.connectors.base import Connector, CursorExpiredError
from crm_ops.connectors.hubspot import HubSpotConnector
from crm_ops.connectors.salesforce import SalesforceConnector
from crm_ops.connectors.source import SourceConnector
from crm_ops.entitystats import snapshot_stats
from crm_ops.errors import (
    ApiError,
    BudgetExhaustedError,
    ConfigError,
    PartialPullError,
    PullFailure,
    UnreachableError,
)
from crm_ops.extsort import id_bounds, sorted_by_id
from crm_ops.layered import LAYER_SUFFIX, Snapshot, sorted_file
from crm_ops.schema.entities import empty, entity_names, personal_columns
from crm_ops.schema.maploading import load_map
from crm_ops.state import PullJob, State, now
from crm_ops.suppression import Suppression

log = structlog.get_logger("crm_ops.pull")
KEEP_SNAPSHOTS = 3
# A snapshot is written sorted by id, one range of ids at a time, each range about this many rows: polars
# sorts a range in memory, so a pull of an activity-sized table holds one range, not the table.
SORT_CHUNK_ROWS = 250_000
FORMULAS = "formulas"  # a pull of the formula columns only, laid over the current snapshot
# An incremental pull writes its rows as a layer over the current snapshot, unless the layers would then
# hold more than this share of the base's rows or be this many: then it writes a new base (compaction).
# Reading a layered snapshot costs about one pass over the base plus one over each layer's ids.
COMPACT_SHARE = 0.15
MAX_LAYERS = 10


@dataclass(frozen=True)
class PullResult:
    """What one entity's pull did."""

    system: str
    entity: str
    mode: str
    changed: int  # rows this pull brought (tombstones included)
    deleted: int  # tombstones among them
    total: int  # rows in the snapshot
    api_calls: int
    seconds: float
    snapshot: Snapshot
    watermark: datetime | None
    resumed: bool
    warnings: tuple[str, ...] = ()  # optional mapped fields this org lacks (their columns are empty)
    erased: int = 0  # rows left out: records of people erased (``crm_ops.suppression``)
    # live records holding an erased person's e-mail under an id that was not erased: created again
    erased_back: tuple[str, ...] = ()

    def erasure_notices(self) -> list[str]:
        """What a person must look at: records of erased people created again in the CRM or the source."""
        if not self.erased_back:
            return []
        ids = ", ".join(self.erased_back[:10]) + (" ..." if len(self.erased_back) > 10 else "")
        return [
            f"erasure: {self.system} {self.entity}: {len(self.erased_back)} live record(s) hold the e-mail "
            f"of an erased person (created again since; left out of our copy): {ids}; erase them with "
            f"`crm-ops erase --id {self.system}:ID` or ask why they came back"
        ]


def connect(profile: Profile, system: str) -> Connector:
    """The connector for ``system`` with the profile's settings and field map (overrides applied); a
    source's (``[sources.<name>]``) with its own map."""
    if system in profile.sources:
        return SourceConnector(profile.sources[system])
    if system not in ("salesforce", "hubspot"):
        known = ", ".join(profile.all_systems()) or "none"
        raise ConfigError(f"{profile.source}: profile {profile.name!r} has no system or source {system!r}; "
                          f"it has {known}")  # fmt: skip
    overrides = profile.maps.get(system)
    fmap = load_map(
        system,
        overrides=overrides,
        overrides_origin=profile.source,
        declared=profile.object_maps,
        declared_tables=profile.objects.get(system),
    )
    if system == "salesforce" and profile.salesforce is not None:
        return SalesforceConnector(profile.salesforce, fmap, policy=profile.salesforce.retry_policy())
    if system == "hubspot" and profile.hubspot is not None:
        return HubSpotConnector(profile.hubspot, fmap, policy=profile.hubspot.retry_policy())
    raise ConfigError(f"{profile.source}: profile {profile.name!r} has no [{system}] settings")


def latest_versions(frame: pl.LazyFrame) -> pl.LazyFrame:
    """One row per id: the newest by ``updated_at``, the later row on a tie (input order kept)."""
    return (
        frame.with_row_index("__order")
        .sort(["updated_at", "__order"], nulls_last=False)
        .unique(subset="id", keep="last")
        .sort("__order")
        .drop("__order")
    )


class Puller:
    """Pulls entities of one profile into its state directory."""

    def __init__(
        self,
        profile: Profile,
        *,
        connectors: dict[str, Connector] | None = None,
        on_page: Callable[[PullJob, int], None] | None = None,
    ) -> None:
        self.profile = profile
        self.root = profile.state_dir
        self.state = State(self.root / "state.sqlite")
        self._connectors = dict(connectors or {})
        self.on_page = on_page
        self.on_total: Callable[[PullJob, int], None] | None = None  # records a pull will bring, when known
        self.suppression = Suppression.of(self.state)  # erased people: never copied again
        self._erased: dict[str, tuple[int, list[str]]] = {}  # per pull id: rows left out, live ones back

    def connector(self, system: str) -> Connector:
        """The (cached) connector of ``system``."""
        if system not in self._connectors:
            self._connectors[system] = connect(self.profile, system)
        return self._connectors[system]

    def close(self) -> None:
        """Close the connectors this puller opened and the state file."""
        for c in self._connectors.values():
            c.close()
        self.state.close()

    def _overlap(self, system: str) -> int:
        if system in self.profile.sources:
            return self.profile.sources[system].overlap_seconds
        settings: CrmSettings | None = getattr(self.profile, system, None)
        return settings.overlap_seconds if settings else 300

    def part_path(self, job: PullJob, seq: int) -> Path:
        """Where part ``seq`` of ``job`` lives."""
        return self.root / "pulls" / job.pull_id / f"part-{seq:06d}.parquet"

    def pull(self, system: str, entity: str, *, full: bool = False) -> PullResult:
        """Pull one entity of one CRM and make its snapshot current."""
        started = time.monotonic()
        conn = self.connector(system)
        if entity not in conn.entities():
            raise ConfigError(f"{system} has no entity {entity!r}; it has {', '.join(conn.entities())}")
        calls_before = conn.api_calls
        self._sweep()
        job = self.state.open_pull(system, entity)
        if job is not None and job.mode == FORMULAS:
            self._refresh(conn, job)  # a formula refresh stopped last time: finish it first
            job = None
        if job is not None and full and job.mode != "full":
            log.info("pull.abandon", system=system, entity=entity, pull_id=job.pull_id, reason="full asked")
            self.state.abandon_pull(job)
            shutil.rmtree(self.root / "pulls" / job.pull_id, ignore_errors=True)
            job = None
        resumed = job is not None
        previous = self.state.current(system, entity)
        if job is None:
            incremental = not full and previous is not None and conn.incremental(entity)
            since = None
            if incremental and previous is not None and previous.watermark is not None:
                since = previous.watermark - timedelta(seconds=self._overlap(system))
            mode = "incremental" if since is not None else "full"
            job = self.state.start_pull(system, entity, mode, since, now())
            log.info("pull.start", system=system, entity=entity, pull_id=job.pull_id, mode=mode, since=since)
        else:
            self.state.mark_resumed(job)
            log.info(
                "pull.resume",
                system=system,
                entity=entity,
                pull_id=job.pull_id,
                parts=job.parts,
                rows=job.rows,
            )
        self._complete(conn, job)
        snapshot, deleted, changed, watermark = self._build_snapshot(job)
        stats = snapshot_stats(
            snapshot.scan(ordered=False),
            pulled_at=job.until,
            pull_changed=changed,
            pull_deleted=deleted,
            visible=self._visible(conn, entity),
            personal=personal_columns(entity),
        )
        total = int(stats["rows"])  # the rows of the entity as of the snapshot, tombstones included
        self.state.finish_pull(job, snapshot, total, watermark, stats)
        shutil.rmtree(self.root / "pulls" / job.pull_id, ignore_errors=True)
        self._prune(system, entity)
        result = PullResult(
            system=system,
            entity=entity,
            mode=job.mode,
            changed=changed,
            deleted=deleted,
            total=total,
            api_calls=conn.api_calls - calls_before,
            seconds=time.monotonic() - started,
            snapshot=snapshot,
            watermark=watermark,
            resumed=resumed,
            warnings=tuple(conn.warnings(entity)),
            erased=self._erased.get(job.pull_id, (0, []))[0],
            erased_back=tuple(self._erased.pop(job.pull_id, (0, []))[1]),
        )
        log.info(
            "pull.done",
            **{
                k: v
                for k, v in asdict(result).items()
                if k not in ("snapshot", "watermark", "warnings", "erased_back")
            },
        )
        if job.mode != "full":  # a full pull has just read every formula
            self._refresh_if_due(conn, system, entity)
        return result

    def _complete(self, conn: Connector, job: PullJob, columns: list[str] | None = None) -> None:
        """Fetch the job's pages until its cursor says done (a cursor that expired starts it over)."""
        self._drop_parts_after(job)
        while not self.state_complete(job):
            try:
                self._fetch(conn, job, columns)
            except CursorExpiredError as exc:
                log.warning(
                    "pull.restart", system=job.system, entity=job.entity, pull_id=job.pull_id, reason=str(exc)
                )
                self.state.restart_pull(job)
                self._drop_parts_after(job)

    @staticmethod
    def _visible(conn: Connector, entity: str) -> int | None:
        """The live records the CRM counts for the integration user now (one call), None when the
        connector cannot count them or the count failed (a time-out, the budget: the pull itself is done
        and kept; the monitors then use the snapshot's live rows): the volume the data monitors watch
        (``crm_ops.entitystats``)."""
        count = getattr(conn, "visible_count", None)
        if count is None:
            return None
        try:
            return count(entity)  # type: ignore[no-any-return]
        except (ApiError, BudgetExhaustedError) as exc:
            log.warning("pull.count_failed", system=conn.system, entity=entity, error=str(exc))
            return None

    def _refresh_if_due(self, conn: Connector, system: str, entity: str) -> None:
        """Refresh the formula columns when ``formula_refresh_hours`` have passed since a full pull or the
        last refresh: formulas change without moving the change stamp an incremental pull follows."""
        settings: CrmSettings | None = getattr(self.profile, system, None)
        hours = float(getattr(settings, "formula_refresh_hours", 0) or 0)
        if hours <= 0 or not conn.formula_columns(entity):
            return
        last = self.state.last_done(system, entity, ("full", FORMULAS))
        if last is not None and now() - last < timedelta(hours=hours):
            return
        self._refresh(conn, self.state.start_pull(system, entity, FORMULAS, None, now()))

    def _refresh(self, conn: Connector, job: PullJob) -> None:
        """Pull the formula columns of every record and lay them over the current snapshot (resumable:
        the pages are parts of a pull like any other; the snapshot changes only once all are in)."""
        columns = conn.formula_columns(job.entity)
        current = self.state.current(job.system, job.entity)
        if current is None or not columns:
            self.state.abandon_pull(job)
            return
        log.info("pull.formulas.start", system=job.system, entity=job.entity, columns=columns)
        self._complete(conn, job, columns)
        parts = sorted((self.root / "pulls" / job.pull_id).glob("part-*.parquet"))
        base = current.snapshot.scan()
        path = self._snapshot_path(job)
        changed = 0
        if parts:
            fresh = pl.concat([pl.scan_parquet(p) for p in parts], how="diagonal_relaxed").unique(
                "id", keep="last"
            )
            schema = base.collect_schema()
            fresh = fresh.select([pl.col("id"), *(pl.col(c).cast(schema[c]) for c in columns if c in schema)])
            old = base.select("id", *(c for c in columns if c in schema)).join(fresh, on="id", suffix="__new")
            changed = int(
                old.select(
                    pl.any_horizontal(
                        [pl.col(c).ne_missing(pl.col(f"{c}__new")) for c in columns if c in schema]
                    ).sum()
                )
                .collect()
                .item()
            )
            merged = base.update(fresh, on="id", how="left", include_nulls=True)
        else:
            merged = base
        durable.write_parquet(merged.sort("id"), path)  # every record changes: a new base
        self.state.finish_pull(job, Snapshot(path), current.rows, current.watermark)
        shutil.rmtree(self.root / "pulls" / job.pull_id, ignore_errors=True)
        self._prune(job.system, job.entity)
        log.info("pull.formulas.done", system=job.system, entity=job.entity, records_changed=changed)

    def _sweep(self) -> None:
        """Remove the part folders of pulls that are over (a kill after the commit can leave one)."""
        folder = self.root / "pulls"
        if not folder.exists():
            return
        running = {j.pull_id for j in self.state.pulls() if j.status == "running"}
        for path in folder.iterdir():
            if path.is_dir() and path.name not in running:
                shutil.rmtree(path, ignore_errors=True)

    def _drop_parts_after(self, job: PullJob) -> None:
        folder = self.root / "pulls" / job.pull_id
        if not folder.exists():
            return
        for path in folder.iterdir():
            stem = path.name.split(".")[0]
            seq = int(stem.removeprefix("part-")) if stem.startswith("part-") else 0
            if seq > job.parts or path.name.endswith(".tmp"):
                path.unlink(missing_ok=True)

    def _fetch(self, conn: Connector, job: PullJob, columns: list[str] | None = None) -> None:
        calls = conn.api_calls
        if self.on_total is not None and hasattr(conn, "on_count"):  # Salesforce counts before it pulls
            on_total = self.on_total
            conn.on_count = lambda _entity, n: on_total(job, n)
        pages = (
            conn.pull_columns(job.entity, columns, until=job.until, cursor=job.cursor)
            if columns is not None
            else conn.pull(job.entity, since=job.since, until=job.until, cursor=job.cursor)
        )
        for page in pages:
            kept = self.suppression.filter_frame(job.system, page.frame)
            if kept.dropped:
                dropped, back = self._erased.setdefault(job.pull_id, (0, []))
                self._erased[job.pull_id] = (dropped + kept.dropped, [*back, *kept.back])
            rows = kept.frame.height
            if rows:  # read once by the snapshot, then removed: lz4 costs less CPU than zstd
                durable.write_parquet(kept.frame, self.part_path(job, job.parts + 1), compression="lz4")
            used, calls = conn.api_calls - calls, conn.api_calls
            self.state.record_page(
                job, part_written=bool(rows), rows=rows, cursor=page.cursor or {"done": True}, calls=used
            )
            if self.on_page is not None:
                self.on_page(job, rows)
            if page.cursor is None:
                return
        if not self.state_complete(job):
            self.state.record_page(job, part_written=False, rows=0, cursor={"done": True}, calls=0)

    @staticmethod
    def state_complete(job: PullJob) -> bool:
        """Whether the pull's cursor says every page is written."""
        return bool(job.cursor and job.cursor.get("done"))

    def _build_snapshot(self, job: PullJob) -> tuple[Snapshot, int, int, datetime | None]:
        """Write the snapshot of a finished pull; return it with its tombstones, delta and watermark.

        An incremental pull over a current snapshot writes its delta as a layer over it (``_layer``)
        unless that is due for compaction (``_compaction_due``); otherwise (a full pull, a compaction)
        the snapshot is written whole as a new base (``_base``). Only the delta's keys (id,
        updated_at, is_deleted) are held whole.
        """
        folder = self.root / "pulls" / job.pull_id
        parts = sorted(folder.glob("part-*.parquet"))
        current = self.state.current(job.system, job.entity)
        twice = False
        if parts:
            delta = pl.concat([pl.scan_parquet(p) for p in parts], how="diagonal_relaxed")
            keys = delta.select("id", "updated_at", "is_deleted").collect()
            changed = keys["id"].n_unique()
            twice = changed != keys.height  # the same record twice (overlap, or changed during the pull)
            if twice:
                keys = latest_versions(keys.lazy()).collect()
            seen = keys["updated_at"].max()
            deleted = int(keys["is_deleted"].sum())
        else:
            delta, keys, changed, seen, deleted = empty(job.entity).lazy(), None, 0, None, 0
        previous = (
            current.snapshot
            if job.mode == "incremental" and current is not None and current.snapshot.exists()
            else None
        )
        if previous is not None and keys is None:
            snapshot = previous  # nothing changed: the same files
        elif previous is None or keys is None or self._compaction_due(previous, changed):
            snapshot = self._base(job, folder, delta, keys, twice, previous)
        else:
            snapshot = previous.over(self._layer(job, folder, delta, keys, twice))
        old = current.watermark if current is not None else None
        watermark = max((w for w in (seen, old) if isinstance(w, datetime)), default=None)
        if watermark is not None and watermark > job.until:
            # a change stamped after the pull's window closed (a source's clock ahead of ours, or local
            # time written as UTC; a CRM's window never brings one): the next pull starts from the window's
            # end, not from that stamp, which would pass over every row stamped until then
            log.warning("pull.watermark_ahead", system=job.system, entity=job.entity, newest=watermark,
                        window_end=job.until)  # fmt: skip
            watermark = job.until
        return snapshot, deleted, changed, watermark

    def _snapshot_path(self, job: PullJob, suffix: str = ".parquet") -> Path:
        return self.root / "snapshots" / job.system / job.entity / f"{job.pull_id}{suffix}"

    @staticmethod
    def _compaction_due(previous: Snapshot, changed: int) -> bool:
        """Whether an incremental pull of ``changed`` rows over ``previous`` writes a new base: its
        layers would hold more than ``COMPACT_SHARE`` of the base's rows, or number ``MAX_LAYERS``, or
        the base is not in id order (written before snapshots were sorted: checked once, before its
        first layer; readers merge the files in id order)."""
        if len(previous.layers) + 1 >= MAX_LAYERS:
            return True
        base_rows, layer_rows = previous.row_counts()
        if layer_rows + changed > COMPACT_SHARE * base_rows:
            return True
        return not previous.layers and not sorted_file(previous.base)

    def _layer(
        self, job: PullJob, folder: Path, delta: pl.LazyFrame, keys: pl.DataFrame, twice: bool
    ) -> Path:
        """Write the delta (the last version of each id) as a layer, sorted by id; its path."""
        bounds = id_bounds(keys["id"], SORT_CHUNK_ROWS)
        layer = self._snapshot_path(job, LAYER_SUFFIX)
        durable.write_parquet(sorted_by_id(delta, bounds, folder, latest_versions if twice else None), layer)
        return layer

    def _base(
        self,
        job: PullJob,
        folder: Path,
        delta: pl.LazyFrame,
        keys: pl.DataFrame | None,
        twice: bool,
        previous: Snapshot | None,
    ) -> Snapshot:
        """Write the delta over ``previous`` (None: a full pull, the delta alone) as a new base.

        Streams through polars' engine (the parts and the previous snapshot scanned, the result sunk
        to Parquet); the rows are sorted by id one range of ``SORT_CHUNK_ROWS`` at a time (ranges cut
        at the ids of the previous snapshot, or of the delta on a full pull), so memory follows one
        range, not the table."""
        base = previous.scan() if previous is not None else None
        if base is not None and keys is not None:
            # the previous rows of the records the delta brings again go (a filter streams; a join
            # might build its table on the snapshot's side)
            gone = ~pl.col("id").is_in(keys["id"].implode())
            merged = pl.concat([base.filter(gone), delta], how="diagonal_relaxed")
        else:
            merged = base if base is not None else delta
        if base is not None and previous is not None and sum(previous.row_counts()) > SORT_CHUNK_ROWS:
            # the previous snapshot is read in id order: one id in every SORT_CHUNK_ROWS cuts it evenly
            bounds = id_bounds(base.select(pl.col("id").gather_every(SORT_CHUNK_ROWS)).collect()["id"], 1)
        elif base is None and keys is not None:
            bounds = id_bounds(keys["id"], SORT_CHUNK_ROWS)
        else:
            bounds = []
        # the previous snapshot's rows are of other ids than the delta's: only the delta has versions
        merged = sorted_by_id(merged, bounds, folder, latest_versions if twice else None)
        path = self._snapshot_path(job)
        durable.write_parquet(merged, path)
        return Snapshot(path)

    def _prune(self, system: str, entity: str) -> None:
        """Remove the files no kept snapshot uses (the last ``KEEP_SNAPSHOTS``: a base stays while a kept
        snapshot lies over it)."""
        folder = self.root / "snapshots" / system / entity
        kept = self.state.recent_snapshots(system, entity, KEEP_SNAPSHOTS)
        current = self.state.current(system, entity)
        used = {p.resolve() for s in [*kept, *([current.snapshot] if current else [])] for p in s.files()}
        for path in folder.glob("*.parquet"):
            if path.resolve() not in used:
                path.unlink(missing_ok=True)

    def pull_many(
        self, systems: Iterable[str], entities: Sequence[str] | None = None, *, full: bool = False
    ) -> list[PullResult]:
        """Pull every asked entity of every asked CRM, in the canonical order.

        A (system, entity) that fails (a required field the org lacks, a CRM refusal, retries spent) or a
        CRM that cannot be reached is logged and the rest are pulled; then ``PartialPullError`` carries
        what finished and what failed. A stop at a CRM's API allowance (its daily limit, or the share
        the profile allows) ends that CRM's pull, resumably; the other CRM is still pulled (its
        allowance is its own), then ``BudgetExhaustedError`` says which stopped (exit 4).
        """
        if entities:
            unknown = [e for e in entities if e not in entity_names()]
            if unknown:
                raise ConfigError(f"unknown entity {', '.join(unknown)}; known: {', '.join(entity_names())}")
        systems = list(systems)
        missing = self.profile.missing_secrets(systems)  # a variable unset: said before anything is pulled
        if missing:
            raise ConfigError(missing)
        results: list[PullResult] = []
        failures: list[PullFailure] = []
        stopped: list[BudgetExhaustedError] = []
        for system in systems:
            try:
                conn = self.connector(system)
            except (ConfigError, ApiError) as exc:
                log.error("pull.system_failed", system=system, error=str(exc))
                failures.append(PullFailure(system, None, exc))
                continue
            for entity in [e for e in (entities or entity_names()) if e in conn.entities()]:
                try:
                    results.append(self.pull(system, entity, full=full))
                except UnreachableError as exc:  # the host's other entities are not tried one by one
                    log.error("pull.system_unreachable", system=system, host=exc.host, error=str(exc))
                    failures.append(PullFailure(system, None, exc))
                    break
                except (ConfigError, ApiError) as exc:
                    log.error("pull.entity_failed", system=system, entity=entity, error=str(exc))
                    failures.append(PullFailure(system, entity, exc))
                except BudgetExhaustedError as exc:
                    log.warning("pull.budget_stop", system=system, entity=entity, error=str(exc))
                    stopped.append(exc)
                    break
        if stopped:
            raise BudgetExhaustedError("; ".join(str(e) for e in stopped))
        if failures and not results:
            # nothing was pulled: the error itself, so a wrong config still reads as one (exit 2)
            problems = [
                f"{f.system}: {p}"
                for f in failures
                if isinstance(f.error, ConfigError)
                for p in f.error.problems
            ]
            other = [f.error for f in failures if not isinstance(f.error, ConfigError)]
            raise other[0] if other else ConfigError(problems)
        if failures:
            raise PartialPullError(results, failures)
        return results


def read_snapshot(state_dir: str | Path, system: str, entity: str) -> pl.DataFrame:
    """The current snapshot of one entity, or a clear error when none was pulled yet."""
    state = State(Path(state_dir) / "state.sqlite")
    try:
        current = state.current(system, entity)
    finally:
        state.close()
    if current is None:
        raise ConfigError(f"{state_dir}: no snapshot of {system} {entity} yet; run `crm-ops pull` first")
    return current.snapshot.read()
