package runstore

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/internal/stats"
	"github.com/releasegate/releasegate/internal/verdict"
)

// snapshotChunk is how many runs a snapshot copies per hold of the store's
// lock, so that spans wait for a millisecond at most (16 runs of 20
// sketched gates).
const snapshotChunk = 16

// StoredVersion is the version of the records below; records of another
// version are skipped.
const StoredVersion = 1

// StoredRun is a run as saved.
type StoredRun struct {
	Version      int                 `json:"v"`
	Key          string              `json:"key"`
	Seq          uint64              `json:"seq"`
	Started      time.Time           `json:"started"`
	LastSpan     time.Time           `json:"last_span"`
	Finished     time.Time           `json:"finished,omitzero"`
	Cause        verdict.FinishCause `json:"cause,omitempty"`
	LateSpans    int                 `json:"late_spans,omitempty"`
	UnknownGates []string            `json:"unknown_gates,omitempty"`
	Announced    bool                `json:"announced,omitempty"`
	Revision     string              `json:"revision,omitempty"`
	Repository   string              `json:"repository,omitempty"`
	Environment  string              `json:"environment,omitempty"`
	// Series is the run's series; Baseline the id of the baseline it
	// compares with (a StoredBaseline, while the run is open) and
	// BaselineRun that baseline's run.
	Series      string       `json:"series,omitempty"`
	Baseline    uint64       `json:"baseline,omitempty"`
	BaselineRun string       `json:"baseline_run,omitempty"`
	Gates       []StoredGate `json:"gates"`
}

// StoredGate is a gate's state in a run, by the gate's name: a gates file
// changed between two starts keeps the counts of the gates it still has.
type StoredGate struct {
	Name     string         `json:"name"`
	Status   verdict.Status `json:"status"`
	Reason   string         `json:"reason,omitempty"`
	FailedAt time.Time      `json:"failed_at,omitzero"`
	// Observed and ObservedTrace: what a trace gate's first violating
	// trace showed.
	Observed      string             `json:"observed,omitempty"`
	ObservedTrace string             `json:"observed_trace,omitempty"`
	Spans         int                `json:"spans"`
	Violations    int                `json:"violations"`
	EvalErrors    int                `json:"eval_errors"`
	ErrorSpans    int                `json:"error_spans"`
	Exemplars     []verdict.Exemplar `json:"exemplars,omitempty"`
	StoredDurations
	// Compared is its comparison with the run's baseline, once decided.
	Compared *StoredComparison `json:"compared,omitempty"`
}

// StoredDurations are a gate's durations as saved: exact (sorted,
// nanoseconds) while few, else the DDSketch in its own binary encoding.
type StoredDurations struct {
	Count  int             `json:"count"`
	Sum    float64         `json:"sum"`
	Min    time.Duration   `json:"min"`
	Max    time.Duration   `json:"max"`
	Exact  []time.Duration `json:"exact,omitempty"`
	Sketch []byte          `json:"sketch,omitempty"`
}

// StoredComparison is a gate's comparison with its baseline as saved.
type StoredComparison struct {
	Run      string            `json:"run"`
	Baseline config.Aggregates `json:"baseline"`
	Ratio    stats.Ratio       `json:"ratio"`
}

// Snapshot copies the runs changed since the last snapshot (every run with
// all), and lists the sequence numbers of every run held. It holds the lock
// for snapshotChunk runs at a time; encoding happens after, without it. A
// run forgotten meanwhile is deleted by the next save.
func (s *Store) Snapshot(all bool) (changed []StoredRun, held []uint64) {
	s.mu.Lock()
	runs := make([]*run, 0, len(s.runs))
	for _, r := range s.runs {
		runs = append(runs, r)
	}
	s.mu.Unlock()
	held = make([]uint64, len(runs))
	for i, r := range runs {
		held[i] = r.seq
	}
	var scratch []byte
	for chunk := range slices.Chunk(runs, snapshotChunk) {
		s.mu.Lock()
		for _, r := range chunk {
			if r.unsaved || all {
				r.unsaved = false
				changed = append(changed, s.stored(r, &scratch))
			}
		}
		s.mu.Unlock()
	}
	return changed, held
}

