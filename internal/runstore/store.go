// Package runstore holds the runs the releasegate exporter judges, and
// their rules: recording annotated spans into each run's gates, finishing
// runs (on request, when idle, at their longest), deciding verdicts, failing
// fast, forgetting runs after retention, the events CI status sinks
// publish, and what storage keeps of runs across restarts.
//
// A Store is safe for concurrent use. Its lock is private, and every method
// holds it for its own duration only, except Snapshot, which takes it a few
// runs at a time, and Samples, which copies under it and leaves the rest to
// its caller. Nothing of a run escapes the lock but copies: views, samples
// and stored records.
package runstore

import (
	"cmp"
	"container/list"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/releasegate/releasegate/internal/traces"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/releasegate/releasegate/annotation"
	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/internal/verdict"
)

// Limits bound what a store holds and for how long.
type Limits struct {
	// IdleTimeout finishes a run that received no span for this long.
	IdleTimeout time.Duration
	// MaxRunDuration finishes a run this long after its first span.
	MaxRunDuration time.Duration
	// Retention is how long a finished run is held.
	Retention time.Duration
	// MaxRuns bounds the runs held, open and finished.
	MaxRuns int
	// MaxSeries bounds the series whose baselines are held; past it the
	// least recently used is forgotten.
	MaxSeries int
}

// Settings configure a store.
type Settings struct {
	Limits
	// Traces bound the traces buffered for trace gates; unused without
	// them.
	Traces traces.Limits
	// Now is the store's clock; nil means time.Now.
	Now func() time.Time
	// Events keeps the runs' events for TakeEvents. Without CI status
	// sinks to take them, leave it off: they would pile up.
	Events bool
}

// Store holds the runs of one gates document.
type Store struct {
	gates     *config.Gates
	limits    Limits
	maxSeries int
	now       func() time.Time
	events    bool

	mu       sync.Mutex
	opened   uint64 // runs opened so far: the next run's seq
	runs     map[string]*run
	finished []*run // in the order they finished: retention and eviction take the oldest first
	outbox   []verdict.Event
	// annotated is scratch space for the span Record reads.
	annotated []annotated
	// buffer assembles traces for the trace gates; nil without them.
	buffer *traces.Buffer
	// series hold the baselines of runs, least recently used first in
	// seriesOrder; taken counts the baselines taken.
	series      map[string]*series
	seriesOrder *list.List
	taken       uint64
	// restoring are the baselines RestoreBaselines read, for Restore's
	// runs to refer to.
	restoring map[uint64]*baseline
}

// New returns an empty store of the gates' runs.
func New(gates *config.Gates, set Settings) *Store {
	now := set.Now
	if now == nil {
		now = time.Now
	}
	s := &Store{
		gates: gates, limits: set.Limits, maxSeries: set.MaxSeries, now: now, events: set.Events, runs: make(map[string]*run),
		series: make(map[string]*series), seriesOrder: list.New(),
	}
	if gates.HasTraceGates() {
		s.buffer = traces.New(gates.TraceFields(), set.Traces)
	}
	return s
}

// Tally is what a call did that self-telemetry counts.
type Tally struct {
	Opened, Evicted int64 // runs
	// Spans ignored: without a run annotation, with annotations of the
	// wrong type, with a run key the store does not hold (InvalidRun);
	// spans of new runs refused at MaxRuns; spans of finished runs.
	NoRun, Malformed, InvalidRun, Refused, Late int64
	// UnknownGates counts gate names the gates document lacks.
	UnknownGates int64
	// SeriesEvicted counts series forgotten, with their baselines, past
	// MaxSeries.
	SeriesEvicted int64
	Traces        TraceTally
	// Finished are the causes of the runs a sweep finished.
	Finished []verdict.FinishCause
}

