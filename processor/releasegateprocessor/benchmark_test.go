package releasegateprocessor

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/releasegate/releasegate/config"
)

const benchBatch = 1000

// benchTraces is a batch of HTTP server spans from ten services, ten
// operations each, with a run id. One span in twenty is "POST /op-0" of
// "svc-0", the one operation the benchmark's gates can match.
func benchTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	start := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for svc := range 10 {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", fmt.Sprint("svc-", svc))
		rs.Resource().Attributes().PutStr("cicd.pipeline.run.id", "run-1")
		ss := rs.ScopeSpans().AppendEmpty()
		for i := range benchBatch / 10 {
			span := ss.Spans().AppendEmpty()
			op := i % 10
			if svc == 0 && i%2 == 0 {
				op = 0
			} else if op == 0 {
				op = 1
			}
			span.SetName(fmt.Sprint("POST /op-", op))
			span.SetKind(ptrace.SpanKindServer)
			span.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
			span.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(i) * time.Millisecond)))
			attrs := span.Attributes()
			attrs.PutStr("http.request.method", "POST")
			attrs.PutStr("http.route", fmt.Sprint("/op-", op))
			attrs.PutInt("http.response.status_code", 200)
			attrs.PutStr("url.scheme", "https")
			attrs.PutStr("server.address", "shop.example")
		}
	}
	return td
}

// benchGates writes n gates; gate i matches operation i of service i%10,
// so only the gate of op-0 on svc-0 ever matches.
func benchGates(n int) string {
	var b strings.Builder
	b.WriteString("gates:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: gate-%d\n    match: name == \"POST /op-%d\" && resource[\"service.name\"] == \"svc-%d\"\n    assert: duration < duration(\"30ms\")\n", i, i, i%10)
	}
	return b.String()
}

// BenchmarkProcessor reports the processor's cost per span at 1, 10 and 100
// gates on batches where 5% of the spans match a gate.
func BenchmarkProcessor(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprint("gates=", n), func(b *testing.B) {
			doc, err := config.Parse([]byte(benchGates(n)))
			require.NoError(b, err)
			gates, err := config.Compile(doc)
			require.NoError(b, err)
			p, err := newGateProcessor(componenttest.NewNopTelemetrySettings(), gates)
			require.NoError(b, err)
			td := benchTraces()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				_, _ = p.processTraces(b.Context(), td)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/span")
			b.ReportMetric(float64(testing.AllocsPerRun(10, func() { _, _ = p.processTraces(b.Context(), td) }))/benchBatch, "allocs/span")
		})
	}
}
