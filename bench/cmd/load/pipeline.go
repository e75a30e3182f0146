package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.yaml.in/yaml/v3"

	"github.com/releasegate/releasegate/annotation"
	"github.com/releasegate/releasegate/bench"
	"github.com/releasegate/releasegate/exporter/releasegateexporter"
	"github.com/releasegate/releasegate/processor/releasegateprocessor"
)

// runKey is the attribute every fed span carries its run in; the default
// run expression reads it when the resource does not set it.
const runKey = "cicd.pipeline.run.id"

// broadGates are gates that match a large share of the traffic: every server
// span and every database call. Their (run, gate) states see hundreds of
// spans each and keep their durations in the DDSketch, the exporter's most
// expensive state.
const broadGates = `  - name: server-errors
    match: kind == "server"
    assert: status != "error"
    fail: error_ratio > 0.05
    min_spans: 20
  - name: db-latency
    match: kind == "client" && attributes["db.system.name"] == "postgresql"
    assert: duration < duration("100ms")
    fail: p95 > duration("100ms")
    warn: p95 > duration("80ms")
`

// gatesDocument is n gates as a team writes them: per-operation latency
// gates pinned on a span name and a service (bench.Gates), and the two
// broad gates.
func gatesDocument(n int) (map[string]any, error) {
	text := bench.Gates(n-2) + broadGates
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return nil, err
	}
	return doc, nil
}

// template is a generated batch and what the processor makes of it.
type template struct {
	td                  ptrace.Traces
	matched             []bool // per span, in order: it matches a gate
	annotated           int64  // spans that match at least one gate
	matches, violations int64  // (span, gate) pairs
}

// templates generates n distinct batches of bench.Traffic, without the
// resource's run key, so that the run key of each span is its own
// attribute. Each is run once through a processor into a sink to learn
// which spans it annotates: the exporter's aggregates must add up to them.
func templates(ctx context.Context, gates map[string]any, n, batch int, share float64, rules int) ([]template, error) {
	pf := releasegateprocessor.NewFactory()
	pcfg := pf.CreateDefaultConfig()
	if err := confmap.NewFromStringMap(map[string]any{"gates": gates}).Unmarshal(pcfg); err != nil {
		return nil, err
	}
	sink := new(consumertest.TracesSink)
	proc, err := pf.CreateTraces(ctx, processortest.NewNopSettings(pf.Type()), pcfg, sink)
	if err != nil {
		return nil, err
	}
	if err := proc.Start(ctx, componenttest.NewNopHost()); err != nil {
		return nil, err
	}
	defer func() { _ = proc.Shutdown(ctx) }()
	tmpls := make([]template, n)
	for i := range tmpls {
		td := bench.Traffic(batch, share, rules, uint64(i+1))
		for _, rs := range td.ResourceSpans().All() {
			rs.Resource().Attributes().Remove(runKey)
		}
		tmpls[i].td = td

		probe := ptrace.NewTraces()
		td.CopyTo(probe)
		eachSpan(probe, func(span ptrace.Span) { span.Attributes().PutStr(runKey, "probe") })
		if err := proc.ConsumeTraces(ctx, probe); err != nil {
			return nil, err
		}
	}
	for i, out := range sink.AllTraces() {
		t := &tmpls[i]
		eachSpan(out, func(span ptrace.Span) {
			var matches, violations int64
			for k, v := range span.Attributes().All() {
				if _, outcome, ok, _ := annotation.Gate(k, v); ok {
					matches++
					if outcome != annotation.Passed {
						violations++
					}
				}
			}
			t.matched = append(t.matched, matches > 0)
			if matches > 0 {
				t.annotated++
			}
			t.matches += matches
			t.violations += violations
		})
	}
	return tmpls, nil
}

func eachSpan(td ptrace.Traces, f func(ptrace.Span)) {
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				f(span)
			}
		}
	}
}

// schedule assigns the spans of the feed to runs. Batch b is a copy of
// template b % len(tmpls). Spans that match a gate and spans that do not
// are dealt out to the runs separately, round-robin: of every len(keys)
// matching spans of the feed each run gets exactly one. So all runs are open
// at once, every batch interleaves hundreds of them, and no run goes
// without a span for longer than about two rounds: the idle timeout cannot
// end a run during the feed, however the matching spans fall.
type schedule struct {
	tmpls []template
	keys  []string
	// Matching and other spans in one pass through the templates, and
	// before each template within a pass.
	matchedPerPass, otherPerPass int
	matchedBefore, otherBefore   []int
}

func newSchedule(tmpls []template, keys []string) *schedule {
	s := &schedule{tmpls: tmpls, keys: keys}
	for _, t := range tmpls {
		s.matchedBefore = append(s.matchedBefore, s.matchedPerPass)
		s.otherBefore = append(s.otherBefore, s.otherPerPass)
		s.matchedPerPass += int(t.annotated)
		s.otherPerPass += len(t.matched) - int(t.annotated)
	}
	return s
}

// stamp gives the spans of batch b their run keys, and trace and span ids
// unique in the feed.
func (s *schedule) stamp(td ptrace.Traces, b int) {
	t, pass := b%len(s.tmpls), b/len(s.tmpls)
	matched := s.tmpls[t].matched
	nm := pass*s.matchedPerPass + s.matchedBefore[t]
	no := pass*s.otherPerPass + s.otherBefore[t]
	i, j := b*len(matched), 0
	eachSpan(td, func(span ptrace.Span) {
		var trace pcommon.TraceID
		binary.BigEndian.PutUint64(trace[:8], uint64(i))
		trace[8] = 0x5a
		var id pcommon.SpanID
		binary.BigEndian.PutUint64(id[:], uint64(i)|1<<63)
		span.SetTraceID(trace)
		span.SetSpanID(id)
		var n int
		if matched[j] {
			n, nm = nm, nm+1
		} else {
			n, no = no, no+1
		}
		span.Attributes().PutStr(runKey, s.key(n))
		i, j = i+1, j+1
	})
}

