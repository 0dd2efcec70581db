"""``crm-ops rules test``: run every rule's examples, shipped and custom alike, like unit tests."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from crm_ops.rules.engine import run_entity
from crm_ops.rules.model import Example, Rule, RuleContext, example_frame


@dataclass(frozen=True)
class ExampleResult:
    """The outcome of one example of one rule."""

    rule: str
    number: int
    entity: str
    ok: bool
    message: str


def _same(proposed: str | None, expected: object) -> bool:
    if expected is None:
        return proposed is None
    if proposed is None:
        return False
    try:
        return math.isclose(float(proposed), float(str(expected)))
    except ValueError:
        return proposed == str(expected)


def run_example(
    rule: Rule, example: Example, number: int, entity: str, cache: Mapping[str, object] | None = None
) -> ExampleResult:
    """Run one example through the real engine (pandera and all) and compare; ``cache`` seeds the
    example's shared cache as ``run_rules``'s does."""
    frame = example_frame(entity, [example.row], example.system)
    frames: dict[str, dict[str, pl.DataFrame]] = {example.system: {}}
    for key, rows in example.context.items():  # "Entity" (the example's system) or "system.Entity"
        system, _, name = key.rpartition(".")
        system = system or example.system
        frames.setdefault(system, {})[name] = example_frame(name, rows, system)
    frames[example.system][entity] = frame
    ctx = RuleContext(frames, system=example.system, now=datetime.now(UTC))
    ctx.cache.update(cache or {})
    result = run_entity([rule], frame, ctx, example.system, entity)
    if result.errors:
        return ExampleResult(rule.id, number, entity, False, f"rule error: {result.errors[0].error}")
    found = result.findings.filter(pl.col("record_id") == frame["id"][0])
    if example.passes:
        ok = found.is_empty()
        return ExampleResult(
            rule.id, number, entity, ok, "passes" if ok else f"expected to pass: {example.row}"
        )
    if found.is_empty():
        return ExampleResult(rule.id, number, entity, False, f"expected to fail: {example.row}")
    if example.has_fix:
        proposed = found["proposed_value"][0]
        if not _same(proposed, example.fix):
            return ExampleResult(
                rule.id,
                number,
                entity,
                False,
                f"fix: expected {example.fix!r}, proposed {proposed!r} for {example.row}",
            )
    return ExampleResult(rule.id, number, entity, True, "fails as expected")


def run_examples(rules: Sequence[Rule], cache: Mapping[str, object] | None = None) -> list[ExampleResult]:
    """Every example of every rule, for each entity the rule judges. ``cache`` seeds each example's
    shared cache: the cross-source rules' examples need the function that links the sources
    (``{crm_ops.rules.crosssource.CACHE_KEY: crm_ops.match.sources.source_links}``), run per example."""
    results = []
    for rule in rules:
        for entity in rule.entities:
            for number, example in enumerate(rule.examples, start=1):
                if rule.systems and example.system not in rule.systems:
                    continue
                results.append(run_example(rule, example, number, entity, cache))
    return results
