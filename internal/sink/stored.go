package sink

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/releasegate/releasegate/internal/stored"
	"github.com/releasegate/releasegate/internal/verdict"
)

// storedVersion is the version of the records below; a record of another
// version is not read.
const storedVersion = 1

// maxStoredRange bounds how many keys load looks at, whatever an index says.
const maxStoredRange = 1 << 20

// eventStore keeps a queue's undelivered events in the collector's storage
// extension. Each event is stored whole, as JSON, under <prefix><n>,
// numbered in publishing order; <prefix>index holds the range of numbers
// that may still be stored, since a storage client cannot list its keys.
// The worker finishes events in the order they were stored, so the range is
// about as long as the queue.
//
// Events, not messages, are stored: a message is a closure. After a restart
// the sink turns the events into messages again, with its settings then.
type eventStore struct {
	client storage.Client
	prefix string
	logger *zap.Logger

	mu      sync.Mutex // orders the writes of the index
	head    uint64     // the oldest event that may still be stored
	tail    uint64     // the next event's number
	failing bool       // the last write failed; logged once until one works
}

// storedEvent is an event held in storage, with the number of its messages
// still queued.
type storedEvent struct {
	verdict.Event
	n    uint64
	left atomic.Int64
}

type eventRecord struct {
	Version int               `json:"v"`
	Kind    verdict.EventKind `json:"kind"`
	Time    time.Time         `json:"time"`
	Run     verdict.Run       `json:"run"`
}

type indexRecord struct {
	Version int    `json:"v"`
	Head    uint64 `json:"head"`
	Tail    uint64 `json:"tail"`
}

func (s *eventStore) key(n uint64) string { return s.prefix + strconv.FormatUint(n, 10) }

func (s *eventStore) indexKey() string { return s.prefix + "index" }

// load reads the events stored, oldest first. An unreadable index or event
// is logged and forgotten; only a storage error is returned.
func (s *eventStore) load(ctx context.Context) ([]*storedEvent, error) {
	data, err := s.client.Get(ctx, s.indexKey())
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.indexKey(), err)
	}
	if data == nil {
		return nil, nil
	}
	var index indexRecord
	if err := stored.Decode(data, storedVersion, &index); err != nil || index.Head > index.Tail || index.Tail-index.Head > maxStoredRange {
		if err == nil {
			err = fmt.Errorf("range %d to %d", index.Head, index.Tail)
		}
		s.logger.Warn("Ignoring an unreadable index of stored CI status events", zap.String("key", s.indexKey()), zap.Error(err))
		return nil, nil
	}
	s.head, s.tail = index.Head, index.Tail
	var events []*storedEvent
	for n := index.Head; n < index.Tail; n++ {
		data, err := s.client.Get(ctx, s.key(n))
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", s.key(n), err)
		}
		if data == nil {
			continue // delivered, or dropped
		}
		var r eventRecord
		if err := stored.Decode(data, storedVersion, &r); err != nil {
			s.logger.Warn("Forgetting an unreadable stored CI status event", zap.String("key", s.key(n)), zap.Error(err))
			s.write(storage.DeleteOperation(s.key(n)))
			continue
		}
		events = append(events, &storedEvent{Event: verdict.Event{Kind: r.Kind, Time: r.Time, Run: r.Run}, n: n})
	}
	return events, nil
}

// add stores e, of which queued messages are queued. It returns nil when the
// event could not be stored (logged): it is then delivered all the same,
// but not after a restart.
func (s *eventStore) add(e verdict.Event, queued int) *storedEvent {
	data, err := json.Marshal(eventRecord{Version: storedVersion, Kind: e.Kind, Time: e.Time, Run: e.Run})
	if err != nil {
		s.logger.Warn("Cannot store a CI status event", zap.String("run", e.Run.Run), zap.Error(err))
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.tail
	if !s.write(storage.SetOperation(s.key(n), data), s.setIndex(s.head, n+1)) {
		return nil
	}
	s.tail = n + 1
	ev := &storedEvent{Event: e, n: n}
	ev.left.Store(int64(queued))
	return ev
}

// done counts one of ev's messages delivered or given up on; the last one
// deletes ev.
func (s *eventStore) done(ev *storedEvent) {
	if ev.left.Add(-1) == 0 {
		s.forget(ev)
	}
}

// forget deletes ev from storage.
func (s *eventStore) forget(ev *storedEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ops := []*storage.Operation{storage.DeleteOperation(s.key(ev.n))}
	if ev.n == s.head {
		s.head++
		ops = append(ops, s.setIndex(s.head, s.tail))
	}
	s.write(ops...)
}

func (s *eventStore) setIndex(head, tail uint64) *storage.Operation {
	data, _ := json.Marshal(indexRecord{Version: storedVersion, Head: head, Tail: tail})
	return storage.SetOperation(s.indexKey(), data)
}

// write applies ops in one batch; a failure is logged once until a write
// works again. The caller holds s.mu, or is the only user of s.
func (s *eventStore) write(ops ...*storage.Operation) bool {
	err := s.client.Batch(context.Background(), ops...)
	switch {
	case err != nil && !s.failing:
		s.failing = true
		s.logger.Warn("Cannot write to storage: CI status events may be delivered twice, or not after a restart (logged until it works again)", zap.Error(err))
	case err == nil && s.failing:
		s.failing = false
		s.logger.Info("Writing to storage works again")
	}
	return err == nil
}
