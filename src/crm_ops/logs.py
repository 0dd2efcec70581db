"""structlog configured once, at the entry point: readable on a terminal, JSON lines otherwise."""

from __future__ import annotations

import json as json_module
import logging
import sys
from collections.abc import MutableMapping
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
        self.file.write(json_module.dumps(event, default=str) + "\n")
        self.file.flush()
        return event


_open_tees: list[_Tee] = []  # the run log being written, closed when logging is configured again


def configure(
    *, level: str = "info", json: bool | None = None, file: Path | None = None, **bound: Any
) -> None:
    """Set up logging for a command: ``json`` defaults to True when stderr is not a terminal.

    Extra keyword arguments (a run id, say) are bound to every line; ``file`` also receives every line
    as JSON (a run's own log).
    """
    as_json = not sys.stderr.isatty() if json is None else json
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
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.clear_contextvars()
    if bound:
        structlog.contextvars.bind_contextvars(**bound)
