"""``python -m crm_ops.docs [FOLDER]``: write the reference pages (default docs/reference)."""

from __future__ import annotations

import sys
from pathlib import Path

from crm_ops.docs import write_all


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else Path("docs/reference")
    for path in write_all(folder):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
