// Package replay judges recorded spans as a collector that runs the
// releasegate processor and exporter judges them as they arrive: each batch
// is annotated by the processor's code (internal/annotate) and recorded
// into the exporter's run store (internal/runstore), and at the end of the
// recording every run is finished, so a verdict offline and a verdict in
// the stream are the same verdict.
package replay

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/releasegate/releasegate/annotation"
	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/internal/annotate"
	"github.com/releasegate/releasegate/internal/runstore"
	"github.com/releasegate/releasegate/internal/verdict"
)

// Judge judges the runs of recorded spans.
type Judge struct {
	annotator *annotate.Annotator
	tally     *annotate.Tally
	store     *runstore.Store
	// now is the store's clock: the latest end of a span recorded so far,
	// so that a run's times are those of its spans, whenever it is judged.
	// Traces are judged once idle in that time (judged is when they last
	// were), as the collector judges them once idle; runs are finished
	// at the end of the recording only.
	now, judged time.Time
	// Counts reports what could not be judged.
	Counts Counts
	// baselines are the runs the baseline recordings held, by series.
	baselines  map[string]string
	isBaseline map[string]bool
}

// Counts are the spans a judge read, and those it could not use.
type Counts struct {
	Spans int64
	// WithoutRun: spans a gate matched that carry no run key.
	WithoutRun int64
	// Refused: spans of runs past max_runs. Late: spans of runs a baseline
	// recording already finished (the same run key).
	Refused, Late int64
	// MatchErrors and AssertErrors: evaluations that failed, all gates
	// together (the gates' verdicts count theirs).
	MatchErrors, AssertErrors int64
	// TracesTooLarge: traces past max_spans_per_trace, judged on their
	// first spans. TraceSpansLate: spans of traces judged before they came
	// (idle for trace_idle_timeout in the spans' time).
	TracesTooLarge, TraceSpansLate int64
}

// New returns a judge of the gates, whose run store has settings (their
// clock and events are the judge's own).
func New(gates *config.Gates, settings runstore.Settings) *Judge {
	j := &Judge{annotator: annotate.New(gates), baselines: map[string]string{}, isBaseline: map[string]bool{}}
	j.tally = j.annotator.NewTally()
	settings.Now = func() time.Time { return j.now }
	settings.Events = false
	j.store = runstore.New(gates, settings)
	return j
}

// Add judges a batch. Annotations the spans were recorded with (by a
// collector of other gates) are replaced by those of the judge's gates:
// spans no gate matches lose theirs.
func (j *Judge) Add(td ptrace.Traces) {
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				attrs := span.Attributes()
				attrs.RemoveIf(recordedAnnotation)
				if end := span.EndTimestamp().AsTime(); end.After(j.now) {
					j.now = end
				}
			}
		}
	}
	j.annotator.Spans(td, j.tally)
	j.Counts.Spans += j.tally.Spans
	j.Counts.WithoutRun += j.tally.WithoutRun
	for i := range j.tally.MatchErrors {
		j.Counts.MatchErrors += j.tally.MatchErrors[i]
		j.Counts.AssertErrors += j.tally.AssertErrors[i]
	}
	j.tally.Reset()
	j.count(j.store.Record(td))
	if j.now.Sub(j.judged) >= time.Second {
		j.judged = j.now
		j.count(j.store.JudgeIdleTraces())
	}
}

func recordedAnnotation(k string, _ pcommon.Value) bool {
	return k == annotation.Run || strings.HasPrefix(k, annotation.GatePrefix)
}

func (j *Judge) count(t runstore.Tally) {
	j.Counts.Refused += t.Refused
	j.Counts.Late += t.Late
	j.Counts.TracesTooLarge += t.Traces.TooLarge
	j.Counts.TraceSpansLate += t.Traces.LateSpans
}

// FinishBaselines finishes the runs added so far: they are the baseline
// runs of their series, which the runs added after compare with.
func (j *Judge) FinishBaselines() ([]verdict.Run, error) {
	runs, err := j.finishOpen(func(key string) (runstore.Finished, error) { return j.store.Finish(key) })
	for _, r := range runs {
		j.isBaseline[r.Run] = true
		if _, ok := j.baselines[r.Series]; !ok {
			j.baselines[r.Series] = r.Run // the latest of the series: runs are newest first
		}
	}
	slices.Reverse(runs)
	return runs, err
}

// Finish finishes every run still open, each compared with the baseline
// run of its series when the baseline recordings had one, and returns
// them, in the order their first spans came. With only, it finishes that
// run alone: one the recording did not hold gets the no-data verdicts of
// its gates.
func (j *Judge) Finish(only string) ([]verdict.Run, error) {
	finish := func(key string) (runstore.Finished, error) {
		if view, ok := j.store.Get(key); ok {
			if b, ok := j.baselines[view.Series]; ok {
				return j.store.FinishComparedWith(key, b)
			}
		}
		return j.store.Finish(key)
	}
	if only != "" {
		f, err := finish(only)
		j.count(f.Tally)
		if err != nil {
			return nil, err
		}
		return []verdict.Run{f.Run}, nil
	}
	runs, err := j.finishOpen(finish)
	slices.Reverse(runs)
	return runs, err
}

// finishOpen finishes the runs not yet finished, newest first.
func (j *Judge) finishOpen(finish func(string) (runstore.Finished, error)) ([]verdict.Run, error) {
	var runs []verdict.Run
	var errs []error
	for _, r := range j.store.List() {
		if r.Finished || j.isBaseline[r.Run] {
			continue
		}
		f, err := finish(r.Run)
		j.count(f.Tally)
		if err != nil {
			errs = append(errs, fmt.Errorf("run %q: %w", r.Run, err))
			continue
		}
		runs = append(runs, f.Run)
	}
	return runs, errors.Join(errs...)
}
