"""docs/reference/entities.md: the canonical entities and their columns, from ``crm_ops.schema.entities``
(the same schema both CRMs' pulls and the sources' fill)."""

from __future__ import annotations

from crm_ops.schema.entities import (
    COMMON,
    CRM_ENTITIES,
    CUSTOM_PREFIX,
    ENTITIES,
    REQUIRED,
    SOURCE_ENTITIES,
    personal_columns,
)


def entities_page() -> str:
    """The page: one table per entity (column, type, whether every entity has it)."""
    lines = [
        "# Canonical entities",
        "",
        "Every pull, from either CRM or a source, gives these columns in this order (a column a system",
        "cannot fill is null, so frames of both CRMs stack). Custom fields ride along as",
        f"`{CUSTOM_PREFIX}<field>` columns. In Python: `crm_ops.api.entities()`.",
        "",
        f"CRM entities: {', '.join(CRM_ENTITIES)}. Sources' entities: {', '.join(SOURCE_ENTITIES)}.",
        f"Required of every map: {', '.join(f'`{c}`' for c in REQUIRED)}.",
        "",
        "A column marked personal holds personal data: its values are never kept in a pull's statistics,",
        "and an erasure (`crm-ops erase`) removes them from every copy. A map marks more (a custom or",
        "declared column holding personal data): `{field: X, personal: true}`.",
        "",
    ]
    for name, columns in ENTITIES.items():
        personal = personal_columns(name)
        lines += [f"## {name}", "", "| column | type | on every entity | personal |", "|---|---|---|---|"]
        lines += [
            f"| `{col}` | {dtype} | {'yes' if col in COMMON else ''} | {'yes' if col in personal else ''} |"
            for col, dtype in columns.items()
        ]
        lines.append("")
    return "\n".join(lines)
