package sink

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configretry"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/releasegate/releasegate/internal/clocktest"
	"github.com/releasegate/releasegate/internal/verdict"
)

// counts is a Telemetry that counts.
type counts struct {
	sent, retried, failed, dropped, skipped atomic.Int64
}

func (c *counts) Sent()    { c.sent.Add(1) }
func (c *counts) Retried() { c.retried.Add(1) }
func (c *counts) Failed()  { c.failed.Add(1) }
func (c *counts) Dropped() { c.dropped.Add(1) }
func (c *counts) Skipped() { c.skipped.Add(1) }

// sinkFunc is a Sink the test scripts.
type sinkFunc func(verdict.Event) ([]Message, error)

func (f sinkFunc) Messages(e verdict.Event) ([]Message, error) { return f(e) }

// scripted is a sink with one message per event, sent by send.
func scripted(send func(ctx context.Context, run string) error) Sink {
	return sinkFunc(func(e verdict.Event) ([]Message, error) {
		return []Message{{
			What: "report of " + e.Run.Run,
			Send: func(ctx context.Context) error { return send(ctx, e.Run.Run) },
		}}, nil
	})
}

func event(run string) verdict.Event {
	return verdict.Event{Kind: verdict.RunFinished, Time: time.Now(), Run: verdict.Run{Run: run}}
}

// fastRetry waits 10ms, 20ms, then 40ms between attempts, without jitter,
// for at most 5s.
func fastRetry() configretry.BackOffConfig {
	cfg := configretry.NewDefaultBackOffConfig()
	cfg.InitialInterval = 10 * time.Millisecond
	cfg.RandomizationFactor = 0
	cfg.Multiplier = 2
	cfg.MaxInterval = 40 * time.Millisecond
	cfg.MaxElapsedTime = 5 * time.Second
	return cfg
}

// testQueue is a queue on a fake clock, shut down when the test ends.
type testQueue struct {
	*Queue
	clock *clockwork.FakeClock
	tel   *counts
	logs  *observer.ObservedLogs
}

func newTestQueue(t *testing.T, s Sink, size int, retry configretry.BackOffConfig) *testQueue {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	q := &testQueue{clock: clockwork.NewFakeClock(), tel: &counts{}, logs: logs}
	q.Queue = NewQueue(s, QueueSettings{Name: "test", Size: size, Retry: retry, Clock: q.clock, Logger: zap.New(core), Telemetry: q.tel})
	t.Cleanup(func() { assert.NoError(t, q.Shutdown(context.Background())) })
	return q
}

// waiting returns once the queue waits on its clock: a retry's interval,
// or the shutdown's grace.
func (q *testQueue) waiting(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, q.clock.BlockUntilContext(ctx, 1), "the queue does not wait")
}

// shutdown shuts the queue down, moving its clock on by step whenever it
// waits, so that retries run their course.
func (q *testQueue) shutdown(t *testing.T, step time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		assert.NoError(t, q.Shutdown(context.Background()))
	}()
	clocktest.AdvanceUntil(q.clock, step, done)
}

func TestQueueDeliversInOrder(t *testing.T) {
	var sent []string // written by the one worker only
	var inFlight atomic.Int64
	var overlapped atomic.Bool
	q := newTestQueue(t, sinkFunc(func(e verdict.Event) ([]Message, error) {
		var messages []Message
		for _, part := range []string{"a", "b"} {
			what := e.Run.Run + "/" + part
			messages = append(messages, Message{What: what, Send: func(context.Context) error {
				if inFlight.Add(1) > 1 {
					overlapped.Store(true)
				}
				defer inFlight.Add(-1)
				sent = append(sent, what)
				return nil
			}})
		}
		return messages, nil
	}), 100, fastRetry())

	var want []string
	for i := range 50 {
		run := fmt.Sprintf("r-%d", i)
		q.Publish(event(run))
		want = append(want, run+"/a", run+"/b")
	}
	require.NoError(t, q.Shutdown(context.Background()))

	assert.Equal(t, want, sent)
	assert.False(t, overlapped.Load(), "two messages were sent at once")
	assert.EqualValues(t, 100, q.tel.sent.Load())
	assert.Zero(t, q.tel.retried.Load()+q.tel.failed.Load()+q.tel.dropped.Load()+q.tel.skipped.Load())
}

