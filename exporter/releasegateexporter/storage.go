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

// Runs are saved to the storage extension one key per run, run/<seq>, and
// the traces buffered for trace gates one key per trace, trace/<id>, as
// JSON with a version; "runs" and "traces" list the keys saved, since a
// storage client cannot list its keys. Keys by sequence number stay short
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
	runsIndexKey   = "runs"
	tracesIndexKey = "traces"
)

func runStorageKey(seq uint64) string { return "run/" + strconv.FormatUint(seq, 10) }

func traceStorageKey(id string) string { return "trace/" + id }

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
	// failing: the last save failed, so the next one writes everything.
	failing bool
}

func newRunStorage(client storage.Client, logger *zap.Logger, clock clockwork.Clock) *runStorage {
	return &runStorage{
		client: client, logger: logger, clock: clock, every: saveEvery, last: clock.Now(),
		runs:   recordSet[uint64]{index: runsIndexKey, noun: "run", version: runstore.StoredVersion, key: runStorageKey},
		traces: recordSet[string]{index: tracesIndexKey, noun: "trace", version: traces.StoredVersion, key: traceStorageKey},
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
	ops, commitRuns := p.runs.writes(runs, heldRuns)
	traceOps, commitTraces := p.traces.writes(traces, heldTraces)
	ops = append(ops, traceOps...)
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

// load reads the runs and traces saved.
func (p *runStorage) load(ctx context.Context) ([]runstore.StoredRun, []traces.StoredTrace, error) {
	runs, err := loadRecords(ctx, &p.runs, p.client, p.logger, func(seq uint64, sr *runstore.StoredRun) error {
		if sr.Seq != seq {
			return fmt.Errorf("it says it is run %d", sr.Seq)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	saved, err := loadRecords(ctx, &p.traces, p.client, p.logger, func(id string, st *traces.StoredTrace) error {
		if st.ID != id {
			return fmt.Errorf("it says it is trace %.40q", st.ID)
		}
		return nil
	})
	return runs, saved, err
}

// restore puts the runs loaded into the empty store, and logs those it
// skipped.
func (p *runStorage) restore(runs []runstore.StoredRun, s *runstore.Store) runstore.Restored {
	done := s.Restore(runs)
	for _, skipped := range done.Skipped {
		p.logger.Warn("Skipping a stored run", zap.String("key", runStorageKey(skipped.Seq)), zap.Error(skipped.Err))
	}
	return done
}

// restoreRuns loads the runs and traces saved by an earlier start of the
// collector.
func (e *releasegateExporter) restoreRuns(ctx context.Context) error {
	runs, saved, err := e.storage.load(ctx)
	if err != nil {
		return err
	}
	done := e.storage.restore(runs, e.store)
	skipped, t := e.store.RestoreTraces(saved)
	for id, err := range skipped {
		e.settings.Logger.Warn("Skipping a stored trace", zap.String("key", traceStorageKey(id)), zap.Error(err))
	}
	e.recordTally(ctx, t)
	if done.Open > 0 {
		e.telemetry.ExporterReleasegateRunsOpen.Add(ctx, int64(done.Open))
	}
	if len(runs) > 0 {
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
