package releasegateexporter

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/stored"
	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/verdict"
)

// Runs are saved to the storage extension one key per run, run/<seq>, as
// JSON with a version; "runs" lists the keys saved, since a storage client
// cannot list its keys. Keys by sequence number stay short and safe for any
// storage whatever the run ids. Only runs that changed since the last save
// are written, so a save costs what changed, not what is held; a finished
// run is written once more when it finishes, and deleted when the store
// forgets it.

// saveEvery spaces the saves of the sweep loop: a collector killed loses
// about this much of its runs' spans. A save that took long spaces the next
// ones more, so that saving takes at most a tenth of the time (10,000 runs
// all busy cost about a second). A graceful shutdown saves everything.
const saveEvery = time.Second

// snapshotChunk is how many runs a snapshot copies per hold of the store's
// lock, so that spans wait for a millisecond at most (16 runs of 20
// sketched gates).
const snapshotChunk = 16

// storedVersion is the version of the records below; records of another
// version are skipped.
const storedVersion = 1

const runsIndexKey = "runs"

func runStorageKey(seq uint64) string { return "run/" + strconv.FormatUint(seq, 10) }

type storedIndex struct {
	Version int      `json:"v"`
	Runs    []uint64 `json:"runs"`
}

// storedRun is a run as saved.
type storedRun struct {
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
	Gates        []storedGate        `json:"gates"`
}

// storedGate is a gate's state in a run, by the gate's name: a gates file
// changed between two starts keeps the counts of the gates it still has.
type storedGate struct {
	Name       string             `json:"name"`
	Status     verdict.Status     `json:"status"`
	Reason     string             `json:"reason,omitempty"`
	Spans      int                `json:"spans"`
	Violations int                `json:"violations"`
	EvalErrors int                `json:"eval_errors"`
	ErrorSpans int                `json:"error_spans"`
	Exemplars  []verdict.Exemplar `json:"exemplars,omitempty"`
	// Durations: exact (sorted, nanoseconds) while few, else the DDSketch
	// in its own binary encoding.
	Count  int             `json:"count"`
	Sum    float64         `json:"sum"`
	Min    time.Duration   `json:"min"`
	Max    time.Duration   `json:"max"`
	Exact  []time.Duration `json:"exact,omitempty"`
	Sketch []byte          `json:"sketch,omitempty"`
}

