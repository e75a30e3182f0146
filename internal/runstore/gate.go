package runstore

import (
	"fmt"
	"regexp"
	"time"

	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/internal/verdict"
)

// maxExemplars is how many violating spans a gate keeps as evidence.
const maxExemplars = 5

// maxReason cuts a verdict's reason, in bytes. Reasons quote the gate's
// expressions and evaluation errors, whose length the gates file decides;
// CI statuses show far less (GitHub, 140 characters).
const maxReason = 1024

// gate is one gate's aggregates in one run, and its verdict. A trace
// gate's counts and durations are of traces: spans counts its matched
// traces, errorSpans those with an error span.
type gate struct {
	spans      int // matched spans
	violations int // of those, spans whose assert did not hold (errored included)
	evalErrors int // of those, spans whose assert failed to evaluate
	errorSpans int // matched spans with status error
	durations  durations
	exemplars  []verdict.Exemplar
	status     verdict.Status // pending until final; a final status never changes
	reason     string
	// failedAt is when the gate failed fast, while its run was open; its
	// reason is worked out again at finish, from the final counts.
	failedAt time.Time
	// observed is what a trace gate's assert compared in the first
	// violating trace, observedTrace: "14" in trace 4bf92f35….
	observed, observedTrace string
	// compared is its comparison with the run's baseline, once the run
	// finished compared with one.
	compared *compared
}

func (g *gate) stats(cg *config.CompiledGate, elapsed time.Duration) config.RunStats {
	s := config.RunStats{Aggregates: config.Aggregates{
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
	}}
	if g.spans > 0 {
		s.ViolationRatio = float64(g.violations) / float64(g.spans)
		s.ErrorRatio = float64(g.errorSpans) / float64(g.spans)
	}
	if cg.Scope == config.ScopeTrace {
		s.Spans, s.Traces = 0, g.spans
	}
	return g.compared.with(s)
}

// failFast makes the gate final `failed` while its run is open, when its
// fail condition holds and can no longer become false (see
// config.CompiledGate.FailsFast).
func (g *gate) failFast(cg *config.CompiledGate, elapsed time.Duration, now time.Time) {
	if g.status != verdict.Pending || !cg.FailsFast() || g.spans < cg.MinCount() {
		return
	}
	stats := g.stats(cg, elapsed)
	if fails, err := cg.Fails(stats); err == nil && fails {
		g.conclude(verdict.Failed, failedReason(cg, stats, g, ""))
		g.failedAt = now
	}
}

// decide gives the gate its final verdict when its run finishes, compared
// with the run's baseline as against says. A gate that failed fast stays
// failed, and its reason is the run's as it finally stands: spans kept
// counting after the moment it failed.
//
// A gate that could not be compared is judged on the terms of its
// conditions that do not use baseline names. When that fails it, it
// fails; else it is inconclusive when a side had too few samples, or when
// there is no baseline and on_no_baseline says so. The reason says why it
// was not compared.
func (g *gate) decide(cg *config.CompiledGate, elapsed time.Duration, against comparison) {
	g.compared = against.compared
	stats := g.stats(cg, elapsed)
	note := against.note
	switch {
	case !g.failedAt.IsZero():
		g.conclude(verdict.Failed, failedReason(cg, stats, g, note))
		return
	case g.status != verdict.Pending:
		return
	case g.spans < cg.MinCount():
		g.conclude(noData(cg, g.spans))
		return
	}
	fails, err := cg.Fails(stats)
	if err != nil {
		g.conclude(verdict.Error, fmt.Sprintf("error: fail condition %s could not be evaluated: %v", cg.Fail, err))
		return
	}
	if fails {
		g.conclude(verdict.Failed, failedReason(cg, stats, g, note))
		return
	}
	if against.tooFew || against.missing && cg.OnNoBaseline == config.NoBaselineInconclusive {
		if against.missing {
			note += " (on_no_baseline: inconclusive)"
		}
		g.conclude(verdict.Inconclusive, "inconclusive: "+note+" ("+evidence(cg, g)+")")
		return
	}
	warns, err := cg.Warns(stats)
	if err != nil {
		g.conclude(verdict.Error, fmt.Sprintf("error: warn condition %s could not be evaluated: %v", cg.Warn, err))
		return
	}
	if warns {
		g.conclude(verdict.Warning, reason("warning: ", or(cg.ExplainWarn(stats), readable(cg.Warn)), "fail", notHolding(cg, stats), note, cg, g))
		return
	}
	g.conclude(verdict.Passed, reason("passed: ", notHolding(cg, stats), "warn", cg.CompareWarn(stats), note, cg, g))
}

