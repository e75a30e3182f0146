package releasegateexporter

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/jonboulle/clockwork"
	"github.com/releasegate/releasegate/internal/runstore"
	"github.com/releasegate/releasegate/internal/stored"
	"github.com/releasegate/releasegate/internal/traces"
)

// Runs are saved to the storage extension one key per run, run/<seq>; the
// traces buffered for trace gates one key per trace, trace/<id>; the
// baselines runs compare with one key per baseline, baseline/<id>, and the
// series that hold them one key per series, series/<name>; as JSON with a
// version. "runs", "traces", "baselines" and "series" list the keys saved,
// since a storage client cannot list its keys. Keys by sequence number stay short
// and safe for any storage whatever the run ids. Only what changed since
// the last save is written, so a save costs what changed, not what is held;
// a finished run is written once more when it finishes, and a run or a
// trace is deleted when the store forgets or judges it.

// saveEvery spaces the saves of the sweep loop: a collector killed loses
// about this much of its runs' spans. A save that took long spaces the next
// ones more, so that saving takes at most a tenth of the time (10,000 runs
// all busy cost about a second). A graceful shutdown saves everything.
const saveEvery = time.Second

const (
	runsIndexKey      = "runs"
	tracesIndexKey    = "traces"
	baselinesIndexKey = "baselines"
	seriesIndexKey    = "series"
)

func runStorageKey(seq uint64) string { return "run/" + strconv.FormatUint(seq, 10) }

func traceStorageKey(id string) string { return "trace/" + id }

func baselineStorageKey(id uint64) string { return "baseline/" + strconv.FormatUint(id, 10) }

func seriesStorageKey(name string) string { return "series/" + name }

// recordSet is one kind of record kept in storage, one key each, with an
// index of the keys.
type recordSet[K cmp.Ordered] struct {
	index   string // its key, and the field that lists the keys in it
	noun    string // one record: "run", "trace"
	version int
	key     func(K) string
	// saved are the records in storage, as the index lists them; nil
	// until loaded, and nothing is saved until then: it would delete what
	// a failed load did not read.
	saved map[K]bool
}

// writes are the operations that store the records changed and, when the
// records held are not those saved, delete the others and write the index
// anew; commit, once they are written, makes them the saved state.
func (r *recordSet[K]) writes(changed map[K][]byte, held []K) (ops []*storage.Operation, commit func()) {
	for k, data := range changed {
		ops = append(ops, storage.SetOperation(r.key(k), data))
	}
	same := len(held) == len(r.saved)
	for _, k := range held {
		if !same {
			break
		}
		same = r.saved[k]
	}
	if same {
		return ops, func() {}
	}
	saved := make(map[K]bool, len(held))
	for _, k := range held {
		saved[k] = true
	}
	for k := range r.saved {
		if !saved[k] {
			ops = append(ops, storage.DeleteOperation(r.key(k)))
		}
	}
	slices.Sort(held)
	data, _ := json.Marshal(map[string]any{"v": r.version, r.index: held})
	ops = append(ops, storage.SetOperation(r.index, data))
	return ops, func() { r.saved = saved }
}

// load reads the records the index lists into new values of T, checked by
// valid; unreadable ones are logged, without their content, and left for
// the next save to delete. Only a storage error is returned.
func loadRecords[K cmp.Ordered, T any](ctx context.Context, r *recordSet[K], client storage.Client, logger *zap.Logger, valid func(K, *T) error) ([]T, error) {
	data, err := client.Get(ctx, r.index)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", r.index, err)
	}
	var keys []K
	if data != nil {
		var index map[string]json.RawMessage
		err := stored.Decode(data, r.version, &index)
		if raw := index[r.index]; err == nil && raw != nil {
			err = json.Unmarshal(raw, &keys)
		}
		if err != nil {
			logger.Warn("Ignoring an unreadable index of stored "+r.index, zap.String("key", r.index), zap.Error(err))
			keys = nil
		}
	}
	saved := make(map[K]bool, len(keys))
	out := make([]T, 0, len(keys))
	for _, k := range keys {
		key := r.key(k)
		data, err := client.Get(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", key, err)
		}
		if data == nil {
			continue
		}
		saved[k] = true
		var v T
		if err := stored.Decode(data, r.version, &v); err != nil {
			logger.Warn("Skipping an unreadable stored "+r.noun, zap.String("key", key), zap.Error(err))
			continue
		}
		if err := valid(k, &v); err != nil {
			logger.Warn("Skipping a stored "+r.noun, zap.String("key", key), zap.Error(err))
			continue
		}
		out = append(out, v)
	}
	r.saved = saved
	return out, nil
}

