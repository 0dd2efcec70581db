"""Writing files so that a crash leaves the old file or the new one, never half of either; and privately:
state holds CRM data (snapshots, journals, plans), so folders are made 0700 and files 0600 (``protect``
tightens those made before). A write that fails (a full disk) removes its temporary file and raises an
``OSError`` naming the file it was writing: polars says ``ComputeError: ... (os error 28)``, made here
the ``OSError(ENOSPC)`` the command line turns into exit 8."""

from __future__ import annotations

import errno
import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from polars._typing import ParquetCompression

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


@contextmanager
def _os_errors(path: Path, tmp: Path) -> Iterator[None]:
    """A failed write of ``path``: its temporary file removed (it takes the space a full disk lacks), and
    a polars error that carries the system's (``(os error N)``) raised as that ``OSError``, on ``path``."""
    try:
        yield
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        code = (
            re.search(r"\(os error (\d+)\)", str(exc)) if isinstance(exc, pl.exceptions.PolarsError) else None
        )
        if isinstance(exc, OSError) and exc.errno is not None:
            raise OSError(exc.errno, os.strerror(exc.errno), str(path)) from exc
        if code is not None:
            number = int(code.group(1))
            raise OSError(number, os.strerror(number), str(path)) from exc
        raise


def write_with(path: Path, write: Callable[[Path], object]) -> None:
    """``write(tmp)`` then ``replace_durably(tmp, path)``: the one way our files are written."""
    tmp = temporary_beside(path)
    with _os_errors(path, tmp):
        write(tmp)
        replace_durably(tmp, path)


def write_text(path: Path, text: str) -> None:
    """Write a text file (UTF-8, line endings as given) atomically, durably, 0600."""
    write_with(path, lambda tmp: private_file(tmp).write_text(text, encoding="utf-8", newline=""))


def write_parquet(
    frame: pl.DataFrame | pl.LazyFrame, path: Path, *, compression: ParquetCompression = "zstd"
) -> None:
    """Write a Parquet file (zstd unless told, with statistics) atomically, durably, 0600; a lazy frame is
    streamed. A file read once and removed (a pull's part) takes ``lz4``: a third less CPU to write."""
    if isinstance(frame, pl.LazyFrame):
        write_with(path, lambda tmp: frame.sink_parquet(tmp, compression=compression, statistics=True))
    else:
        write_with(path, lambda tmp: frame.write_parquet(tmp, compression=compression, statistics=True))


class _NamedConnection(sqlite3.Connection):
    """A SQLite connection whose "database or disk is full" is an ``OSError(ENOSPC)`` naming its file."""

    path = ""

    def execute(self, *args: Any) -> sqlite3.Cursor:
        with self._full():
            return super().execute(*args)

    def executemany(self, *args: Any) -> sqlite3.Cursor:
        with self._full():
            return super().executemany(*args)

    def executescript(self, script: str) -> sqlite3.Cursor:
        with self._full():
            return super().executescript(script)

    @contextmanager
    def _full(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self.path) from exc
            raise


def connect_sqlite(path: Path, **options: Any) -> sqlite3.Connection:
    """``sqlite3.connect(path)``; a full disk is an ``OSError`` naming ``path`` (exit 8), as for files."""
    db = sqlite3.connect(path, factory=_NamedConnection, **options)
    db.path = str(path)
    return db
