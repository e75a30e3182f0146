package releasegateexporter

import (
	"cmp"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/releasegate/releasegate/annotation"
	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/verdict"
)

// maxUnknownGates bounds the unknown gate names a run reports.
const maxUnknownGates = 10

// Lengths, in bytes, of what the exporter keeps from spans, so that a span
// with huge attributes cannot make a run big. A run key longer than
// MaxRunIDLength (or not UTF-8) is refused, not cut: two runs cut to one
// key would share a verdict.
const (
	// maxGateName is the longest gate name a gates document allows: a
	// longer unknown name is counted but not listed with the run.
	maxGateName = 100
	// maxExemplarName cuts the span names exemplars show.
	maxExemplarName = 256
	// maxFact is the longest commit, repository or environment taken from
	// a span; a longer value is ignored.
	maxFact = 512
)

// run is one run's gates and lifecycle.
type run struct {
	key          string
	seq          uint64 // opening order: newest first is highest first
	started      time.Time
	lastSpan     time.Time
	finished     time.Time // zero while open
	cause        verdict.FinishCause
	gates        []gateRun // indexed like config.Gates
	lateSpans    int
	unknownGates []string
	changed      bool      // spans arrived since the last fail-fast check
	announced    bool      // its RunStarted event went out
	unsaved      bool      // changed since it was last saved to storage
	resumed      time.Time // when it was restored from storage, if it was
	facts        facts
}

// facts are what CI status sinks need to know of a run, read from its
// spans' resource or span attributes (OpenTelemetry semantic conventions).
type facts struct {
	revision    string // vcs.ref.head.revision: the commit to set statuses on
	repository  string // vcs.repository.url.full
	environment string // deployment.environment.name
}

var factKeys = [...]string{"vcs.ref.head.revision", "vcs.repository.url.full", "deployment.environment.name"}

// learn fills in the facts the run does not know yet from a resource's or
// a span's attributes.
func (f *facts) learn(attrs pcommon.Map) {
	for i, field := range [...]*string{&f.revision, &f.repository, &f.environment} {
		if *field != "" {
			continue
		}
		if v, ok := attrs.Get(factKeys[i]); ok && v.Type() == pcommon.ValueTypeStr && len(v.Str()) <= maxFact {
			*field = v.Str()
		}
	}
}

func (r *run) open() bool { return r.finished.IsZero() }

// idleSince is when the run's idle timeout started: its last span, or its
// restoring from storage when that came later.
func (r *run) idleSince() time.Time {
	if r.resumed.After(r.lastSpan) {
		return r.resumed
	}
	return r.lastSpan
}

func (r *run) elapsed(now time.Time) time.Duration {
	if !r.open() {
		return r.finished.Sub(r.started)
	}
	return now.Sub(r.started)
}

func (r *run) status() verdict.Status {
	worst := verdict.Passed
	for i := range r.gates {
		if verdict.Severity(r.gates[i].status) > verdict.Severity(worst) {
			worst = r.gates[i].status
		}
	}
	return worst
}

type limits struct {
	idleTimeout    time.Duration
	maxRunDuration time.Duration
	retention      time.Duration
	maxRuns        int
}

// runStore holds the runs. Spans are recorded under its lock in batches;
// verdicts are decided by sweep, off the span path.
type runStore struct {
	gates  *config.Gates
	limits limits
	now    func() time.Time

	mu       sync.Mutex
	opened   uint64
	runs     map[string]*run
	finished []*run // in the order they finished: retention and eviction take the oldest first
	// events wait here, in order, for the exporter to hand them to the
	// sinks; only kept when there are sinks.
	events     []verdict.Event
	publishing bool
}

func newRunStore(gates *config.Gates, l limits) *runStore {
	return &runStore{gates: gates, limits: l, now: time.Now, runs: make(map[string]*run)}
}

// tally is what one batch did, for self-telemetry.
type tally struct {
	opened, evicted                             int64
	noRun, malformed, invalidRun, refused, late int64
	unknownGates                                int64
}

