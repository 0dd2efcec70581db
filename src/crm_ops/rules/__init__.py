"""Data-quality rules: the engine, the shipped library (top-level rules/ folder) and custom rules.

Write a rule in YAML (see rules/*.yaml) or in Python::

    from crm_ops.rules import rule

    @rule(id="acme.contact.title_vp", entity="Contact", field="title", severity="info",
          description="Titles spell out Vice President")
    def title_vp(frame, ctx, params):
        return ~frame["title"].str.contains(r"(?i)\\bvp\\b").fill_null(False)
"""

from crm_ops.rules.chunks import row_level
from crm_ops.rules.engine import CheckResult, RuleError, run_rules, summary
from crm_ops.rules.loader import RuleProblem, load_rules, rule
from crm_ops.rules.model import FINDINGS_SCHEMA, Example, Rule, RuleContext

__all__ = [
    "FINDINGS_SCHEMA",
    "CheckResult",
    "Example",
    "Rule",
    "RuleContext",
    "RuleError",
    "RuleProblem",
    "load_rules",
    "row_level",
    "rule",
    "run_rules",
    "summary",
]
