package runstore

import (
	"slices"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/releasegate/releasegate/internal/runstore/runstoretest"
	"github.com/releasegate/releasegate/internal/traces"
	"github.com/releasegate/releasegate/internal/verdict"
)

const traceGates = `
gates:
  - name: order-written-once
    scope: trace
    match: root != nil && root.name == "POST /checkout"
    assert: count(spans, .name == "INSERT orders") == 1
  - name: no-n-plus-one
    scope: trace
    match: root != nil
    assert: count(spans, .name == "SELECT items") <= 3
    fail: violation_ratio > 0.5
  - name: checkout-fast
    scope: trace
    match: any(spans, .resource["service.name"] == "frontend")
    assert: duration < duration("1s")
    min_traces: 2
  - name: server-spans
    match: kind == "server"
`

var traceLimits = traces.Limits{IdleTimeout: 10 * time.Second, MaxTraces: 100, MaxSpansPerTrace: 50, MaxSpans: 1000}

func newTraceStore(t *testing.T, limits traces.Limits) (*Store, *clockwork.FakeClock) {
	t.Helper()
	c := runstoretest.NewClock()
	return New(runstoretest.Compile(t, traceGates), Settings{Limits: testLimits(), Traces: limits, Now: c.Now}), c
}

// tspan is a span of a test trace, sent by service with the run's id as a
// resource attribute ("" for a service not tagged with the run).
type tspan struct {
	trace, id, parent byte
	name, service     string
	run               string
	start, duration   time.Duration
}

// batch builds spans in one resource per service, unannotated, as a
// collector without the releasegate processor receives them.
func batch(spans ...tspan) ptrace.Traces {
	td := ptrace.NewTraces()
	resources := map[string]ptrace.SpanSlice{}
	for _, s := range spans {
		key := s.service + "/" + s.run
		slice, ok := resources[key]
		if !ok {
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", s.service)
			if s.run != "" {
				rs.Resource().Attributes().PutStr("cicd.pipeline.run.id", s.run)
			}
			slice = rs.ScopeSpans().AppendEmpty().Spans()
			resources[key] = slice
		}
		sp := slice.AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{15: s.trace})
		sp.SetSpanID(pcommon.SpanID{6: s.trace, 7: s.id})
		if s.parent != 0 {
			sp.SetParentSpanID(pcommon.SpanID{6: s.trace, 7: s.parent})
		}
		sp.SetName(s.name)
		sp.SetKind(ptrace.SpanKindServer)
		start := runstoretest.Start.Add(s.start)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(s.duration)))
	}
	return td
}

// checkout is trace n of run: a checkout through the frontend and the
// orders service, with selects SELECTs, taking duration; the database
// service is not tagged with the run.
func checkout(n byte, run string, selects int, duration time.Duration) []tspan {
	spans := []tspan{
		{trace: n, id: 1, name: "POST /checkout", service: "frontend", run: run, duration: duration},
		{trace: n, id: 2, parent: 1, name: "POST /orders", service: "orders", run: run, start: time.Millisecond, duration: duration / 2},
		{trace: n, id: 3, parent: 2, name: "INSERT orders", service: "db", duration: time.Millisecond},
	}
	for i := range selects {
		spans = append(spans, tspan{trace: n, id: byte(4 + i), parent: 2, name: "SELECT items", service: "db", duration: time.Millisecond})
	}
	return spans
}

