"""docs/reference/config.md: every config key, its type and default, from the settings dataclasses (the
comment on each field's line is its description) and the known-keys tables of config and match.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from typing import Any

from crm_ops import config
from crm_ops.config_monitors import MONITORS
from crm_ops.config_owners import Owner, OwnerSettings
from crm_ops.config_retention import RetentionSettings
from crm_ops.config_sources import SourceSettings
from crm_ops.match.config import DEFAULTS as MATCH_RULES
from crm_ops.match.config import OPT_IN

_COMMENTED = re.compile(r"^\s+(\w+):[^#]*#\s*(.+)$")
_TYPES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "Path": "path"}


def _comments(cls: type) -> dict[str, str]:
    """Each field's trailing comment, from the class and its bases."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if dataclasses.is_dataclass(klass):
            for line in inspect.getsource(klass).splitlines():
                m = _COMMENTED.match(line)
                if m:
                    out[m.group(1)] = m.group(2).strip().replace("|", "\\|")  # a table cell
    return out


def _type(annotation: str) -> str:
    base = annotation.replace(" | None", "")
    if base.startswith(("tuple[", "list[")):
        inner = base.split("[", 1)[1].split(",")[0].rstrip("]")
        return f"list of {_TYPES.get(inner, inner)}s"
    if base.startswith("dict["):
        return "table"
    return _TYPES.get(base, base)


