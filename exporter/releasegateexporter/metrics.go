package releasegateexporter

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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

func (c metricsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.store
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.runs {
		current := r.status()
		for _, st := range statuses {
			ch <- prometheus.MustNewConstMetric(runStatusDesc, prometheus.GaugeValue, oneIf(st == current), r.key, string(st))
		}
		elapsed := r.elapsed(now)
		for i := range r.gates {
			g, name := &r.gates[i], s.gates.At(i).Name
			for _, st := range statuses {
				ch <- prometheus.MustNewConstMetric(gateStatusDesc, prometheus.GaugeValue, oneIf(st == g.status), r.key, name, string(st))
			}
			ch <- prometheus.MustNewConstMetric(gateSpansDesc, prometheus.CounterValue, float64(g.spans), r.key, name)
			ch <- prometheus.MustNewConstMetric(gateViolationsDesc, prometheus.CounterValue, float64(g.violations), r.key, name)
			ch <- prometheus.MustNewConstMetric(gateErrorSpansDesc, prometheus.CounterValue, float64(g.errorSpans), r.key, name)
			stats := g.stats(elapsed)
			ch <- prometheus.MustNewConstSummary(gateDurationDesc, uint64(g.durations.count), g.durations.sum/1e9, map[float64]float64{
				0.5: stats.P50.Seconds(), 0.9: stats.P90.Seconds(), 0.95: stats.P95.Seconds(), 0.99: stats.P99.Seconds(),
			}, r.key, name)
			ch <- prometheus.MustNewConstMetric(gateMaxDurationDesc, prometheus.GaugeValue, stats.Max.Seconds(), r.key, name)
		}
	}
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
