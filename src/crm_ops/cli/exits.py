"""Every command's exit codes, in one table: the commands' ``--help`` and docs/reference/exit-codes.md
are both made from it (``crm_ops.docs``), so neither can drift from the other.

The codes mean the same thing in every command; ``COMMANDS`` says which of them each command can end
with. A usage error (an unknown option, a bad value) is Click's 2, the same as a configuration error.
The codes themselves, what each means and which error ends in which are the core's (``crm_ops.exitcodes``).
"""

from __future__ import annotations

from crm_ops.exitcodes import (
    EXIT_API,
    EXIT_BRAKED,
    EXIT_BUDGET,
    EXIT_CONFIG,
    EXIT_CRASH,
    EXIT_FAILED,
    EXIT_FINDINGS,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_OPERATIONAL,
    EXIT_PARTIAL,
    MEANING,
    ExitCode,
)

# command (as typed after crm-ops) -> (code, what it means for that command)
COMMANDS: dict[str, tuple[tuple[int, str], ...]] = {
    "init": ((EXIT_OK, "config written"), (EXIT_CONFIG, "the file exists (use --force) or bad options")),
    "profile": (
        (EXIT_OK, "the audit printed (and written, with --csv)"),
        (EXIT_CONFIG, "nothing pulled yet, or bad options"),
    ),
    "discover": (
        (EXIT_OK, "map files written (or every custom object is mapped already)"),
        (EXIT_CONFIG, "an object the org lacks (the nearest named), or a file exists (use --force)"),
        (EXIT_API, "a CRM refused or failed a metadata call"),
    ),
    "doctor": (
        (EXIT_OK, "nothing blocks a pull or an apply (warnings may be listed)"),
        (
            EXIT_FINDINGS,
            "something does: each problem on a FAIL line with what to do (a secret variable unset, a key "
            "file without a private key, a CRM unreachable or answered by a proxy's page, a refusal...)",
        ),
        (EXIT_CONFIG, "configuration error, or the profile configures no CRM"),
    ),
    "sandbox serve": ((EXIT_OK, "served until interrupted"), (EXIT_CONFIG, "bad options")),
    "demo": ((EXIT_OK, "the demo ran"), (EXIT_CONFIG, "bad options")),
    "pull": (
        (EXIT_OK, "every entity pulled"),
        (
            EXIT_CONFIG,
            "configuration error, a secret variable unset or a JWT key file without a private key (named, "
            "before anything is pulled)",
        ),
        (
            EXIT_API,
            "CRM error: a refusal, retries spent, a host unreachable (named, given up on after "
            "unreachable_after seconds), a proxy's page in place of the API's JSON; the pull resumes",
        ),
        (EXIT_BUDGET, "stopped at the API budget (resumes on the next run)"),
        (EXIT_PARTIAL, "some entities failed (listed); the others were pulled"),
        (
            EXIT_FAILED,
            "a record of an erased person is back in a CRM or source (named; left out of our copy)",
        ),
    ),
    "erase": (
        (
            EXIT_OK,
            "erased: every record deleted for good, every copy under the state dir purged, no trace left "
            "(or a dry run)",
        ),
        (EXIT_CONFIG, "a bad subject (each named: the option or the file's line), or configuration error"),
        (EXIT_API, "a CRM failed a call (journaled: `crm-ops erase --resume` finishes it)"),
        (EXIT_LOCKED, "a run, an apply or an undo holds its lock: erase after it"),
        (
            EXIT_FAILED,
            "something is left for a person (each line named, and in the certificate): a delete refused, a "
            "recycle bin not emptied, a source's record, a CRM record still mentioning the person, a trace",
        ),
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
        (EXIT_CONFIG, "configuration error (a setting naming a rule that does not exist, say)"),
        (EXIT_FAILED, "a rule could not be loaded or raised (its findings are missing; each listed)"),
    ),
    "match": ((EXIT_OK, "proposals written"), (EXIT_CONFIG, "configuration error")),
    "plan": (
        (EXIT_OK, "plan written"),
        (EXIT_CONFIG, "configuration error, or no findings yet"),
        (EXIT_API, "CRM error looking up what a killed apply left pending (run again)"),
        (EXIT_BUDGET, "stopped at the API budget looking that up (run again)"),
    ),
    "plan show": ((EXIT_OK, "shown"), (EXIT_CONFIG, "not a plan")),
    "apply": (
        (EXIT_FAILED, "the CRM refused some records (printed, grouped by its message)"),
        (EXIT_OK, "applied (or, without --yes, the dry run shown)"),
        (EXIT_CONFIG, "configuration error, or production without --allow-production"),
        (EXIT_API, "CRM error (journaled: run again to resume)"),
        (EXIT_BUDGET, "stopped at the API budget (journaled: the apply resumes when run again)"),
        (EXIT_LOCKED, "another apply or undo of the plan is running (its command, pid, host named)"),
    ),
    "review": (
        (EXIT_OK, "served until interrupted (Ctrl-C)"),
        (EXIT_CONFIG, "not a plan, a plan of another profile, its plan.csv breaking the review contract"),
    ),
    "undo": (
        (EXIT_FAILED, "the CRM refused some records (printed, grouped by its message)"),
        (EXIT_OK, "undone (or, without --yes, the dry run shown)"),
        (EXIT_CONFIG, "configuration error, or production without --allow-production"),
        (EXIT_API, "CRM error (journaled: run again to resume)"),
        (EXIT_BUDGET, "stopped at the API budget (journaled: the undo resumes when run again)"),
        (EXIT_LOCKED, "another apply or undo of the plan is running (its command, pid, host named)"),
    ),
    "run": (
        (EXIT_OK, "clean: findings under the threshold"),
        (EXIT_FINDINGS, "findings at or above the threshold ([profiles.P.run] fail_on, max_findings)"),
        (
            EXIT_CONFIG,
            "configuration error, a secret variable unset (named, before anything is pulled), or a "
            "production profile whose run would write unattended without [run] allow_production = true "
            "or --allow-production (refused before any pull)",
        ),
        (
            EXIT_API,
            "CRM error, an unreachable host or a proxy's page among them (journaled; the next run resumes)",
        ),
        (EXIT_BUDGET, "stopped at the API budget (the next run resumes)"),
        (EXIT_LOCKED, "another run holds the lock"),
        (EXIT_PARTIAL, "some entities could not be pulled; the rest were checked and planned"),
        (
            EXIT_FAILED,
            "a rule could not be loaded or raised, the CRM refused records the run applied, retention could "
            "not delete a file, an erased person's record is back in a CRM or source, or an erasure was "
            "left unfinished (each a notice)",
        ),
        (
            EXIT_BRAKED,
            "a data monitor at error level (live records dropped, a side of the sync stalled) tripped the "
            "circuit breaker: the run checked and planned but applied and merged nothing (each reason in "
            "summary.json, the report and the webhook); --override-breaker applies once. 6 and 7 outrank it",
        ),
    ),
    "findings mute": (
        (EXIT_OK, "muted (the mark printed, with its expiry)"),
        (EXIT_CONFIG, "configuration error, a rule or system that does not exist, a date not in the future"),
    ),
    "findings ack": (
        (EXIT_OK, "acknowledged (the mark printed, with its expiry)"),
        (EXIT_CONFIG, "configuration error, a rule or system that does not exist, a date not in the future"),
    ),
    "findings muted": ((EXIT_OK, "the marks listed"), (EXIT_CONFIG, "configuration error")),
    "findings unmute": (
        (EXIT_OK, "the marks removed (how many printed)"),
        (EXIT_CONFIG, "configuration error"),
    ),
    "findings export": (
        (EXIT_OK, "the CSV written"),
        (EXIT_CONFIG, "configuration error, or no such run (the latest named)"),
    ),
    "digest": (
        (EXIT_OK, "the digest printed (and written with --out)"),
        (EXIT_CONFIG, "configuration error (a report_url that is not https), or no run yet"),
    ),
}


ANY_COMMAND = ((EXIT_OPERATIONAL, MEANING[EXIT_OPERATIONAL]), (EXIT_CRASH, MEANING[EXIT_CRASH]))


def help_text(command: str) -> str:
    """The "Exit codes: ..." sentence of a command's ``--help`` (8 and 70 can end any command)."""
    codes = sorted(COMMANDS[command], key=lambda c: int(c[0]))
    return (
        "Exit codes: "
        + ", ".join(f"{int(code)} {what}" for code, what in codes)
        + "; any command: 8 operational error, 70 crash."
    )


__all__ = [  # the codes are the core's (crm_ops.exitcodes), re-exported for the commands
    "ANY_COMMAND",
    "COMMANDS",
    "EXIT_API",
    "EXIT_BUDGET",
    "EXIT_CONFIG",
    "EXIT_CRASH",
    "EXIT_FAILED",
    "EXIT_FINDINGS",
    "EXIT_LOCKED",
    "EXIT_OK",
    "EXIT_OPERATIONAL",
    "EXIT_PARTIAL",
    "MEANING",
    "ExitCode",
    "help_text",
]
