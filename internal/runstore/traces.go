package runstore

import (
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/internal/traces"
	"github.com/releasegate/releasegate/internal/verdict"
)

// JudgedCause says why a trace was judged.
type JudgedCause string

const (
	JudgedIdle        JudgedCause = "trace_idle"   // no span for trace_idle_timeout
	JudgedRunFinished JudgedCause = "run_finished" // its run was finishing
	JudgedBufferFull  JudgedCause = "buffer_full"  // max_traces traces or max_buffered_spans spans were buffered
)

// TraceTally is what happened to traces, for self-telemetry.
type TraceTally struct {
	// Buffered is the change in the traces buffered.
	Buffered int64
	// Judged counts traces judged, by cause.
	Judged map[JudgedCause]int64
	// TooLarge counts traces judged with spans past max_spans_per_trace;
	// LateSpans, spans of traces already judged; WithoutRun, traces none of
	// whose spans had a run key; Late, traces judged after their run had
	// finished (or been forgotten).
	TooLarge, LateSpans, WithoutRun, Late int64
}

func (t *TraceTally) judged(cause JudgedCause, n int) {
	if t.Judged == nil {
		t.Judged = make(map[JudgedCause]int64, 3)
	}
	t.Judged[cause] += int64(n)
}

// bufferSpan adds a span to its trace. A span of a trace judged already is
// late: for that trace's run, when it is held. The caller holds s.mu.
func (s *Store) bufferSpan(now time.Time, res *traces.Resource, scope pcommon.InstrumentationScope, span ptrace.Span, run string, t *Tally) []*traces.Assembled {
	added := s.buffer.Add(now, res, scope, span, run)
	switch {
	case added.Late:
		t.Traces.LateSpans++
		if r := s.runs[added.Run]; r != nil {
			r.lateSpans++
			r.unsaved = true
		}
	case added.New:
		t.Traces.Buffered++
	}
	t.Traces.Buffered -= int64(len(added.Full))
	return added.Full
}

// judgedTrace is a trace's verdicts, worked out without the store's lock.
type judgedTrace struct {
	*traces.Assembled
	verdicts     []config.TraceVerdict
	rootID, root string
	duration     time.Duration
	hasError     bool
	tooLarge     bool
}

// judge evaluates the trace gates on traces taken from the buffer, without
// the store's lock, then records the verdicts into their runs under it.
func (s *Store) judge(due []*traces.Assembled, cause JudgedCause, t *Tally) {
	if len(due) == 0 {
		return
	}
	judged := make([]judgedTrace, len(due))
	for i, a := range due {
		j := &judged[i]
		j.Assembled = a
		j.verdicts = s.gates.JudgeTrace(a.Trace())
		j.rootID, j.root = a.Root()
		j.duration, j.hasError, j.tooLarge = a.Duration(), a.HasError(), a.Dropped > 0
	}
	t.Traces.judged(cause, len(due))
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range judged {
		s.recordTrace(&judged[i], t)
	}
}

// recordTrace adds a judged trace to its run's trace gates. The caller
// holds s.mu.
func (s *Store) recordTrace(j *judgedTrace, t *Tally) {
	if j.tooLarge {
		t.Traces.TooLarge++
	}
	if j.Run == "" {
		t.Traces.WithoutRun++
		return
	}
	r := s.runs[j.Run]
	if r == nil || !r.isOpen() {
		t.Traces.Late++
		return
	}
	r.unsaved, r.changed = true, true
	for i := range j.verdicts {
		v, cg := &j.verdicts[i], s.gates.At(i)
		// A trace too large to judge counts against every gate whose match
		// held, or could not be evaluated, on the spans kept: never a pass.
		if cg.Scope != config.ScopeTrace || !(v.Matched || (j.tooLarge && v.MatchError)) {
			continue
		}
		g := &r.gates[i]
		g.spans++
		g.durations.add(j.duration)
		if j.hasError {
			g.errorSpans++
		}
		violated, errored, condition := v.Violated, v.Errored, cg.Assert
		if j.tooLarge {
			violated, errored = true, true
			condition = fmt.Sprintf("judge a trace of %d spans, over max_spans_per_trace", j.Spans())
		}
		if !violated {
			continue
		}
		g.violations++
		if errored {
			g.evalErrors++
			if !j.tooLarge {
				condition = "could not evaluate " + condition
			}
		}
		if g.observed == "" && v.Observed != "" {
			g.observed, g.observedTrace = v.Observed, j.ID.String()
		}
		if len(g.exemplars) < maxExemplars {
			name := j.root
			if j.rootID == "" {
				name = "(no root span)"
			}
			g.exemplars = append(g.exemplars, verdict.Exemplar{
				TraceID: j.ID.String(), SpanID: j.rootID, Name: cut(name, maxExemplarName), Condition: condition,
			})
		}
	}
}

// SnapshotTraces copies the buffered traces changed since the last
// snapshot (every one with all), and lists the ids of every trace held;
// nothing without trace gates.
func (s *Store) SnapshotTraces(all bool) (changed []traces.StoredTrace, held []string) {
	if s.buffer == nil {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buffer.Snapshot(all)
}

// RestoreTraces puts saved traces back into the buffer: their idle timeout
// starts again now. It returns the traces it could not restore, and why,
// and the change in the traces buffered.
func (s *Store) RestoreTraces(saved []traces.StoredTrace) (skipped map[string]error, t Tally) {
	if s.buffer == nil {
		return nil, t
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	before := s.buffer.Len()
	skipped = s.buffer.Restore(s.now(), saved)
	t.Traces.Buffered = int64(s.buffer.Len() - before)
	return skipped, t
}
