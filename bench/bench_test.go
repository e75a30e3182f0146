package bench

import (
	"context"
	"fmt"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/filterprocessor"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/processor/releasegateprocessor"
)

// BatchSpans is the size of every batch.
const BatchSpans = 1000

var mixes = []struct {
	name  string
	share float64
}{{"nomatch", 0}, {"match5", 0.05}}

// BenchmarkProcessors runs, on the same batches, for each rule count and
// traffic mix: walking the batch and reading one attribute per span (the
// floor), the releasegate processor, and the contrib filter processor with
// the same rules as OTTL conditions. Each gets a fresh copy of the batch,
// made with the timer stopped. `make bench` prints them as a table.
func BenchmarkProcessors(b *testing.B) {
	for _, rules := range []int{1, 10, 100, 1000} {
		for _, mix := range mixes {
			batch := Traffic(BatchSpans, mix.share, rules, 42)
			prefix := fmt.Sprintf("rules=%d/traffic=%s/", rules, mix.name)
			b.Run(prefix+"walk", func(b *testing.B) { run(b, batch, walk) })
			b.Run(prefix+"releasegate", func(b *testing.B) { run(b, batch, consume(b, releasegate(b, rules))) })
			b.Run(prefix+"filter", func(b *testing.B) { run(b, batch, consume(b, filter(b, rules))) })
		}
	}
}

// run hands process a fresh copy of the batch b.N times, and reports the
// time and allocations per span, copying excluded.
func run(b *testing.B, batch ptrace.Traces, process func(ptrace.Traces)) {
	td := ptrace.NewTraces()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		batch.CopyTo(td)
		b.StartTimer()
		process(td)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*BatchSpans), "ns/span")
}

var sink int

// walk visits every span and reads one attribute: the least a span
// processor does.
func walk(td ptrace.Traces) {
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				if v, ok := span.Attributes().Get("http.route"); ok {
					sink += len(v.Str())
				}
			}
		}
	}
}

func consume(b *testing.B, p processor.Traces) func(ptrace.Traces) {
	return func(td ptrace.Traces) {
		if err := p.ConsumeTraces(context.Background(), td); err != nil {
			b.Fatal(err)
		}
	}
}

func releasegate(b *testing.B, rules int) processor.Traces {
	doc, err := config.Parse([]byte(Gates(rules)))
	if err != nil {
		b.Fatal(err)
	}
	f := releasegateprocessor.NewFactory()
	return start(b, f, &releasegateprocessor.Config{Gates: doc})
}

func filter(b *testing.B, rules int) processor.Traces {
	f := filterprocessor.NewFactory()
	cfg := f.CreateDefaultConfig()
	conf := confmap.NewFromStringMap(map[string]any{"traces": map[string]any{"span": Conditions(rules)}})
	if err := conf.Unmarshal(cfg); err != nil {
		b.Fatal(err)
	}
	return start(b, f, cfg)
}

func start(b *testing.B, f processor.Factory, cfg component.Config) processor.Traces {
	var next consumer.Traces = consumertest.NewNop()
	p, err := f.CreateTraces(context.Background(), processortest.NewNopSettings(f.Type()), cfg, next)
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return p
}
