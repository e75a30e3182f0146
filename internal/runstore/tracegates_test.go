package runstore

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/releasegate/releasegate/internal/runstore/runstoretest"
	"github.com/releasegate/releasegate/internal/verdict"
)

// A trace gate's evidence: traces whose assert could not be evaluated are
// violations, counted as such and shown as such, five of them as
// exemplars; traces with an error span count in error_ratio.
func TestTraceGateEvidence(t *testing.T) {
	c := runstoretest.NewClock()
	s := New(runstoretest.Compile(t, `
gates:
  - name: root-named
    scope: trace
    match: "true"
    assert: root.name == "POST /checkout"
    fail: violations > 6 || error_ratio >= 0.5
`), Settings{Limits: testLimits(), Traces: traceLimits, Now: c.Now})
	var spans []tspan
	for n := byte(1); n <= 6; n++ { // no root arrived: root.name cannot be evaluated
		spans = append(spans, tspan{trace: n, id: 2, parent: 1, name: "POST /orders", service: "orders", run: "r"})
	}
	td := batch(append(spans, tspan{trace: 7, id: 1, name: "POST /checkout", service: "frontend", run: "r"})...)
	td.ResourceSpans().At(1).ScopeSpans().At(0).Spans().At(0).Status().SetCode(ptrace.StatusCodeError)
	s.Record(td)
	v := finish(t, s, "r")
	g := runstoretest.Gate(t, v, "root-named")
	assert.Equal(t, verdict.Passed, g.Status)
	assert.Equal(t, 7, g.Spans)
	assert.Equal(t, 6, g.Violations)
	assert.Equal(t, 6, g.EvalErrors)
	assert.Equal(t, 1, g.Errors)
	assert.InDelta(t, 1.0/7, g.Observed.ErrorRatio, 1e-9)
	assert.Equal(t, `passed: violations 6 ≤ 6, error_ratio 14.29% < 50% (6 of 7 traces violated root.name == "POST /checkout", 6 could not be evaluated)`, g.Reason)
	require.Len(t, g.Exemplars, maxExemplars)
	assert.Equal(t, "(no root span)", g.Exemplars[0].Name)
	assert.Equal(t, `could not evaluate root.name == "POST /checkout"`, g.Exemplars[0].Condition)
}

// A sweep counts the traces it takes from the buffer: those gone idle and
// those of the runs it finishes.
func TestSweepTakesTracesFromTheBuffer(t *testing.T) {
	c := runstoretest.NewClock()
	l := testLimits()
	l.MaxRunDuration = time.Minute
	s := New(runstoretest.Compile(t, traceGates), Settings{Limits: l, Traces: traceLimits, Now: c.Now})
	tally := s.Record(batch(checkout(1, "r", 0, time.Millisecond)...))
	assert.Equal(t, int64(1), tally.Traces.Buffered)
	c.Advance(55 * time.Second)
	s.Record(batch(checkout(2, "r", 0, time.Millisecond)...))
	c.Advance(5 * time.Second)
	tally = s.Sweep()
	assert.Equal(t, int64(-2), tally.Traces.Buffered)
	assert.Equal(t, map[JudgedCause]int64{JudgedIdle: 1, JudgedRunFinished: 1}, tally.Traces.Judged)
	assert.Equal(t, []verdict.FinishCause{verdict.FinishedAtMaxDuration}, tally.Finished)
}

// Buffered traces are saved and restored with the store, and counted;
// a store without trace gates has none.
func TestSaveAndRestoreTraces(t *testing.T) {
	s, _ := newTraceStore(t, traceLimits)
	s.Record(batch(append(checkout(1, "r", 0, time.Millisecond), checkout(2, "r", 1, time.Millisecond)...)...))
	saved, held := s.SnapshotTraces(true)
	require.Len(t, saved, 2)
	assert.Len(t, held, 2)
	s2, _ := newTraceStore(t, traceLimits)
	s2.Record(batch(checkout(3, "r", 0, time.Millisecond)...))
	skipped, tally := s2.RestoreTraces(saved)
	assert.Empty(t, skipped)
	assert.Equal(t, int64(2), tally.Traces.Buffered, "two more than the one buffered")
	_, restored := s2.SnapshotTraces(false)
	assert.Len(t, restored, 3)
	assert.Subset(t, restored, held)

	none, _ := newTestStore(t, runstoretest.Gates, testLimits())
	changed, held := none.SnapshotTraces(true)
	assert.Nil(t, changed)
	assert.Nil(t, held)
	skipped, tally = none.RestoreTraces(saved)
	assert.Nil(t, skipped)
	assert.Zero(t, tally.Traces.Buffered)
}
