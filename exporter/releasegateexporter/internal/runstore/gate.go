package runstore

import (
	"fmt"
	"regexp"
	"time"

	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/verdict"
)

// maxExemplars is how many violating spans a gate keeps as evidence.
const maxExemplars = 5

// maxReason cuts a verdict's reason, in bytes. Reasons quote the gate's
// expressions and evaluation errors, whose length the gates file decides;
// CI statuses show far less (GitHub, 140 characters).
const maxReason = 1024

// gate is one gate's aggregates in one run, and its verdict.
type gate struct {
	spans      int // matched spans
	violations int // of those, spans whose assert did not hold (errored included)
	evalErrors int // of those, spans whose assert failed to evaluate
	errorSpans int // matched spans with status error
	durations  durations
	exemplars  []verdict.Exemplar
	status     verdict.Status // pending until final; a final status never changes
	reason     string
}

func (g *gate) stats(elapsed time.Duration) config.RunStats {
	s := config.RunStats{
		Spans:      g.spans,
		Violations: g.violations,
		Errors:     g.errorSpans,
		P50:        g.durations.quantile(0.50),
		P90:        g.durations.quantile(0.90),
		P95:        g.durations.quantile(0.95),
		P99:        g.durations.quantile(0.99),
		Min:        g.durations.min,
		Max:        g.durations.max,
		Mean:       g.durations.mean(),
		Elapsed:    elapsed,
	}
	if g.spans > 0 {
		s.ViolationRatio = float64(g.violations) / float64(g.spans)
		s.ErrorRatio = float64(g.errorSpans) / float64(g.spans)
	}
	return s
}

// failFast makes the gate final `failed` while its run is open, when its
// fail condition holds and can no longer become false (see
// config.CompiledGate.FailsFast).
func (g *gate) failFast(cg *config.CompiledGate, elapsed time.Duration) {
	if g.status != verdict.Pending || !cg.FailsFast() || g.spans < cg.MinSpans {
		return
	}
	stats := g.stats(elapsed)
	if fails, err := cg.Fails(stats); err == nil && fails {
		g.conclude(verdict.Failed, failedReason(cg, stats, g))
	}
}

// decide gives the gate its final verdict when its run finishes.
func (g *gate) decide(cg *config.CompiledGate, elapsed time.Duration) {
	if g.status != verdict.Pending {
		return
	}
	stats := g.stats(elapsed)
	if g.spans < cg.MinSpans {
		g.conclude(noData(cg, g.spans))
		return
	}
	fails, err := cg.Fails(stats)
	if err != nil {
		g.conclude(verdict.Error, fmt.Sprintf("error: fail condition %s could not be evaluated: %v", cg.Fail, err))
		return
	}
	if fails {
		g.conclude(verdict.Failed, failedReason(cg, stats, g))
		return
	}
	warns, err := cg.Warns(stats)
	if err != nil {
		g.conclude(verdict.Error, fmt.Sprintf("error: warn condition %s could not be evaluated: %v", cg.Warn, err))
		return
	}
	if warns {
		g.conclude(verdict.Warning, withEvidence("warning: ", cg.ExplainWarn(stats), cg.Warn, cg, g))
		return
	}
	g.conclude(verdict.Passed, "passed: "+evidence(cg, g))
}

// conclude gives the gate its final verdict.
func (g *gate) conclude(status verdict.Status, reason string) {
	g.status, g.reason = status, cut(reason, maxReason)
}

func noData(cg *config.CompiledGate, spans int) (verdict.Status, string) {
	what := "no spans matched"
	if spans > 0 {
		what = fmt.Sprintf("%d spans matched, fewer than min_spans %d", spans, cg.MinSpans)
	}
	switch cg.OnNoData {
	case config.NoDataFail:
		return verdict.Failed, "failed: " + what + " (on_no_data: fail)"
	case config.NoDataPass:
		return verdict.Passed, "passed: " + what + " (on_no_data: pass)"
	default:
		return verdict.Inconclusive, "inconclusive: " + what
	}
}

func failedReason(cg *config.CompiledGate, stats config.RunStats, g *gate) string {
	return withEvidence("failed: ", cg.ExplainFail(stats), cg.Fail, cg, g)
}

// withEvidence is "failed: p95 312ms > 250ms (4 of 118 spans violated
// duration < 300ms)"; the condition itself stands in when no term of it can
// be shown with its values.
func withEvidence(prefix, explained, condition string, cg *config.CompiledGate, g *gate) string {
	if explained == "" {
		explained = condition
	}
	return prefix + explained + " (" + evidence(cg, g) + ")"
}

// evidence is what the spans showed: "4 of 118 spans violated duration <
// 300ms, 1 could not be evaluated".
func evidence(cg *config.CompiledGate, g *gate) string {
	if cg.Assert == "" {
		return fmt.Sprintf("%d spans matched", g.spans)
	}
	s := fmt.Sprintf("%d of %d spans violated %s", g.violations, g.spans, readable(cg.Assert))
	if g.evalErrors > 0 {
		s += fmt.Sprintf(", %d could not be evaluated", g.evalErrors)
	}
	return s
}

var durationLiteral = regexp.MustCompile(`duration\("([^"]*)"\)`)

// readable shortens duration literals for reasons: `duration < 300ms`.
func readable(condition string) string {
	return durationLiteral.ReplaceAllString(condition, "$1")
}

func pendingReason(cg *config.CompiledGate, g *gate) string {
	return cut("pending: "+evidence(cg, g)+" so far", maxReason)
}
