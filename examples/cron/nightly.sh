#!/bin/sh
# The nightly data-quality batch, for cron (see crm-ops.cron next to this file).
#
# crm-ops run exit codes (the table is crm_ops.cli.ExitCode; README, "Exit codes"): 0 clean, 1 findings
# above the threshold, 2 configuration error, 3 CRM error, 4 stopped at the API budget (resumes next
# run), 5 another run is still going (the lock is the kernel's: a dead run never holds it), 6 partial
# pull, 7 a rule did not load or raised, or the CRM refused records, 8 operational error (disk full,
# state dir not writable), 70 crash (a bug; the traceback is in the mail), 128+N killed by signal N.
# Findings are what the batch is for (they are in the run's report), so they page nobody; everything
# else exits non-zero and cron mails it: a crash can never pass for findings. Whatever the exit, the
# run's folder has summary.json and report.html, and runs/index.html lists it.
#
# On a production profile the run writes only what [profiles.prod.run] auto_apply names, and only when
# [profiles.prod.run] allow_production = true says it may write unattended: without that key a run that
# would apply something stops before it pulls, with exit 2 (mailed), rather than apply nothing quietly.
set -u
CRM_OPS="${CRM_OPS:-crm-ops}"
CONFIG="${CRM_OPS_CONFIG:-/etc/crm-ops/crm-ops.toml}"
PROFILE="${CRM_OPS_PROFILE:-prod}"

"$CRM_OPS" run --config "$CONFIG" --profile "$PROFILE"
code=$?
case "$code" in
  0|1) exit 0 ;;
  4) echo "crm-ops: stopped before the API budget was spent; the next run resumes" >&2; exit 0 ;;
  5) echo "crm-ops: the previous run is still going; skipped" >&2; exit 0 ;;
  2) echo "crm-ops: configuration error (exit 2): nothing was pulled or written; see above" >&2; exit 2 ;;
  7) echo "crm-ops: a rule did not load or raised, or the CRM refused records (exit 7): see the report" >&2; exit 7 ;;
  8) echo "crm-ops: operational error (exit 8): disk, state dir or network; see above" >&2; exit 8 ;;
  70) echo "crm-ops: crashed (exit 70, a bug); the traceback is above" >&2; exit 70 ;;
  *) echo "crm-ops: run failed with exit code $code" >&2; exit "$code" ;;
esac
