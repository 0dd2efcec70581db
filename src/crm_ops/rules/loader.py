"""Loading rules: YAML files (declarative) and Python files (the ``@rule`` decorator), shipped and custom.

Every problem is collected, not raised: a malformed file, an unknown entity or field, a check with the
wrong parameters each become a ``RuleProblem`` naming the file, the rule and the line, and every
other rule still loads. ``load_rules`` returns the rules and the problems together.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from crm_ops.rules import crosssource, library, tolerance  # noqa: F401 - crosssource's checks register
from crm_ops.rules.conditions import (
    OPERAND_KEYS,
    ConditionCheck,
    OperandFix,
    no_such_field,
    operand_value,
    parse_condition,
)
from crm_ops.rules.model import SEVERITIES, CheckFn, Example, FixFn, Rule
from crm_ops.schema.entities import CUSTOM_PREFIX, columns, entity_names, is_entity
from crm_ops.schema.objectmaps import dormant_entities

# The keys of a YAML rule, and the fix mappings, with what each means (docs/reference/checks.md).
RULE_KEY_HELP = {
    "id": "required: a unique id, dotted by convention (person.email.valid)",
    "entity": "required: one entity or a list (Contact, Lead, Account, Opportunity, Owner, ContactRole; "
    "Subscription, ProductUser from sources)",
    "field": "the canonical column judged (and fixed); a check's `field` parameter",
    "severity": "required: error, warning or info",
    "description": "required: what is wrong, for a business user (the finding's message)",
    "tags": "a list of words: `tag:<tag>` selects rules in disabled, review.approve and run.auto_apply",
    "systems": "salesforce and/or hubspot (default: every system with the entity, sources included)",
    "check": "required: a named check, a plain check (not_null), a mapping ({matches: regex}) or "
    "{holds: condition}: the row passes where the condition holds (see Conditions)",
    "params": "the check's and fixer's parameters",
    "fix": "a named fixer, or a fix mapping",
    "examples": "a list of {pass: row} or {fail: row, fix: value}, with optional context and system",
    "when": "a condition: only the rows it holds for are judged, the others pass (see Conditions)",
    "tolerance": tolerance.HELP,
}
RULE_KEYS = set(RULE_KEY_HELP)
FIX_MAPPING_HELP = {
    "set": "propose this value; or {field: ...}, {ref: ...} or {children: ...}: that value of the row "
    "(see Conditions), such as the sum of its line items",
    "set_null": "true: propose emptying the field",
    "strip": "true: propose the value without leading and trailing spaces",
    "lowercase": "true: propose the value in lower case (with strip: both)",
    "confidence": "the proposals' confidence, 0-1 (default 0.9)",
}
SYSTEMS = ("salesforce", "hubspot")


@dataclass(frozen=True)
class RuleProblem:
    """A rule (or a rule file) that could not be loaded."""

    source: str  # file:line
    rule: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {'rule ' + self.rule + ': ' if self.rule else ''}{self.message}"


def shipped_rules_dir() -> Path:
    """The rule sets shipped with crm_ops (the project's top-level rules/ folder, packaged)."""
    return Path(str(resources.files("crm_ops").joinpath("shipped_rules")))


# ------------------------------------------------------------------------------------------ YAML


def _python(node: yaml.Node) -> Any:
    return yaml.safe_load(yaml.serialize(node))


def _examples(raw: Any, where: str) -> tuple[list[Example], list[str]]:
    out: list[Example] = []
    problems: list[str] = []
    if raw is None:
        return out, problems
    if not isinstance(raw, list):
        return out, [f"{where}: examples must be a list"]
    for i, ex in enumerate(raw):
        if not isinstance(ex, dict) or ("pass" in ex) == ("fail" in ex):
            problems.append(f"{where}: example {i + 1} needs exactly one of 'pass' or 'fail'")
            continue
        unknown = set(ex) - {"pass", "fail", "fix", "context", "system"}
        if unknown:
            problems.append(f"{where}: example {i + 1} has unknown key(s) {', '.join(sorted(unknown))}")
            continue
        row = ex.get("pass", ex.get("fail"))
        if not isinstance(row, dict):
            problems.append(f"{where}: example {i + 1}: the row must be a mapping of column to value")
            continue
        out.append(
            Example(
                row=row,
                passes="pass" in ex,
                fix=ex.get("fix"),
                has_fix="fix" in ex,
                context=dict(ex.get("context") or {}),
                system=str(ex.get("system", "salesforce")),
            )
        )
    return out, problems


def _known(entity: Any, enabled: Collection[str] | None) -> bool:
    """Whether a rule may name ``entity``: a core entity or one declared, but an entity of a shipped
    object map only in a profile that enables it (``enabled``: the profile's declared entities; None:
    whatever this process declared)."""
    if not is_entity(entity):
        return False
    return enabled is None or entity in enabled or entity not in dormant_entities()


def _rule_from_spec(
    spec: dict[str, Any], where: str, enabled: Collection[str] | None = None
) -> tuple[Rule | None, list[str]]:
    problems: list[str] = []
    unknown = set(spec) - RULE_KEYS
    if unknown:
        problems.append(f"unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(RULE_KEYS))}")
    for key in ("id", "entity", "severity", "description", "check"):
        if key not in spec:
            problems.append(f"missing '{key}'")
    if problems:
        return None, problems
    entities = spec["entity"] if isinstance(spec["entity"], list) else [spec["entity"]]
    bad = [e for e in entities if not _known(e, enabled)]  # core, or declared by the profile's maps
    if bad:
        dormant = dormant_entities()
        hint = "".join(
            f"; {e} comes with the shipped object map {dormant[e]!r}: add it to the profile's object_maps"
            for e in bad
            if e in dormant
        )
        known = [e for e in entity_names() if _known(e, enabled)]
        problems.append(f"unknown entity {', '.join(map(str, bad))}; known: {', '.join(known)}{hint}")
    severity = spec["severity"]
    if severity not in SEVERITIES:
        problems.append(f"severity must be one of {', '.join(SEVERITIES)}, got {severity!r}")
    column = spec.get("field")
    if column is not None and not bad:
        for e in entities:
            if column not in columns(e) and not str(column).startswith(CUSTOM_PREFIX):
                problems.append(no_such_field(e, column))
    systems = tuple(spec.get("systems") or ())
    if any(s not in SYSTEMS for s in systems):
        problems.append(f"systems must be among {', '.join(SYSTEMS)}, got {list(systems)}")
    params = dict(spec.get("params") or {})
    if column is not None:
        params.setdefault("field", column)
    check_fn: CheckFn | None = None
    raw_check = spec["check"]
    if isinstance(raw_check, str):
        if raw_check in library.GENERIC_CHECKS:
            raw_check = {raw_check: True}
        elif raw_check in library.CHECKS:
            check_fn = library.CHECKS[raw_check]
        else:
            problems.append(
                f"unknown check {raw_check!r}; known: "
                + ", ".join(sorted([*library.CHECKS, *library.GENERIC_CHECKS]))
            )
    if isinstance(raw_check, dict) and "holds" in raw_check:
        if len(raw_check) != 1:
            problems.append("check: {holds: condition} takes nothing else")
        elif not bad:
            condition, check_problems = parse_condition(raw_check["holds"], entities, where="check holds")
            problems += check_problems
            check_fn = ConditionCheck(condition) if condition is not None else None
    elif isinstance(raw_check, dict) and check_fn is None:
        if len(raw_check) != 1:
            problems.append("a check mapping takes exactly one check, e.g. {matches: '^[A-Z]'}")
        elif column is None:
            problems.append("a plain column check needs 'field'")
        else:
            kind, arg = next(iter(raw_check.items()))
            try:
                check_fn = library.generic_check(str(kind), arg, str(column))
            except (ValueError, TypeError) as exc:
                problems.append(f"check {kind}: {exc}")
            except Exception as exc:  # noqa: BLE001 - a bad regular expression, say: reported, not raised
                problems.append(f"check {kind}: {type(exc).__name__}: {exc}")
    fix_fn: FixFn | None = None
    raw_fix = spec.get("fix")
    if isinstance(raw_fix, str):
        if raw_fix not in library.FIXES:
            problems.append(f"unknown fix {raw_fix!r}; known: {', '.join(sorted(library.FIXES))}")
        else:
            fix_fn = library.FIXES[raw_fix]
    elif isinstance(raw_fix, dict) and isinstance(raw_fix.get("set"), dict):
        fix_fn, fix_problems = _operand_fix(raw_fix, column, entities if not bad else [])
        problems += fix_problems
    elif isinstance(raw_fix, dict):
        fix_fn, fix_problem = _generic_fix(raw_fix, column)
        if fix_problem:
            problems.append(fix_problem)
    elif raw_fix is not None:
        problems.append("fix must be a fixer's name or a mapping such as {set: value, confidence: 0.9}")
    when = None
    if "when" in spec and not bad:
        when, when_problems = parse_condition(spec["when"], entities)
        problems += when_problems
    limit = None
    if "tolerance" in spec:
        limit, limit_problem = tolerance.parse_tolerance(spec["tolerance"])
        problems += [limit_problem] if limit_problem else []
    examples, example_problems = _examples(spec.get("examples"), "examples")
    problems += [p.removeprefix("examples: ") for p in example_problems]
    if problems or check_fn is None:
        return None, problems
    return (
        Rule(
            id=str(spec["id"]),
            entities=tuple(entities),
            severity=str(severity),
            description=str(spec["description"]).strip(),
            check=check_fn,
            field=str(column) if column is not None else None,
            fix=fix_fn,
            params=params,
            tags=tuple(spec.get("tags") or ()),
            systems=systems,
            examples=tuple(examples),
            source=where,
            when=when,
            tolerance=limit,
        ),
        [],
    )


def _operand_fix(raw: dict[str, Any], column: Any, entities: list[str]) -> tuple[FixFn | None, list[str]]:
    """``fix: {set: {field|ref|children: ...}}``: propose the value of an operand of the row (the sum of
    its line items, say), of the rule field's type."""
    if column is None:
        return None, ["a fix mapping needs the rule's 'field'"]
    unknown = sorted(set(raw) - {"set", "confidence"})
    if unknown:
        return None, [f"fix: {', '.join(unknown)} cannot go with set: {{{', '.join(OPERAND_KEYS)}}}"]
    confidence = raw.get("confidence", 0.9)
    if not isinstance(confidence, int | float) or isinstance(confidence, bool) or not 0 <= confidence <= 1:
        return None, [f"fix confidence must be a number between 0 and 1, got {confidence!r}"]
    if not entities:
        return None, []
    operand, problems = operand_value(raw["set"], entities, "fix set")
    if operand is None:
        return None, problems
    target = [columns(e).get(str(column)) for e in entities]
    if any(
        t is not None and t != operand.dtype and not (t.is_numeric() and operand.dtype.is_numeric())
        for t in target
    ):
        return None, [f"fix set: {operand} is {operand.dtype}; the field {column!r} is {target[0]}"]
    return OperandFix(operand, float(confidence)), []


def _generic_fix(raw: dict[str, Any], column: Any) -> tuple[FixFn | None, str | None]:
    if column is None:
        return None, "a fix mapping needs the rule's 'field'"
    try:
        confidence = float(raw.get("confidence", 0.9))
    except (TypeError, ValueError):
        return None, f"fix confidence must be a number between 0 and 1, got {raw.get('confidence')!r}"
    if not 0 <= confidence <= 1:
        return None, f"fix confidence must be a number between 0 and 1, got {confidence}"
    if "set" in raw:
        value = raw["set"]
        return (lambda rows, ctx, params: library.proposals(rows, pl.lit(value), confidence)), None
    if raw.get("set_null"):
        return (lambda rows, ctx, params: library.proposals(rows, pl.lit(None), confidence)), None
    if raw.get("strip") or raw.get("lowercase"):
        expr = pl.col(str(column)).cast(pl.String)
        expr = expr.str.strip_chars() if raw.get("strip") else expr
        expr = expr.str.to_lowercase() if raw.get("lowercase") else expr
        return (lambda rows, ctx, params: library.proposals(rows, expr, confidence)), None
    return None, "a fix mapping takes set, set_null, strip or lowercase (and confidence)"


def load_yaml_rules(
    path: Path, *, shipped: bool = False, enabled: Collection[str] | None = None
) -> tuple[list[Rule], list[RuleProblem]]:
    """The rules of one YAML file, and the problems of those that could not be loaded. A ``shipped``
    file's rules on entities of a shipped object map the profile does not enable (``Case`` without
    ``object_maps = ["cases"]``) are dormant: left out, not problems. ``enabled``: the entities the
    profile's maps declare (None: those declared in this process)."""
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return [], [RuleProblem(str(path), None, f"cannot read: {exc.strerror}")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        return [], [RuleProblem(f"{path}:{line}", None, f"invalid YAML: {getattr(exc, 'problem', exc)}")]
    if root is None:
        return [], []
    top = {_python(k): v for k, v in root.value} if isinstance(root, yaml.MappingNode) else {}
    items = top.get("rules")
    if not isinstance(items, yaml.SequenceNode):
        return [], [RuleProblem(f"{path}:1", None, "a rule file is a mapping with a 'rules' list")]
    rules, problems = [], []
    for node in items.value:
        where = f"{path}:{node.start_mark.line + 1}"
        spec = _python(node)
        if not isinstance(spec, dict):
            problems.append(RuleProblem(where, None, "each rule is a mapping"))
            continue
        if shipped and _dormant(spec, enabled):
            continue
        rule, rule_problems = _rule_from_spec(spec, where, enabled)
        rid = str(spec.get("id")) if spec.get("id") else None
        problems += [RuleProblem(where, rid, p) for p in rule_problems]
        if rule is not None:
            rules.append(rule)
    return rules, problems


# ------------------------------------------------------------------------------------------ Python

_collecting = threading.local()


@dataclass
class PythonRule:
    """What ``@rule`` makes of a function; ``@<name>.fixer`` adds its fixer."""

    spec: dict[str, Any]
    check_fn: Callable[..., Any]
    fix_fn: Callable[..., Any] | None = None
    source: str = ""
    params: dict[str, Any] = dc_field(default_factory=dict)

    def fixer(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Register the function proposing fixes for this rule's failing rows."""
        self.fix_fn = fn
        return fn


def rule(
    *,
    id: str,
    entity: str | list[str],
    severity: str,
    description: str,
    field: str | None = None,
    tags: Iterable[str] = (),
    systems: Iterable[str] = (),
    params: Mapping[str, Any] | None = None,
    examples: Iterable[Mapping[str, Any]] = (),
) -> Callable[[Callable[..., Any]], PythonRule]:
    """Declare a rule in Python. The function takes (frame, ctx, params) and returns a boolean Series or
    expression, True where a row passes. Use ``@my_rule.fixer`` on a function of (rows, ctx, params)."""

    def wrap(fn: Callable[..., Any]) -> PythonRule:
        code = fn.__code__
        built = PythonRule(
            spec={
                "id": id,
                "entity": entity,
                "severity": severity,
                "description": description,
                "field": field,
                "tags": list(tags),
                "systems": list(systems),
                "params": dict(params or {}),
                "examples": [dict(e) for e in examples],
            },
            check_fn=fn,
            source=f"{code.co_filename}:{code.co_firstlineno}",
        )
        sink = getattr(_collecting, "rules", None)
        if sink is not None:
            sink.append(built)
        return built

    return wrap


def load_python_rules(
    path: Path, enabled: Collection[str] | None = None
) -> tuple[list[Rule], list[RuleProblem]]:
    """The ``@rule`` functions of one Python file (``enabled``: as ``load_rules`` takes it)."""
    _collecting.rules = []
    try:
        name = f"crm_ops_user_rules_{abs(hash(str(path.resolve())))}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            return [], [RuleProblem(str(path), None, "cannot be imported as a Python module")]
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001 - a broken rule file is reported; the others still load
            tb = exc.__traceback__
            line = 1
            while tb is not None:
                if tb.tb_frame.f_code.co_filename == str(path):
                    line = tb.tb_lineno
                tb = tb.tb_next
            return [], [RuleProblem(f"{path}:{line}", None, f"{type(exc).__name__}: {exc}")]
        collected: list[PythonRule] = _collecting.rules
    finally:
        _collecting.rules = None
    rules, problems = [], []
    for built in collected:
        spec_dict = dict(built.spec)
        spec_dict["check"] = "__python__"
        checked, rule_problems = _rule_from_spec(
            {**spec_dict, "check": "not_null", "field": spec_dict["field"] or "id"}, built.source, enabled
        )
        problems += [RuleProblem(built.source, built.spec["id"], p) for p in rule_problems]
        if checked is None:
            continue
        params = dict(built.spec["params"])
        if built.spec["field"]:
            params.setdefault("field", built.spec["field"])
        rules.append(
            Rule(
                id=checked.id,
                entities=checked.entities,
                severity=checked.severity,
                description=checked.description,
                check=built.check_fn,
                field=built.spec["field"],
                fix=built.fix_fn,
                params=params,
                tags=checked.tags,
                systems=checked.systems,
                examples=checked.examples,
                source=built.source,
            )
        )
    return rules, problems


def _dormant(spec: dict[str, Any], enabled: Collection[str] | None = None) -> bool:
    """Whether a shipped rule judges only entities of shipped object maps that are not enabled, or reads
    one (a ``ref`` or ``children`` of its condition, check or fix: an Opportunity's line items without
    the ``products`` map). ``enabled``: the entities the profile's maps declare (None: those this process
    has declared, ``schema.entities.is_entity``)."""
    given = spec.get("entity")
    entities = given if isinstance(given, list) else [given]
    dormant = dormant_entities()

    def off(entity: Any) -> bool:
        return entity in dormant and not (is_entity(entity) if enabled is None else entity in enabled)

    if bool(entities) and all(off(e) for e in entities):
        return True
    return any(off(e) for e in _named_entities([spec.get("when"), spec.get("check"), spec.get("fix")]))


def _named_entities(raw: Any) -> set[str]:
    """The entities a rule's condition, check or fix names (each ``entity:`` of a ``ref`` or ``children``)."""
    if isinstance(raw, list):
        return set().union(*map(_named_entities, raw)) if raw else set()
    if not isinstance(raw, dict):
        return set()
    named = {raw["entity"]} if isinstance(raw.get("entity"), str) else set()
    return named.union(*(_named_entities(v) for v in raw.values()))


def load_rules(
    folders: Iterable[str | Path] = (), *, shipped: bool = True, enabled: Collection[str] | None = None
) -> tuple[list[Rule], list[RuleProblem]]:
    """Every rule of the shipped set (unless ``shipped=False``) and of the given folders or files.

    A rule id defined twice is a problem (the first definition is kept). ``enabled``: the entities the
    profile's maps declare, which wake the shipped rules of its object maps (None: those declared in this
    process, whichever profile declared them).
    """
    paths: list[Path] = []
    shipped_dir = shipped_rules_dir()
    sources = ([shipped_dir] if shipped else []) + [Path(f) for f in folders]
    problems: list[RuleProblem] = []
    for source in sources:
        if source.is_dir():
            paths += sorted(p for p in source.rglob("*") if p.suffix in (".yaml", ".yml", ".py"))
        elif source.is_file():
            paths.append(source)
        else:
            problems.append(RuleProblem(str(source), None, "no such rule file or folder"))
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for path in paths:
        if path.suffix == ".py":
            loaded, found = load_python_rules(path, enabled)
        else:
            loaded, found = load_yaml_rules(
                path, shipped=shipped and shipped_dir in path.parents, enabled=enabled
            )
        problems += found
        for r in loaded:
            if r.id in seen:
                problems.append(
                    RuleProblem(r.source, r.id, f"duplicate rule id (first defined at {seen[r.id]})")
                )
                continue
            seen[r.id] = r.source
            rules.append(r)
    return rules, problems


def select_rules(
    rules: Iterable[Rule],
    *,
    disabled: Iterable[str] = (),
    severity: Mapping[str, str] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Rule]:
    """Apply a profile's choices: drop disabled rules (by id or ``tag:x``), re-grade, re-parameterise.

    A name that matches no rule is not this function's business: ``crm_ops.rules.names`` checks the
    settings and refuses them (``crm_ops.check.profile_rules``)."""
    off = set(disabled)
    chosen = []
    for r in rules:
        if r.id in off or any(f"tag:{t}" in off for t in r.tags):
            continue
        chosen.append(r.with_overrides(severity=(severity or {}).get(r.id), params=(params or {}).get(r.id)))
    return chosen
