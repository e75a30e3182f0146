package releasegateexporter

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

// gateRun is one gate's aggregates in one run, and its verdict.
type gateRun struct {
	spans      int // matched spans
	violations int // of those, spans whose assert did not hold (errored included)
	evalErrors int // of those, spans whose assert failed to evaluate
	errorSpans int // matched spans with status error
	durations  durations
	exemplars  []verdict.Exemplar
	status     verdict.Status // pending until final; a final status never changes
	reason     string
}

func (g *gateRun) stats(elapsed time.Duration) config.RunStats {
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
func (g *gateRun) failFast(gate *config.CompiledGate, elapsed time.Duration) {
	if g.status != verdict.Pending || !gate.FailsFast() || g.spans < gate.MinSpans {
		return
	}
	stats := g.stats(elapsed)
	if fails, err := gate.Fails(stats); err == nil && fails {
		g.conclude(verdict.Failed, failedReason(gate, stats, g))
	}
}

// decide gives the gate its final verdict when its run finishes.
func (g *gateRun) decide(gate *config.CompiledGate, elapsed time.Duration) {
	if g.status != verdict.Pending {
		return
	}
	stats := g.stats(elapsed)
	if g.spans < gate.MinSpans {
		g.conclude(noData(gate, g.spans))
		return
	}
	fails, err := gate.Fails(stats)
	if err != nil {
		g.conclude(verdict.Error, fmt.Sprintf("error: fail condition %s could not be evaluated: %v", gate.Fail, err))
		return
	}
	if fails {
		g.conclude(verdict.Failed, failedReason(gate, stats, g))
		return
	}
	warns, err := gate.Warns(stats)
	if err != nil {
		g.conclude(verdict.Error, fmt.Sprintf("error: warn condition %s could not be evaluated: %v", gate.Warn, err))
		return
	}
	if warns {
		g.conclude(verdict.Warning, withEvidence("warning: ", gate.ExplainWarn(stats), gate.Warn, gate, g))
		return
	}
	g.conclude(verdict.Passed, "passed: "+evidence(gate, g))
}

// conclude gives the gate its final verdict.
func (g *gateRun) conclude(status verdict.Status, reason string) {
	g.status, g.reason = status, cut(reason, maxReason)
}

func noData(gate *config.CompiledGate, spans int) (verdict.Status, string) {
	what := "no spans matched"
	if spans > 0 {
		what = fmt.Sprintf("%d spans matched, fewer than min_spans %d", spans, gate.MinSpans)
	}
	switch gate.OnNoData {
	case config.NoDataFail:
		return verdict.Failed, "failed: " + what + " (on_no_data: fail)"
	case config.NoDataPass:
		return verdict.Passed, "passed: " + what + " (on_no_data: pass)"
	default:
		return verdict.Inconclusive, "inconclusive: " + what
	}
}

func failedReason(gate *config.CompiledGate, stats config.RunStats, g *gateRun) string {
	return withEvidence("failed: ", gate.ExplainFail(stats), gate.Fail, gate, g)
}

// withEvidence is "failed: p95 312ms > 250ms (4 of 118 spans violated
// duration < 300ms)"; the condition itself stands in when no term of it can
// be shown with its values.
func withEvidence(prefix, explained, condition string, gate *config.CompiledGate, g *gateRun) string {
	if explained == "" {
		explained = condition
	}
	return prefix + explained + " (" + evidence(gate, g) + ")"
}

// evidence is what the spans showed: "4 of 118 spans violated duration <
// 300ms, 1 could not be evaluated".
func evidence(gate *config.CompiledGate, g *gateRun) string {
	if gate.Assert == "" {
		return fmt.Sprintf("%d spans matched", g.spans)
	}
	s := fmt.Sprintf("%d of %d spans violated %s", g.violations, g.spans, readable(gate.Assert))
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

func pendingReason(gate *config.CompiledGate, g *gateRun) string {
	return cut("pending: "+evidence(gate, g)+" so far", maxReason)
}
