package releasegateexporter

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/verdict"
)

var (
	gateStatusDesc = prometheus.NewDesc("releasegate_gate_status",
		"State of a gate in a run: 1 for the current state, 0 for the others.", []string{"run", "gate", "status"}, nil)
	runStatusDesc = prometheus.NewDesc("releasegate_run_status",
		"State of a run (its worst gate): 1 for the current state, 0 for the others.", []string{"run", "status"}, nil)
	gateSpansDesc = prometheus.NewDesc("releasegate_gate_spans_total",
		"Spans the gate matched in the run.", []string{"run", "gate"}, nil)
	gateViolationsDesc = prometheus.NewDesc("releasegate_gate_violations_total",
		"Matched spans whose assert did not hold.", []string{"run", "gate"}, nil)
	gateErrorSpansDesc = prometheus.NewDesc("releasegate_gate_error_spans_total",
		"Matched spans with status error.", []string{"run", "gate"}, nil)
	gateDurationDesc = prometheus.NewDesc("releasegate_gate_span_duration_seconds",
		"Durations of the spans the gate matched in the run.", []string{"run", "gate"}, nil)
	gateMaxDurationDesc = prometheus.NewDesc("releasegate_gate_span_duration_max_seconds",
		"Longest span the gate matched in the run.", []string{"run", "gate"}, nil)
)

// metricsCollector renders the runs held as Prometheus metrics at scrape
// time: nothing is updated per span, and a run leaves /metrics when the
// store forgets it (after retention, or to stay within max_runs).
type metricsCollector struct{ store *runStore }

func (c metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{gateStatusDesc, runStatusDesc, gateSpansDesc, gateViolationsDesc, gateErrorSpansDesc, gateDurationDesc, gateMaxDurationDesc} {
		ch <- d
	}
}

// gateSample is what /metrics shows of one gate in one run.
type gateSample struct {
	run, gate, status             string
	spans, violations, errorSpans float64
	count                         uint64
	sum, p50, p90, p95, p99, max  float64 // seconds
}

// Collect copies the samples under the store's lock and renders them after
// releasing it, so a scrape holds up the span path as little as it can.
func (c metricsCollector) Collect(ch chan<- prometheus.Metric) {
	runs, gates := c.samples()
	for run, status := range runs {
		for _, st := range verdict.Statuses {
			ch <- prometheus.MustNewConstMetric(runStatusDesc, prometheus.GaugeValue, oneIf(string(st) == status), run, string(st))
		}
	}
	for _, g := range gates {
		for _, st := range verdict.Statuses {
			ch <- prometheus.MustNewConstMetric(gateStatusDesc, prometheus.GaugeValue, oneIf(string(st) == g.status), g.run, g.gate, string(st))
		}
		ch <- prometheus.MustNewConstMetric(gateSpansDesc, prometheus.CounterValue, g.spans, g.run, g.gate)
		ch <- prometheus.MustNewConstMetric(gateViolationsDesc, prometheus.CounterValue, g.violations, g.run, g.gate)
		ch <- prometheus.MustNewConstMetric(gateErrorSpansDesc, prometheus.CounterValue, g.errorSpans, g.run, g.gate)
		ch <- prometheus.MustNewConstSummary(gateDurationDesc, g.count, g.sum,
			map[float64]float64{0.5: g.p50, 0.9: g.p90, 0.95: g.p95, 0.99: g.p99}, g.run, g.gate)
		ch <- prometheus.MustNewConstMetric(gateMaxDurationDesc, prometheus.GaugeValue, g.max, g.run, g.gate)
	}
}

func (c metricsCollector) samples() (map[string]string, []gateSample) {
	s := c.store
	s.mu.Lock()
	defer s.mu.Unlock()
	runs := make(map[string]string, len(s.runs))
	gates := make([]gateSample, 0, len(s.runs)*s.gates.Len())
	for _, r := range s.runs {
		runs[r.key] = string(r.status())
		for i := range r.gates {
			g, d := &r.gates[i], &r.gates[i].durations
			gates = append(gates, gateSample{
				run: r.key, gate: s.gates.At(i).Name, status: string(g.status),
				spans: float64(g.spans), violations: float64(g.violations), errorSpans: float64(g.errorSpans),
				count: uint64(d.count), sum: d.sum / 1e9,
				p50: d.quantile(0.5).Seconds(), p90: d.quantile(0.9).Seconds(),
				p95: d.quantile(0.95).Seconds(), p99: d.quantile(0.99).Seconds(),
				max: d.max.Seconds(),
			})
		}
	}
	return runs, gates
}

func oneIf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (e *releasegateExporter) metricsHandler() http.Handler {
	registry := prometheus.NewRegistry()
	registry.MustRegister(metricsCollector{store: e.store})
	return promhttp.HandlerFor(registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
