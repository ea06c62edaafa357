#!/usr/bin/env bash
# The sync step of .github/workflows/sync.yml, runnable locally with the same
# environment: picks `etl sync` or `etl backfill` from the workflow's inputs
# (empty on a scheduled run), adds the run summary to the run's page
# ($GITHUB_STEP_SUMMARY) and keeps stderr in etl-stderr.log for the failure issue.
#
#   FULL_REFRESH=true|false  VERIFY=true|false  DRY_RUN=true|false
#   BACKFILL_FROM=YYYY-MM  BACKFILL_TO=YYYY-MM
set -euo pipefail

if [[ -n "${BACKFILL_FROM:-}" ]]; then
  args=(backfill --from "$BACKFILL_FROM" --to "${BACKFILL_TO:-$BACKFILL_FROM}")
else
  args=(sync)
  if [[ "${FULL_REFRESH:-false}" == "true" ]]; then
    args+=(--full-refresh)
  fi
  if [[ "${VERIFY:-false}" == "true" ]]; then
    args+=(--verify)
  fi
fi
if [[ "${DRY_RUN:-false}" == "true" ]]; then
  args+=(--dry-run)
fi

echo "etl ${args[*]}" >&2
status=0
# stdout (the summary) to a file, stderr (logs, the error line) to the log and a copy.
{ etl "${args[@]}" 2>&1 >etl-summary.txt | tee etl-stderr.log >&2; } || status=$?
cat etl-summary.txt
if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then
  {
    echo "### etl ${args[*]}"
    echo '```'
    cat etl-summary.txt
    grep -E '^(error|warning): ' etl-stderr.log || true
    echo '```'
  } >>"$GITHUB_STEP_SUMMARY"
fi
exit "$status"
