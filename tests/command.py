"""``crm-ops`` run inside the test process: the console script's own ``main()``, as a child would run it.

A child ``crm-ops`` pays about a second of imports (polars, pandera, pandas, the clients) before it does
anything, and the suite runs it about a hundred times. Tests whose subject is the command's arguments,
output and exit code run it here instead: ``crm_ops.cli.main`` with ``sys.argv``, the environment, the
working folder and stdin set as a child would have them, stdout and stderr captured, the exit code taken
from ``SystemExit``; everything is put back afterwards (logging's set-up too, which the command changes).

A test that needs a real process keeps ``subprocess``: a kill at a point, a lock held by another process,
signals, an import hook (``sitecustomize``), the cron wrapper, or two runs at once.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import structlog


def crm_ops(
    *args: str | Path,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    stdin: str = "",
) -> subprocess.CompletedProcess[str]:
    """Run ``crm-ops ARGS`` in this process: ``env`` replaces the environment for the run (default: this
    process's), ``cwd`` is the working folder, ``stdin`` what the command reads (an empty stdin by
    default, as a child started without one sees)."""
    from crm_ops import logs
    from crm_ops.cli import main

    argv = ["crm-ops", *map(str, args)]
    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_argv, saved_cwd, saved_stdin = dict(os.environ), sys.argv, Path.cwd(), sys.stdin
    saved_logging = structlog.get_config()
    code: int
    try:
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        if cwd is not None:
            os.chdir(cwd)
        sys.argv, sys.stdin = argv, io.StringIO(stdin)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
                code = 0
            except SystemExit as done:
                code = _exit_code(done.code, err)
    finally:
        logs.close_run_log()  # a child's run log is closed when it exits
        logs.set_overrides()
        structlog.configure(**saved_logging)
        structlog.contextvars.clear_contextvars()
        sys.argv, sys.stdin = saved_argv, saved_stdin
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def _exit_code(code: object, err: io.StringIO) -> int:
    """What the interpreter exits with for ``sys.exit(code)``: None is 0, a message is printed and 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    err.write(f"{code}\n")
    return 1