// Trace gates judge whole traces, assembled over batches and resources,
// when their run finishes: every trace that arrived before is in the
// verdict, spans of services not tagged with the run included.
func TestTraceGatesJudgeTracesWhenTheRunFinishes(t *testing.T) {
	s, _ := newTraceStore(t, traceLimits)
	good, slow, nPlusOne := checkout(1, "r", 1, 500*time.Millisecond), checkout(2, "r", 0, 1500*time.Millisecond), checkout(3, "r", 5, 200*time.Millisecond)
	// The spans come in batches that cut across traces.
	tally := s.Record(batch(slices.Concat(good[:2], slow[1:])...))
	assert.Equal(t, int64(2), tally.Traces.Buffered)
	s.Record(batch(slices.Concat(good[2:], nPlusOne)...))
	s.Record(batch(slow[0]))

	f, err := s.Finish("r")
	require.NoError(t, err)
	assert.Equal(t, int64(-3), f.Tally.Traces.Buffered)
	assert.Equal(t, int64(3), f.Tally.Traces.Judged[JudgedRunFinished])
	v := f.Run

	once := runstoretest.Gate(t, v, "order-written-once")
	assert.Equal(t, "trace", once.Scope)
	assert.Equal(t, 3, once.Spans, "three traces")
	assert.Equal(t, 0, once.Violations)
	assert.Equal(t, verdict.Passed, once.Status)
	assert.Equal(t, `passed: violations 0 ≤ 0 (0 of 3 traces violated count(spans, .name == "INSERT orders") == 1)`, once.Reason)

	n1 := runstoretest.Gate(t, v, "no-n-plus-one")
	assert.Equal(t, 1, n1.Violations)
	assert.Equal(t, verdict.Passed, n1.Status, "1 of 3 is not more than half")
	assert.Equal(t, `passed: violation_ratio 33.33% ≤ 50% (1 of 3 traces violated count(spans, .name == "SELECT items") <= 3: 5 in trace 00000000…)`, n1.Reason)
	require.Len(t, n1.Exemplars, 1)
	assert.Equal(t, verdict.Exemplar{TraceID: pcommon.TraceID{15: 3}.String(), SpanID: pcommon.SpanID{6: 3, 7: 1}.String(), Name: "POST /checkout",
		Condition: `count(spans, .name == "SELECT items") <= 3`}, n1.Exemplars[0])

	fast := runstoretest.Gate(t, v, "checkout-fast")
	assert.Equal(t, verdict.Failed, fast.Status)
	assert.Equal(t, 1, fast.Violations)
	assert.InDelta(t, 1500.0, fast.Observed.MaxMs, 0.001, "trace durations")
	assert.InDelta(t, 500.0, fast.Observed.P50Ms, 0.001)
	assert.Equal(t, `failed: violations 1 > 0 (1 of 3 traces violated duration < 1s: 1.5s in trace 00000000…)`, fast.Reason)

	assert.Equal(t, 0, runstoretest.Gate(t, v, "server-spans").Spans, "span gates count the spans a processor annotated: none here")
}

// A trace is judged once it has been idle for trace_idle_timeout, and only
// once: a span that comes after is late, and changes nothing.
func TestTraceJudgedWhenIdle(t *testing.T) {
	s, c := newTraceStore(t, traceLimits)
	trace := checkout(1, "r", 5, 100*time.Millisecond)
	s.Record(batch(trace[:3]...))
	c.Advance(9 * time.Second)
	s.Record(batch(trace[3:]...)) // keeps the trace alive
	c.Advance(9 * time.Second)
	tally := s.Sweep()
	assert.Empty(t, tally.Traces.Judged)
	c.Advance(time.Second)
	tally = s.Sweep()
	assert.Equal(t, int64(1), tally.Traces.Judged[JudgedIdle])
	v, _ := s.Get("r")
	assert.Equal(t, 1, runstoretest.Gate(t, v, "no-n-plus-one").Violations, "judged with all its spans")

	late := tspan{trace: 1, id: 20, parent: 2, name: "SELECT items", service: "db"}
	tally = s.Record(batch(late))
	assert.Equal(t, int64(1), tally.Traces.LateSpans)
	v = finish(t, s, "r")
	assert.Equal(t, 1, runstoretest.Gate(t, v, "no-n-plus-one").Spans, "judged once")
	assert.Equal(t, 1, v.LateSpans)
}

// JudgeIdleTraces judges idle traces as Sweep does, and nothing else: the
// run stays open, however long it has been idle.
func TestJudgeIdleTraces(t *testing.T) {
	s, c := newTraceStore(t, traceLimits)
	s.Record(batch(checkout(1, "r", 5, 100*time.Millisecond)...))
	c.Advance(traceLimits.IdleTimeout - time.Nanosecond)
	assert.Empty(t, s.JudgeIdleTraces().Traces.Judged)
	c.Advance(time.Hour)
	tally := s.JudgeIdleTraces()
	assert.Equal(t, map[JudgedCause]int64{JudgedIdle: 1}, tally.Traces.Judged)
	assert.Equal(t, int64(-1), tally.Traces.Buffered)
	assert.Empty(t, tally.Finished)
	v, _ := s.Get("r")
	assert.False(t, v.Finished, "runs are left to Sweep and Finish")
	assert.Equal(t, 1, runstoretest.Gate(t, v, "no-n-plus-one").Spans)
}

