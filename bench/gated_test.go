package bench

import (
	"context"
	"os"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.yaml.in/yaml/v3"

	"github.com/releasegate/releasegate/exporter/releasegateexporter"
	"github.com/releasegate/releasegate/processor/releasegateprocessor"
)

// gatedBatch is n spans shaped like telemetrygen's, all of them gated by
// e2e/gates.yaml: client spans "lets-go" and server spans "okey-dokey-0".
func gatedBatch(n int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "telemetrygen")
	ss := rs.ScopeSpans().AppendEmpty()
	for i := 0; i < n; i += 2 {
		for j, name := range []string{"lets-go", "okey-dokey-0"} {
			s := ss.Spans().AppendEmpty()
			s.SetName(name)
			s.SetTraceID(pcommon.TraceID([16]byte{byte(i), byte(i >> 8), 1}))
			s.SetSpanID(pcommon.SpanID([8]byte{byte(i), byte(j), 1}))
			s.SetStartTimestamp(1e9)
			s.SetEndTimestamp(1e9 + 123456)
			if j == 0 {
				s.SetKind(ptrace.SpanKindClient)
				s.Attributes().PutStr("network.peer.address", "1.2.3.4")
				s.Attributes().PutStr("peer.service", "telemetrygen-server")
			} else {
				s.SetKind(ptrace.SpanKindServer)
				s.Attributes().PutStr("network.peer.address", "1.2.3.4")
			}
			s.Attributes().PutStr("cicd.pipeline.run.id", "bench")
		}
	}
	return td
}

// BenchmarkGatedSpans is the worst case of make bench-e2e in one process:
// the releasegate processor and exporter, with e2e/gates.yaml, on batches
// where every span is gated.
func BenchmarkGatedSpans(b *testing.B) {
	raw, err := os.ReadFile("e2e/gates.yaml")
	if err != nil {
		b.Fatal(err)
	}
	var gates map[string]any
	if err := yaml.Unmarshal(raw, &gates); err != nil {
		b.Fatal(err)
	}
	doc := map[string]any{"gates": gates}
	pf := releasegateprocessor.NewFactory()
	pcfg := pf.CreateDefaultConfig()
	if err := confmap.NewFromStringMap(doc).Unmarshal(pcfg); err != nil {
		b.Fatal(err)
	}
	ef := releasegateexporter.NewFactory()
	ecfg := ef.CreateDefaultConfig()
	doc["server"] = map[string]any{"endpoint": "127.0.0.1:0"}
	if err := confmap.NewFromStringMap(doc).Unmarshal(ecfg); err != nil {
		b.Fatal(err)
	}
	exp, err := ef.CreateTraces(context.Background(), exportertest.NewNopSettings(ef.Type()), ecfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := exp.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = exp.Shutdown(context.Background()) })
	proc, err := pf.CreateTraces(context.Background(), processortest.NewNopSettings(pf.Type()), pcfg, exp)
	if err != nil {
		b.Fatal(err)
	}
	batch := gatedBatch(BatchSpans)
	run(b, batch, consume(b, proc))
}