// record aggregates the annotated spans of a batch into their runs.
func (s *runStore) record(td ptrace.Traces) tally {
	var t tally
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var last *run // spans of a batch mostly share a run
	for _, rs := range td.ResourceSpans().All() {
		resource := rs.Resource().Attributes()
		var learned *run // the run that learned from this resource last
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				attrs := span.Attributes()
				key, ok := attrs.Get(annotation.Run)
				if !ok {
					t.noRun++
					continue
				}
				matched, ok := attrs.Get(annotation.Matched)
				if key.Type() != pcommon.ValueTypeStr || key.Str() == "" || !ok || matched.Type() != pcommon.ValueTypeSlice {
					t.malformed++
					continue
				}
				r := last
				if r == nil || r.key != key.Str() {
					if r = s.runs[key.Str()]; r == nil {
						if !validRunKey(key.Str()) {
							t.invalidRun++
							continue
						}
						if r = s.openRun(key.Str(), now, &t); r == nil {
							t.refused++
							continue
						}
					}
					last = r
				}
				r.unsaved = true
				if !r.open() {
					r.lateSpans++
					t.late++
					continue
				}
				s.recordSpan(r, span, matched.Slice(), &t)
				if learned != r { // once a resource, not once a span
					r.facts.learn(resource)
					learned = r
				}
				r.facts.learn(attrs)
				r.lastSpan, r.changed = now, true
			}
		}
	}
	return t
}