// The interval doubles up to max_interval, and each retry waits its
// interval to the nanosecond on the queue's clock.
func TestQueueRetriesWithBackoff(t *testing.T) {
	var calls atomic.Int64
	q := newTestQueue(t, scripted(func(context.Context, string) error {
		if calls.Add(1) <= 4 {
			return errors.New("connection refused")
		}
		return nil
	}), 10, fastRetry())

	q.Publish(event("r-1"))
	for i, wait := range []time.Duration{10, 20, 40, 40} {
		q.waiting(t)
		require.EqualValues(t, i+1, calls.Load())
		q.clock.Advance(wait*time.Millisecond - 1)
		assert.EqualValues(t, i+1, calls.Load(), "attempt %d came before its interval", i+2)
		q.clock.Advance(1)
	}
	require.NoError(t, q.Shutdown(context.Background()))

	assert.EqualValues(t, 5, calls.Load())
	assert.EqualValues(t, 4, q.tel.retried.Load())
	assert.EqualValues(t, 1, q.tel.sent.Load())
	assert.Zero(t, q.tel.failed.Load())
	var waits []any
	for _, entry := range q.logs.FilterMessage("Retrying").All() {
		waits = append(waits, entry.ContextMap()["after"])
	}
	ms := time.Millisecond
	assert.Equal(t, []any{10 * ms, 20 * ms, 40 * ms, 40 * ms}, waits)
}

func TestQueuePermanentErrorStopsAtOnce(t *testing.T) {
	var calls atomic.Int64
	q := newTestQueue(t, scripted(func(context.Context, string) error {
		calls.Add(1)
		return Permanent(&StatusError{Code: 422, Message: "no commit found for SHA"})
	}), 10, fastRetry())

	q.Publish(event("r-1"))
	require.NoError(t, q.Shutdown(context.Background()))

	assert.EqualValues(t, 1, calls.Load())
	assert.EqualValues(t, 1, q.tel.failed.Load())
	assert.Zero(t, q.tel.retried.Load()+q.tel.sent.Load())
	entries := q.logs.FilterMessage("Message not delivered").All()
	require.Len(t, entries, 1)
	assert.Equal(t, "report of r-1", entries[0].ContextMap()["message"])
	assert.Equal(t, "HTTP 422: no commit found for SHA", entries[0].ContextMap()["error"])
}

// A receiver's Retry-After replaces the backoff interval, shorter or
// longer.
func TestQueueRetryAfter(t *testing.T) {
	retry := fastRetry()
	retry.InitialInterval = time.Minute // the backoff alone would wait this long
	retry.MaxInterval = time.Minute
	retry.MaxElapsedTime = 10 * time.Minute
	var calls atomic.Int64
	q := newTestQueue(t, scripted(func(context.Context, string) error {
		if calls.Add(1) == 1 {
			return RetryAfter(&StatusError{Code: 429}, 50*time.Millisecond)
		}
		return nil
	}), 10, retry)

	q.Publish(event("r-1"))
	q.waiting(t)
	q.clock.Advance(50*time.Millisecond - 1)
	assert.EqualValues(t, 1, calls.Load(), "retried before the Retry-After")
	q.clock.Advance(1)
	require.NoError(t, q.Shutdown(context.Background()))

	assert.EqualValues(t, 2, calls.Load())
	assert.EqualValues(t, 1, q.tel.retried.Load())
	assert.EqualValues(t, 1, q.tel.sent.Load())
}

// A wait asked for past max_elapsed_time gives up at once rather than
// sleeping for nothing: the clock never moves.
func TestQueueRetryAfterPastMaxElapsedTime(t *testing.T) {
	var calls atomic.Int64
	q := newTestQueue(t, scripted(func(context.Context, string) error {
		calls.Add(1)
		return RetryAfter(&StatusError{Code: 429}, time.Hour)
	}), 10, fastRetry())

	q.Publish(event("r-1"))
	require.NoError(t, q.Shutdown(context.Background()))

	assert.EqualValues(t, 1, calls.Load())
	assert.EqualValues(t, 1, q.tel.failed.Load())
	assert.Zero(t, q.tel.retried.Load())
}

