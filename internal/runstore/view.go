package runstore

import (
	"slices"
	"time"

	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/internal/verdict"
)

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// view renders a run; the caller holds the store's lock.
func (s *Store) view(r *run, now time.Time, withGates bool) verdict.Run {
	v := verdict.Run{
		Run:          r.key,
		Status:       r.status(),
		Finished:     !r.isOpen(),
		FinishCause:  r.cause,
		StartedAt:    r.started.UTC(),
		LastSpanAt:   r.lastSpan.UTC(),
		Revision:     r.facts.revision,
		Repository:   r.facts.repository,
		Environment:  r.facts.environment,
		LateSpans:    r.lateSpans,
		UnknownGates: slices.Clone(r.unknownGates),
		Series:       r.series,
	}
	if r.baseline != nil {
		v.Baseline = &r.baseline.run
	}
	if !r.isOpen() {
		finished := r.finished.UTC()
		v.FinishedAt = &finished
	}
	if !withGates {
		return v
	}
	elapsed := r.elapsed(now)
	for i := range r.gates {
		g, cg := &r.gates[i], s.gates.At(i)
		stats := g.stats(cg, elapsed)
		var failedAt *time.Time
		if !g.failedAt.IsZero() {
			at := g.failedAt.UTC()
			failedAt = &at
		}
		v.Gates = append(v.Gates, verdict.Gate{
			Name:        cg.Name,
			Description: cg.Description,
			Scope:       string(cg.Scope),
			Status:      g.status,
			Spans:       g.spans,
			Violations:  g.violations,
			Errors:      g.errorSpans,
			EvalErrors:  g.evalErrors,
			Observed:    observed(stats),
			Assert:      cg.Assert,
			Condition:   cg.Fail,
			Warn:        cg.Warn,
			MinSpans:    cg.MinCount(),
			Reason:      g.reasonNow(cg, stats, r.isOpen()),
			FailedAt:    failedAt,
			Exemplars:   append([]verdict.Exemplar{}, g.exemplars...), // [] rather than null in JSON
		})
	}
	return v
}

// observed are the aggregates a gate's verdict shows, with its comparison
// with the baseline when it had one.
func observed(stats config.RunStats) verdict.Observed {
	o := plainObserved(&stats.Aggregates)
	if stats.Compared {
		o.LatencyRatio, o.LatencyRatioLow, o.LatencyRatioHigh = &stats.LatencyRatio, &stats.LatencyRatioLow, &stats.LatencyRatioHigh
		o.Baseline = &verdict.BaselineObserved{Run: stats.BaselineRun, Samples: stats.Baseline.Spans + stats.Baseline.Traces, Observed: plainObserved(&stats.Baseline)}
	}
	return o
}

func plainObserved(a *config.Aggregates) verdict.Observed {
	return verdict.Observed{
		P50Ms: ms(a.P50), P90Ms: ms(a.P90), P95Ms: ms(a.P95), P99Ms: ms(a.P99),
		MinMs: ms(a.Min), MaxMs: ms(a.Max), MeanMs: ms(a.Mean),
		ViolationRatio: a.ViolationRatio, ErrorRatio: a.ErrorRatio,
		ElapsedMs: ms(a.Elapsed),
	}
}