// snapshot copies the runs changed since the last snapshot (every run with
// all), and lists the sequence numbers of every run held. It holds the lock
// for snapshotChunk runs at a time; encoding happens after, without it. A
// run forgotten meanwhile is deleted by the next save.
func (s *runStore) snapshot(all bool) (changed []storedRun, held []uint64) {
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

func (s *runStore) stored(r *run, scratch *[]byte) storedRun {
	sr := storedRun{
		Version:      storedVersion,
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
		Gates:        make([]storedGate, len(r.gates)),
	}
	for i := range r.gates {
		g, d := &r.gates[i], &r.gates[i].durations
		sg := &sr.Gates[i]
		*sg = storedGate{
			Name: s.gates.At(i).Name, Status: g.status, Reason: g.reason,
			Spans: g.spans, Violations: g.violations, EvalErrors: g.evalErrors, ErrorSpans: g.errorSpans,
			Exemplars: slices.Clone(g.exemplars),
			Count:     d.count, Sum: d.sum, Min: d.min, Max: d.max,
		}
		sg.Exact, sg.Sketch = d.encode(scratch)
	}
	return sr
}

// runStorage saves the store's runs to a storage client and loads them.
type runStorage struct {
	client storage.Client
	logger *zap.Logger
	every  time.Duration // between two saves of the sweep loop
	last   time.Time     // of the last of them
	// saved are the runs in storage, as the index lists them; nil until
	// load succeeded, and nothing is saved until then: it would delete
	// what a failed load did not read.
	saved map[uint64]bool
	// failing: the last save failed, so the next one writes every run.
	failing bool
}

// saveIfDue saves, when the last save was long enough ago, from the sweep
// loop.
func (p *runStorage) saveIfDue(ctx context.Context, s *runStore) {
	if time.Since(p.last) < p.every {
		return
	}
	start := time.Now()
	p.save(ctx, s)
	p.last = time.Now()
	p.every = max(saveEvery, 10*p.last.Sub(start))
}

// save writes the runs changed since the last save, deletes the runs the
// store forgot, and updates the index, in one batch. A failure is logged
// once until a save works again.
func (p *runStorage) save(ctx context.Context, s *runStore) {
	if p.saved == nil {
		return
	}
	changed, held := s.snapshot(p.failing)
	ops := make([]*storage.Operation, 0, len(changed)+1)
	for i := range changed {
		data, err := json.Marshal(&changed[i])
		if err != nil { // not expected of these plain types
			p.logger.Warn("Cannot encode a run for storage", zap.String("key", runStorageKey(changed[i].Seq)), zap.Error(err))
			continue
		}
		ops = append(ops, storage.SetOperation(runStorageKey(changed[i].Seq), data))
	}
	// The index changes when a run opened or was forgotten.
	same := len(held) == len(p.saved)
	for _, seq := range held {
		if !same {
			break
		}
		same = p.saved[seq]
	}
	saved := p.saved
	if !same {
		saved = make(map[uint64]bool, len(held))
		for _, seq := range held {
			saved[seq] = true
		}
		for seq := range p.saved {
			if !saved[seq] {
				ops = append(ops, storage.DeleteOperation(runStorageKey(seq)))
			}
		}
		slices.Sort(held)
		data, _ := json.Marshal(storedIndex{Version: storedVersion, Runs: held})
		ops = append(ops, storage.SetOperation(runsIndexKey, data))
	}
	if len(ops) == 0 {
		return
	}
	if err := p.client.Batch(ctx, ops...); err != nil {
		if !p.failing {
			p.logger.Warn("Cannot save runs to storage; a restart would lose what changed since the last save (logged until a save works)", zap.Error(err))
		}
		p.failing = true
		return
	}
	if p.failing {
		p.logger.Info("Saving runs to storage works again")
	}
	p.saved, p.failing = saved, false
}

// load reads the runs saved. Records that cannot be read are logged,
// without their content, and left for the next save to delete; only a
// storage error is returned.
func (p *runStorage) load(ctx context.Context) ([]storedRun, error) {
	data, err := p.client.Get(ctx, runsIndexKey)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", runsIndexKey, err)
	}
	var index storedIndex
	if data != nil {
		if err := stored.Decode(data, storedVersion, &index); err != nil {
			p.logger.Warn("Ignoring an unreadable index of stored runs", zap.String("key", runsIndexKey), zap.Error(err))
			index = storedIndex{}
		}
	}
	saved := make(map[uint64]bool, len(index.Runs))
	runs := make([]storedRun, 0, len(index.Runs))
	for _, seq := range index.Runs {
		key := runStorageKey(seq)
		data, err := p.client.Get(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", key, err)
		}
		if data == nil {
			continue
		}
		saved[seq] = true
		var sr storedRun
		if err := stored.Decode(data, storedVersion, &sr); err != nil {
			p.logger.Warn("Skipping an unreadable stored run", zap.String("key", key), zap.Error(err))
			continue
		}
		if sr.Seq != seq {
			p.logger.Warn("Skipping a stored run", zap.String("key", key), zap.Error(fmt.Errorf("it says it is run %d", sr.Seq)))
			continue
		}
		runs = append(runs, sr)
	}
	p.saved = saved
	return runs, nil
}

// restored is what restore made of the runs saved.
type restored struct {
	open, finished, skipped int
}

// restore puts saved runs back into the empty store. Open runs resume: their
// idle timeout starts again now. Finished runs come back until their
// retention ends, when the gates are the same, so that their verdicts stay
// what they were. A run that cannot be restored is logged and skipped.
func (s *runStore) restore(runs []storedRun, logger *zap.Logger) restored {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var done restored
	// Newest first: they win a key saved twice, and max_runs.
	slices.SortFunc(runs, func(a, b storedRun) int { return cmp.Compare(b.Seq, a.Seq) })
	for i := range runs {
		sr := &runs[i]
		r, err := s.fromStored(sr, now)
		switch {
		case err != nil:
			logger.Warn("Skipping a stored run", zap.String("key", runStorageKey(sr.Seq)), zap.Error(err))
		case r == nil: // its retention is over
		case s.runs[r.key] != nil:
			logger.Warn("Skipping a stored run", zap.String("key", runStorageKey(sr.Seq)), zap.Error(errors.New("a newer one has the same run id")))
		case len(s.runs) >= s.limits.maxRuns:
			logger.Warn("Skipping a stored run", zap.String("key", runStorageKey(sr.Seq)), zap.Error(errors.New("max_runs newer runs are held")))
		default:
			s.runs[r.key] = r
			s.opened = max(s.opened, r.seq)
			if r.open() {
				done.open++
			} else {
				s.finished = append(s.finished, r)
				done.finished++
			}
			continue
		}
		done.skipped++
	}
	slices.SortFunc(s.finished, func(a, b *run) int {
		return cmp.Or(a.finished.Compare(b.finished), cmp.Compare(a.seq, b.seq))
	})
	return done
}

