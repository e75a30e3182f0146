package sink

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/releasegate/releasegate/internal/verdict"
)

// Telemetry counts what a queue did with its messages.
type Telemetry interface {
	Sent()
	Retried()
	Failed()  // failed permanently, retries ran out, or still queued at shutdown
	Dropped() // the queue was full
	Skipped() // the sink had nothing to send for an event
}

// Queue delivers one sink's messages: a bounded buffer and one worker, so
// messages go out in the order their events came, and a message about a
// commit's context is never overtaken by an older one.
//
// With storage (Persist), the events whose messages are queued are also
// kept in the collector's storage extension until their last message is
// delivered or given up on, and a restart delivers them again.
type Queue struct {
	sink      Sink
	retry     configretry.BackOffConfig
	clock     clockwork.Clock
	logger    *zap.Logger
	telemetry Telemetry

	messages chan queued
	mu       sync.Mutex // guards closed, store and the sends on messages
	closed   bool
	closing  chan struct{} // closed by Shutdown
	store    *eventStore   // nil without storage
	skipped  sync.Once
	stop     context.CancelFunc // ends retries at the shutdown deadline
	ctx      context.Context
	done     chan struct{}
}

// queued is a message waiting for delivery, with its event in storage (nil
// when it is not stored).
type queued struct {
	Message
	event *storedEvent
}

// QueueSettings are what a queue is made of besides its sink.
type QueueSettings struct {
	// Name names the sink in logs: github, webhooks[0].
	Name string
	// Size bounds the messages waiting; past it new ones are dropped.
	Size int
	// Retry is how failed messages are retried.
	Retry configretry.BackOffConfig
	// Clock times the retries and the shutdown's grace.
	Clock     clockwork.Clock
	Logger    *zap.Logger
	Telemetry Telemetry
}

// NewQueue returns a started queue of s's messages.
func NewQueue(s Sink, set QueueSettings) *Queue {
	ctx, stop := context.WithCancel(context.Background())
	q := &Queue{
		sink:      s,
		retry:     set.Retry,
		clock:     set.Clock,
		logger:    set.Logger.With(zap.String("sink", set.Name)),
		telemetry: set.Telemetry,
		messages:  make(chan queued, set.Size),
		closing:   make(chan struct{}),
		ctx:       ctx,
		stop:      stop,
		done:      make(chan struct{}),
	}
	go q.work()
	return q
}

// Publish queues the messages of an event. It never blocks: what does not
// fit in the queue is dropped and counted.
func (q *Queue) Publish(e verdict.Event) {
	messages, ok := q.messagesOf(e)
	if !ok {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.enqueue(messages, func(n int) *storedEvent { return q.store.add(e, n) })
}

// Persist keeps the queue's events in storage under keys starting with
// prefix, and first queues again, in order, the events a previous run of
// the collector left there undelivered. Call it before the first Publish.
// Only a failure to read the storage is an error; unreadable events are
// logged and forgotten.
func (q *Queue) Persist(ctx context.Context, client storage.Client, prefix string) error {
	store := &eventStore{client: client, prefix: prefix, logger: q.logger}
	events, err := store.load(ctx)
	if err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.store = store
	restored := 0
	for _, ev := range events {
		messages, ok := q.messagesOf(ev.Event)
		n := 0
		if ok {
			n = q.enqueue(messages, func(n int) *storedEvent {
				ev.left.Store(int64(n))
				return ev
			})
		}
		if n == 0 {
			store.forget(ev)
			continue
		}
		restored++
	}
	if restored > 0 {
		q.logger.Info("Delivering CI status events left undelivered before the restart", zap.Int("events", restored))
	}
	return nil
}

// messagesOf is what the sink makes of an event; an event it cannot
// deliver is counted, and logged the first time.
func (q *Queue) messagesOf(e verdict.Event) ([]Message, bool) {
	messages, err := q.sink.Messages(e)
	if err != nil {
		q.telemetry.Skipped()
		q.skipped.Do(func() {
			q.logger.Warn("Skipping events this sink cannot deliver (logged once)", zap.String("run", e.Run.Run), zap.Error(err))
		})
		return nil, false
	}
	return messages, true
}

// enqueue queues the messages of one event that fit, drops the rest, and
// returns how many it queued. With storage, store is called with that
// number before any of them can be delivered. The caller holds q.mu.
func (q *Queue) enqueue(messages []Message, store func(queued int) *storedEvent) int {
	if q.closed {
		for range messages {
			q.telemetry.Failed()
		}
		return 0
	}
	// Only senders holding q.mu fill the buffer, so what fits now still
	// fits when sent.
	fits := min(len(messages), cap(q.messages)-len(q.messages))
	for _, m := range messages[fits:] {
		q.telemetry.Dropped()
		q.logger.Warn("Queue full, dropping a message", zap.String("message", m.What))
	}
	var event *storedEvent
	if fits > 0 && q.store != nil {
		event = store(fits)
	}
	for _, m := range messages[:fits] {
		q.messages <- queued{m, event}
	}
	return fits
}

// Shutdown stops taking events and delivers what is queued until ctx ends;
// what is left then is counted as failed and logged. With storage, it does
// not retry: the first message that fails, and those after it, stay in
// storage for the next start.
func (q *Queue) Shutdown(ctx context.Context) error {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.closing)
		close(q.messages)
	}
	q.mu.Unlock()
	select {
	case <-q.done:
		return nil
	case <-ctx.Done():
	}
	// Sends are cancelled now; one that ignores its context (a write to a
	// stalled disk) is given a moment, not the collector's shutdown. The
	// worker counts what is left when that Send returns.
	q.stop()
	grace := q.clock.NewTimer(stopGrace)
	defer grace.Stop()
	select {
	case <-q.done:
		return nil
	case <-grace.Chan():
		return ctx.Err()
	}
}