// runStorage saves the store's runs and buffered traces to a storage
// client and loads them.
type runStorage struct {
	client storage.Client
	logger *zap.Logger
	clock  clockwork.Clock
	// savedRuns counts the run records written; nil in tests that do
	// not look.
	savedRuns metric.Int64Counter
	every     time.Duration // between two saves of the sweep loop
	last      time.Time     // of the last of them
	runs      recordSet[uint64]
	traces    recordSet[string]
	baselines recordSet[uint64]
	series    recordSet[string]
	// failing: the last save failed, so the next one writes everything.
	failing bool
}

func newRunStorage(client storage.Client, logger *zap.Logger, clock clockwork.Clock) *runStorage {
	return &runStorage{
		client: client, logger: logger, clock: clock, every: saveEvery, last: clock.Now(),
		runs:      recordSet[uint64]{index: runsIndexKey, noun: "run", version: runstore.StoredVersion, key: runStorageKey},
		traces:    recordSet[string]{index: tracesIndexKey, noun: "trace", version: traces.StoredVersion, key: traceStorageKey},
		baselines: recordSet[uint64]{index: baselinesIndexKey, noun: "baseline", version: runstore.StoredVersion, key: baselineStorageKey},
		series:    recordSet[string]{index: seriesIndexKey, noun: "series", version: runstore.StoredVersion, key: seriesStorageKey},
	}
}

// saveIfDue saves, when the last save was long enough ago, from the sweep
// loop.
func (p *runStorage) saveIfDue(ctx context.Context, s *runstore.Store) {
	if p.clock.Since(p.last) < p.every {
		return
	}
	start := p.clock.Now()
	p.save(ctx, s)
	p.last = p.clock.Now()
	p.every = max(saveEvery, 10*p.last.Sub(start))
}

// save writes the runs and traces changed since the last save, deletes
// those the store forgot or judged, and updates the indexes, in one batch.
// A failure is logged once until a save works again.
func (p *runStorage) save(ctx context.Context, s *runstore.Store) {
	if p.runs.saved == nil {
		return
	}
	changedRuns, heldRuns := s.Snapshot(p.failing)
	runs := make(map[uint64][]byte, len(changedRuns))
	for i := range changedRuns {
		runs[changedRuns[i].Seq] = p.encode(runStorageKey(changedRuns[i].Seq), &changedRuns[i])
	}
	changedTraces, heldTraces := s.SnapshotTraces(p.failing)
	traces := make(map[string][]byte, len(changedTraces))
	for i := range changedTraces {
		traces[changedTraces[i].ID] = p.encode(traceStorageKey(changedTraces[i].ID), &changedTraces[i])
	}
	snap := s.SnapshotBaselines(p.failing)
	baselines := make(map[uint64][]byte, len(snap.Baselines))
	for i := range snap.Baselines {
		baselines[snap.Baselines[i].ID] = p.encode(baselineStorageKey(snap.Baselines[i].ID), &snap.Baselines[i])
	}
	series := make(map[string][]byte, len(snap.Series))
	for i := range snap.Series {
		series[snap.Series[i].Name] = p.encode(seriesStorageKey(snap.Series[i].Name), &snap.Series[i])
	}
	ops, commitRuns := p.runs.writes(runs, heldRuns)
	traceOps, commitTraces := p.traces.writes(traces, heldTraces)
	baselineOps, commitBaselines := p.baselines.writes(baselines, snap.HeldBaselines)
	seriesOps, commitSeries := p.series.writes(series, snap.HeldSeries)
	ops = slices.Concat(ops, traceOps, baselineOps, seriesOps)
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
	commitRuns()
	commitTraces()
	commitBaselines()
	commitSeries()
	p.failing = false
	if p.savedRuns != nil && len(changedRuns) > 0 {
		p.savedRuns.Add(ctx, int64(len(changedRuns)))
	}
}