// Record aggregates the annotated spans of a batch into their runs, and,
// for trace gates, buffers every span into its trace. Traces that had to
// leave the buffer to make room are judged before it returns, outside the
// store's lock.
func (s *Store) Record(td ptrace.Traces) Tally {
	var t Tally
	now := s.now()
	s.mu.Lock()
	var due []*traces.Assembled
	var last *run // spans of a batch mostly share a run
	for _, rs := range td.ResourceSpans().All() {
		resource := rs.Resource().Attributes()
		var learned *run // the run that learned from this resource last
		var buffered *traces.Resource
		if s.buffer != nil {
			buffered = s.buffer.Resource(rs.Resource())
		}
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				attrs := span.Attributes()
				key, annotated := attrs.Get(annotation.Run)
				if annotated && (key.Type() != pcommon.ValueTypeStr || key.Str() == "" || !s.readGates(attrs)) {
					t.Malformed++
					continue
				}
				var runKey string
				if annotated {
					runKey = key.Str()
				}
				if s.buffer != nil {
					if !annotated {
						// Trace gates need the run of every span: the
						// processor annotates only those a span gate matched.
						runKey = s.gates.RunKey(rs.Resource(), ss.Scope(), span)
					}
					if full := s.bufferSpan(now, buffered, ss.Scope(), span, runKey, &t); full != nil {
						due = append(due, full...)
					}
				}
				if runKey == "" {
					t.NoRun++
					continue
				}
				r := last
				if r == nil || r.key != runKey {
					if r = s.runs[runKey]; r == nil {
						if !ValidRunKey(runKey) {
							t.InvalidRun++
							continue
						}
						if r = s.open(runKey, s.seriesOf(rs.Resource(), ss.Scope(), span), now, &t); r == nil {
							t.Refused++
							continue
						}
					}
					last = r
				}
				r.unsaved = true
				if !r.isOpen() {
					r.lateSpans++
					t.Late++
					continue
				}
				if annotated {
					s.recordSpan(r, span, &t)
				}
				if learned != r { // once a resource, not once a span
					r.facts.learn(resource)
					learned = r
				}
				r.facts.learn(attrs)
				r.lastSpan, r.changed = now, true
			}
		}
	}
	s.mu.Unlock()
	if len(due) > 0 {
		s.judge(due, JudgedBufferFull, &t)
	}
	return t
}

// annotated is a gate annotation of the span being recorded: the gate's
// index, or -1 for a name the gates document lacks.
type annotated struct {
	gate    int
	name    string
	outcome annotation.Outcome
}

// readGates reads the span's gate annotations into s.annotated; false when
// there is none, or one is malformed.
func (s *Store) readGates(attrs pcommon.Map) bool {
	s.annotated = s.annotated[:0]
	valid := true
	for k, v := range attrs.All() {
		name, outcome, ok, isValid := annotation.Gate(k, v)
		if !ok {
			continue
		}
		if !isValid {
			valid = false
			break
		}
		i, known := s.gates.Lookup(name)
		if !known {
			i = -1
		}
		s.annotated = append(s.annotated, annotated{gate: i, name: name, outcome: outcome})
	}
	return valid && len(s.annotated) > 0
}

// recordSpan adds the span to the gates s.annotated names. Unknown gate
// names (a sidecar with a newer gates file) are counted and reported with
// the run, unless longer than a gate name can be.
func (s *Store) recordSpan(r *run, span ptrace.Span, t *Tally) {
	duration := time.Duration(int64(span.EndTimestamp()) - int64(span.StartTimestamp()))
	isError := span.Status().Code() == ptrace.StatusCodeError
	for _, a := range s.annotated {
		if a.gate < 0 {
			t.UnknownGates++
			r.addUnknownGate(a.name)
			continue
		}
		g := &r.gates[a.gate]
		g.spans++
		g.durations.add(duration)
		if isError {
			g.errorSpans++
		}
		if a.outcome == annotation.Passed {
			continue
		}
		g.violations++
		if a.outcome == annotation.Error {
			g.evalErrors++
		}
		if len(g.exemplars) < maxExemplars {
			condition := s.gates.At(a.gate).Assert
			if a.outcome == annotation.Error {
				condition = "could not evaluate " + condition
			}
			g.exemplars = append(g.exemplars, verdict.Exemplar{
				TraceID:   span.TraceID().String(),
				SpanID:    span.SpanID().String(),
				Name:      cut(span.Name(), maxExemplarName),
				Condition: condition,
			})
		}
	}
}

