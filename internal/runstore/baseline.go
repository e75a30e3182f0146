package runstore

import (
	"container/list"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/internal/stats"
	"github.com/releasegate/releasegate/internal/verdict"
)

// A baseline is what a run compares with: for each gate whose conditions
// use baseline names, another run's aggregates and durations, as they stood
// when the baseline was taken. It never changes once taken, so the runs
// that compare with it share it, and a run's baseline is fixed when the run
// opens: concurrent runs never compare with each other.
type baseline struct {
	id     uint64 // the order it was taken in: its storage key
	run    string
	series string
	gates  []*baselineGate // indexed like the gates; nil for those that compare with none
	saved  bool
}

type baselineGate struct {
	stats     config.Aggregates
	durations durations
}

// series are the baselines of one series of runs: the run a user pinned,
// and the last run that passed with enough samples.
type series struct {
	name         string
	pinned, last *baseline
	elem         *list.Element // in Store.seriesOrder
	unsaved      bool
}

func (s *series) baseline() *baseline {
	if s.pinned != nil {
		return s.pinned
	}
	return s.last
}

// Baseline errors.
var (
	ErrUnknownBaseline = errors.New("no such run held to compare with")
	ErrFinished        = errors.New("the run finished already")
	ErrNotPassed       = errors.New("only a run that finished passed can be a baseline")
	ErrOtherSeries     = errors.New("the run is of another series")
	ErrUnknownSeries   = errors.New("no such series")
)

// take takes a baseline of r as it stands; the caller holds the lock.
func (s *Store) take(r *run) *baseline {
	s.taken++
	b := &baseline{id: s.taken, run: r.key, series: r.series, gates: make([]*baselineGate, len(r.gates))}
	elapsed := r.elapsed(s.now())
	for i := range r.gates {
		if cg := s.gates.At(i); cg.UsesBaseline() {
			g := &r.gates[i]
			b.gates[i] = &baselineGate{stats: g.stats(cg, elapsed).Aggregates, durations: g.durations.clone()}
		}
	}
	return b
}

// baselineOf is the baseline a run of the named series opens with: its
// pinned run, else its last passed run; nil for the first run of a series.
func (s *Store) baselineOf(name string) *baseline {
	sr := s.series[name]
	if sr == nil {
		return nil
	}
	s.seriesOrder.MoveToBack(sr.elem)
	return sr.baseline()
}

// seriesNamed returns the named series, holding it anew if needed: past
// MaxSeries, the least recently used is forgotten.
func (s *Store) seriesNamed(name string, t *Tally) *series {
	if sr := s.series[name]; sr != nil {
		s.seriesOrder.MoveToBack(sr.elem)
		return sr
	}
	if len(s.series) >= max(s.maxSeries, 1) {
		oldest := s.seriesOrder.Remove(s.seriesOrder.Front()).(*series)
		delete(s.series, oldest.name)
		t.SeriesEvicted++
	}
	sr := &series{name: name}
	sr.elem = s.seriesOrder.PushBack(sr)
	s.series[name] = sr
	return sr
}

// passed makes a run that finished passed the last baseline of its
// series, when every gate that compares with a baseline has MinSamples.
// Warnings do not count: a baseline must have met every condition.
func (s *Store) passed(r *run, t *Tally) {
	if !s.gates.UsesBaseline() || r.series == "" || r.status() != verdict.Passed {
		return
	}
	for i := range r.gates {
		if s.gates.At(i).UsesBaseline() && r.gates[i].spans < s.gates.MinSamples() {
			return
		}
	}
	sr := s.seriesNamed(r.series, t)
	sr.last, sr.unsaved = s.take(r), true
}

// compare works out a gate's comparison with the run's baseline when the
// run finishes: the run's figures with the baseline's and the latency
// ratio when both sides have MinSamples, else why it could not compare.
func (s *Store) compare(r *run, i int) (against comparison) {
	g, cg := &r.gates[i], s.gates.At(i)
	switch {
	case !cg.UsesBaseline():
		return comparison{}
	case r.series == "":
		return comparison{note: fmt.Sprintf("no baseline: the series of its first span is over %d bytes or not UTF-8", MaxRunIDLength)}
	case r.baseline == nil || r.baseline.gates[i] == nil:
		return comparison{note: fmt.Sprintf("no baseline for series %q", r.series), missing: true}
	}
	b := r.baseline.gates[i]
	if n, m, least := g.spans, b.stats.Spans+b.stats.Traces, s.gates.MinSamples(); n < least || m < least {
		return comparison{note: fmt.Sprintf("too few samples to compare with baseline %s: %d < %d", r.baseline.run, min(n, m), least), tooFew: true}
	}
	ratio, ok := stats.Compare(g.durations.sample(), b.durations.sample())
	if !ok || math.IsInf(ratio.High, 0) { // not with MinSamples a side; kept out of JSON all the same
		return comparison{note: fmt.Sprintf("too few samples to compare with baseline %s", r.baseline.run), tooFew: true}
	}
	return comparison{compared: &compared{run: r.baseline.run, baseline: b.stats, ratio: ratio}}
}