// encode is a record as JSON; nil (not written) should it not encode.
func (p *runStorage) encode(key string, v any) []byte {
	data, err := json.Marshal(v)
	if err != nil { // not expected of these plain types
		p.logger.Warn("Cannot encode a record for storage", zap.String("key", key), zap.Error(err))
	}
	return data
}

// loaded is what an earlier start of the collector saved.
type loaded struct {
	runs      []runstore.StoredRun
	traces    []traces.StoredTrace
	baselines []runstore.StoredBaseline
	series    []runstore.StoredSeries
}

// load reads the runs, traces, baselines and series saved.
func (p *runStorage) load(ctx context.Context) (loaded, error) {
	var l loaded
	var err error
	l.runs, err = loadRecords(ctx, &p.runs, p.client, p.logger, func(seq uint64, sr *runstore.StoredRun) error {
		return mismatch("run", sr.Seq, seq)
	})
	if err != nil {
		return l, err
	}
	l.traces, err = loadRecords(ctx, &p.traces, p.client, p.logger, func(id string, st *traces.StoredTrace) error {
		return mismatch("trace", st.ID, id)
	})
	if err != nil {
		return l, err
	}
	l.baselines, err = loadRecords(ctx, &p.baselines, p.client, p.logger, func(id uint64, sb *runstore.StoredBaseline) error {
		return mismatch("baseline", sb.ID, id)
	})
	if err != nil {
		return l, err
	}
	l.series, err = loadRecords(ctx, &p.series, p.client, p.logger, func(name string, ss *runstore.StoredSeries) error {
		return mismatch("series", ss.Name, name)
	})
	return l, err
}

// mismatch: a record says it is another than its key says.
func mismatch[K comparable](noun string, says, is K) error {
	if says != is {
		return fmt.Errorf("it says it is %s %.40v", noun, says)
	}
	return nil
}

// restore puts what was loaded into the empty store: the baselines and
// series first, as the runs refer to them, then the runs, then the traces,
// and logs what it skipped.
func (p *runStorage) restore(l loaded, s *runstore.Store) (runstore.Restored, runstore.Tally) {
	for _, err := range s.RestoreBaselines(l.baselines, l.series) {
		p.logger.Warn("Skipping a stored baseline", zap.Error(err))
	}
	done := s.Restore(l.runs)
	for _, skipped := range done.Skipped {
		p.logger.Warn("Skipping a stored run", zap.String("key", runStorageKey(skipped.Seq)), zap.Error(skipped.Err))
	}
	skipped, t := s.RestoreTraces(l.traces)
	for id, err := range skipped {
		p.logger.Warn("Skipping a stored trace", zap.String("key", traceStorageKey(id)), zap.Error(err))
	}
	return done, t
}

// restoreRuns loads what an earlier start of the collector saved.
func (e *releasegateExporter) restoreRuns(ctx context.Context) error {
	l, err := e.storage.load(ctx)
	if err != nil {
		return err
	}
	done, t := e.storage.restore(l, e.store)
	e.recordTally(ctx, t)
	if done.Open > 0 {
		e.telemetry.ExporterReleasegateRunsOpen.Add(ctx, int64(done.Open))
	}
	if len(l.runs) > 0 {
		e.settings.Logger.Info("Restored runs from storage", zap.Int("open", done.Open), zap.Int("finished", done.Finished),
			zap.Int("skipped", len(done.Skipped)+done.Expired))
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