// seriesOf is the series of the run a span opens: "" when it is not one
// the store holds (see ValidRunKey).
func (s *Store) seriesOf(resource pcommon.Resource, scope pcommon.InstrumentationScope, span ptrace.Span) string {
	if !s.gates.UsesBaseline() {
		return config.DefaultSeries
	}
	if name := s.gates.Series(resource, scope, span); ValidRunKey(name) {
		return name
	}
	return ""
}

// open opens a new run of key, which must be valid, in the series given,
// with that series' baseline. Past MaxRuns the oldest finished run makes
// room; with none finished, the new run is refused (nil).
func (s *Store) open(key, series string, now time.Time, t *Tally) *run {
	if len(s.runs) >= s.limits.MaxRuns {
		if len(s.finished) == 0 {
			return nil
		}
		s.forgetOldest()
		t.Evicted++
	}
	s.opened++
	r := newRun(key, s.opened, now, s.gates.Len())
	r.series, r.baseline = series, s.baselineOf(series)
	s.runs[key] = r
	t.Opened++
	return r
}

// Sweep judges the traces that went idle, finishes the runs that went idle
// or reached MaxRunDuration, judging their buffered traces first, fails
// fast the gates whose fail condition holds for good, and forgets the runs
// whose retention is over.
func (s *Store) Sweep() Tally {
	var t Tally
	now := s.now()
	if s.buffer != nil {
		s.judgeIdleTraces(now, &t)
		s.mu.Lock()
		var finishing []*traces.Assembled
		for _, r := range s.runs {
			if r.isOpen() && s.finishCause(r, now) != "" {
				finishing = append(finishing, s.buffer.OfRun(r.key)...)
			}
		}
		s.mu.Unlock()
		t.Traces.Buffered -= int64(len(finishing))
		s.judge(finishing, JudgedRunFinished, &t)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.runs {
		if !r.isOpen() {
			continue
		}
		s.announce(r, now)
		if cause := s.finishCause(r, now); cause != "" {
			s.finish(r, cause, now, &t)
			t.Finished = append(t.Finished, cause)
		} else if r.changed {
			r.changed, r.unsaved = false, true // a gate may fail fast
			for i := range r.gates {
				r.gates[i].failFast(s.gates.At(i), r.elapsed(now), now)
			}
		}
	}
	for len(s.finished) > 0 && now.Sub(s.finished[0].finished) >= s.limits.Retention {
		s.forgetOldest()
	}
	return t
}

// JudgeIdleTraces judges the traces that received no span for the trace
// idle timeout, as Sweep does, and does nothing else: the releasegate
// command calls it as the time of the spans it reads moves on.
func (s *Store) JudgeIdleTraces() Tally {
	var t Tally
	if s.buffer != nil {
		s.judgeIdleTraces(s.now(), &t)
	}
	return t
}

func (s *Store) judgeIdleTraces(now time.Time, t *Tally) {
	s.mu.Lock()
	idle := s.buffer.Idle(now)
	s.mu.Unlock()
	t.Traces.Buffered -= int64(len(idle))
	s.judge(idle, JudgedIdle, t)
}

// finishCause is why an open run finishes now, if it does: it went idle,
// or reached MaxRunDuration.
func (s *Store) finishCause(r *run, now time.Time) verdict.FinishCause {
	switch {
	case now.Sub(r.idleSince()) >= s.limits.IdleTimeout:
		return verdict.FinishedIdle
	case now.Sub(r.started) >= s.limits.MaxRunDuration:
		return verdict.FinishedAtMaxDuration
	}
	return ""
}

// forgetOldest forgets the run that finished first. Its slot is cleared,
// or the backing array would keep the run, and its durations, alive.
func (s *Store) forgetOldest() {
	delete(s.runs, s.finished[0].key)
	s.finished[0] = nil
	s.finished = s.finished[1:]
}

// finish ends a run: every gate still pending gets its final verdict,
// compared with the run's baseline when its conditions use one, and a run
// that passed becomes its series' baseline.
func (s *Store) finish(r *run, cause verdict.FinishCause, now time.Time, t *Tally) {
	s.announce(r, now)
	r.finished, r.cause, r.unsaved = now, cause, true
	for i := range r.gates {
		r.gates[i].decide(s.gates.At(i), r.elapsed(now), s.compare(r, i))
	}
	s.passed(r, t)
	s.finished = append(s.finished, r)
	s.emit(verdict.RunFinished, r, now)
}

// announce emits a run's RunStarted event once. Runs are announced by the
// sweep rather than when they open, to keep that off the span path and to
// let the first spans tell the run's commit.
func (s *Store) announce(r *run, now time.Time) {
	if !r.announced {
		r.announced, r.unsaved = true, true
		s.emit(verdict.RunStarted, r, now)
	}
}

func (s *Store) emit(kind verdict.EventKind, r *run, now time.Time) {
	if s.events {
		s.outbox = append(s.outbox, verdict.Event{Kind: kind, Time: now, Run: s.view(r, now, true)})
	}
}

// TakeEvents hands over the events emitted since the last call, in order.
func (s *Store) TakeEvents() []verdict.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	events := s.outbox
	s.outbox = nil
	return events
}

