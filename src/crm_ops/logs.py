"""structlog configured once, at the entry point: readable on a terminal, JSON lines otherwise.

Three layers decide what is printed:

- the library default (``library_default``, applied when ``crm_ops`` is imported and structlog has not
  been configured by the program): warnings and errors only, to stderr, never to stdout. A script using
  the Python API sees nothing on stdout; ``configure()`` (or its own structlog set-up) changes that;
- a command's own choice: ``configure(level=...)`` (``check`` logs at info, ``doctor`` at warning);
- the flags of ``crm-ops`` itself (``--quiet``, ``--verbose``, ``--log-format``), set once by the app's
  callback through ``set_overrides``: they win over the command's choice.

Lines are written to whatever ``sys.stderr`` is when they are written, so a rich progress display
(which redirects stderr while it draws) prints them above its bars instead of gluing them onto a bar.
"""

from __future__ import annotations

import json as json_module
import logging
import sys
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

_SECRET_KEYS = ("token", "secret", "password", "authorization", "session", "api_key")


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Blank any value whose key names a secret, so a careless ``log.info(token=...)`` leaks nothing."""
    for key in list(event):
        if any(s in key.lower() for s in _SECRET_KEYS):
            event[key] = "***"
    return event


class _Tee:
    """Each log line to stderr (as configured) and, as JSON, to a run's log file."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("a", encoding="utf-8")

    def __call__(self, _: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        if not self.file.closed:
            self.file.write(json_module.dumps(event, default=str) + "\n")
            self.file.flush()
        return event


def close_run_log() -> None:
    """Stop writing the run's log file and close it (the run is over); the console is unchanged."""
    while _open_tees:
        _open_tees.pop().file.close()


_open_tees: list[_Tee] = []  # the run log being written, closed when logging is configured again
_LEVELS = logging.getLevelNamesMapping()


@dataclass
class Overrides:
    """What the command line asked for: a level (``--quiet`` error, ``--verbose`` debug), a format."""

    level: str | None = None
    json: bool | None = None
    quiet: bool = False


_overrides = Overrides()


def set_overrides(*, level: str | None = None, json: bool | None = None, quiet: bool = False) -> None:
    """The command line's choices, which win over every later ``configure()`` call's arguments."""
    _overrides.level, _overrides.json, _overrides.quiet = level, json, quiet
    configure()  # in force at once, for whatever runs before the command configures


def quiet() -> bool:
    """Whether ``--quiet`` was given: no progress display, no output but errors."""
    return _overrides.quiet


class _Stderr:
    """``sys.stderr`` as it is at each write (a progress display swaps it for a proxy while it draws)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class _BelowLevel:
    """Drops the lines under the console's level (the run log, written before, still gets them)."""

    def __init__(self, level: int) -> None:
        self.level = level

    def __call__(self, _: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        if _LEVELS.get(method.upper(), logging.INFO) < self.level:
            raise structlog.DropEvent
        return event


def library_default() -> None:
    """Warnings and errors to stderr, nothing to stdout: what a program using the Python API gets until
    it calls ``configure()`` or configures structlog itself (left alone when it already has)."""
    if structlog.is_configured():
        return
    structlog.configure(  # filtered by a processor, so structlog.testing.capture_logs still sees all
        processors=[
            _BelowLevel(logging.WARNING),
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(_Stderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )


def configure(
    *, level: str = "info", json: bool | None = None, file: Path | None = None, **bound: Any
) -> None:
    """Set up logging for a command: ``json`` defaults to True when stderr is not a terminal.

    Extra keyword arguments (a run id, say) are bound to every line; ``file`` also receives every line
    as JSON (a run's own log), at info or above even when the console shows less (``--quiet``). The
    command line's flags (``set_overrides``) win over ``level`` and ``json``.
    """
    level = _overrides.level or level
    json = _overrides.json if _overrides.json is not None else json
    as_json = not sys.stderr.isatty() if json is None else json
    console_level = _LEVELS[level.upper()]
    floor = min(console_level, logging.INFO) if file is not None else console_level
    renderer: Any = structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    while _open_tees:
        _open_tees.pop().file.close()
    if file is not None:
        _open_tees.append(_Tee(file))
    tee: list[Any] = list(_open_tees)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            *tee,
            _BelowLevel(console_level),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(floor),
        logger_factory=structlog.PrintLoggerFactory(_Stderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.clear_contextvars()
    if bound:
        structlog.contextvars.bind_contextvars(**bound)
