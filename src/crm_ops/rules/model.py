"""What a rule is, what it sees when it runs, and what it reports.

A rule has an id, the entities it judges (one or more), a severity, a description a business user
understands, tags, optionally the systems it applies to, and:

- a check: a function of (frame, context, params) returning a boolean Series or polars expression,
  True where the row passes. The engine runs every check of an entity as a pandera ``Check`` in one
  ``DataFrameSchema`` (polars backend) and reads the failing rows from pandera's failure cases;
- optionally a fixer: a function of (failing rows, context, params) returning one proposed value and
  a confidence (0-1) per failing record;
- examples: rows that pass, rows that fail and the fix expected, run by ``crm-ops rules test``;
- optionally a condition (``when``, ``crm_ops.rules.conditions``): the rows it does not hold for pass,
  whatever the check says; and a tolerance (``crm_ops.rules.tolerance``): while no more of the judged
  rows fail than it allows, the rule's findings are kept as info.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from dataclasses import field as dc_field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Protocol

import polars as pl

from crm_ops.layered import Snapshot
from crm_ops.schema.entities import columns, is_entity

if TYPE_CHECKING:
    from crm_ops.rules.tolerance import Tolerance

SEVERITIES = ("error", "warning", "info")
CheckFn = Callable[[pl.DataFrame, "RuleContext", Mapping[str, Any]], "pl.Series | pl.Expr"]
FixFn = Callable[[pl.DataFrame, "RuleContext", Mapping[str, Any]], pl.DataFrame]

FINDINGS_SCHEMA: dict[str, pl.DataType] = {
    "rule": pl.String(),
    "entity": pl.String(),
    "system": pl.String(),
    "record_id": pl.String(),
    "field": pl.String(),
    "current_value": pl.String(),
    "severity": pl.String(),
    "message": pl.String(),
    "proposed_value": pl.String(),
    "confidence": pl.Float64(),
}


class Condition(Protocol):
    """Which rows a rule judges (``crm_ops.rules.conditions.Condition`` builds it from a YAML ``when:``)."""

    def expr(self, frame: pl.DataFrame, ctx: RuleContext) -> pl.Expr:
        """True where the rule judges the row (never null)."""
        ...

    def reads_others(self) -> bool:
        """Whether it reads records beyond the row (a parent's value, an aggregate of children)."""
        ...


@dataclass(frozen=True)
class Example:
    """One example of a rule: a row (partial: other columns are null), whether it passes, the fix."""

    row: dict[str, Any]
    passes: bool
    fix: Any = None
    has_fix: bool = False
    context: dict[str, list[dict[str, Any]]] = dc_field(default_factory=dict)
    system: str = "salesforce"


@dataclass(frozen=True)
class Rule:
    """One data-quality rule."""

    id: str
    entities: tuple[str, ...]
    severity: str
    description: str
    check: CheckFn
    field: str | None = None
    fix: FixFn | None = None
    params: dict[str, Any] = dc_field(default_factory=dict)
    tags: tuple[str, ...] = ()
    systems: tuple[str, ...] = ()
    examples: tuple[Example, ...] = ()
    source: str = ""  # "file:line" where the rule is defined
    when: Condition | None = None  # the rows judged (None: every live row)
    tolerance: Tolerance | None = None

    def applies_to(self, system: str, entity: str) -> bool:
        """Whether this rule judges ``entity`` records of ``system``."""
        return entity in self.entities and (not self.systems or system in self.systems)

    def with_overrides(self, *, severity: str | None = None, params: Mapping[str, Any] | None = None) -> Rule:
        """A copy re-graded or re-parameterised by a profile."""
        return replace(
            self,
            severity=severity or self.severity,
            params={**self.params, **(params or {})},
        )


class RuleContext:
    """What a running rule may look at: every entity of both CRMs, the time of the run, a cache."""

    def __init__(
        self,
        frames: Mapping[str, Mapping[str, pl.DataFrame]],
        *,
        system: str = "salesforce",
        now: datetime | None = None,
        large: Mapping[str, Mapping[str, Snapshot]] | None = None,
    ) -> None:
        self._frames = {s: dict(f) for s, f in frames.items()}
        self._large = {s: dict(f) for s, f in (large or {}).items()}
        self.system = system
        self.now = now or datetime.now(UTC)
        self.cache: dict[Any, Any] = {}

    @property
    def today(self) -> date:
        """The run's date (UTC)."""
        return self.now.date()

    def for_system(self, system: str) -> RuleContext:
        """The same data, seen from ``system`` (``frame(entity)`` defaults to it); the cache is shared."""
        other = RuleContext(self._frames, system=system, now=self.now, large=self._large)
        other.cache = self.cache
        return other

    def systems(self) -> list[str]:
        """The systems with data."""
        return list(self._frames)

    def frames(self, system: str) -> dict[str, pl.DataFrame]:
        """Every entity frame of one system held in memory (not the large tables checked a chunk at a
        time: ``frame`` reads one of those when a rule names it)."""
        return self._frames.get(system, {})

    def frame(self, entity: str, system: str | None = None) -> pl.DataFrame:
        """One entity of one system (this rule's system by default); empty with its schema when absent.
        A large table (``crm_ops.rules.chunks``) is read whole from its snapshot each time it is asked
        for, as a rule that names it needs it: its parents' values, its children's aggregates."""
        found = self._frames.get(system or self.system, {}).get(entity)
        if found is None:
            path = self._large.get(system or self.system, {}).get(entity)
            if path is not None:
                return path.read()
            return pl.DataFrame(schema=columns(entity)) if is_entity(entity) else pl.DataFrame()
        return found


def example_frame(entity: str, rows: Sequence[Mapping[str, Any]], system: str) -> pl.DataFrame:
    """Partial example rows as a full canonical frame (missing columns null, ids filled in)."""
    schema = columns(entity)
    filled = []
    for i, row in enumerate(rows):
        values = {"id": f"example-{i}", "is_deleted": False, "source_system": system, **row}
        filled.append(values)
    extra = sorted({k for r in filled for k in r if k not in schema})
    full_schema = {**schema, **dict.fromkeys(extra, pl.String())}
    frame = pl.DataFrame(
        [{k: r.get(k) for k in full_schema} for r in filled],
        schema={k: (pl.String() if v.is_temporal() else v) for k, v in full_schema.items()},
        orient="row",
    )
    casts = []
    for k, v in full_schema.items():
        if v == pl.Date():
            casts.append(pl.col(k).str.to_date("%Y-%m-%d", strict=False))
        elif isinstance(v, pl.Datetime):
            casts.append(pl.col(k).str.to_datetime(time_unit="ms", time_zone="UTC", strict=False))
    return frame.with_columns(casts) if casts else frame
