// Package annotate is the releasegate processor's work, shared with the
// releasegate command that judges recorded spans: every span of a batch is
// evaluated against the gates, and the spans a gate matched are annotated
// with their run and outcomes (package annotation), for the exporter's run
// store to read.
package annotate

import (
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/releasegate/releasegate/annotation"
	"github.com/releasegate/releasegate/config"
)

// Annotator annotates the spans of one gates document.
type Annotator struct {
	gates *config.Gates
	keys  []string // the gates' annotation keys
}

// Tally counts what Spans did, per gate where it says so (indexed as the
// gates are). It is kept by the caller, so that counting allocates nothing.
type Tally struct {
	Spans int64
	// WithoutRun counts spans a gate matched that had no run key: they are
	// left unannotated.
	WithoutRun int64
	// Matches, Violations, MatchErrors and AssertErrors count per gate.
	Matches, Violations, MatchErrors, AssertErrors []int64
}

// New returns the annotator of gates.
func New(gates *config.Gates) *Annotator {
	names := make([]string, gates.Len())
	for i := range names {
		names[i] = gates.At(i).Name
	}
	return &Annotator{gates: gates, keys: annotation.Keys(names)}
}

// NewTally returns a zero tally sized for the gates.
func (a *Annotator) NewTally() *Tally {
	n := a.gates.Len()
	return &Tally{
		Matches:      make([]int64, n),
		Violations:   make([]int64, n),
		MatchErrors:  make([]int64, n),
		AssertErrors: make([]int64, n),
	}
}

// Reset zeroes the tally for its next batch.
func (t *Tally) Reset() {
	t.Spans, t.WithoutRun = 0, 0
	clear(t.Matches)
	clear(t.Violations)
	clear(t.MatchErrors)
	clear(t.AssertErrors)
}

// Spans evaluates and annotates every span of td, adding to t.
func (a *Annotator) Spans(td ptrace.Traces, t *Tally) {
	ev := a.gates.Evaluator()
	defer ev.Release()
	for _, rs := range td.ResourceSpans().All() {
		resource := rs.Resource()
		for _, ss := range rs.ScopeSpans().All() {
			scope := ss.Scope()
			for _, span := range ss.Spans().All() {
				t.Spans++
				r := ev.Evaluate(resource, scope, span)
				for _, i := range r.MatchErrors {
					t.MatchErrors[i]++
				}
				if len(r.Matched) == 0 {
					continue
				}
				if r.Run == "" {
					t.WithoutRun++
					continue
				}
				annotation.Write(span.Attributes(), r.Run, a.keys, r.Matched, r.Violated, r.Errored)
				for _, i := range r.Matched {
					t.Matches[i]++
				}
				for _, i := range r.Violated {
					t.Violations[i]++
				}
				for _, i := range r.Errored {
					t.AssertErrors[i]++
				}
			}
		}
	}
}
