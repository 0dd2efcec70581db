"""Writing files so that a crash leaves the old file or the new one, never half of either."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl


def replace_durably(tmp: Path, path: Path) -> None:
    """Flush ``tmp`` to disk, rename it over ``path``, and flush the folder entry."""
    with open(tmp, "rb") as handle:  # noqa: PTH123
        os.fsync(handle.fileno())
    tmp.replace(path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def temporary_beside(path: Path) -> Path:
    """The temporary name a file is written under before ``replace_durably`` (folder created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(path.name + ".tmp")


def write_text(path: Path, text: str) -> None:
    """Write a text file (UTF-8, line endings as given) atomically and durably."""
    tmp = temporary_beside(path)
    tmp.write_text(text, encoding="utf-8", newline="")
    replace_durably(tmp, path)


def write_parquet(frame: pl.DataFrame, path: Path) -> None:
    """Write a Parquet file (zstd, with statistics) atomically and durably."""
    tmp = temporary_beside(path)
    frame.write_parquet(tmp, compression="zstd", statistics=True)
    replace_durably(tmp, path)
