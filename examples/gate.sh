#!/bin/sh
# gate.sh RUN_ID: the release gate step of a CI job. It finishes the run,
# prints its verdict and exits 0 only when the run passed (warnings
# included); failed, error, inconclusive and pending all exit 1.
#
#   RELEASEGATE_URL    the releasegate exporter (default http://localhost:9464)
#   RELEASEGATE_TOKEN  the bearer token, when the API is guarded by
#                      server.auth (bearertokenauth)
#   SETTLE             seconds to wait first, so the last spans of the tests
#                      reach the collector (default 10; SDKs export in batches)
#
# A run id with characters other than A-Z a-z 0-9 . _ ~ - must be given
# percent-encoded.
set -eu
run="${1:?usage: gate.sh RUN_ID}"
url="${RELEASEGATE_URL:-http://localhost:9464}"
sleep "${SETTLE:-10}"

# The token reaches curl on stdin, not on its command line, where other
# users of the machine could read it.
auth() { [ -z "${RELEASEGATE_TOKEN:-}" ] || printf 'Authorization: Bearer %s\n' "$RELEASEGATE_TOKEN"; }
verdict=$(auth | curl -sS -H @- -X POST "$url/v1/runs/$run/finish") || { echo "releasegate: cannot reach $url" >&2; exit 1; }
echo "$verdict"
# The run's own status is the only "status" indented by two spaces.
status=$(echo "$verdict" | sed -n 's/^  "status": "\([a-z]*\)",$/\1/p')
echo "releasegate: run $run is ${status:-unknown}"
[ "$status" = passed ] || [ "$status" = warning ]
