#!/bin/sh
# gate.sh RUN_ID: the release gate step of a CI job. It waits until the run
# has received no span for SETTLE seconds, finishes it, prints its verdict
# and exits 0 only when the run passed (warnings included); failed, error,
# inconclusive and pending all exit 1.
#
#   RELEASEGATE_URL    the releasegate exporter (default http://localhost:9464)
#   RELEASEGATE_TOKEN  the bearer token, when the API is guarded by
#                      server.auth (bearertokenauth)
#   SETTLE             seconds without a new span of the run before it is
#                      finished (default 10): SDKs and the collector's batch
#                      processor deliver the last spans of the tests late
#
# A run id with characters other than A-Z a-z 0-9 . _ ~ - must be given
# percent-encoded.
set -eu
run="${1:?usage: gate.sh RUN_ID}"
url="${RELEASEGATE_URL:-http://localhost:9464}"
settle="${SETTLE:-10}"

# The token reaches curl on stdin, not on its command line, where other
# users of the machine could read it.
auth() { [ -z "${RELEASEGATE_TOKEN:-}" ] || printf 'Authorization: Bearer %s\n' "$RELEASEGATE_TOKEN"; }

# Quiet is counted in seconds in which the run's last_span_at stays the
# same (or the run stays unknown): a span that arrives starts it again.
last=none
quiet=0
while [ "$quiet" -lt "$settle" ]; do
	sleep 1
	run_json=$(auth | curl -sS -H @- "$url/v1/runs/$run") || { echo "releasegate: cannot reach $url" >&2; exit 1; }
	now=$(echo "$run_json" | sed -n 's/^  "last_span_at": "\(.*\)",$/\1/p')
	if [ "${now:-none}" = "$last" ]; then quiet=$((quiet + 1)); else quiet=1; last="${now:-none}"; fi
done

verdict=$(auth | curl -sS -H @- -X POST "$url/v1/runs/$run/finish") || { echo "releasegate: cannot reach $url" >&2; exit 1; }
echo "$verdict"
# The run's own status is the only "status" indented by two spaces.
status=$(echo "$verdict" | sed -n 's/^  "status": "\([a-z]*\)",$/\1/p')
echo "releasegate: run $run is ${status:-unknown}"
[ "$status" = passed ] || [ "$status" = warning ]
