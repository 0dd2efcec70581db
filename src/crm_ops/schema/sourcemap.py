"""A source's field map: which column of a file or table fills which canonical column.

The same vocabulary as the CRM maps (``crm_ops.schema.fieldmap``): a column takes a column name,
``{field: X, transform: date}``, ``{any_of: [A, B]}`` or ``{constant: v}``, in two layers. A YAML file::

    entity: Subscription
    required:                   # the pull fails, naming the file and the column, when one is missing
      id: subscription_id
      customer_id: customer
      status: status
    optional:                   # missing: an empty column and one warning
      updated_at: updated       # with it, pulls after the first are incremental
      account_domain: {any_of: [domain, website]}

and/or the profile's ``[sources.<name>.columns]`` table, whose columns are required unless
``{field = "x", optional = true}`` (a typo in a user's map must not pass quietly), laid over the file's.
``id`` must be mapped; ``is_deleted`` is false unless mapped (a source that keeps deleted rows with a
flag maps it); ``updated_at`` is what makes a source incremental.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from crm_ops.errors import ConfigError
from crm_ops.schema.entities import ENTITIES
from crm_ops.schema.fieldmap import LAYERS, EntityMap, Source
from crm_ops.schema.maploading import (
    OFF,
    check_column,
    check_constant,
    compose_file,
    node_value,
    parse_source,
    read_layer,
)


def _from_file(path: Path, entity: str, problems: list[str]) -> dict[str, Source]:
    root = compose_file(path)

    def at(node: yaml.Node) -> str:
        return f"{path}:{node.start_mark.line + 1}"

    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{path}:1: a source's field map is a mapping with entity, required, optional")
    parts = {node_value(k): (k, v) for k, v in root.value}
    for key in sorted(set(parts) - {"entity", *LAYERS}, key=str):
        problems.append(f"{at(parts[key][0])}: unknown key {key!r}; a map has entity, required, optional")
    declared = node_value(parts["entity"][1]) if "entity" in parts else None
    if declared is not None and declared != entity:
        problems.append(f"{at(parts['entity'][0])}: the map is for {declared!r}, the source gives {entity!r}")
    columns: dict[str, Source] = {}
    for layer in LAYERS:
        if layer not in parts:
            continue
        key, node = parts[layer]
        if isinstance(node, yaml.MappingNode):
            read_layer(entity, node, layer, at, problems, columns)
        else:
            problems.append(f"{at(key)}: {layer} must map canonical columns to source columns")
    return columns


def load_source_map(
    system: str,
    entity: str,
    *,
    path: str | Path | None = None,
    columns: Mapping[str, Any] | None = None,
    location: str = "",
    where: str = "config",
) -> EntityMap:
    """The map of source ``system`` (its name) to ``entity``: the YAML file at ``path`` with the
    ``columns`` table over it. Every problem is reported at once, each with its file and line or key."""
    if entity not in ENTITIES:
        raise ConfigError(f"{where}: unknown entity {entity!r}")
    problems: list[str] = []
    mapped = _from_file(Path(path), entity, problems) if path else {}
    for column, spec in (columns or {}).items():
        at = f"{where}.columns.{column}"
        bad = check_column(entity, column, at)
        if bad:
            problems.append(bad)
            continue
        node = yaml.compose(yaml.safe_dump(spec))
        src = parse_source(node, at, optional=False) if node is not None else f"{at}: empty"
        if src == OFF:
            mapped.pop(column, None)
            continue
        if isinstance(src, str):
            problems.append(src)
            continue
        assert isinstance(src, Source)
        mapped[column] = src
    if "id" not in mapped:
        problems.append(f"{path or where}: the map must give id (the source's record id)")
    if "is_deleted" not in mapped:
        mapped["is_deleted"] = Source(constant=False, is_constant=True, origin=f"{where} (default)")
    for column, src in mapped.items():
        bad = check_constant(entity, column, src) if src.is_constant else None
        if bad:
            problems.append(bad)
    if problems:
        raise ConfigError(problems)
    origin = str(path) if path else where
    return EntityMap(system, entity, location, mapped, origin)
