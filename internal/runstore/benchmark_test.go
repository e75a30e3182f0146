package runstore

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/releasegate/releasegate/internal/runstore/runstoretest"
	"github.com/stretchr/testify/require"
)

// BenchmarkRecord reports the exporter's bookkeeping per span: 100 open
// runs × 20 gates, each span matching 2 gates, one in ten violating one.
func BenchmarkRecord(b *testing.B) {
	var doc strings.Builder
	doc.WriteString("gates:\n")
	for i := range 20 {
		fmt.Fprintf(&doc, "  - {name: gate-%d, match: 'true', assert: 'duration < duration(\"100ms\")', fail: 'p95 > duration(\"250ms\")'}\n", i)
	}
	s, _ := newTestStore(b, doc.String(), Limits{IdleTimeout: time.Hour, MaxRunDuration: time.Hour, Retention: time.Hour, MaxRuns: 1000})
	const batch = 1000
	var spans []runstoretest.Span
	for i := range batch {
		sp := runstoretest.Span{
			Run:      fmt.Sprint("run-", i%100),
			Name:     "GET /",
			Duration: time.Duration(i%150) * time.Millisecond,
			Matched:  []string{fmt.Sprint("gate-", i%20), fmt.Sprint("gate-", (i+1)%20)},
		}
		if i%10 == 0 {
			sp.Violated = sp.Matched[:1]
		}
		spans = append(spans, sp)
	}
	td := runstoretest.Traces(spans...)
	s.Record(td) // open the runs
	require.Equal(b, 100, len(s.runs))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		s.Record(td)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/span")
}

// BenchmarkRunMemory reports the heap one (run, gate) state holds: 1,000
// runs × 20 gates, each gate with a few spans (exact durations, one
// exemplar), and each past exactDurations (in the sketch).
func BenchmarkRunMemory(b *testing.B) {
	var doc strings.Builder
	doc.WriteString("gates:\n")
	for i := range 20 {
		fmt.Fprintf(&doc, "  - {name: gate-%d, match: 'true', assert: 'duration < duration(\"100ms\")'}\n", i)
	}
	all := make([]string, 20)
	for i := range all {
		all[i] = fmt.Sprint("gate-", i)
	}
	for _, perGate := range []int{10, 500} {
		b.Run(fmt.Sprint("spans=", perGate), func(b *testing.B) {
			var perState float64
			for b.Loop() {
				s, _ := newTestStore(b, doc.String(), Limits{IdleTimeout: time.Hour, MaxRunDuration: time.Hour, Retention: time.Hour, MaxRuns: 2000})
				before := heapInUse()
				for r := range 1000 {
					spans := make([]runstoretest.Span, perGate)
					for i := range spans {
						spans[i] = runstoretest.Span{Run: fmt.Sprint("run-", r), Duration: time.Duration(i*7919%200) * time.Millisecond, Matched: all}
					}
					spans[0].Violated = all[:1]
					s.Record(runstoretest.Traces(spans...))
				}
				perState = float64(heapInUse()-before) / (1000 * 20)
				runtime.KeepAlive(s)
			}
			b.ReportMetric(perState, "bytes/state")
		})
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
