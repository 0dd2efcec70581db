"""``python -m crm_ops.docs [FOLDER]``: write the reference pages (default docs/reference);
``python -m crm_ops.docs --api [FOLDER]``: the Python API's HTML reference (default docs/api)."""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    """Write the pages and print each path written."""
    if argv[:1] == ["--api"]:
        from crm_ops.docs.api import write_api_docs  # noqa: PLC0415 - pdoc only for this page set

        paths = write_api_docs(Path(argv[1]) if len(argv) > 1 else Path("docs/api"))
    else:
        from crm_ops.docs import write_all  # noqa: PLC0415

        paths = write_all(Path(argv[0]) if argv else Path("docs/reference"))
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
