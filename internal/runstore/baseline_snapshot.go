package runstore

import (
	"errors"
	"fmt"

	"github.com/releasegate/releasegate/config"
)

// StoredBaseline is a baseline as saved: what a series or an open run
// compares with. Saved once, as it never changes, and deleted when nothing
// refers to it.
type StoredBaseline struct {
	Version int                  `json:"v"`
	ID      uint64               `json:"id"`
	Run     string               `json:"run"`
	Series  string               `json:"series"`
	Gates   []StoredBaselineGate `json:"gates"`
}

// StoredBaselineGate is a baseline's gate, by the gate's name.
type StoredBaselineGate struct {
	Name  string            `json:"name"`
	Stats config.Aggregates `json:"stats"`
	StoredDurations
}

// StoredSeries is a series as saved: the ids of its baselines.
type StoredSeries struct {
	Version int    `json:"v"`
	Name    string `json:"name"`
	Pinned  uint64 `json:"pinned,omitempty"`
	Last    uint64 `json:"last,omitempty"`
}

// BaselineSnapshot is what SnapshotBaselines copies: the baselines and
// series changed since the last snapshot (all of them with all), and the
// ids and names of every one held.
type BaselineSnapshot struct {
	Baselines     []StoredBaseline
	HeldBaselines []uint64
	Series        []StoredSeries
	HeldSeries    []string
}

// SnapshotBaselines copies the baselines and series to save. A baseline is
// held while a series or an open run refers to it.
func (s *Store) SnapshotBaselines(all bool) BaselineSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	var snap BaselineSnapshot
	held := map[uint64]*baseline{}
	for _, sr := range s.series {
		snap.HeldSeries = append(snap.HeldSeries, sr.name)
		if sr.unsaved || all {
			sr.unsaved = false
			ss := StoredSeries{Version: StoredVersion, Name: sr.name}
			if sr.pinned != nil {
				ss.Pinned = sr.pinned.id
			}
			if sr.last != nil {
				ss.Last = sr.last.id
			}
			snap.Series = append(snap.Series, ss)
		}
		for _, b := range []*baseline{sr.pinned, sr.last} {
			if b != nil {
				held[b.id] = b
			}
		}
	}
	for _, r := range s.runs {
		if r.isOpen() && r.baseline != nil && r.baseline.id != 0 {
			held[r.baseline.id] = r.baseline
		}
	}
	var scratch []byte
	for id, b := range held {
		snap.HeldBaselines = append(snap.HeldBaselines, id)
		if !b.saved || all {
			b.saved = true
			snap.Baselines = append(snap.Baselines, s.storedBaseline(b, &scratch))
		}
	}
	return snap
}

func (s *Store) storedBaseline(b *baseline, scratch *[]byte) StoredBaseline {
	sb := StoredBaseline{Version: StoredVersion, ID: b.id, Run: b.run, Series: b.series}
	for i, g := range b.gates {
		if g != nil {
			sb.Gates = append(sb.Gates, StoredBaselineGate{Name: s.gates.At(i).Name, Stats: g.stats, StoredDurations: g.durations.stored(scratch)})
		}
	}
	return sb
}

// RestoreBaselines puts saved baselines and series back into the empty
// store, before Restore puts back the runs that refer to them. A baseline
// is kept for the gates it has that still compare with a baseline; one
// that cannot be read is skipped and returned with why, and so is a series
// past MaxSeries.
func (s *Store) RestoreBaselines(baselines []StoredBaseline, saved []StoredSeries) (skipped []error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.restoring = make(map[uint64]*baseline, len(baselines))
	for i := range baselines {
		b, err := s.baselineFromStored(&baselines[i])
		if err != nil {
			skipped = append(skipped, fmt.Errorf("baseline %d: %w", baselines[i].ID, err))
			continue
		}
		s.restoring[b.id] = b
		s.taken = max(s.taken, b.id)
	}
	for _, ss := range saved {
		if !ValidRunKey(ss.Name) || s.series[ss.Name] != nil {
			skipped = append(skipped, fmt.Errorf("series %.40q: invalid or saved twice", ss.Name))
			continue
		}
		if len(s.series) >= max(s.maxSeries, 1) {
			skipped = append(skipped, fmt.Errorf("series %.40q: max_series series are held", ss.Name))
			continue
		}
		sr := &series{name: ss.Name, pinned: s.restoring[ss.Pinned], last: s.restoring[ss.Last]}
		sr.elem = s.seriesOrder.PushBack(sr)
		s.series[sr.name] = sr
	}
	return skipped
}

func (s *Store) baselineFromStored(sb *StoredBaseline) (*baseline, error) {
	if sb.ID == 0 || !ValidRunKey(sb.Run) || !ValidRunKey(sb.Series) {
		return nil, errors.New("no id, or an invalid run id or series")
	}
	b := &baseline{id: sb.ID, run: sb.Run, series: sb.Series, gates: make([]*baselineGate, s.gates.Len()), saved: true}
	for i := range sb.Gates {
		sg := &sb.Gates[i]
		j, ok := s.gates.Lookup(sg.Name)
		if !ok || !s.gates.At(j).UsesBaseline() {
			continue
		}
		d, err := decodeDurations(&sg.StoredDurations)
		if err != nil {
			return nil, fmt.Errorf("gate %s: durations: %w", sg.Name, err)
		}
		if sg.Stats.Spans+sg.Stats.Traces != d.count || min(sg.Stats.Spans, sg.Stats.Traces, sg.Stats.Violations, sg.Stats.Errors) < 0 {
			return nil, fmt.Errorf("gate %s: counts do not add up", sg.Name)
		}
		b.gates[j] = &baselineGate{stats: sg.Stats, durations: d}
	}
	return b, nil
}