// key is the run of the n-th span of its kind. Each round of len(keys)
// spans gives every run one; the order rotates from round to round, so
// that a run does not always get the span at the same place of the same
// few templates.
func (s *schedule) key(n int) string {
	r := len(s.keys)
	return s.keys[(n+(n/r)*rotation)%r]
}

// rotation shifts the runs from one round to the next; a prime, so that it
// is no multiple of a batch size.
const rotation = 7919

// runKeys are the run ids of a phase, built once so the feed does not
// allocate them.
func runKeys(prefix string, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s-%05d", prefix, i)
	}
	return keys
}

// pipeline is the releasegate processor feeding the releasegate exporter,
// both made by their factories and started as the collector starts them.
type pipeline struct {
	tel  *componenttest.Telemetry
	proc processor.Traces
	exp  exporter.Traces
	base string // the exporter's server, http://host:port
}

func startPipeline(ctx context.Context, gates map[string]any, maxRuns int, o options) (*pipeline, error) {
	endpoint, err := freeEndpoint()
	if err != nil {
		return nil, err
	}
	tel := componenttest.NewTelemetry()

	ef := releasegateexporter.NewFactory()
	ecfg := ef.CreateDefaultConfig()
	if err := confmap.NewFromStringMap(map[string]any{
		"gates":            gates,
		"server":           map[string]any{"endpoint": endpoint, "write_timeout": o.writeTimeout.String()},
		"run_idle_timeout": o.idle.String(),
		"retention":        o.retention.String(),
		"max_runs":         maxRuns,
	}).Unmarshal(ecfg); err != nil {
		return nil, fmt.Errorf("exporter config: %w", err)
	}
	pf := releasegateprocessor.NewFactory()
	pcfg := pf.CreateDefaultConfig()
	if err := confmap.NewFromStringMap(map[string]any{"gates": gates}).Unmarshal(pcfg); err != nil {
		return nil, fmt.Errorf("processor config: %w", err)
	}
	if err := errors.Join(confmap.Validate(ecfg), confmap.Validate(pcfg)); err != nil {
		return nil, err
	}

	// Only the meter provider is swapped in: the recording tracer provider
	// would keep every span the component helpers trace, a heap growth that
	// is not the pipeline's.
	eset := exportertest.NewNopSettings(ef.Type())
	eset.MeterProvider = tel.NewTelemetrySettings().MeterProvider
	exp, err := ef.CreateTraces(ctx, eset, ecfg)
	if err != nil {
		return nil, err
	}
	pset := processortest.NewNopSettings(pf.Type())
	pset.MeterProvider = eset.MeterProvider
	proc, err := pf.CreateTraces(ctx, pset, pcfg, exp)
	if err != nil {
		return nil, err
	}
	// Exporters start before the processors that feed them, as in the collector.
	host := componenttest.NewNopHost()
	if err := exp.Start(ctx, host); err != nil {
		return nil, err
	}
	if err := proc.Start(ctx, host); err != nil {
		return nil, errors.Join(err, exp.Shutdown(ctx))
	}
	p := &pipeline{tel: tel, proc: proc, exp: exp, base: "http://" + endpoint}
	if err := waitListening(endpoint); err != nil {
		return nil, errors.Join(err, p.shutdown(ctx))
	}
	return p, nil
}

func (p *pipeline) shutdown(ctx context.Context) error {
	return errors.Join(p.proc.Shutdown(ctx), p.exp.Shutdown(ctx), p.tel.Shutdown(ctx))
}

// feed sends batches copies of the templates, stamped by the schedule,
// from several workers at once, as receivers call a pipeline concurrently.
// Each batch is a fresh copy, as a receiver decodes a fresh request. It
// returns how long the feed took and how long each ConsumeTraces call did.
func feed(ctx context.Context, next consumer.Traces, sched *schedule, batches, workers int) (time.Duration, []time.Duration, error) {
	var (
		counter   atomic.Int64
		wg        sync.WaitGroup
		mu        sync.Mutex
		errs      []error
		latencies = make([]time.Duration, batches)
	)
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for {
				b := int(counter.Add(1) - 1)
				if b >= batches {
					return
				}
				td := ptrace.NewTraces()
				sched.tmpls[b%len(sched.tmpls)].td.CopyTo(td)
				sched.stamp(td, b)
				sent := time.Now()
				err := next.ConsumeTraces(ctx, td)
				latencies[b] = time.Since(sent)
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start), latencies, errors.Join(errs...)
}

// quantile is the q-quantile of the latencies, by nearest rank.
func quantile(latencies []time.Duration, q float64) time.Duration {
	if len(latencies) == 0 {
		return 0
	}
	sorted := slices.Clone(latencies)
	slices.Sort(sorted)
	return sorted[max(int(math.Ceil(q*float64(len(sorted))))-1, 0)]
}

// expected is what feeding batches of the templates must yield.
func expected(tmpls []template, batches int) (annotated, matches, violations int64) {
	for b := range batches {
		t := &tmpls[b%len(tmpls)]
		annotated += t.annotated
		matches += t.matches
		violations += t.violations
	}
	return annotated, matches, violations
}

// freeEndpoint picks a free local port for the exporter's server: its
// address must be known to scrape it, so ":0" would not do.
func freeEndpoint() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitListening(addr string) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			return c.Close()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("exporter not listening on %s after 10s", addr)
}