// reasonNow is the gate's reason as the run stands: while it is open, a
// pending gate's and a gate that failed fast are worked out anew.
func (g *gate) reasonNow(cg *config.CompiledGate, stats config.RunStats, open bool) string {
	switch {
	case g.status == verdict.Pending:
		return cut(reason("pending: ", notHolding(cg, stats)+" so far", "", "", "", cg, g), maxReason)
	case open && !g.failedAt.IsZero():
		return cut(failedReason(cg, stats, g, ""), maxReason)
	default:
		return g.reason
	}
}

// conclude gives the gate its final verdict.
func (g *gate) conclude(status verdict.Status, reason string) {
	g.status, g.reason = status, cut(reason, maxReason)
}

func noData(cg *config.CompiledGate, n int) (verdict.Status, string) {
	unit := units(cg)
	what := "no " + unit + " matched"
	if n > 0 {
		what = fmt.Sprintf("%d %s matched, fewer than min_%s %d", n, unit, unit, cg.MinCount())
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

func failedReason(cg *config.CompiledGate, stats config.RunStats, g *gate, note string) string {
	return reason("failed: ", or(cg.ExplainFail(stats), readable(cg.Fail)), "", "", note, cg, g)
}

// notHolding shows a fail condition that does not hold: each comparison
// with its observed value, "p95 425ms ≤ 800ms", or the condition itself
// when it has none to show.
func notHolding(cg *config.CompiledGate, stats config.RunStats) string {
	return or(cg.CompareFail(stats), "not "+readable(cg.Fail))
}

// reason is "passed: p95 425ms ≤ 800ms; warn: p95 425ms ≤ 500ms (0 of 40
// spans violated duration < 1s)": the state, what decided it, what the
// other condition (named) stood at, when it has something to show, a note
// (why there was no comparison with a baseline), and the evidence of the
// spans.
func reason(prefix, decided, other, otherShown, note string, cg *config.CompiledGate, g *gate) string {
	s := prefix + decided
	if otherShown != "" {
		s += "; " + other + ": " + otherShown
	}
	if note != "" {
		s += "; " + note
	}
	return s + " (" + evidence(cg, g) + ")"
}

func or(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}

// evidence is what the spans (traces) showed: "4 of 118 spans violated
// duration < 300ms, 1 could not be evaluated", "3 of 40 traces violated
// count(spans, .name == "SELECT") <= 10: 14 in trace 4bf92f35…".
func evidence(cg *config.CompiledGate, g *gate) string {
	unit := units(cg)
	if cg.Assert == "" {
		return fmt.Sprintf("%d %s matched", g.spans, unit)
	}
	s := fmt.Sprintf("%d of %d %s violated %s", g.violations, g.spans, unit, readable(cg.Assert))
	if g.observed != "" {
		s += fmt.Sprintf(": %s in trace %s…", g.observed, g.observedTrace[:min(8, len(g.observedTrace))])
	}
	if g.evalErrors > 0 {
		s += fmt.Sprintf(", %d could not be evaluated", g.evalErrors)
	}
	return s
}

// units is what a gate counts: "spans", or "traces".
func units(cg *config.CompiledGate) string {
	if cg.Scope == config.ScopeTrace {
		return "traces"
	}
	return "spans"
}

var durationLiteral = regexp.MustCompile(`duration\("([^"]*)"\)`)

// readable shortens duration literals for reasons: `duration < 300ms`.
func readable(condition string) string {
	return durationLiteral.ReplaceAllString(condition, "$1")
}
