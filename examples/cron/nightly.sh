#!/bin/sh
# The nightly data-quality batch, for cron (see crm-ops.cron next to this file).
#
# crm-ops run exit codes: 0 clean, 1 findings above the threshold, 2 configuration error, 3 CRM error,
# 4 stopped at the API budget (resumes next run), 5 another run still holds the lock, 6 partial pull
# (some entities could not be pulled: a person must look).
# Findings are what the batch is for (they are in the run's report), so they page nobody; everything
# else exits non-zero and cron mails it.
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
  *) echo "crm-ops: run failed with exit code $code" >&2; exit "$code" ;;
esac
