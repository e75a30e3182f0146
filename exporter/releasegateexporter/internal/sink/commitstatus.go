package sink

import "github.com/releasegate/releasegate/exporter/releasegateexporter/internal/verdict"

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