func (s *Store) stored(r *run, scratch *[]byte) StoredRun {
	sr := StoredRun{
		Version:      StoredVersion,
		Key:          r.key,
		Seq:          r.seq,
		Started:      r.started,
		LastSpan:     r.lastSpan,
		Finished:     r.finished,
		Cause:        r.cause,
		LateSpans:    r.lateSpans,
		UnknownGates: slices.Clone(r.unknownGates),
		Announced:    r.announced,
		Revision:     r.facts.revision,
		Repository:   r.facts.repository,
		Environment:  r.facts.environment,
		Series:       r.series,
		Gates:        make([]StoredGate, len(r.gates)),
	}
	if b := r.baseline; b != nil {
		sr.BaselineRun = b.run
		if r.isOpen() {
			sr.Baseline = b.id
		}
	}
	for i := range r.gates {
		g := &r.gates[i]
		sr.Gates[i] = StoredGate{
			Name: s.gates.At(i).Name, Status: g.status, Reason: g.reason, FailedAt: g.failedAt,
			Observed: g.observed, ObservedTrace: g.observedTrace,
			Spans: g.spans, Violations: g.violations, EvalErrors: g.evalErrors, ErrorSpans: g.errorSpans,
			Exemplars:       slices.Clone(g.exemplars),
			StoredDurations: g.durations.stored(scratch),
		}
		if c := g.compared; c != nil {
			sr.Gates[i].Compared = &StoredComparison{Run: c.run, Baseline: c.baseline, Ratio: c.ratio}
		}
	}
	return sr
}

func (d *durations) stored(scratch *[]byte) StoredDurations {
	sd := StoredDurations{Count: d.count, Sum: d.sum, Min: d.min, Max: d.max}
	sd.Exact, sd.Sketch = d.encode(scratch)
	return sd
}

// Restored is what Restore made of the runs saved.
type Restored struct {
	Open, Finished int
	// Expired counts finished runs whose retention ended meanwhile.
	Expired int
	// Skipped are the runs that could not be restored, and why.
	Skipped []Skipped
}

// Skipped is a stored run left out.
type Skipped struct {
	Seq uint64
	Err error
}

// Restore puts saved runs back into the empty store. Open runs resume: their
// idle timeout starts again now. Finished runs come back until their
// retention ends, when the gates are the same, so that their verdicts stay
// what they were.
func (s *Store) Restore(runs []StoredRun) Restored {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var done Restored
	// Newest first: they win a key saved twice, and max_runs.
	slices.SortFunc(runs, func(a, b StoredRun) int { return cmp.Compare(b.Seq, a.Seq) })
	for i := range runs {
		sr := &runs[i]
		r, err := s.fromStored(sr, now)
		switch {
		case err != nil:
		case r == nil:
			done.Expired++
			continue
		case s.runs[r.key] != nil:
			err = errors.New("a newer one has the same run id")
		case len(s.runs) >= s.limits.MaxRuns:
			err = errors.New("max_runs newer runs are held")
		default:
			s.runs[r.key] = r
			s.opened = max(s.opened, r.seq)
			if r.isOpen() {
				done.Open++
			} else {
				s.finished = append(s.finished, r)
				done.Finished++
			}
			continue
		}
		done.Skipped = append(done.Skipped, Skipped{Seq: sr.Seq, Err: err})
	}
	slices.SortFunc(s.finished, func(a, b *run) int {
		return cmp.Or(a.finished.Compare(b.finished), cmp.Compare(a.seq, b.seq))
	})
	s.restoring = nil
	return done
}

// fromStored checks a saved run and rebuilds it; nil, nil when it finished
// longer than retention ago.
func (s *Store) fromStored(sr *StoredRun, now time.Time) (*run, error) {
	switch {
	case !ValidRunKey(sr.Key):
		return nil, errors.New("invalid run id")
	case sr.Seq == 0 || sr.Started.IsZero():
		return nil, errors.New("no sequence number or start")
	case sr.LateSpans < 0:
		return nil, errors.New("negative count")
	}
	r := newRun(sr.Key, sr.Seq, sr.Started, s.gates.Len())
	r.lastSpan, r.finished, r.cause, r.lateSpans, r.announced = sr.LastSpan, sr.Finished, sr.Cause, sr.LateSpans, sr.Announced
	r.unsaved = false // it is what storage holds
	if !r.isOpen() {
		switch sr.Cause {
		case verdict.FinishedByAPI, verdict.FinishedIdle, verdict.FinishedAtMaxDuration:
		default:
			return nil, fmt.Errorf("unknown finish cause %q", sr.Cause)
		}
		if now.Sub(r.finished) >= s.limits.Retention {
			return nil, nil
		}
	}
	for _, name := range sr.UnknownGates {
		r.addUnknownGate(name)
	}
	fact := func(v string) string {
		if len(v) > maxFact {
			return ""
		}
		return v
	}
	r.facts = facts{revision: fact(sr.Revision), repository: fact(sr.Repository), environment: fact(sr.Environment)}
	if sr.Series != "" && !ValidRunKey(sr.Series) {
		return nil, errors.New("invalid series")
	}
	r.series = sr.Series
	switch b := s.restoring[sr.Baseline]; {
	case r.isOpen() && b != nil:
		r.baseline = b
	case sr.BaselineRun != "" && ValidRunKey(sr.BaselineRun):
		// What the view names; a finished run's comparisons are saved
		// with its gates, and an open run whose baseline was not saved
		// finishes without one, saying so.
		if !r.isOpen() {
			r.baseline = &baseline{run: sr.BaselineRun}
		}
	}
	found := 0
	for i := range sr.Gates {
		sg := &sr.Gates[i]
		j, ok := s.gates.Lookup(sg.Name)
		if !ok {
			continue // a gate no longer configured
		}
		g, err := gateFromStored(sg)
		if err != nil {
			return nil, fmt.Errorf("gate %s: %w", sg.Name, err)
		}
		if !r.isOpen() && g.status == verdict.Pending {
			return nil, fmt.Errorf("gate %s: pending in a finished run", sg.Name)
		}
		r.gates[j] = g
		found++
	}
	if !r.isOpen() && (found != s.gates.Len() || len(sr.Gates) != found) {
		// Its verdict would change with the gates: leave it out rather.
		return nil, errors.New("finished with other gates than the gates file has now")
	}
	if r.isOpen() {
		r.resumed, r.changed = now, true
	}
	return r, nil
}