def _default(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, tuple | list):
        return "`[" + ", ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in value) + "]`"
    if isinstance(value, dict):
        return "`{}`" if not value else f"`{value}`"
    return f"`{value}`"


def _dataclass_rows(cls: type, skip: tuple[str, ...] = ("secret_env", "where")) -> list[str]:
    helps = _comments(cls)
    instance = cls()
    rows = ["| key | type | default | what |", "|---|---|---|---|"]
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        value = getattr(instance, f.name)
        rows.append(f"| `{f.name}` | {_type(str(f.type))} | {_default(value)} | {helps.get(f.name, '')} |")
    return rows


def _secrets(names: dict[str, str]) -> list[str]:
    return [
        "Secrets never go in the file: each comes from an environment variable, renamed with",
        '`<secret>_env = "VAR"`:',
        "",
        "| secret | variable (default) |",
        "|---|---|",
        *(f"| {name.replace('_', ' ')} | `{var}` |" for name, var in names.items()),
    ]


def config_page() -> str:
    """The page's Markdown."""
    sample = next(iter(MATCH_RULES.values()))
    lines = [
        "# Configuration",
        "",
        "`crm-ops.toml` (or `$CRM_OPS_CONFIG`, or `--config`) holds one table per profile,",
        "`[profiles.<name>]` (chosen by `--profile`, `$CRM_OPS_PROFILE`, default `sandbox`). String values",
        "may use `${VAR}`. An unknown key is an error that lists the known ones.",
        "",
        "## `[profiles.<name>]`",
        "",
        "| key | what |",
        "|---|---|",
        *(f"| `{k}` | {v} |" for k, v in config.PROFILE_KEYS.items()),
        "",
        "## `[profiles.<name>.salesforce]`",
        "",
        *_dataclass_rows(config.SalesforceSettings),
        "",
        *_secrets(config.SF_SECRETS),
        "",
        "## `[profiles.<name>.hubspot]`",
        "",
        *_dataclass_rows(config.HubSpotSettings),
        "",
        *_secrets(config.HS_SECRETS),
        "",
        "## `[profiles.<name>.maps.<system>.<Entity>]`",
        "",
        'Field map overrides, one key a canonical column: `column = "Field"` (required unless',
        '`{field = "F", optional = true}`), `column = false` or `{off = true}` to switch an optional column',
        'off, and `custom_<name> = "Field__c"` to carry a custom field (typed as the CRM types it).',
        "",
        "## `[profiles.<name>.sources.<source>]`",
        "",
        "A source beyond the CRMs (billing, the product, an export of another CRM): one canonical entity",
        "(`Subscription`, `ProductUser` or a CRM entity) from files (`path`) or a SQL database (`database`,",
        "`url`, `url_env`), through a field map (`map` and/or `columns`). Its name (lower case) is its",
        "system everywhere: `crm-ops pull -s <source>`, snapshots, findings, the report. The map file has",
        "`entity`, `required` and `optional` like the CRM maps; `columns` entries are required unless",
        '`{field = "x", optional = true}`. Pulls are incremental when the map gives `updated_at`. A billing',
        "customer's id kept by the CRM goes in the account column `custom_<source>_id` (map it in",
        '`[maps.<system>.Account]`, e.g. `custom_billing_id = "Stripe_Customer_Id__c"`). SQL sources need',
        "the `sql` extra (`pip install 'crm-ops[sql]'`).",
        "",
        *_dataclass_rows(SourceSettings, ("name", "where")),
        "",
        "## `[profiles.<name>.rules]`",
        "",
        *_dataclass_rows(config.RuleSettings, ()),
        "",
        "## `[profiles.<name>.review]`",
        "",
        *_dataclass_rows(config.ReviewSettings, ()),
        "",
        "## `[profiles.<name>.run]`",
        "",
        *_dataclass_rows(config.RunSettings, ()),
        "",
        "## `[profiles.<name>.notify]`",
        "",
        "A run that ends with any exit code but 0 posts a Slack-compatible message to this webhook. The URL",
        "is a secret: it comes from the variable `webhook_env` names, never from the file, and is never",
        "logged.",
        "",
        *_dataclass_rows(config.NotifySettings, ()),
        "",
        "## `[profiles.<name>.owners]`",
        "",
        "Who owns which findings: the webhook, `crm-ops digest`, the report and `crm-ops findings export`",
        "count and list them per owner. The most specific setting wins: a rule id, then a `tag:x` of the",
        "rule, then `system.Entity`, `Entity`, the system, `default`. A rule or tag that names nothing is an",
        "error naming the nearest one; once `people` is given, every owner named must be in it.",
        "",
        *_dataclass_rows(OwnerSettings, ()),
        "",
        "Each `[profiles.<name>.owners.people.<owner>]` (never a secret: a URL is refused):",
        "",
        "| key | type | default | what |",
        "|---|---|---|---|",
        *(f"| `{k}` | string | unset | {v} |" for k, v in _comments(Owner).items() if k != "name"),
        "",
        "## `[profiles.<name>.monitors]`",
        "",
        "The data monitors compare each pull's statistics (volume, freshness, per column null rate,",
        "distinct count, shares of a categorical column's values) with the entity's last `runs` complete",
        "pulls (median and MAD), once `min_runs` exist. An error-level finding trips the circuit breaker:",
        "the run applies nothing unattended and merges nothing, and exits 9",
        "(`crm-ops run --override-breaker` lets it apply once). Monitor ids: "
        + ", ".join(f"`{m}` ({s})" for m, s in MONITORS.items())
        + ".",
        "",
        *_dataclass_rows(config.MonitorSettings, ()),
        "",
        "## `[profiles.<name>.retention]`",
        "",
        "How many days the nightly run keeps its own copies of CRM data before it deletes them (a whole",
        'number of days, or `"forever"`): run folders (the newest two are always kept), findings and',
        "match folders (the newest of each kept), plans with their journal entries (a plan with a pending",
        "entry is kept until it is settled; a pruned plan can no longer be undone), and earlier snapshot",
        "generations (never the current one). The run's summary says what it deleted (`retention`); what",
        "it could not delete is a notice and exits 7 (`crm_ops.retention`).",
        "",
        *_dataclass_rows(RetentionSettings, ()),
        "",
        "## `[profiles.<name>.spark]`",
        "",
        'Read with `engine = "spark"` (or `--engine spark` on check, match and run): the same findings,',
        "pairs, links and proposals as polars, computed by Spark (`pip install 'crm-ops[spark]'`).",
        "",
        *_dataclass_rows(config.SparkSettings, ()),
        "",
        "## `[profiles.<name>.match]`",
        "",
        "| key | default | what |",
        "|---|---|---|",
        '| `survivor` | `"most_complete"` | who survives a merge: most_complete, oldest or most_recent |',
        '| `source_of_truth` | `{}` | field = salesforce, hubspot or latest (`"*"` for the rest): '
        "drift sync |",
        "| `learn_from_decisions` | `false` | Fellegi-Sunter rule sets learn each field's m from the pairs "
        "people confirmed in review files too (`crm_ops.match.calibration`) |",
        "",
        "and one table per match rule, `[profiles.<name>.match.<rule>]`, overriding `model`, `threshold`,",
        "`max_block`, `min_fields`, `lifetime` (two date fields, opened and closed: records whose",
        "lifetimes do not overlap are never proposed), `fields` (a list of `{field, comparator,",
        "normaliser, weight, bands, tf, swap, veto, required...}`) and `blocking`. `model` is `weighted`",
        "(the score is the weighted mean of the fields' similarities) or `fellegi-sunter` (each field's",
        "comparison levels weigh what they tell, learned from the org's records; the score and the",
        "threshold are match probabilities). The match rules",
        f"and their defaults (`max_block` {sample.max_block}):",
        "",
        "| match rule | model | threshold | min_fields | fields |",
        "|---|---|---|---|---|",
        *(
            f"| `{name}` | {cfg.model} | {cfg.threshold} | {cfg.min_fields} | "
            f"{', '.join(f.field for f in cfg.fields)} |"
            for name, cfg in (*MATCH_RULES.items(), *OPT_IN.items())
        ),
        "",
        "`Case` and `Opportunity` are deduplicated only when the profile names them:",
        "`[profiles.<name>.match.Case]` or `[profiles.<name>.match.Opportunity]`, empty to take the",
        "default above. Any other entity declared by the profile's maps (a custom object) is",
        "deduplicated in each CRM when it has a table of its own, `[profiles.<name>.match.<Entity>]`, which",
        "must give `fields` and `blocking` (there is no default to override). Duplicates are merges only",
        "where crm_ops merges the object (`crm_ops.schema.relations.MERGE_APIS`: Salesforce Account,",
        "Contact, Lead, Case; HubSpot contacts, companies, deals, tickets), else flags.",
    ]
    return "\n".join(lines) + "\n"
