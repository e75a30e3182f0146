package releasegateprocessor

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/internal/annotate"
	"github.com/releasegate/releasegate/processor/releasegateprocessor/internal/metadata"
)

type gateProcessor struct {
	annotator *annotate.Annotator
	telemetry *metadata.TelemetryBuilder
	// Attribute sets per gate, built once so recording allocates none.
	gateAttrs        []metric.AddOption
	matchErrorAttrs  []metric.AddOption
	assertErrorAttrs []metric.AddOption
	tallies          sync.Pool // of *annotate.Tally, counted once per batch
}

func newGateProcessor(set component.TelemetrySettings, gates *config.Gates) (*gateProcessor, error) {
	telemetry, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	p := &gateProcessor{annotator: annotate.New(gates), telemetry: telemetry}
	for i := range gates.Len() {
		gate := attribute.String("gate", gates.At(i).Name)
		p.gateAttrs = append(p.gateAttrs, metric.WithAttributeSet(attribute.NewSet(gate)))
		p.matchErrorAttrs = append(p.matchErrorAttrs, metric.WithAttributeSet(attribute.NewSet(gate, attribute.String("expression", "match"))))
		p.assertErrorAttrs = append(p.assertErrorAttrs, metric.WithAttributeSet(attribute.NewSet(gate, attribute.String("expression", "assert"))))
	}
	p.tallies.New = func() any { return p.annotator.NewTally() }
	return p, nil
}

func (p *gateProcessor) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	t := p.tallies.Get().(*annotate.Tally)
	defer p.tallies.Put(t)
	p.annotator.Spans(td, t)
	p.record(ctx, t)
	return td, nil
}

func (p *gateProcessor) shutdown(context.Context) error {
	p.telemetry.Shutdown()
	return nil
}

// record adds a batch's tally to the self-telemetry and resets it.
func (p *gateProcessor) record(ctx context.Context, t *annotate.Tally) {
	p.telemetry.ProcessorReleasegateSpans.Add(ctx, t.Spans)
	if t.WithoutRun > 0 {
		p.telemetry.ProcessorReleasegateSpansWithoutRun.Add(ctx, t.WithoutRun)
	}
	add := func(counter metric.Int64Counter, counts []int64, attrs []metric.AddOption) {
		for i, n := range counts {
			if n > 0 {
				counter.Add(ctx, n, attrs[i])
			}
		}
	}
	add(p.telemetry.ProcessorReleasegateGateMatches, t.Matches, p.gateAttrs)
	add(p.telemetry.ProcessorReleasegateGateViolations, t.Violations, p.gateAttrs)
	add(p.telemetry.ProcessorReleasegateGateErrors, t.MatchErrors, p.matchErrorAttrs)
	add(p.telemetry.ProcessorReleasegateGateErrors, t.AssertErrors, p.assertErrorAttrs)
	t.Reset()
}