// Abandon emits RunAbandoned for the runs still open: the collector is
// shutting down and will not decide them.
func (s *Store) Abandon() {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.runs {
		if r.isOpen() {
			s.announce(r, now)
			s.emit(verdict.RunAbandoned, r, now)
		}
	}
}

// Finish's answers for a run it cannot open.
var (
	ErrFull          = errors.New("max_runs runs are open")
	ErrInvalidRunKey = errors.New("not a run key the exporter holds")
)

// Finished is what Finish did.
type Finished struct {
	Run verdict.Run
	// Now: this call finished the run, which was open (or unknown).
	Now   bool
	Tally Tally
}

// Finish finishes the run of key now, if it is open, and returns its view.
// A run that never received a span is opened and finished at once, so its
// gates get their no-data verdicts: no traffic is never a silent pass.
func (s *Store) Finish(key string) (Finished, error) { return s.finishRun(key, "") }

// finishRun finishes the run of key, compared with the run other when
// given (see FinishComparedWith).
func (s *Store) finishRun(key, other string) (Finished, error) {
	var f Finished
	if s.buffer != nil {
		// Its traces are judged first, so that its verdict has them all.
		s.mu.Lock()
		due := s.buffer.OfRun(key)
		s.mu.Unlock()
		f.Tally.Traces.Buffered -= int64(len(due))
		s.judge(due, JudgedRunFinished, &f.Tally)
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.runs[key]
	var against *baseline
	if other != "" {
		var err error
		if against, err = s.baselineRun(other); err != nil {
			return f, err
		}
		if r != nil && !r.isOpen() {
			return f, fmt.Errorf("%w (%s): it was compared with %s", ErrFinished, r.cause, r.baselineRun())
		}
	}
	if r == nil {
		if !ValidRunKey(key) {
			return f, ErrInvalidRunKey
		}
		if r = s.open(key, config.DefaultSeries, now, &f.Tally); r == nil {
			return f, ErrFull
		}
	}
	if r.isOpen() {
		if against != nil {
			r.baseline = against
		}
		s.finish(r, verdict.FinishedByAPI, now, &f.Tally)
		f.Now = true
	}
	f.Run = s.view(r, now, true)
	return f, nil
}

// Get returns the view of one run.
func (s *Store) Get(key string) (verdict.Run, bool) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[key]
	if !ok {
		return verdict.Run{}, false
	}
	return s.view(r, now, true), true
}

// List returns every run held, newest first, without their gates.
func (s *Store) List() []verdict.Run {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	runs := make([]*run, 0, len(s.runs))
	for _, r := range s.runs {
		runs = append(runs, r)
	}
	slices.SortFunc(runs, func(a, b *run) int { return cmp.Compare(b.seq, a.seq) })
	views := make([]verdict.Run, len(runs))
	for i, r := range runs {
		views[i] = s.view(r, now, false)
	}
	return views
}
