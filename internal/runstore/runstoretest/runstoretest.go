// Package runstoretest builds what the run store's tests and the
// exporter's tests feed it: spans annotated as the releasegate processor
// annotates them, a gates document to judge them by, and a clock.
package runstoretest

import (
	"encoding/binary"
	"hash/fnv"
	"slices"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/releasegate/releasegate/annotation"
	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/internal/verdict"
)

// Gates is a gates document of four gates: a latency gate with a warning,
// an error gate, a gate that needs 3 spans, and one that matches nothing.
const Gates = `
gates:
  - name: checkout-latency
    match: name == "POST /checkout"
    assert: duration < duration("300ms")
    fail: p95 > duration("250ms")
    warn: p95 > duration("200ms")
  - name: no-errors
    match: kind == "server"
    assert: status != "error"
  - name: ratio
    match: kind == "server"
    fail: violations > 2 || error_ratio > 0.5
    min_spans: 3
  - name: never-matched
    match: name == "none"
`

// Start is when test clocks start, and test spans.
var Start = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// NewClock is a fake clock at Start.
func NewClock() *clockwork.FakeClock { return clockwork.NewFakeClockAt(Start) }

// Compile compiles a gates document.
func Compile(tb testing.TB, gates string) *config.Gates {
	tb.Helper()
	doc, err := config.Parse([]byte(gates))
	if err != nil {
		tb.Fatal(err)
	}
	compiled, err := config.Compile(doc)
	if err != nil {
		tb.Fatal(err)
	}
	return compiled
}

// Span is an annotated span as the processor writes it; without Run, it is
// not annotated.
type Span struct {
	Run                        string
	Name                       string
	Duration                   time.Duration
	Status                     ptrace.StatusCode
	Matched, Violated, Errored []string
}

// Traces puts the spans in one resource, each in a trace of its own: the
// i-th span of a run is the root of trace TraceID(run, i).
func Traces(spans ...Span) ptrace.Traces {
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	for i, s := range spans {
		sp := ss.Spans().AppendEmpty()
		sp.SetName(s.Name)
		id := traceID(s.Run, i)
		sp.SetTraceID(id)
		sp.SetSpanID(pcommon.SpanID(id[8:]))
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(Start))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(Start.Add(s.Duration)))
		sp.Status().SetCode(s.Status)
		if s.Run == "" {
			continue
		}
		var names []string
		indices := func(list []string) []int {
			var out []int
			for _, n := range list {
				out = append(out, indexOf(&names, n))
			}
			return out
		}
		m, v, e := indices(s.Matched), indices(s.Violated), indices(s.Errored)
		slices.Sort(v)
		slices.Sort(e)
		annotation.Write(sp.Attributes(), s.Run, annotation.Keys(names), m, v, e)
	}
	return td
}

// TraceID is the id of the trace of the i-th span of run in Traces.
func TraceID(run string, i int) string { return traceID(run, i).String() }

func traceID(run string, i int) pcommon.TraceID {
	h := fnv.New64a()
	h.Write([]byte(run))
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[:8], h.Sum64())
	binary.BigEndian.PutUint64(id[8:], uint64(i+1))
	return id
}

func indexOf(names *[]string, n string) int {
	for i, v := range *names {
		if v == n {
			return i
		}
	}
	*names = append(*names, n)
	return len(*names) - 1
}

// Checkout is a "POST /checkout" span of run that took d, matched by the
// first three gates of Gates, violating checkout-latency from 300ms.
func Checkout(run string, d time.Duration) Span {
	s := Span{Run: run, Name: "POST /checkout", Duration: d, Matched: []string{"checkout-latency", "no-errors", "ratio"}}
	if d >= 300*time.Millisecond {
		s.Violated = []string{"checkout-latency"}
	}
	return s
}

// Gate is the named gate of a run's view.
func Gate(tb testing.TB, v verdict.Run, name string) verdict.Gate {
	tb.Helper()
	for _, g := range v.Gates {
		if g.Name == name {
			return g
		}
	}
	tb.Fatalf("no gate %s in %+v", name, v)
	return verdict.Gate{}
}