// A trace belongs to the run of its root span: a shared service that
// carries another run's id, or none, does not move it.
func TestTraceBelongsToItsRootsRun(t *testing.T) {
	s, c := newTraceStore(t, traceLimits)
	trace := checkout(1, "r-1", 0, 100*time.Millisecond)
	trace[1].run = "r-2" // a service tagged with another run, first to arrive
	s.Record(batch(trace[1], trace[2]))
	s.Record(batch(trace[0]))
	v := finish(t, s, "r-1")
	assert.Equal(t, 1, runstoretest.Gate(t, v, "order-written-once").Spans)
	v = finish(t, s, "r-2")
	assert.Equal(t, 0, runstoretest.Gate(t, v, "order-written-once").Spans)

	// Without a root, the first run key among its spans; without any, no
	// run.
	orphan := checkout(2, "r-3", 0, time.Millisecond)
	orphan[0].parent = 9 // a parent that never arrives
	untagged := checkout(3, "", 0, time.Millisecond)
	s.Record(batch(slices.Concat(orphan, untagged)...))
	v = finish(t, s, "r-3")
	assert.Equal(t, 1, runstoretest.Gate(t, v, "checkout-fast").Spans)
	assert.Equal(t, 0, runstoretest.Gate(t, v, "no-n-plus-one").Spans, "no root")
	c.Advance(traceLimits.IdleTimeout)
	assert.Equal(t, int64(1), s.Sweep().Traces.WithoutRun)
}

// When max_traces traces, or max_buffered_spans spans, are buffered, the
// oldest trace is judged at once.
func TestTraceBufferFull(t *testing.T) {
	twoTraces := traceLimits
	twoTraces.MaxTraces = 2
	sixSpans := traceLimits // two traces of three spans
	sixSpans.MaxSpansPerTrace, sixSpans.MaxSpans = 3, 6
	for name, limits := range map[string]traces.Limits{"max_traces": twoTraces, "max_buffered_spans": sixSpans} {
		s, _ := newTraceStore(t, limits)
		var tally Tally
		for n := range byte(5) {
			tally = s.Record(batch(checkout(n+1, "r", 0, time.Millisecond)...))
		}
		assert.Equal(t, int64(1), tally.Traces.Judged[JudgedBufferFull], name)
		v, _ := s.Get("r")
		assert.Equal(t, 3, runstoretest.Gate(t, v, "order-written-once").Spans, "%s: three judged, two still buffered", name)
		v = finish(t, s, "r")
		assert.Equal(t, 5, runstoretest.Gate(t, v, "order-written-once").Spans, name)
	}
}

// A trace over max_spans_per_trace is judged as a violation of the gates
// it matches, with a reason that says so: never a pass.
func TestTraceTooLarge(t *testing.T) {
	limits := traceLimits
	limits.MaxSpansPerTrace = 5
	s, _ := newTraceStore(t, limits)
	s.Record(batch(checkout(1, "r", 10, time.Millisecond)...))
	f, err := s.Finish("r")
	require.NoError(t, err)
	assert.Equal(t, int64(1), f.Tally.Traces.TooLarge)
	once := runstoretest.Gate(t, f.Run, "order-written-once")
	assert.Equal(t, verdict.Failed, once.Status)
	assert.Equal(t, 1, once.Violations)
	require.Len(t, once.Exemplars, 1)
	assert.Equal(t, "judge a trace of 13 spans, over max_spans_per_trace", once.Exemplars[0].Condition)
}

// Traces go on being judged, and counted, past the verdict of a gate that
// failed fast; traces judged after their run finished are late.
func TestTracesAfterTheRunFinished(t *testing.T) {
	s, c := newTraceStore(t, traceLimits)
	s.Record(batch(checkout(1, "r", 0, time.Millisecond)...))
	finish(t, s, "r")
	// The run is finished: a new trace of it is counted when judged.
	s.Record(batch(checkout(2, "r", 0, time.Millisecond)...))
	c.Advance(traceLimits.IdleTimeout)
	tally := s.Sweep()
	assert.Equal(t, int64(1), tally.Traces.Late)
}

// Trace gates fail fast on counts of traces, as span gates on spans, once
// min_traces traces are judged.
func TestTraceGateFailsFast(t *testing.T) {
	s, c := newTraceStore(t, traceLimits)
	s.Record(batch(checkout(1, "r", 0, 2*time.Second)...))
	c.Advance(traceLimits.IdleTimeout)
	s.Sweep()
	v, _ := s.Get("r")
	assert.Equal(t, verdict.Pending, runstoretest.Gate(t, v, "checkout-fast").Status, "min_traces 2")
	s.Record(batch(checkout(2, "r", 0, 2*time.Second)...))
	c.Advance(traceLimits.IdleTimeout)
	s.Sweep()
	v, _ = s.Get("r")
	fast := runstoretest.Gate(t, v, "checkout-fast")
	assert.False(t, v.Finished)
	assert.Equal(t, verdict.Failed, fast.Status)
	assert.NotNil(t, fast.FailedAt)
	assert.Equal(t, `failed: violations 2 > 0 (2 of 2 traces violated duration < 1s: 2s in trace 00000000…)`, fast.Reason)
}