func (s *runStore) recordSpan(r *run, span ptrace.Span, matched pcommon.Slice, t *tally) {
	duration := time.Duration(int64(span.EndTimestamp()) - int64(span.StartTimestamp()))
	isError := span.Status().Code() == ptrace.StatusCodeError
	for _, name := range matched.All() {
		if g := s.gateOf(r, name, t); g != nil {
			g.spans++
			g.durations.add(duration)
			if isError {
				g.errorSpans++
			}
		}
	}
	attrs := span.Attributes()
	errored, hasErrored := attrs.Get(annotation.Errored)
	hasErrored = hasErrored && errored.Type() == pcommon.ValueTypeSlice
	if hasErrored {
		for _, name := range errored.Slice().All() {
			if g := s.gateOf(r, name, nil); g != nil {
				g.evalErrors++
			}
		}
	}
	v, ok := attrs.Get(annotation.Violated)
	if !ok || v.Type() != pcommon.ValueTypeSlice {
		return
	}
	for _, name := range v.Slice().All() {
		g := s.gateOf(r, name, nil)
		if g == nil {
			continue
		}
		g.violations++
		if len(g.exemplars) < maxExemplars {
			i, _ := s.gates.Lookup(name.Str())
			condition := s.gates.At(i).Assert
			if hasErrored && contains(errored.Slice(), name.Str()) {
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

// gateOf returns the run's state of the named gate. An unknown name (a
// sidecar with a newer gates file) is counted, when t is given, and
// reported with the run unless it is longer than a gate name can be.
func (s *runStore) gateOf(r *run, name pcommon.Value, t *tally) *gateRun {
	i, ok := s.gates.Lookup(name.Str())
	if ok {
		return &r.gates[i]
	}
	if t != nil {
		t.unknownGates++
		if len(r.unknownGates) < maxUnknownGates && len(name.Str()) <= maxGateName && !slices.Contains(r.unknownGates, name.Str()) {
			r.unknownGates = append(r.unknownGates, name.Str())
		}
	}
	return nil
}

func contains(names pcommon.Slice, name string) bool {
	for _, v := range names.All() {
		if v.Str() == name {
			return true
		}
	}
	return false
}

// validRunKey reports whether the exporter holds runs of key: at most
// MaxRunIDLength bytes of UTF-8, which Prometheus needs of label values.
func validRunKey(key string) bool {
	return key != "" && len(key) <= MaxRunIDLength && utf8.ValidString(key)
}

// cut shortens s to at most n bytes, cut at a character and ended with
// "…" when it had to be cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := max(n-len("…"), 0)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// openRun opens a new run of key, which must be valid. Past max_runs the
// oldest finished run makes room; with none finished, the new run is
// refused (nil).
func (s *runStore) openRun(key string, now time.Time, t *tally) *run {
	if len(s.runs) >= s.limits.maxRuns {
		if len(s.finished) == 0 {
			return nil
		}
		s.forgetOldest()
		t.evicted++
	}
	s.opened++
	r := &run{key: key, seq: s.opened, started: now, lastSpan: now, unsaved: true, gates: make([]gateRun, s.gates.Len())}
	for i := range r.gates {
		r.gates[i].status = verdict.Pending
	}
	s.runs[key] = r
	t.opened++
	return r
}

// sweep finishes the runs that went idle or reached max_run_duration, fails
// fast the gates whose fail condition holds for good, and forgets the runs
// whose retention is over. It returns the finish causes of the runs it
// finished and how many it forgot.
func (s *runStore) sweep() (finished []verdict.FinishCause, expired int) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.runs {
		if !r.open() {
			continue
		}
		s.announce(r, now)
		switch {
		case now.Sub(r.idleSince()) >= s.limits.idleTimeout:
			s.finish(r, verdict.FinishedIdle, now)
			finished = append(finished, verdict.FinishedIdle)
		case now.Sub(r.started) >= s.limits.maxRunDuration:
			s.finish(r, verdict.FinishedAtMaxDuration, now)
			finished = append(finished, verdict.FinishedAtMaxDuration)
		case r.changed:
			r.changed, r.unsaved = false, true // a gate may fail fast
			for i := range r.gates {
				r.gates[i].failFast(s.gates.At(i), r.elapsed(now))
			}
		}
	}
	for len(s.finished) > 0 && now.Sub(s.finished[0].finished) >= s.limits.retention {
		s.forgetOldest()
		expired++
	}
	return finished, expired
}

// forgetOldest forgets the run that finished first. Its slot is cleared,
// or the backing array would keep the run, and its durations, alive.
func (s *runStore) forgetOldest() {
	delete(s.runs, s.finished[0].key)
	s.finished[0] = nil
	s.finished = s.finished[1:]
}

// finish ends a run: every gate still pending gets its final verdict.
func (s *runStore) finish(r *run, cause verdict.FinishCause, now time.Time) {
	s.announce(r, now)
	r.finished, r.cause, r.unsaved = now, cause, true
	for i := range r.gates {
		r.gates[i].decide(s.gates.At(i), r.elapsed(now))
	}
	s.finished = append(s.finished, r)
	s.emit(verdict.RunFinished, r, now)
}

// announce emits a run's RunStarted event once. Runs are announced by the
// sweep rather than when they open, to keep that off the span path and to
// let the first spans tell the run's commit.
func (s *runStore) announce(r *run, now time.Time) {
	if !r.announced {
		r.announced, r.unsaved = true, true
		s.emit(verdict.RunStarted, r, now)
	}
}

func (s *runStore) emit(kind verdict.EventKind, r *run, now time.Time) {
	if s.publishing {
		s.events = append(s.events, verdict.Event{Kind: kind, Time: now, Run: s.view(r, now, true)})
	}
}

// takeEvents hands over the events emitted so far, in order.
func (s *runStore) takeEvents() []verdict.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	events := s.events
	s.events = nil
	return events
}

// abandon emits RunAbandoned for the runs still open: the collector is
// shutting down and will not decide them.
func (s *runStore) abandon() {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.runs {
		if r.open() {
			s.announce(r, now)
			s.emit(verdict.RunAbandoned, r, now)
		}
	}
}

// finishRun finishes the run of key now, if it is open, and returns its
// view. A run that never received a span is opened and finished at once, so
// its gates get their no-data verdicts: no traffic is never a silent pass.
// ok is false when the run could not be held (max_runs, or a key the API
// should have refused).
func (s *runStore) finishRun(key string) (view verdict.Run, finishedNow bool, t tally, ok bool) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.runs[key]
	if r == nil && validRunKey(key) {
		r = s.openRun(key, now, &t)
	}
	if r == nil {
		return verdict.Run{}, false, t, false
	}
	if r.open() {
		s.finish(r, verdict.FinishedByAPI, now)
		finishedNow = true
	}
	return s.view(r, now, true), finishedNow, t, true
}

// get returns the view of one run.
func (s *runStore) get(key string) (verdict.Run, bool) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.runs[key]
	if !ok {
		return verdict.Run{}, false
	}
	return s.view(r, now, true), true
}

// list returns every run held, newest first, without their gates.
func (s *runStore) list() []verdict.Run {
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
