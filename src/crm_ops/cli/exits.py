"""Every command's exit codes, in one table: the commands' ``--help`` and docs/reference/exit-codes.md
are both made from it (``crm_ops.docs``), so neither can drift from the other.

The codes mean the same thing in every command; ``COMMANDS`` says which of them each command can end
with. A usage error (an unknown option, a bad value) is Click's 2, the same as a configuration error.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1  # the command found what it looks for: findings at the threshold, failed examples...
EXIT_CONFIG = 2
EXIT_API = 3
EXIT_BUDGET = 4
EXIT_LOCKED = 5
EXIT_PARTIAL = 6  # some (system, entity) pulls failed, the others are done

MEANING = {
    EXIT_OK: "done",
    EXIT_FINDINGS: "done, and it found what it reports (see the command)",
    EXIT_CONFIG: "configuration or usage error: nothing was done; the message names the problem",
    EXIT_API: "CRM error: what was done is kept (journaled or resumable); run again to resume",
    EXIT_BUDGET: "stopped before spending more of the daily API allowance than configured; resumes next run",
    EXIT_LOCKED: "another run holds the lock",
    EXIT_PARTIAL: "partial: some entities could not be pulled (each named); the rest were done",
}

# command (as typed after crm-ops) -> (code, what it means for that command)
COMMANDS: dict[str, tuple[tuple[int, str], ...]] = {
    "init": ((EXIT_OK, "config written"), (EXIT_CONFIG, "the file exists (use --force) or bad options")),
    "doctor": (
        (EXIT_OK, "nothing blocks a pull or an apply (warnings may be listed)"),
        (EXIT_FINDINGS, "something does: each problem on a FAIL line with what to do"),
        (EXIT_CONFIG, "configuration error, or the profile configures no CRM"),
    ),
    "sandbox serve": ((EXIT_OK, "served until interrupted"), (EXIT_CONFIG, "bad options")),
    "demo": ((EXIT_OK, "the demo ran"), (EXIT_CONFIG, "bad options")),
    "pull": (
        (EXIT_OK, "every entity pulled"),
        (EXIT_CONFIG, "configuration error"),
        (EXIT_API, "CRM error (the pull resumes where it stopped)"),
        (EXIT_BUDGET, "stopped at the API budget (resumes on the next run)"),
        (EXIT_PARTIAL, "some entities failed (listed); the others were pulled"),
    ),
    "rules list": (
        (EXIT_OK, "the rules listed"),
        (EXIT_FINDINGS, "a rule file has problems (each listed)"),
        (EXIT_CONFIG, "configuration error"),
    ),
    "rules test": (
        (EXIT_OK, "every example passed"),
        (EXIT_FINDINGS, "an example failed or a rule file has problems"),
        (EXIT_CONFIG, "configuration error"),
    ),
    "check": (
        (EXIT_OK, "no finding at the --fail-on severity"),
        (EXIT_FINDINGS, "findings at the --fail-on severity or above"),
        (EXIT_CONFIG, "configuration error"),
    ),
    "match": ((EXIT_OK, "proposals written"), (EXIT_CONFIG, "configuration error")),
    "plan": ((EXIT_OK, "plan written"), (EXIT_CONFIG, "configuration error, or no findings yet")),
    "plan show": ((EXIT_OK, "shown"), (EXIT_CONFIG, "not a plan")),
    "apply": (
        (EXIT_OK, "applied (or, without --yes, the dry run shown)"),
        (EXIT_CONFIG, "configuration error, or production without --allow-production"),
        (EXIT_API, "CRM error (journaled: run again to resume)"),
    ),
    "undo": (
        (EXIT_OK, "undone (or, without --yes, the dry run shown)"),
        (EXIT_CONFIG, "configuration error, or production without --allow-production"),
        (EXIT_API, "CRM error (journaled: run again to resume)"),
    ),
    "run": (
        (EXIT_OK, "clean: findings under the threshold"),
        (EXIT_FINDINGS, "findings at or above the threshold ([profiles.P.run] fail_on, max_findings)"),
        (EXIT_CONFIG, "configuration error"),
        (EXIT_API, "CRM error (journaled; the next run resumes)"),
        (EXIT_BUDGET, "stopped at the API budget (the next run resumes)"),
        (EXIT_LOCKED, "another run holds the lock"),
        (EXIT_PARTIAL, "some entities could not be pulled; the rest were checked and planned"),
    ),
}


def help_text(command: str) -> str:
    """The "Exit codes: ..." sentence of a command's ``--help``."""
    return "Exit codes: " + ", ".join(f"{code} {what}" for code, what in COMMANDS[command]) + "."
