"""The Python API: everything the ``crm-ops`` command does, for scripts. The command is a thin shell over
it (it parses options, prints and turns results and errors into exit codes), so a script and cron get
the same findings, the same plan (with the same default approvals, labels and record links) and the
same journal from the same snapshots.

A night, step by step (``examples/nightly_api.py`` runs this on the sandbox):

    from crm_ops.api import open_profile

    ws = open_profile("crm-ops.toml", "prod")   # as --config / --profile
    pulled = ws.pull()                          # incremental (full=True: all)
    checked = ws.check()                        # the profile's rules
    matched = ws.match()                        # duplicates, cross-CRM links
    print("\n".join(ws.why("003A", "003B").lines()))  # why a pair was (not) proposed
    planned = ws.plan([checked.findings_path, matched.findings_path])
    print(ws.show(planned.folder)["by_rule"])   # what the plan would do
    dry = ws.apply(planned.folder)              # dry run of the default approvals
    done = ws.apply(planned.folder, review=planned.review_file, write=True)
    ws.undo(planned.folder, write=True)         # puts back what it wrote

or all of it as cron's batch: ``ws.run()`` (lock, pull, check, match, plan, apply the safe part, report).
Then the findings workflow: ``ws.digest()`` (per owner), ``ws.mute(rule, note=...)`` /
``ws.acknowledge(...)`` / ``ws.unmute(...)`` / ``ws.marks()``, ``ws.export_findings("findings.csv")``.
An erasure request: ``ws.erase(emails=["ann@example.com"], reference="DSR-1", write=True)`` (both CRMs,
our state, the suppression list and a certificate; ``crm_ops.erasure``).

Errors are exceptions (``crm_ops.errors``): ``ConfigError`` (configuration or input, nothing done; its
``problems`` list every one), ``ApiError`` (a CRM failed a call; what was done is journaled),
``BudgetExhaustedError``, ``LockedError``; ``crm_ops.exitcodes.exit_for(exc)`` gives the code and message
the command line would end with. Results carry their own ``exit_code``.

The canonical entities and their columns: ``entities()``; the default match rules: ``match_configs()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from crm_ops import durable
from crm_ops.api.applying import Selection, apply_plan, as_tuple, guard_production, plan_file
from crm_ops.api.catalog import entities, match_configs
from crm_ops.api.findings import list_marks, mark_findings, unmark_findings
from crm_ops.api.results import ApplyRun, MatchRun, PlanRun, PullRun, run_summary
from crm_ops.check import CheckRun, profile_rules, run_check
from crm_ops.config import Profile, load_profile
from crm_ops.digest import Digest, run_digest
from crm_ops.discover import Discovered, discover_maps
from crm_ops.engines import chosen_engine, profile_snapshots, run_matching_on
from crm_ops.erasure.run import Erasure, erase
from crm_ops.erasure.subjects import subjects_from
from crm_ops.errors import ConfigError, PartialPullError
from crm_ops.fieldaudit import EMPTY_DAYS, FieldProfile, field_audit
from crm_ops.findings_csv import export_findings
from crm_ops.match.run import profile_settings, with_survivor
from crm_ops.match.why import PairWhy, why_pair
from crm_ops.orgwatch import org_changes
from crm_ops.plan import latest_findings, links_beside, read_plan, write_plan
from crm_ops.plan.reviewfile import read_review_file
from crm_ops.plan.settle import settle_pending
from crm_ops.plan.show import summarise
from crm_ops.planning import profile_plan
from crm_ops.progress import Steps
from crm_ops.pull import Puller
from crm_ops.rules.loader import RuleProblem
from crm_ops.rules.model import Rule
from crm_ops.runner import RunResult, run_batch
from crm_ops.state import PullJob, State

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SURVIVORS = ("most_complete", "oldest", "most_recent")


class Workspace:
    """A profile opened for work: its CRMs, sources, rules, match settings and state folder. Each step
    is a method; each reads and writes the profile's state folder as the command line does, so steps
    may be run from scripts and from ``crm-ops`` in any mix."""

    def __init__(self, profile: Profile, *, spark: SparkSession | None = None) -> None:
        """Work on ``profile`` (a loaded ``crm_ops.config.Profile``; ``open_profile`` loads one). On the
        Spark engine, ``spark`` is the session to compute on (a cluster's, a Databricks job's); without
        it one is made from the profile's ``[spark]`` settings."""
        self.profile = profile
        self.spark = spark

    def __repr__(self) -> str:
        return f"Workspace(profile={self.profile.name!r}, state_dir={str(self.profile.state_dir)!r})"

    @property
    def name(self) -> str:
        """The profile's name."""
        return self.profile.name

    @property
    def state_dir(self) -> Path:
        """Where snapshots, findings, plans, journals and runs are kept."""
        return self.profile.state_dir

    def rules(self, extra: Iterable[str | Path] = ()) -> tuple[list[Rule], list[RuleProblem]]:
        """The rules the profile runs (shipped, its folders and ``extra`` files or folders, its switches
        applied) and those that could not be loaded (each a rule error: its findings would be missing).
        Raises ``ConfigError`` when a setting names a rule or tag that does not exist."""
        return profile_rules(self.profile, extra)

    def discover(
        self, folder: str | Path, *, objects: Sequence[str] = (), force: bool = False
    ) -> list[Discovered]:
        """Write an object map file per CRM into ``folder`` (``discovered-<system>.yaml``) for the org's
        custom objects no map reads, or the objects named (API names: ``Project__c``, ``p_projects``),
        fields named from the org's metadata, lookups to mapped objects as parent references. Enable a
        file with ``object_maps = ["<file>"]``. Raises ``ConfigError`` for an object the org lacks (with
        the nearest name) or a file that exists without ``force``."""
        return discover_maps(self.profile, Path(folder), objects=objects, force=force)

    def pull(
        self,
        *,
        systems: Sequence[str] | None = None,
        entities: Sequence[str] | None = None,
        full: bool = False,
        steps: Steps | None = None,
    ) -> PullRun:
        """Pull CRM (and source) records into Parquet snapshots: incremental from each entity's watermark
        unless ``full``. ``systems``: salesforce, hubspot or a source's name (default: all configured);
        ``entities``: canonical entity names (default: all). An entity that fails does not stop the
        others: it is in ``failures`` and resumes on the next pull. ``steps`` receives progress. The org's
        field metadata is compared with the last pull's: the changes are ``monitors``."""
        prof = self.profile
        chosen = list(systems or prof.all_systems())
        known = ("salesforce", "hubspot", *prof.sources)
        unknown = [s for s in chosen if s not in known]
        if unknown:
            raise ConfigError(
                f"unknown system {', '.join(unknown)}; use salesforce, hubspot or a source of the profile "
                f"({', '.join(prof.sources) or 'none configured: [profiles.P.sources.<name>]'})"
            )
        puller = Puller(prof)
        if steps is not None:

            def on_page(job: PullJob, rows: int) -> None:
                steps(f"{job.system} {job.entity}", rows)

            def on_total(job: PullJob, total: int) -> None:
                steps(f"{job.system} {job.entity}", 0, total)

            puller.on_page, puller.on_total = on_page, on_total
        try:
            try:
                run = PullRun(puller.pull_many(chosen, list(entities) if entities else None, full=full))
            except PartialPullError as exc:
                run = PullRun(exc.results, exc.failures)
            tried = [(r.system, r.entity) for r in run.results]
            tried += [(f.system, f.entity) for f in run.failures if f.entity]
            run.monitors.extend(org_changes(prof, puller.state, puller.connector, tried))
            return run
        finally:
            puller.close()

    def check(
        self,
        *,
        extra_rules: Sequence[str | Path] = (),
        output: Path | None = None,
        engine: str | None = None,
        now: datetime | None = None,
    ) -> CheckRun:
        """Run the profile's rules (and ``extra_rules`` files or folders) over its current snapshots and
        write the findings (``<state>/findings/<time>.parquet``, or ``output``). ``engine``: polars or
        spark (default: the profile's). The result lists rule problems and rules that raised; its
        ``exit_code(fail_on)`` is the command's."""
        chosen_engine(self.profile, engine)  # an unknown engine: refused before anything is read
        return run_check(
            self.profile, extra_rules=extra_rules, output=output, now=now, engine=engine, spark=self.spark
        )

    def match(
        self,
        *,
        output: Path | None = None,
        survivor: str | None = None,
        forget: bool = False,
        engine: str | None = None,
        now: datetime | None = None,
    ) -> MatchRun:
        """Find duplicates in each CRM and link the two CRMs over the current snapshots: merge,
        conversion and sync proposals as findings, written with the pairs and links to
        ``<state>/match/<time>/`` (or ``output``). ``survivor`` (most_complete, oldest, most_recent)
        overrides the profile's ``[match.merge]`` master ordering; ``forget`` forgets every pair people
        rejected first. Pairs rejected in a review file are left out while their records are unchanged."""
        chosen_engine(self.profile, engine)  # an unknown engine: refused before anything is read
        if survivor is not None and survivor not in SURVIVORS:
            raise ConfigError(f"survivor {survivor!r}: use {', '.join(SURVIVORS)}")
        settings = profile_settings(self.profile)
        if survivor:
            settings["merge_rules"] = with_survivor(settings["merge_rules"], survivor)
        state = State(self.state_dir / "state.sqlite")
        try:
            forgotten = state.forget_rejections() if forget else 0
            rejected = state.rejections()
            settings["verdicts"] = state.verdicts()  # people's decisions: the models are held to them
        finally:
            state.close()
        rules = profile_rules(self.profile)[0]  # what every proposed value must pass
        result = run_matching_on(
            self.profile, rules=rules, engine=engine, spark=self.spark, rejected=rejected, **settings
        )
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S")
        folder = output or self.state_dir / "match" / stamp
        for name in ("findings", "duplicates", "links", "unmatched", "source_links"):
            durable.write_parquet(getattr(result, name), folder / f"{name}.parquet")
        return MatchRun(result, folder, forgotten)

    def why(self, id1: str, id2: str, *, entity: str | None = None) -> PairWhy:
        """Why the records ``id1`` and ``id2`` were or were not proposed as a pair (a near miss): the
        pair scored under the profile's match settings whether or not blocking found it, its waterfall
        when scoring explains itself, and, key by key, whether blocking would compare it
        (``crm_ops.match.why``). Reads the current snapshots on this machine (polars, whatever the
        engine); ``entity`` names the entity of both when an id is in two tables."""
        settings = profile_settings(self.profile)
        return why_pair(
            profile_snapshots(self.profile).frames,
            id1,
            id2,
            configs=settings["configs"],
            lists=settings["lists"],
            entity=entity,
        )

    def plan(
        self,
        findings: Sequence[Path | str] | None = None,
        *,
        output: Path | None = None,
        now: datetime | None = None,
    ) -> PlanRun:
        """Turn findings files (default: the latest check's and match's) into a fix plan, written as
        plan.jsonl (versioned) and plan.csv (the review file: approve is yes only for the safe fixes)
        in ``<state>/plans/<plan id>/`` (or ``output``). Each action gets its default approval from the
        profile's ``[review]`` settings and the rules' tags, and its labels and record links from the
        snapshots, exactly as ``crm-ops plan``. Pending writes of killed applies are settled first."""
        sources = [Path(p) for p in findings] if findings else latest_findings(self.state_dir)
        if not sources:
            raise ConfigError(f"{self.state_dir}: no findings yet; run `crm-ops check` (and `crm-ops match`)")
        frames = []
        for path in sources:
            try:
                frames.append(pl.read_parquet(path))
            except (OSError, pl.exceptions.ComputeError) as exc:
                raise ConfigError(f"{path}: not a findings file: {exc}") from None
        rules, _ = profile_rules(self.profile)
        puller = Puller(self.profile)
        try:
            settle_pending(puller.state, puller.connector)  # what killed applies left pending, landed or not
            try:
                built = profile_plan(
                    self.profile,
                    pl.concat(frames, how="diagonal_relaxed"),
                    rules,
                    state=puller.state,
                    connector=puller.connector,
                    links=links_beside(sources),
                    now=now,
                )
            except ValueError as exc:
                raise ConfigError(f"{', '.join(map(str, sources))}: {exc}") from None
        finally:
            puller.close()
        folder = output or self.state_dir / "plans" / built.header.plan_id
        jsonl, review = write_plan(built, folder)
        return PlanRun(built, folder, jsonl, review, sources)

    def show(
        self, plan: Path | str, *, review: Path | None = None, samples: int = 3, merges: int = 10
    ) -> dict[str, Any]:
        """What a plan would do (``show_plan``)."""
        return show_plan(plan, review=review, samples=samples, merges=merges)

    def apply(
        self,
        plan: Path | str,
        *,
        review: Path | None = None,
        all_actions: bool = False,
        write: bool = False,
        allow_production: bool = False,
        rules: Iterable[str] | None = None,
        severities: Iterable[str] | None = None,
        min_confidence: float | None = None,
        entities: Iterable[str] | None = None,
        systems: Iterable[str] | None = None,
        batch_size: int | None = None,
        steps: Steps | None = None,
    ) -> ApplyRun:
        """Apply a plan (its folder or plan.jsonl): a dry run unless ``write``; each record re-read first
        and skipped if it changed since the plan (a conflict); every write journaled, so a second apply
        of the same plan writes nothing twice and a killed one resumes.

        Which actions: those approved in ``review`` (a reviewed plan.csv, held to the plan first: a
        ``ConfigError`` lists every problem and nothing is written); with ``all_actions`` every action;
        otherwise those approved by default. Then only ``rules``, ``severities``, ``entities``,
        ``systems`` and at least ``min_confidence``. A production profile writes only with
        ``allow_production``. ``LockedError`` when the plan is being applied elsewhere."""
        return apply_plan(
            self.profile,
            plan,
            write=write,
            allow_production=allow_production,
            undo=False,
            selection=Selection(
                review=review,
                all_actions=all_actions,
                rules=as_tuple(rules),
                severities=as_tuple(severities),
                min_confidence=min_confidence,
                entities=as_tuple(entities),
                systems=as_tuple(systems),
            ),
            batch_size=batch_size,
            steps=steps,
        )

    def undo(
        self,
        plan: Path | str,
        *,
        write: bool = False,
        allow_production: bool = False,
        batch_size: int | None = None,
        steps: Steps | None = None,
    ) -> ApplyRun:
        """Restore what an applied plan wrote (field values, merges, conversions), conflict-checked and
        journaled as the plan ``undo-<plan id>`` (written to ``<plan>/undo/``); a dry run unless
        ``write``."""
        return apply_plan(
            self.profile,
            plan,
            write=write,
            allow_production=allow_production,
            undo=True,
            selection=Selection(),
            batch_size=batch_size,
            steps=steps,
        )

    def review(
        self,
        plan: Path | str,
        *,
        reviewer: str,
        port: int = 0,
        browser: bool = True,
        allow_production: bool = False,
        announce: Callable[[str], None] = lambda url: None,
    ) -> None:
        """Serve the review of a plan (its folder or plan.jsonl) in the browser until interrupted
        (``crm_ops.reviewapp``): on 127.0.0.1, ``port`` (0: the system picks), the address with this
        run's token given to ``announce`` and opened in the browser when there is one and ``browser``.
        Each decision is saved into the plan's plan.csv as made, ``reviewer`` the name it is saved under
        unless the page gives another; ``apply(plan, review=<plan>/plan.csv)`` applies them, and so does
        the app's apply (``undo`` too), writing to a production profile only with ``allow_production``."""
        from crm_ops.reviewapp import serve  # noqa: PLC0415 - the web stack is loaded only to serve

        folder = plan_file(plan).parent
        run = self.review_run(folder, allow_production=allow_production)
        serve(self.profile, folder, reviewer=reviewer, port=port, browser=browser, announce=announce, run=run)

    def review_run(
        self, plan: Path | str, *, allow_production: bool = False
    ) -> Callable[[str, bool, Steps], dict[str, Any]]:
        """What the review app's apply and undo buttons run for a plan (its folder or plan.jsonl):
        ``apply(plan, review=<plan>/plan.csv)`` or ``undo(plan)``, a write to a production profile
        refused (``ConfigError``) without ``allow_production``."""
        folder = plan_file(plan).parent

        def run(kind: str, write: bool, steps: Steps) -> dict[str, Any]:
            if kind == "undo":
                done = self.undo(folder, write=write, allow_production=allow_production, steps=steps)
            else:
                done = self.apply(
                    folder,
                    review=folder / "plan.csv",
                    write=write,
                    allow_production=allow_production,
                    steps=steps,
                )
            return run_summary(done)

        return run

    def run(
        self,
        *,
        allow_production: bool = False,
        engine: str | None = None,
        steps: Steps | None = None,
        now: datetime | None = None,
        log_level: str = "info",
        override_breaker: bool = False,
    ) -> RunResult:
        """Cron's batch (``crm-ops run``): lock, pull, check, match, plan, apply what ``[run] auto_apply``
        names, report in ``<state>/runs/<run id>/``. The result's ``exit_code`` is the command's; an
        error is raised after the run's record (summary.json, report.html) is written. A data monitor at
        error level trips the circuit breaker (nothing applied, exit 9); ``override_breaker`` lets this
        one run apply anyway (recorded in the summary's ``breaker``)."""
        return run_batch(
            self.profile,
            allow_production=allow_production,
            engine=chosen_engine(self.profile, engine),
            steps=steps,
            now=now,
            log_level=log_level,
            override_breaker=override_breaker,
        )

    def erase(
        self,
        *,
        emails: Iterable[str] = (),
        ids: Iterable[str] = (),
        file: Path | str | None = None,
        reference: str | None = None,
        write: bool = False,
        allow_production: bool = False,
        resume: bool = False,
    ) -> Erasure:
        """Erase people (``crm-ops erase``; ``crm_ops.erasure``): their ``emails``, records' ``ids``
        (``SYSTEM:ID``) or a CSV ``file`` of them (columns email, system, id, reference). A dry run (the
        default) finds and returns their records; ``write`` puts them on the suppression list, deletes them
        in each CRM through its permanent path, purges every copy under the state dir, searches every byte
        for what is left and writes a certificate (``Erasure.certificate``). An unfinished erasure is
        finished first (``resume``: only that). A production profile writes only with
        ``allow_production``. ``ConfigError`` for a bad subject (each named), ``LockedError`` while a run,
        an apply or an undo holds its lock."""
        guard_production(self.profile, write, allow_production)
        named = bool(emails or ids or file)
        subjects = (
            subjects_from(
                emails,
                ids,
                Path(file) if file is not None else None,
                systems=self.profile.all_systems(),
                reference=reference,
            )
            if named or not resume
            else []
        )
        return erase(self.profile, subjects, write=write, reference=reference)

    def mute(
        self,
        rule: str,
        *,
        note: str,
        system: str | None = None,
        record_id: str | None = None,
        until: str | date | datetime | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Mute the findings of ``rule`` (on ``system``, ``record_id`` when given) until ``until``
        (default: 30 days; ``"never"`` when meant): shown in the run's report as muted, not counted
        toward its exit code nor in the webhook, never applied unattended. Returns the mark."""
        return mark_findings(
            self.profile, "mute", rule, note=note, system=system, record_id=record_id, until=until, now=now
        )

    def acknowledge(
        self,
        rule: str,
        *,
        note: str,
        system: str | None = None,
        record_id: str | None = None,
        until: str | date | datetime | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Acknowledge the findings of ``rule`` (a person has them in hand): still counted and applied,
        shown as acknowledged, never counted as new; expires as ``mute``'s marks do. Returns the mark."""
        return mark_findings(
            self.profile, "ack", rule, note=note, system=system, record_id=record_id, until=until, now=now
        )

    def unmute(
        self, rule: str, *, system: str | None = None, record_id: str | None = None, kind: str | None = None
    ) -> int:
        """Remove the marks of ``rule`` on ``system`` and ``record_id`` as given (``kind``: mute or ack;
        None: both); how many were removed."""
        return unmark_findings(self.profile, rule, system=system, record_id=record_id, kind=kind)

    def marks(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Every mute and acknowledgement, each with its status at ``now`` (expired ones included)."""
        return list_marks(self.profile, now)

    def digest(self, run: str | None = None) -> Digest:
        """The digest of run ``run`` (default: the latest) per owner: open, new, resolved, muted and
        acknowledged findings, the rules with most open, an https link to the report when
        ``[notify] report_url`` is set (``.text()``, ``.as_dict()``)."""
        return run_digest(self.profile, run)

    def field_audit(
        self,
        *,
        entities: Sequence[str] | None = None,
        systems: Sequence[str] | None = None,
        empty_days: int = EMPTY_DAYS,
    ) -> list[FieldProfile]:
        """The field audit of what was pulled (``crm-ops profile``): per system, entity and column, the
        live records holding a value, distinct values, the commonest, the values off the field's active
        picklist (the org's metadata the last pull kept), and since when a column has been empty in
        every pull of ``empty_days`` days. Reads the snapshots and the pulls' history; calls no CRM.
        Raises ``ConfigError`` when nothing was pulled yet."""
        state_file = self.state_dir / "state.sqlite"
        if not state_file.exists():
            raise ConfigError(f"{self.state_dir}: nothing pulled yet; run `crm-ops pull` first")
        state = State(state_file)
        try:
            return field_audit(self.profile, state, entities=entities, systems=systems, empty_days=empty_days)
        finally:
            state.close()

    def export_findings(
        self, path: Path | str, *, run: str | None = None, now: datetime | None = None
    ) -> Path:
        """Write the findings of run ``run`` (default: the latest) to ``path`` as CSV: labels, record
        links, owner, mute or acknowledgement, new since the run before; values neutralised for
        spreadsheets."""
        return export_findings(self.profile, Path(path), run, now)


def open_profile(
    config: Path | str | None = None, profile: str | None = None, *, spark: SparkSession | None = None
) -> Workspace:
    """Open ``profile`` of the config file ``config`` (defaults as the command line's: ``$CRM_OPS_CONFIG``
    or ./crm-ops.toml, ``$CRM_OPS_PROFILE`` or sandbox). Secrets are read from the environment variables
    the profile names; a ``ConfigError`` lists every problem of the file at once. ``spark``: the session
    the Spark engine computes on (``Workspace``)."""
    return Workspace(load_profile(config, profile), spark=spark)


def show_plan(
    plan: Path | str, *, review: Path | None = None, samples: int = 3, merges: int = 10
) -> dict[str, Any]:
    """What a plan (its folder or plan.jsonl) would do, as ``crm-ops plan show --json`` prints it: counts
    by rule, kind, object and approval, ``samples`` rows per rule, ``merges`` merges side by side. With
    ``review`` (a reviewed plan.csv) its approvals instead of the defaults, and its reading's warnings
    under ``warnings``."""
    loaded = read_plan(plan_file(plan))
    reviewed = read_review_file(review, loaded) if review else None
    summary = summarise(
        loaded, approvals=reviewed.approvals() if reviewed else None, samples=samples, merges=merges
    )
    summary["warnings"] = list(reviewed.warnings) if reviewed else []
    return summary


# the order of the reference page: the entry points first, then what they return
__all__ = [  # noqa: RUF022
    "open_profile",
    "Workspace",
    "show_plan",
    "entities",
    "match_configs",
    "PullRun",
    "CheckRun",
    "MatchRun",
    "PlanRun",
    "ApplyRun",
    "RunResult",
    "PairWhy",
    "Digest",
]
