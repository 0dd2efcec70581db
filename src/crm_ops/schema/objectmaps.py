"""Shipped object maps: entities of standard objects crm_ops maps but does not pull unless asked.

A shipped object map is a folder under ``crm_ops/schema/maps/objects/`` holding one declared-objects
map file per CRM (``salesforce.yaml``, ``hubspot.yaml``), the same shape as a profile's own object map
files. A profile enables one by its name in ``object_maps`` (``object_maps = ["cases"]``); a value with
a ``/`` or a ``.yaml`` / ``.yml`` ending is a path to a map file of the user's own. The entities a
shipped map declares exist only in the profiles that enable it: without it, crm_ops pulls and checks
exactly as before, and the shipped rules on those entities stay dormant (``dormant_entities``).
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import yaml

from crm_ops.errors import ConfigError


def _root() -> Path:
    return Path(str(resources.files("crm_ops.schema").joinpath("maps", "objects")))


@functools.cache
def shipped_object_maps() -> dict[str, tuple[Path, ...]]:
    """Each shipped object map's name with its map files (one per CRM), by name."""
    root = _root()
    if not root.is_dir():
        return {}
    return {
        folder.name: tuple(sorted(folder.glob("*.yaml")))
        for folder in sorted(root.iterdir())
        if folder.is_dir() and any(folder.glob("*.yaml"))
    }


def is_shipped_name(value: str) -> bool:
    """Whether an ``object_maps`` value names a shipped map rather than a file: no folder, no suffix."""
    return "/" not in value and "\\" not in value and not value.endswith((".yaml", ".yml"))


def shipped_object_map(name: str, where: str = "object_maps") -> tuple[Path, ...]:
    """The map files of the shipped object map ``name``, or a ``ConfigError`` naming the shipped ones."""
    shipped = shipped_object_maps()
    if name not in shipped:
        near = difflib.get_close_matches(name, list(shipped), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise ConfigError(
            f"{where}: no shipped object map {name!r}{hint}; shipped: {', '.join(shipped) or 'none'} "
            f"(or give the path of a YAML map file, such as objects/salesforce.yaml)"
        )
    return shipped[name]


@functools.cache
def dormant_entities() -> dict[str, str]:
    """The entities the shipped object maps declare, each with its map's name (``Case``: ``cases``)."""
    out: dict[str, str] = {}
    for name, files in shipped_object_maps().items():
        for file in files:
            loaded = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
            for entity in loaded.get("entities") or {}:
                out.setdefault(str(entity), name)
    return out


def map_file_entities(files: Iterable[Path]) -> frozenset[str]:
    """The entities the object map ``files`` declare (their ``entities:`` keys; a file that cannot be read
    declares none here: loading the profile's maps names its problem)."""
    out: set[str] = set()
    for file in files:
        try:
            loaded = yaml.safe_load(Path(file).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            continue
        entities = loaded.get("entities") if isinstance(loaded, dict) else None
        out |= {str(e) for e in entities or {}} if isinstance(entities, dict) else set()
    return frozenset(out)
