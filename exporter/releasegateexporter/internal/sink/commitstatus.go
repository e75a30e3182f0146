package sink

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/verdict"
)

// CommitStatus is one status a code host (GitHub, GitLab) shows on a
// commit: a gate's, or the run's own.
type CommitStatus struct {
	Context     string // <prefix>/<gate>, or <prefix> for the run
	Status      verdict.Status
	Description string // the gate's reason, or the run's summary
	TargetURL   string
}

// CommitStatuses are the statuses of a run: one per gate, in order, then
// the run's, whose link shows the first failed gate's first violating trace.
func CommitStatuses(run *verdict.Run, prefix string, link LinkTemplate) ([]CommitStatus, error) {
	statuses := make([]CommitStatus, 0, len(run.Gates)+1)
	add := func(context string, status verdict.Status, description string, l Link) error {
		target, err := link.Render(l)
		statuses = append(statuses, CommitStatus{Context: context, Status: status, Description: description, TargetURL: target})
		return err
	}
	var runTrace string
	for i := range run.Gates {
		g := &run.Gates[i]
		trace := g.FirstTraceID()
		if runTrace == "" && g.Status == verdict.Failed {
			runTrace = trace
		}
		if err := add(prefix+"/"+g.Name, g.Status, g.Reason, Link{Run: run.Run, Gate: g.Name, TraceID: trace}); err != nil {
			return nil, err
		}
	}
	if err := add(prefix, run.Status, run.Summary(), Link{Run: run.Run, TraceID: runTrace}); err != nil {
		return nil, err
	}
	return statuses, nil
}

// StatusMessages turns a run's commit statuses into messages, named
// "failure status releasegate/checkout-latency of acme/shop@1a2b3c4" in
// logs: request gives a status's host state and request body, send posts
// the marshalled body.
func StatusMessages(statuses []CommitStatus, commit string, request func(CommitStatus) (state string, body any), send func(context.Context, []byte) error) ([]Message, error) {
	messages := make([]Message, len(statuses))
	for i, st := range statuses {
		state, body := request(st)
		data, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		messages[i] = Message{
			What: fmt.Sprintf("%s status %s of %s", state, st.Context, commit),
			Send: func(ctx context.Context) error { return send(ctx, data) },
		}
	}
	return messages, nil
}

// ShortSHA is how logs name a commit: owner/name@1a2b3c4.
func ShortSHA(repository, sha string) string {
	return repository + "@" + sha[:min(7, len(sha))]
}
