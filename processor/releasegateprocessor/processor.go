package releasegateprocessor

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/releasegate/releasegate/annotation"
	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/processor/releasegateprocessor/internal/metadata"
)

type gateProcessor struct {
	gates     *config.Gates
	keys      []string // the gates' annotation keys
	telemetry *metadata.TelemetryBuilder
	// Attribute sets per gate, built once so recording allocates none.
	gateAttrs        []metric.AddOption
	matchErrorAttrs  []metric.AddOption
	assertErrorAttrs []metric.AddOption
	tallies          sync.Pool
}

// tally counts one batch; it is recorded once per batch, not per span.
type tally struct {
	spans, withoutRun                              int64
	matches, violations, matchErrors, assertErrors []int64
}

func newGateProcessor(set component.TelemetrySettings, gates *config.Gates) (*gateProcessor, error) {
	telemetry, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, err
	}
	n := gates.Len()
	p := &gateProcessor{gates: gates, telemetry: telemetry}
	names := make([]string, n)
	for i := range n {
		name := gates.At(i).Name
		names[i] = name
		gate := attribute.String("gate", name)
		p.gateAttrs = append(p.gateAttrs, metric.WithAttributeSet(attribute.NewSet(gate)))
		p.matchErrorAttrs = append(p.matchErrorAttrs, metric.WithAttributeSet(attribute.NewSet(gate, attribute.String("expression", "match"))))
		p.assertErrorAttrs = append(p.assertErrorAttrs, metric.WithAttributeSet(attribute.NewSet(gate, attribute.String("expression", "assert"))))
	}
	p.keys = annotation.Keys(names)
	p.tallies.New = func() any {
		return &tally{
			matches:      make([]int64, n),
			violations:   make([]int64, n),
			matchErrors:  make([]int64, n),
			assertErrors: make([]int64, n),
		}
	}
	return p, nil
}

func (p *gateProcessor) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	ev := p.gates.Evaluator()
	defer ev.Release()
	t := p.tallies.Get().(*tally)
	defer p.tallies.Put(t)

	for _, rs := range td.ResourceSpans().All() {
		resource := rs.Resource()
		for _, ss := range rs.ScopeSpans().All() {
			scope := ss.Scope()
			for _, span := range ss.Spans().All() {
				t.spans++
				r := ev.Evaluate(resource, scope, span)
				for _, i := range r.MatchErrors {
					t.matchErrors[i]++
				}
				if len(r.Matched) == 0 {
					continue
				}
				if r.Run == "" {
					t.withoutRun++
					continue
				}
				annotation.Write(span.Attributes(), r.Run, p.keys, r.Matched, r.Violated, r.Errored)
				for _, i := range r.Matched {
					t.matches[i]++
				}
				for _, i := range r.Violated {
					t.violations[i]++
				}
				for _, i := range r.Errored {
					t.assertErrors[i]++
				}
			}
		}
	}
	p.record(ctx, t)
	return td, nil
}

func (p *gateProcessor) shutdown(context.Context) error {
	p.telemetry.Shutdown()
	return nil
}

// record adds a batch's tally to the self-telemetry and resets it.
func (p *gateProcessor) record(ctx context.Context, t *tally) {
	p.telemetry.ProcessorReleasegateSpans.Add(ctx, t.spans)
	if t.withoutRun > 0 {
		p.telemetry.ProcessorReleasegateSpansWithoutRun.Add(ctx, t.withoutRun)
	}
	add := func(counter metric.Int64Counter, counts []int64, attrs []metric.AddOption) {
		for i, n := range counts {
			if n > 0 {
				counter.Add(ctx, n, attrs[i])
				counts[i] = 0
			}
		}
	}
	add(p.telemetry.ProcessorReleasegateGateMatches, t.matches, p.gateAttrs)
	add(p.telemetry.ProcessorReleasegateGateViolations, t.violations, p.gateAttrs)
	add(p.telemetry.ProcessorReleasegateGateErrors, t.matchErrors, p.matchErrorAttrs)
	add(p.telemetry.ProcessorReleasegateGateErrors, t.assertErrors, p.assertErrorAttrs)
	t.spans, t.withoutRun = 0, 0
}
