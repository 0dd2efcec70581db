"""The Python API's reference, generated from the docstrings by pdoc: ``python -m crm_ops.docs --api
[FOLDER]`` (``make docs``) writes HTML pages (default docs/api/, index.html first) for the public
modules, and ``undocumented()`` lists every public function, class, method or property of them that has
no docstring (a test fails on any).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pdoc
import pdoc.doc
import pdoc.render

# What a script imports: the API first, then what its results and errors are made of.
PUBLIC_MODULES = (
    "crm_ops.api",
    "crm_ops.api.results",
    "crm_ops.config",
    "crm_ops.errors",
    "crm_ops.exitcodes",
    "crm_ops.check",
    "crm_ops.pull",
    "crm_ops.rules",
    "crm_ops.match",
    "crm_ops.match.config",
    "crm_ops.plan",
    "crm_ops.schema.entities",
)


def _members(doc: pdoc.doc.Namespace[Any]) -> list[pdoc.doc.Doc[Any]]:
    found: list[pdoc.doc.Doc[Any]] = []
    for member in doc.members.values():
        if member.name.startswith("_") or isinstance(member, pdoc.doc.Variable):
            continue  # fields and constants are described by their class's or module's docstring
        found.append(member)
        if isinstance(member, pdoc.doc.Class):
            found += _members(member)
    return found


def undocumented(modules: tuple[str, ...] = PUBLIC_MODULES) -> list[str]:
    """Every public function, class, method and property of ``modules`` without a docstring, as
    ``module.qualname``."""
    missing = []
    for name in modules:
        module = pdoc.doc.Module(importlib.import_module(name))
        if not module.docstring.strip():
            missing.append(name)
        missing += [f"{m.modulename}.{m.qualname}" for m in _members(module) if not m.docstring.strip()]
    return sorted(set(missing))


def write_api_docs(folder: Path, modules: tuple[str, ...] = PUBLIC_MODULES) -> list[Path]:
    """Write the HTML reference of ``modules`` into ``folder`` (one page per module, an index and a
    search index); returns the module pages written."""
    pdoc.render.configure(docformat="restructuredtext", show_source=False, search=True)
    pdoc.pdoc(*modules, output_directory=folder)
    return [folder / (name.replace(".", "/") + ".html") for name in modules]
