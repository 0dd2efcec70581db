"""Writing files so that a crash leaves the old file or the new one, never half of either; and privately:
state holds CRM data (snapshots, journals, plans), so folders are made 0700 and files 0600 (``protect``
tightens those made before)."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

DIR_MODE, FILE_MODE = 0o700, 0o600


def replace_durably(tmp: Path, path: Path) -> None:
    """Flush ``tmp`` to disk, make it 0600, rename it over ``path``, and flush the folder entry."""
    with open(tmp, "rb") as handle:  # noqa: PTH123
        os.fchmod(handle.fileno(), FILE_MODE)
        os.fsync(handle.fileno())
    tmp.replace(path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def private_dir(path: Path) -> Path:
    """``path`` and any missing parent, each made 0700 (``mkdir(parents=True)`` gives parents 0777 less
    the umask)."""
    missing = []
    level = path
    while not level.exists():
        missing.append(level)
        if level.parent == level:
            break
        level = level.parent
    for folder in reversed(missing):
        folder.mkdir(mode=DIR_MODE, exist_ok=True)
        folder.chmod(DIR_MODE)  # mkdir's mode is masked by the umask
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty and 0600 if it does not exist (before a library opens it with its default)."""
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE))
    return path


def protect(root: Path) -> list[Path]:
    """Tighten every folder under ``root`` (itself included) to 0700 and every file to 0600; the paths
    that were open to others (group or world), for a warning."""
    loose: list[Path] = []
    if not root.exists():
        return loose
    for folder, folders, files in os.walk(root):
        here = Path(folder)
        for path, mode in [(here, DIR_MODE), *((here / f, FILE_MODE) for f in files)]:
            try:
                current = path.lstat().st_mode
            except FileNotFoundError:
                continue  # gone meanwhile (a temporary file)
            if current & 0o077 and not path.is_symlink():
                path.chmod(mode)
                loose.append(path)
        folders.sort()
    return loose


def temporary_beside(path: Path) -> Path:
    """The temporary name a file is written under before ``replace_durably`` (folder created, 0700)."""
    private_dir(path.parent)
    return path.with_name(path.name + ".tmp")


def write_text(path: Path, text: str) -> None:
    """Write a text file (UTF-8, line endings as given) atomically, durably, 0600."""
    tmp = temporary_beside(path)
    private_file(tmp).write_text(text, encoding="utf-8", newline="")
    replace_durably(tmp, path)


def write_parquet(frame: pl.DataFrame, path: Path) -> None:
    """Write a Parquet file (zstd, with statistics) atomically, durably, 0600."""
    tmp = temporary_beside(path)
    frame.write_parquet(tmp, compression="zstd", statistics=True)
    replace_durably(tmp, path)
