package runstore

import (
	"slices"
	"time"

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
			Observed: verdict.Observed{
				P50Ms: ms(stats.P50), P90Ms: ms(stats.P90), P95Ms: ms(stats.P95), P99Ms: ms(stats.P99),
				MinMs: ms(stats.Min), MaxMs: ms(stats.Max), MeanMs: ms(stats.Mean),
				ViolationRatio: stats.ViolationRatio, ErrorRatio: stats.ErrorRatio,
				ElapsedMs: ms(stats.Elapsed),
			},
			Assert:    cg.Assert,
			Condition: cg.Fail,
			Warn:      cg.Warn,
			MinSpans:  cg.MinCount(),
			Reason:    g.reasonNow(cg, stats, r.isOpen()),
			FailedAt:  failedAt,
			Exemplars: append([]verdict.Exemplar{}, g.exemplars...), // [] rather than null in JSON
		})
	}
	return v
}
