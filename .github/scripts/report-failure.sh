#!/usr/bin/env bash
# After a failed sync: open one issue, or comment on the one already open, with
# the run's link and etl's one-line error (etl's messages never hold secrets).
# Needs the GitHub CLI `gh` with GH_TOKEN and GH_REPO, and RUN_URL.
set -euo pipefail

title="Scheduled sync is failing"
error=""
if [[ -f etl-stderr.log ]]; then
  error="$(grep -E '^(error|warning): ' etl-stderr.log | tail -n 1 || true)"
fi
if [[ -z "$error" ]]; then
  error="The run failed before etl reported an error (install, doctor or authentication step): see the run's log."
fi

body="$(printf '%s\n\n%s\n\n%s\n' \
  "Run: ${RUN_URL:?RUN_URL is not set}" \
  "    $error" \
  "Fix the cause, then re-run the workflow (Actions > sync > Run workflow). Close this issue when a run succeeds.")"

number="$(gh issue list --state open --search "\"$title\" in:title" --json number --jq '.[0].number // empty')"
if [[ -n "$number" ]]; then
  gh issue comment "$number" --body "$body"
else
  gh issue create --title "$title" --body "$body"
fi