func TestQueueRetryDisabled(t *testing.T) {
	retry := fastRetry()
	retry.Enabled = false
	var calls atomic.Int64
	q := newTestQueue(t, scripted(func(context.Context, string) error {
		calls.Add(1)
		return &StatusError{Code: 503}
	}), 10, retry)

	q.Publish(event("r-1"))
	require.NoError(t, q.Shutdown(context.Background()))

	assert.EqualValues(t, 1, calls.Load())
	assert.EqualValues(t, 1, q.tel.failed.Load())
	assert.Zero(t, q.tel.retried.Load()+q.tel.sent.Load())
}

// Retries every 10ms for at most 100ms: attempts at 0, 10, ... 100ms, and
// no wait that would end past max_elapsed_time.
func TestQueueMaxElapsedTime(t *testing.T) {
	retry := fastRetry()
	retry.MaxInterval = 10 * time.Millisecond
	retry.MaxElapsedTime = 100 * time.Millisecond
	var calls atomic.Int64
	q := newTestQueue(t, scripted(func(context.Context, string) error {
		calls.Add(1)
		return &StatusError{Code: 503}
	}), 10, retry)
	start := q.clock.Now()

	q.Publish(event("r-1"))
	q.shutdown(t, time.Millisecond)

	assert.EqualValues(t, 11, calls.Load())
	assert.EqualValues(t, 10, q.tel.retried.Load())
	assert.EqualValues(t, 1, q.tel.failed.Load())
	assert.Zero(t, q.tel.sent.Load())
	assert.Equal(t, 100*time.Millisecond, q.clock.Since(start))
}

func TestQueueSkipsEventsTheSinkCannotDeliver(t *testing.T) {
	q := newTestQueue(t, sinkFunc(func(verdict.Event) ([]Message, error) {
		return nil, errors.New("run has no revision")
	}), 10, fastRetry())

	for _, run := range []string{"r-1", "r-2", "r-3"} {
		q.Publish(event(run))
	}

	assert.EqualValues(t, 3, q.tel.skipped.Load())
	entries := q.logs.FilterMessageSnippet("Skipping events").All()
	require.Len(t, entries, 1, "logged once")
	assert.Equal(t, map[string]any{"sink": "test", "run": "r-1", "error": "run has no revision"}, entries[0].ContextMap())
}

// Publish never waits for the worker: with the worker held by a message, what
// does not fit is dropped, at once.
func TestQueueFullDropsWithoutBlocking(t *testing.T) {
	started, blocked := make(chan struct{}), make(chan struct{})
	release := sync.OnceFunc(func() { close(blocked) })
	var sent []string
	q := newTestQueue(t, scripted(func(_ context.Context, run string) error {
		if run == "r-0" {
			close(started)
			<-blocked
		}
		sent = append(sent, run)
		return nil
	}), 2, fastRetry())
	t.Cleanup(release) // before the queue's shutdown, should the test fail early

	q.Publish(event("r-0"))
	<-started // the worker holds r-0: the queue is empty

	for i := 1; i <= 5; i++ {
		q.Publish(event(fmt.Sprintf("r-%d", i)))
	}
	assert.EqualValues(t, 3, q.tel.dropped.Load())
	assert.Equal(t, 3, q.logs.FilterMessage("Queue full, dropping a message").Len())

	release()
	require.NoError(t, q.Shutdown(context.Background()))
	assert.Equal(t, []string{"r-0", "r-1", "r-2"}, sent)
	assert.EqualValues(t, 3, q.tel.sent.Load())
}

func TestQueueShutdownDeliversQueued(t *testing.T) {
	var sent []string
	q := newTestQueue(t, scripted(func(_ context.Context, run string) error {
		sent = append(sent, run)
		return nil
	}), 100, fastRetry())
	var want []string
	for i := range 20 {
		run := fmt.Sprintf("r-%d", i)
		q.Publish(event(run))
		want = append(want, run)
	}

	require.NoError(t, q.Shutdown(context.Background()))

	assert.Equal(t, want, sent)
	assert.EqualValues(t, 20, q.tel.sent.Load())
	assert.Zero(t, q.tel.failed.Load())
}

