package traces

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/releasegate/releasegate/config"
)

// Assembled is a trace handed over to be judged.
type Assembled struct {
	ID pcommon.TraceID
	// Run is the run the trace belongs to: its root's run key, or else the
	// first run key among its spans; "" when none had one.
	Run string
	// Dropped counts the spans not kept, past MaxSpansPerTrace: a trace
	// with some is judged as too large to judge.
	Dropped int
	spans   []span
	keys    []string // attribute keys kept, and their values: see span.attrs
	values  []any
}

// Spans is how many spans the trace had, kept or not.
func (a *Assembled) Spans() int { return len(a.spans) + a.Dropped }

// Trace is the trace as trace gates see it.
func (a *Assembled) Trace() *config.Trace {
	id := a.ID.String()
	t := &config.Trace{ID: id, Spans: make([]*config.TraceSpan, len(a.spans))}
	for i := range a.spans {
		t.Spans[i] = a.spans[i].traceSpan(id, a.keys, a.values)
	}
	return t
}

// Duration is the trace's: its latest end less its earliest start.
func (a *Assembled) Duration() time.Duration {
	if len(a.spans) == 0 {
		return 0
	}
	first, last := a.spans[0].start, a.spans[0].end
	for i := range a.spans[1:] {
		s := &a.spans[i+1]
		first, last = min(first, s.start), max(last, s.end)
	}
	return max(time.Duration(int64(last)-int64(first)), 0)
}

// HasError reports whether a span of the trace has status error.
func (a *Assembled) HasError() bool {
	for i := range a.spans {
		if ptrace.StatusCode(a.spans[i].status) == ptrace.StatusCodeError {
			return true
		}
	}
	return false
}

// Root is the trace's root span's id and name (the name only when gates
// read names): the earliest span without a parent; empty without one.
func (a *Assembled) Root() (id, name string) {
	var root *span
	for i := range a.spans {
		s := &a.spans[i]
		if s.parent.IsEmpty() && (root == nil || s.start < root.start) {
			root = s
		}
	}
	if root == nil {
		return "", ""
	}
	return root.id.String(), root.name
}