// comparison is how a gate stands against its run's baseline.
type comparison struct {
	compared *compared
	// note says why it was not compared: the baseline is missing, or a
	// side has too few samples.
	note            string
	missing, tooFew bool
}

// compared is a gate's comparison with its baseline, kept with the gate
// for its verdict, views and /metrics.
type compared struct {
	run      string
	baseline config.Aggregates
	ratio    stats.Ratio
}

// with adds the comparison to a gate's run environment.
func (c *compared) with(s config.RunStats) config.RunStats {
	if c != nil {
		s.Baseline, s.Compared, s.BaselineRun = c.baseline, true, c.run
		s.LatencyRatio, s.LatencyRatioLow, s.LatencyRatioHigh = c.ratio.Estimate, c.ratio.Low, c.ratio.High
	}
	return s
}

// FinishComparedWith finishes an open run now, as Finish does, comparing
// it with the run other as that stands (open or finished): a baseline
// deployment run beside the one under test. other may also be a baseline
// held for a series after its run was forgotten.
func (s *Store) FinishComparedWith(key, other string) (Finished, error) {
	return s.finishRun(key, other)
}

// baselineRun takes the baseline of the run other now.
func (s *Store) baselineRun(other string) (*baseline, error) {
	if r := s.runs[other]; r != nil {
		return s.take(r), nil
	}
	for _, sr := range s.series {
		for _, b := range []*baseline{sr.pinned, sr.last} {
			if b != nil && b.run == other {
				return b, nil
			}
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownBaseline, other)
}

// Pin makes the run key, held and finished passed, the baseline of its
// series, over the last passed run, until Unpin.
func (s *Store) Pin(name, key string) (verdict.Series, Tally, error) {
	var t Tally
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.runs[key]
	switch {
	case r == nil:
		return verdict.Series{}, t, fmt.Errorf("%w: %q", ErrUnknownBaseline, key)
	case r.isOpen() || r.status() != verdict.Passed:
		return verdict.Series{}, t, fmt.Errorf("%w: %q is %s", ErrNotPassed, key, r.status())
	case r.series != name:
		return verdict.Series{}, t, fmt.Errorf("%w: %q is of series %q", ErrOtherSeries, key, r.series)
	}
	sr := s.seriesNamed(name, &t)
	sr.pinned, sr.unsaved = s.take(r), true
	return sr.view(), t, nil
}

// Unpin lets the series compare with its last passed run again.
func (s *Store) Unpin(name string) (verdict.Series, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sr := s.series[name]
	if sr == nil {
		return verdict.Series{}, fmt.Errorf("%w: %q", ErrUnknownSeries, name)
	}
	sr.pinned, sr.unsaved = nil, true
	return sr.view(), nil
}

// Baselines lists the series held with their baselines, by name.
func (s *Store) Baselines() []verdict.Series {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]verdict.Series, 0, len(s.series))
	for _, sr := range s.series {
		out = append(out, sr.view())
	}
	slices.SortFunc(out, func(a, b verdict.Series) int { return strings.Compare(a.Series, b.Series) })
	return out
}

func (sr *series) view() verdict.Series {
	v := verdict.Series{Series: sr.name}
	if b := sr.baseline(); b != nil {
		v.Baseline = &b.run
	}
	if sr.pinned != nil {
		v.Pinned = &sr.pinned.run
	}
	if sr.last != nil {
		v.LastPassed = &sr.last.run
	}
	return v
}

// sample is the durations as the statistics read them.
func (d *durations) sample() stats.Sample {
	if d.sketch != nil {
		return stats.Sketch(d.sketch)
	}
	return stats.Exact(d.exact)
}

// clone copies the durations, for a baseline that must not change.
func (d *durations) clone() durations {
	c := *d
	c.exact = slices.Clone(d.exact)
	if d.sketch != nil {
		c.sketch = d.sketch.Copy()
	}
	return c
}