// At the deadline, a message waiting for its retry, and those behind it,
// fail at once: the retry's minute never passes.
func TestQueueShutdownDeadlineWhileRetrying(t *testing.T) {
	retry := fastRetry()
	retry.InitialInterval = time.Minute
	retry.MaxInterval = time.Minute
	retry.MaxElapsedTime = 0 // retry forever
	var calls atomic.Int64
	q := newTestQueue(t, scripted(func(context.Context, string) error {
		calls.Add(1)
		return errors.New("connection refused")
	}), 10, retry)
	for _, run := range []string{"r-1", "r-2", "r-3"} {
		q.Publish(event(run))
	}
	q.waiting(t) // r-1 failed once and now waits a minute for its retry

	require.NoError(t, q.Shutdown(cancelled(t)))

	assert.EqualValues(t, 3, q.tel.failed.Load(), "the message being retried and the two queued")
	assert.EqualValues(t, 1, calls.Load(), "r-2 and r-3 were never tried")
	assert.Zero(t, q.tel.sent.Load())
	assert.Equal(t, 3, q.logs.FilterMessage("Message not delivered").Len())
}

// At the deadline, a Send in flight is cancelled.
func TestQueueShutdownDeadlineCancelsSend(t *testing.T) {
	started := make(chan struct{})
	q := newTestQueue(t, scripted(func(ctx context.Context, _ string) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}), 10, fastRetry())
	q.Publish(event("r-1"))
	<-started

	require.NoError(t, q.Shutdown(cancelled(t)))

	assert.EqualValues(t, 1, q.tel.failed.Load())
	assert.Zero(t, q.tel.sent.Load())
}

// A message whose Send cannot be interrupted (a JUnit report written to a
// file system that stalls: a file write does not take a context) holds
// Shutdown for the grace past its deadline, not longer.
func TestQueueShutdownDeadlineWithSendIgnoringContext(t *testing.T) {
	started, stalled := make(chan struct{}), make(chan struct{})
	q := newTestQueue(t, scripted(func(context.Context, string) error {
		close(started)
		<-stalled
		return nil
	}), 10, fastRetry())
	// Cleanups run last first: the stalled Send ends before the queue's
	// own cleanup shuts it down.
	t.Cleanup(func() { close(stalled) })
	q.Publish(event("r-1"))
	<-started

	returned := make(chan error, 1)
	go func() { returned <- q.Shutdown(cancelled(t)) }()
	q.waiting(t)
	q.clock.Advance(stopGrace - 1)
	select {
	case err := <-returned:
		require.FailNow(t, "Shutdown returned before its grace", "error: %v", err)
	default:
	}
	q.clock.Advance(1)
	assert.ErrorIs(t, <-returned, context.Canceled)
}

func TestQueuePublishAfterShutdown(t *testing.T) {
	var calls atomic.Int64
	send := func(context.Context) error {
		calls.Add(1)
		return nil
	}
	q := newTestQueue(t, sinkFunc(func(verdict.Event) ([]Message, error) {
		return []Message{{What: "a", Send: send}, {What: "b", Send: send}}, nil
	}), 10, fastRetry())
	require.NoError(t, q.Shutdown(context.Background()))

	assert.NotPanics(t, func() { q.Publish(event("r-1")) })
	assert.EqualValues(t, 2, q.tel.failed.Load())
	assert.Zero(t, calls.Load())
	assert.NoError(t, q.Shutdown(context.Background()), "a second shutdown")
}

func TestJitter(t *testing.T) {
	assert.Equal(t, time.Second, jitter(time.Second, 0))
	for range 100 {
		d := jitter(time.Second, 0.5)
		assert.GreaterOrEqual(t, d, 500*time.Millisecond)
		assert.LessOrEqual(t, d, 1500*time.Millisecond)
	}
}

// cancelled is a context whose deadline has passed.
func cancelled(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	return ctx
}
