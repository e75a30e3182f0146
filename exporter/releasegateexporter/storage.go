package releasegateexporter

import (
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
	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/runstore"
	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/stored"
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

const runsIndexKey = "runs"

func runStorageKey(seq uint64) string { return "run/" + strconv.FormatUint(seq, 10) }

type storedIndex struct {
	Version int      `json:"v"`
	Runs    []uint64 `json:"runs"`
}

// runStorage saves the store's runs to a storage client and loads them.
type runStorage struct {
	client storage.Client
	logger *zap.Logger
	clock  clockwork.Clock
	// savedRuns counts the run records written; nil in tests that do
	// not look.
	savedRuns metric.Int64Counter
	every     time.Duration // between two saves of the sweep loop
	last      time.Time     // of the last of them
	// saved are the runs in storage, as the index lists them; nil until
	// load succeeded, and nothing is saved until then: it would delete
	// what a failed load did not read.
	saved map[uint64]bool
	// failing: the last save failed, so the next one writes every run.
	failing bool
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

// save writes the runs changed since the last save, deletes the runs the
// store forgot, and updates the index, in one batch. A failure is logged
// once until a save works again.
func (p *runStorage) save(ctx context.Context, s *runstore.Store) {
	if p.saved == nil {
		return
	}
	changed, held := s.Snapshot(p.failing)
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
		data, _ := json.Marshal(storedIndex{Version: runstore.StoredVersion, Runs: held})
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
	if p.savedRuns != nil && len(changed) > 0 {
		p.savedRuns.Add(ctx, int64(len(changed)))
	}
}

// load reads the runs saved. Records that cannot be read are logged,
// without their content, and left for the next save to delete; only a
// storage error is returned.
func (p *runStorage) load(ctx context.Context) ([]runstore.StoredRun, error) {
	data, err := p.client.Get(ctx, runsIndexKey)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", runsIndexKey, err)
	}
	var index storedIndex
	if data != nil {
		if err := stored.Decode(data, runstore.StoredVersion, &index); err != nil {
			p.logger.Warn("Ignoring an unreadable index of stored runs", zap.String("key", runsIndexKey), zap.Error(err))
			index = storedIndex{}
		}
	}
	saved := make(map[uint64]bool, len(index.Runs))
	runs := make([]runstore.StoredRun, 0, len(index.Runs))
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
		var sr runstore.StoredRun
		if err := stored.Decode(data, runstore.StoredVersion, &sr); err != nil {
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

// restore puts the runs loaded into the empty store, and logs those it
// skipped.
func (p *runStorage) restore(runs []runstore.StoredRun, s *runstore.Store) runstore.Restored {
	done := s.Restore(runs)
	for _, skipped := range done.Skipped {
		p.logger.Warn("Skipping a stored run", zap.String("key", runStorageKey(skipped.Seq)), zap.Error(skipped.Err))
	}
	return done
}

// restoreRuns loads the runs saved by an earlier start of the collector.
func (e *releasegateExporter) restoreRuns(ctx context.Context) error {
	runs, err := e.storage.load(ctx)
	if err != nil {
		return err
	}
	done := e.storage.restore(runs, e.store)
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