// fromStored checks a saved run and rebuilds it; nil, nil when it finished
// longer than retention ago.
func (s *runStore) fromStored(sr *storedRun, now time.Time) (*run, error) {
	switch {
	case !validRunKey(sr.Key):
		return nil, errors.New("invalid run id")
	case sr.Seq == 0 || sr.Started.IsZero():
		return nil, errors.New("no sequence number or start")
	case sr.LateSpans < 0:
		return nil, errors.New("negative count")
	}
	r := &run{
		key: sr.Key, seq: sr.Seq, started: sr.Started, lastSpan: sr.LastSpan,
		finished: sr.Finished, cause: sr.Cause, lateSpans: sr.LateSpans, announced: sr.Announced,
		gates: make([]gateRun, s.gates.Len()),
	}
	if !r.open() {
		switch sr.Cause {
		case verdict.FinishedByAPI, verdict.FinishedIdle, verdict.FinishedAtMaxDuration:
		default:
			return nil, fmt.Errorf("unknown finish cause %q", sr.Cause)
		}
		if now.Sub(r.finished) >= s.limits.retention {
			return nil, nil
		}
	}
	for _, name := range sr.UnknownGates {
		if len(r.unknownGates) < maxUnknownGates && len(name) <= maxGateName {
			r.unknownGates = append(r.unknownGates, name)
		}
	}
	fact := func(v string) string {
		if len(v) > maxFact {
			return ""
		}
		return v
	}
	r.facts = facts{revision: fact(sr.Revision), repository: fact(sr.Repository), environment: fact(sr.Environment)}
	for i := range r.gates {
		r.gates[i].status = verdict.Pending
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
		if !r.open() && g.status == verdict.Pending {
			return nil, fmt.Errorf("gate %s: pending in a finished run", sg.Name)
		}
		r.gates[j] = g
		found++
	}
	if !r.open() && (found != s.gates.Len() || len(sr.Gates) != found) {
		// Its verdict would change with the gates: leave it out rather.
		return nil, errors.New("finished with other gates than the gates file has now")
	}
	if r.open() {
		r.resumed, r.changed = now, true
	}
	return r, nil
}

func gateFromStored(sg *storedGate) (gateRun, error) {
	if !slices.Contains(verdict.Statuses, sg.Status) {
		return gateRun{}, fmt.Errorf("unknown status %q", sg.Status)
	}
	if sg.Spans < 0 || sg.Violations < 0 || sg.EvalErrors < 0 || sg.ErrorSpans < 0 || sg.Count != sg.Spans {
		return gateRun{}, errors.New("counts do not add up")
	}
	d, err := decodeDurations(sg)
	if err != nil {
		return gateRun{}, fmt.Errorf("durations: %w", err)
	}
	g := gateRun{
		spans: sg.Spans, violations: sg.Violations, evalErrors: sg.EvalErrors, errorSpans: sg.ErrorSpans,
		durations: d, status: sg.Status, reason: cut(sg.Reason, maxReason),
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

func decodeDurations(sg *storedGate) (d durations, err error) {
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

// restoreRuns loads the runs saved by an earlier start of the collector.
func (e *releasegateExporter) restoreRuns(ctx context.Context) error {
	runs, err := e.storage.load(ctx)
	if err != nil {
		return err
	}
	done := e.store.restore(runs, e.settings.Logger)
	if done.open > 0 {
		e.telemetry.RunsOpen.Add(ctx, int64(done.open))
	}
	if len(runs) > 0 {
		e.settings.Logger.Info("Restored runs from storage",
			zap.Int("open", done.open), zap.Int("finished", done.finished), zap.Int("skipped", done.skipped))
	}
	return nil
}

// storageClient is the client of the storage extension the config names.
func storageClient(ctx context.Context, host component.Host, id component.ID, owner component.ID) (storage.Client, error) {
	ext, ok := host.GetExtensions()[id]
	if !ok {
		return nil, fmt.Errorf("storage: no extension %q: add it under `extensions` and to the service's extensions", id)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("storage: extension %q is not a storage extension", id)
	}
	return se.GetClient(ctx, component.KindExporter, owner, "")
}