// stopGrace is how long Shutdown waits, past its deadline, for a Send to
// notice it was cancelled.
const stopGrace = 50 * time.Millisecond

func (q *Queue) work() {
	defer close(q.done)
	var stopped error // why the shutdown stopped deliveries
	kept := 0
	for m := range q.messages {
		if stopped == nil {
			stopped = q.ctx.Err()
		}
		if stopped == nil {
			if stopped = q.deliver(m); stopped == nil {
				continue
			}
		}
		// A stored message waits for the next start; another one fails.
		// Neither is sent after one before it was not.
		if m.event != nil {
			kept++
		} else {
			q.giveUp(m, stopped)
		}
	}
	if kept > 0 {
		q.logger.Info("CI status messages left in storage, to deliver after the next start", zap.Int("messages", kept))
	}
}

// finished ends m's delivery: its event leaves storage with its last
// message. (q.store was set before m was queued.)
func (q *Queue) finished(m queued) {
	if m.event != nil {
		q.store.done(m.event)
	}
}

func (q *Queue) giveUp(m queued, err error) {
	q.telemetry.Failed()
	q.logger.Warn("Message not delivered", zap.String("message", m.What), zap.Error(err))
	q.finished(m)
}

// deliver sends m until it succeeds, fails permanently, or the retries run
// out (retry_on_failure). When the shutdown stops it first, it returns the
// last error and leaves m to the caller.
func (q *Queue) deliver(m queued) error {
	start := q.clock.Now()
	interval := max(q.retry.InitialInterval, minInterval)
	// A stored message is not retried during shutdown: it will be after
	// the next start.
	var closing chan struct{}
	if m.event != nil {
		closing = q.closing
	}
	for {
		err := m.Send(q.ctx)
		if err == nil {
			q.telemetry.Sent()
			q.finished(m)
			return nil
		}
		if isPermanent(err) || !q.retry.Enabled {
			q.giveUp(m, err)
			return nil
		}
		select {
		case <-closing:
			return err
		default:
		}
		wait, asked := retryAfter(err)
		if !asked {
			wait = jitter(interval, q.retry.RandomizationFactor)
			interval = nextInterval(interval, q.retry)
		}
		if q.retry.MaxElapsedTime > 0 && q.clock.Since(start)+wait > q.retry.MaxElapsedTime {
			q.giveUp(m, err)
			return nil
		}
		q.telemetry.Retried()
		q.logger.Debug("Retrying", zap.String("message", m.What), zap.Duration("after", wait), zap.Error(err))
		if !q.wait(wait, closing) {
			return err
		}
	}
}

// wait waits d before a retry; false when the shutdown (closing, or the
// deadline) came first.
func (q *Queue) wait(d time.Duration, closing <-chan struct{}) bool {
	timer := q.clock.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.Chan():
		return true
	case <-closing:
		return false
	case <-q.ctx.Done():
		return false
	}
}

// minInterval keeps a zero setting from turning retries into a busy loop.
const minInterval = 10 * time.Millisecond

// nextInterval grows the backoff interval by the multiplier, up to
// max_interval (when set) and never below minInterval.
func nextInterval(d time.Duration, retry configretry.BackOffConfig) time.Duration {
	next := time.Duration(float64(d) * max(retry.Multiplier, 1))
	if retry.MaxInterval > 0 {
		next = min(next, retry.MaxInterval)
	}
	return max(next, minInterval)
}

func jitter(d time.Duration, factor float64) time.Duration {
	if factor <= 0 {
		return d
	}
	delta := factor * float64(d)
	return time.Duration(float64(d) - delta + rand.Float64()*2*delta)
}
