package runstore

import (
	"slices"
	"strings"
	"time"

	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/internal/verdict"
)

// SummaryQuantiles are the quantiles of the duration summary /metrics
// shows, in the order of GateSample.Quantiles.
var SummaryQuantiles = [...]float64{0.5, 0.9, 0.95, 0.99}

// Samples is what /metrics shows of the runs held: the gates' names and
// scopes, in document order, and the runs, sorted by key.
type Samples struct {
	Gates  []string
	Scopes []config.Scope
	Runs   []RunSample
}

// RunSample is what /metrics shows of one run.
type RunSample struct {
	Key    string
	Status verdict.Status
	Gates  []GateSample // indexed like Samples.Gates
}

// GateSample is what /metrics shows of one gate in one run: of spans, or
// of traces for a trace gate.
type GateSample struct {
	Status                        verdict.Status
	Spans, Violations, ErrorSpans int
	// Count and Sum (in nanoseconds) of the durations, and their
	// SummaryQuantiles.
	Count     int
	Sum       float64
	Quantiles [len(SummaryQuantiles)]time.Duration
	Max       time.Duration
	// Compared: the gate was compared with a baseline; LatencyRatio is the
	// estimate and its 95% interval, low and high, and Baseline the
	// baseline's durations.
	Compared     bool
	LatencyRatio [3]float64
	Baseline     DurationSample
}

// DurationSample is a summary of durations: their count, sum (in
// nanoseconds) and SummaryQuantiles.
type DurationSample struct {
	Count     int
	Sum       float64
	Quantiles [len(SummaryQuantiles)]time.Duration
}

// Samples copies what /metrics shows under the store's lock, which it
// holds for this copy only: the caller renders it. The quantiles are worked
// out here, as a sketch is larger than the four values read from it.
func (s *Store) Samples() Samples {
	s.mu.Lock()
	n := s.gates.Len()
	m := Samples{Gates: make([]string, n), Scopes: make([]config.Scope, n), Runs: make([]RunSample, 0, len(s.runs))}
	for i := range n {
		m.Gates[i], m.Scopes[i] = s.gates.At(i).Name, s.gates.At(i).Scope
	}
	all := make([]GateSample, len(s.runs)*n)
	for _, r := range s.runs {
		gates := all[:n:n]
		all = all[n:]
		for i := range r.gates {
			g, d := &r.gates[i], &r.gates[i].durations
			gates[i] = GateSample{
				Status: g.status, Spans: g.spans, Violations: g.violations, ErrorSpans: g.errorSpans,
				Count: d.count, Sum: d.sum, Max: d.max,
			}
			for j, q := range SummaryQuantiles {
				gates[i].Quantiles[j] = d.quantile(q)
			}
			if c := g.compared; c != nil {
				gates[i].Compared = true
				gates[i].LatencyRatio = [3]float64{c.ratio.Estimate, c.ratio.Low, c.ratio.High}
				n := c.baseline.Spans + c.baseline.Traces
				gates[i].Baseline = DurationSample{
					Count: n, Sum: float64(c.baseline.Mean) * float64(n),
					Quantiles: [len(SummaryQuantiles)]time.Duration{c.baseline.P50, c.baseline.P90, c.baseline.P95, c.baseline.P99},
				}
			}
		}
		m.Runs = append(m.Runs, RunSample{Key: r.key, Status: r.status(), Gates: gates})
	}
	s.mu.Unlock()
	slices.SortFunc(m.Runs, func(a, b RunSample) int { return strings.Compare(a.Key, b.Key) })
	return m
}
