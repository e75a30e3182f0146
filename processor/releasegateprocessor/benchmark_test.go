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
// operations each, with a run id and five semantic-convention attributes.
// One span in twenty is "POST /checkout" of "svc-0", the only operation a
// benchmark gate matches.
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
			route := fmt.Sprint("/op-", i%10)
			if svc == 0 && i%2 == 0 {
				route = "/checkout"
			}
			span.SetName("POST " + route)
			span.SetKind(ptrace.SpanKindServer)
			span.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
			span.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(i) * time.Millisecond)))
			attrs := span.Attributes()
			attrs.PutStr("http.request.method", "POST")
			attrs.PutStr("http.route", route)
			attrs.PutInt("http.response.status_code", 200)
			attrs.PutStr("url.scheme", "https")
			attrs.PutStr("server.address", "shop.example")
		}
	}
	return td
}

// benchGates writes n gates that each pin a span name and a service, as
// teams write them; only the first matches benchTraces' traffic.
func benchGates(n int) string {
	var b strings.Builder
	b.WriteString("gates:\n")
	for i := range n {
		name := fmt.Sprint("POST /orders-", i)
		if i == 0 {
			name = "POST /checkout"
		}
		fmt.Fprintf(&b, "  - name: gate-%d\n    match: name == %q && resource[\"service.name\"] == \"svc-%d\"\n    assert: duration < duration(\"30ms\")\n", i, name, i%10)
	}
	return b.String()
}

// BenchmarkProcessor reports the processor's cost per span at 1, 10, 100 and 1000
// gates on batches where 5% of the spans match a gate.
func BenchmarkProcessor(b *testing.B) {
	for _, n := range []int{1, 10, 100, 1000} {
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
