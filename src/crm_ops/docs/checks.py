"""docs/reference/checks.md: the rule vocabulary, from the rules library's registry and its source.

A check's or fixer's parameters are read from its function: ``field_of(params)`` (the rule's ``field``),
``params["x"]`` (required) and ``params.get("x", default)`` (optional, with its default), so the page
lists what the code reads, not what someone remembered to write down.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from crm_ops.rules import conditions, library
from crm_ops.rules.loader import FIX_MAPPING_HELP, RULE_KEY_HELP, load_rules, shipped_rules_dir


@dataclass(frozen=True)
class Param:
    """One parameter a check or fixer reads."""

    name: str
    required: bool
    default: str | None = None


def params_read(fn: Callable[..., Any]) -> list[Param]:
    """The parameters ``fn`` reads from its ``params`` mapping, in the order it first reads them."""
    tree = ast.parse(inspect.getsource(fn).lstrip())
    found: dict[str, Param] = {}

    def is_params(node: ast.AST) -> bool:
        return isinstance(node, ast.Name) and node.id == "params"

    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "field_of":
            found.setdefault("field", Param("field", True))
        elif isinstance(node, ast.Subscript) and is_params(node.value):
            if isinstance(node.slice, ast.Constant):
                found.setdefault(str(node.slice.value), Param(str(node.slice.value), True))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and is_params(node.func.value)
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            name = str(node.args[0].value)
            default = ast.unparse(node.args[1]) if len(node.args) > 1 else None
            found[name] = Param(name, False, default)
    return sorted(found.values(), key=lambda p: (p.name != "field", not p.required, p.name))


def _summary(fn: Callable[..., Any]) -> str:
    return " ".join((inspect.getdoc(fn) or "(no description)").split()).replace("|", "\\|")


def _param_text(params: list[Param]) -> str:
    if not params:
        return "none"
    out = []
    for p in params:
        if p.name == "field":
            out.append("`field` (the rule's field)" if p.required else f"`field` (default `{p.default}`)")
        elif p.required:
            out.append(f"`{p.name}` (required)")
        else:
            out.append(f"`{p.name}`" + (f" (default `{p.default}`)" if p.default is not None else ""))
    return ", ".join(out)


def _used_by() -> dict[str, list[str]]:
    """Which shipped rules use each named check or fixer (by the functions they hold), the rules of
    shipped object maps no profile of this process enabled included: the page is the same whatever
    maps were declared before it was made."""
    names = {id(fn): name for name, fn in library.CHECKS.items()}
    names |= {id(fn): name for name, fn in library.FIXES.items()}
    rules, _ = load_rules()
    used: dict[str, set[str]] = {}
    for r in rules:
        for fn in (r.check, r.fix):
            if fn is not None and id(fn) in names:
                used.setdefault(names[id(fn)], set()).add(r.id)
    for path in sorted(shipped_rules_dir().glob("*.yaml")):  # the dormant ones, by the names they give
        for spec in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("rules") or []:
            for key in ("check", "fix"):
                named = spec.get(key)
                if isinstance(named, str) and (named in library.CHECKS or named in library.FIXES):
                    used.setdefault(named, set()).add(str(spec["id"]))
    return {name: sorted(ids) for name, ids in used.items()}


def _table(registry: dict[str, Callable[..., Any]], used: dict[str, list[str]]) -> list[str]:
    lines = ["| name | what it does | parameters | shipped rules using it |", "|---|---|---|---|"]
    for name in sorted(registry):
        fn = registry[name]
        rules = ", ".join(f"`{r}`" for r in sorted(used.get(name, []))) or "-"
        lines.append(f"| `{name}` | {_summary(fn)} | {_param_text(params_read(fn))} | {rules} |")
    return lines


def checks_page() -> str:
    """The page's Markdown."""
    used = _used_by()
    lines = [
        "# Checks and fixers",
        "",
        "What a YAML rule can name (`check:` and `fix:`), the keys a rule takes, and the plain checks and",
        "fix mappings of the vocabulary. A rule's `field` is passed to its check and fixer as the `field`",
        "parameter; other parameters go under `params:` (or a profile's `[profiles.P.rules] params`). See",
        "[the tutorial](../tutorial-first-rule.md) for a first rule, and `rules/*.yaml` for the shipped",
        "ones.",
        "",
        "## Rule keys",
        "",
        "| key | meaning |",
        "|---|---|",
        *(f"| `{k}` | {v} |" for k, v in RULE_KEY_HELP.items()),
        "",
        "## Named checks",
        "",
        "A check passes a row when it returns True; a null value passes (that is `not_null`'s business).",
        "",
        *_table(library.CHECKS, used),
        "",
        "## Plain checks",
        "",
        "On the rule's `field`: `check: not_null`, or a mapping such as `check: {matches: '^[A-Z]'}`.",
        "",
        "| check | takes | what it does |",
        "|---|---|---|",
        *(f"| `{k}` | {takes} | {what} |" for k, (takes, what) in library.GENERIC_HELP.items()),
        "",
        "## Named fixers",
        "",
        "A fixer proposes a value and a confidence (0-1) for each failing row; what it cannot fix it leaves.",
        "",
        *_table(library.FIXES, used),
        "",
        "## Fix mappings",
        "",
        "`fix: {set: Unknown, confidence: 0.8}`: on the rule's `field`.",
        "",
        "| key | meaning |",
        "|---|---|",
        *(f"| `{k}` | {v} |" for k, v in FIX_MAPPING_HELP.items()),
        "",
        "## Conditions",
        "",
        "`when:` picks the rows a rule judges (the others pass); `check: {holds: ...}` takes the same",
        "syntax and passes the rows it holds for. A condition is one test or a list of tests, all of which",
        "must hold. A test is `{column: value}` (`=`; a list: `in`; null: `is_null`; several columns: all)",
        "or `{field: F, op: OP, value: V}`, where `ref: {via, entity, field}` (the parent record the row's",
        "`via` column points at, same CRM) or `children: {entity, via, agg, field, when}` (an aggregate of",
        "the live records whose `via` column holds the row's id) may stand in for `field`. Every field is",
        "checked against the entity's columns (`custom_<name>` allowed), every value against its type.",
        "An empty value matches only `is_null`, `!=` and `not_in`.",
        "",
        "| op | takes: holds when |",
        "|---|---|",
        *(f"| `{k}` | {v} |" for k, v in conditions.OP_HELP.items()),
        "",
        f"`children` aggregates: {', '.join(f'`{a}`' for a in conditions.AGGS)} (default `count`; a row",
        "without children counts 0 and sums 0). A children's `when` tests the children's own fields.",
        "",
        "The `value` of `=`, `!=`, `>`, `>=`, `<` and `<=` may itself be a `field`, `ref` or `children`",
        "of the row: `{children: {entity: LineItem, via: opportunity_id, agg: sum, field: total_price},",
        "op: '=', value: {field: amount}, within: 0.01}` holds where an opportunity's line items add up to",
        "its amount to the cent. `within: N` (numbers, `=` and `!=` only): equal when no further apart",
        "than N. Both sides must be numbers, or of one type; an empty side makes the comparison hold only",
        "for `!=`. A fix mapping's `set` takes the same forms (`fix: {set: {children: ...}}`: propose the",
        "line items' sum). Rules whose condition, check or fix reads other records run on the Spark",
        "engine's driver.",
        "",
        "## Tolerance",
        "",
        "`tolerance: 2%` (of the rows the rule judges, per entity and CRM) or `tolerance: 10` (rows): while",
        "no more rows fail than that, the rule's findings are kept, fixes and all, as `info`, their",
        "message saying `(within tolerance: 3 of 200 rows fail, 2% allowed)`; beyond it they keep the",
        "rule's severity. So a few gaps do not fail a run (`--fail-on`), a systemic problem does.",
    ]
    return "\n".join(lines) + "\n"
