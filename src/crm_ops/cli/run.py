"""``crm-ops run``: the cron batch."""

from __future__ import annotations

from typing import Annotated

import typer

from crm_ops.cli import ConfigPath, EngineName, ProfileName, _check_engine, _errors, app


@app.command("run")
def run_command(
    config: ConfigPath = None,
    profile: ProfileName = None,
    allow_production: Annotated[
        bool,
        typer.Option(
            "--allow-production",
            help="Let a production profile auto-apply safe fixes (or set [profiles.P.run] "
            "allow_production = true). Without either, a production run whose auto_apply names rules "
            "stops before it pulls (exit 2).",
        ),
    ] = False,
    engine: EngineName = None,
    override_breaker: Annotated[
        bool,
        typer.Option(
            "--override-breaker",
            help="Apply even though a data monitor tripped the circuit breaker (this run only; recorded "
            "in summary.json). Without it a tripped breaker applies nothing and exits 9.",
        ),
    ] = False,
) -> None:
    """The cron batch: pull, check, match, plan, apply the safe fixes, report (runs/<run id>/)."""
    from crm_ops.api import open_profile
    from crm_ops.notify import rule_error_line
    from crm_ops.progress import bars

    _check_engine(engine)
    with _errors(" (journaled; the next run resumes)", "the next run resumes where this one stopped"):
        ws = open_profile(config, profile)
        with bars() as steps:  # another run holding the lock: exit 5, as the one table says
            result = ws.run(
                allow_production=allow_production,
                steps=steps,
                engine=engine,
                override_breaker=override_breaker,
            )
    summary = result.summary
    typer.echo(
        f"run {result.run_id}: {summary['findings']:,} findings, "
        f"{summary['plan_actions']:,} planned actions, "
        f"applied {_counts(summary['applied'])}; report: {result.folder / 'report.html'}"
    )
    for err in summary["rule_errors"]:
        typer.echo(f"rule error: {rule_error_line(err)}", err=True)
    if summary["rule_errors"]:
        typer.echo(f"{len(summary['rule_errors'])} rule error(s): their findings are missing", err=True)
    for finding in summary.get("monitors", []):
        typer.echo(f"monitor {finding['severity']}: {finding['message']}", err=True)
    breaker = summary.get("breaker") or {}
    if breaker.get("tripped"):
        held = (
            "overridden for this run (--override-breaker)" if breaker.get("overridden") else "nothing applied"
        )
        typer.echo(f"circuit breaker tripped ({held}): " + "; ".join(breaker["reasons"]), err=True)
    raise typer.Exit(result.exit_code)


def _counts(counts: dict[str, int]) -> str:
    """``{"done": 3, "failed": 1}`` as "done 3, failed 1" (nothing: "nothing")."""
    return ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())) or "nothing"