func gateFromStored(sg *StoredGate) (gate, error) {
	if !slices.Contains(verdict.Statuses, sg.Status) {
		return gate{}, fmt.Errorf("unknown status %q", sg.Status)
	}
	if sg.Spans < 0 || sg.Violations < 0 || sg.EvalErrors < 0 || sg.ErrorSpans < 0 {
		return gate{}, errors.New("counts do not add up")
	}
	if !sg.FailedAt.IsZero() && sg.Status != verdict.Failed {
		return gate{}, fmt.Errorf("failed fast, but %s", sg.Status)
	}
	d, err := decodeDurations(&sg.StoredDurations)
	if err != nil {
		return gate{}, fmt.Errorf("durations: %w", err)
	}
	if sg.Count != sg.Spans {
		return gate{}, errors.New("counts do not add up")
	}
	g := gate{
		spans: sg.Spans, violations: sg.Violations, evalErrors: sg.EvalErrors, errorSpans: sg.ErrorSpans,
		durations: d, status: sg.Status, reason: cut(sg.Reason, maxReason), failedAt: sg.FailedAt,
		observed: cut(sg.Observed, maxReason), observedTrace: cut(sg.ObservedTrace, 32),
	}
	if c := sg.Compared; c != nil {
		if !ValidRunKey(c.Run) {
			return gate{}, errors.New("compared with an invalid run id")
		}
		g.compared = &compared{run: c.Run, baseline: c.Baseline, ratio: c.Ratio}
	}
	for _, x := range sg.Exemplars[:min(len(sg.Exemplars), maxExemplars)] {
		x.Name = cut(x.Name, maxExemplarName)
		// Trace and span ids are hex of 32 and 16 digits; a condition is
		// the gate's assert.
		x.TraceID, x.SpanID, x.Condition = cut(x.TraceID, 32), cut(x.SpanID, 16), cut(x.Condition, maxReason)
		g.exemplars = append(g.exemplars, x)
	}
	return g, nil
}

func decodeDurations(sg *StoredDurations) (d durations, err error) {
	switch {
	case sg.Count < 0 || sg.Min < 0 || sg.Max < sg.Min || math.IsNaN(sg.Sum) || math.IsInf(sg.Sum, 0):
		return d, errors.New("out of range")
	case sg.Sketch == nil && (len(sg.Exact) != sg.Count || sg.Count > exactDurations):
		return d, errors.New("exact durations do not match their count")
	case sg.Sketch != nil && (len(sg.Exact) > 0 || sg.Count <= exactDurations):
		return d, errors.New("sketch and exact durations mixed")
	}
	d = durations{count: sg.Count, sum: sg.Sum, min: sg.Min, max: sg.Max}
	if sg.Sketch == nil {
		if slices.ContainsFunc(sg.Exact, func(v time.Duration) bool { return v < 0 }) {
			return d, errors.New("negative duration")
		}
		d.exact = slices.Clone(sg.Exact)
		slices.Sort(d.exact)
		return d, nil
	}
	d.sketch, err = decodeSketch(sg.Sketch)
	if err != nil {
		return d, err
	}
	if n := d.sketch.GetCount(); math.Abs(n-float64(sg.Count)) > 0.5 {
		return d, fmt.Errorf("sketch holds %v durations, not %d", n, sg.Count)
	}
	return d, nil
}
