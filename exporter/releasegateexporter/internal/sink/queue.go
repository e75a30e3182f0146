package sink

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"go.opentelemetry.io/collector/config/configretry"
	"go.uber.org/zap"
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
type Queue struct {
	name      string
	sink      Sink
	retry     configretry.BackOffConfig
	logger    *zap.Logger
	telemetry Telemetry

	messages chan Message
	mu       sync.Mutex // guards closed and the send on messages
	closed   bool
	skipped  sync.Once
	stop     context.CancelFunc // ends retries at the shutdown deadline
	ctx      context.Context
	done     chan struct{}
}

// NewQueue returns a started queue of at most size messages.
func NewQueue(name string, s Sink, size int, retry configretry.BackOffConfig, logger *zap.Logger, telemetry Telemetry) *Queue {
	ctx, stop := context.WithCancel(context.Background())
	q := &Queue{
		name:      name,
		sink:      s,
		retry:     retry,
		logger:    logger.With(zap.String("sink", name)),
		telemetry: telemetry,
		messages:  make(chan Message, size),
		ctx:       ctx,
		stop:      stop,
		done:      make(chan struct{}),
	}
	go q.work()
	return q
}

// Publish queues the messages of an event. It never blocks: what does not
// fit in the queue is dropped and counted.
func (q *Queue) Publish(e Event) {
	messages, err := q.sink.Messages(e)
	if err != nil {
		q.telemetry.Skipped()
		q.skipped.Do(func() {
			q.logger.Warn("Skipping events this sink cannot deliver (logged once)", zap.String("run", e.Run.Run), zap.Error(err))
		})
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range messages {
		if q.closed {
			q.telemetry.Failed()
			continue
		}
		select {
		case q.messages <- m:
		default:
			q.telemetry.Dropped()
			q.logger.Warn("Queue full, dropping a message", zap.String("message", m.What))
		}
	}
}

// Shutdown stops taking events and delivers what is queued until ctx ends;
// what is left then is counted as failed and logged.
func (q *Queue) Shutdown(ctx context.Context) error {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.messages)
	}
	q.mu.Unlock()
	select {
	case <-q.done:
		return nil
	case <-ctx.Done():
		q.stop()
		<-q.done
		return nil
	}
}

func (q *Queue) work() {
	defer close(q.done)
	for m := range q.messages {
		if q.ctx.Err() != nil {
			q.giveUp(m, q.ctx.Err())
			continue
		}
		q.deliver(m)
	}
}

func (q *Queue) giveUp(m Message, err error) {
	q.telemetry.Failed()
	q.logger.Warn("Message not delivered", zap.String("message", m.What), zap.Error(err))
}

// deliver sends m until it succeeds, fails permanently, or the retries run
// out (retry_on_failure).
func (q *Queue) deliver(m Message) {
	start := time.Now()
	interval := max(q.retry.InitialInterval, minInterval)
	for {
		err := m.Send(q.ctx)
		if err == nil {
			q.telemetry.Sent()
			return
		}
		if isPermanent(err) || !q.retry.Enabled {
			q.giveUp(m, err)
			return
		}
		wait, asked := retryAfter(err)
		if !asked {
			wait = jitter(interval, q.retry.RandomizationFactor)
			interval = nextInterval(interval, q.retry)
		}
		if q.retry.MaxElapsedTime > 0 && time.Since(start)+wait > q.retry.MaxElapsedTime {
			q.giveUp(m, err)
			return
		}
		q.telemetry.Retried()
		q.logger.Debug("Retrying", zap.String("message", m.What), zap.Duration("after", wait), zap.Error(err))
		select {
		case <-time.After(wait):
		case <-q.ctx.Done():
			q.giveUp(m, err)
			return
		}
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
