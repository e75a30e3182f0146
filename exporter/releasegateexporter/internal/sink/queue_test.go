package sink

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configretry"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/verdict"
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

// newTestQueue is a queue that is shut down when the test ends.
func newTestQueue(t *testing.T, s Sink, size int, retry configretry.BackOffConfig) (*Queue, *counts, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	tel := &counts{}
	q := NewQueue("test", s, size, retry, zap.New(core), tel)
	t.Cleanup(func() { assert.NoError(t, q.Shutdown(context.Background())) })
	return q, tel, logs
}

func TestQueueDeliversInOrder(t *testing.T) {
	var sent []string // written by the one worker only
	var inFlight atomic.Int64
	var overlapped atomic.Bool
	q, tel, _ := newTestQueue(t, sinkFunc(func(e verdict.Event) ([]Message, error) {
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
	assert.EqualValues(t, 100, tel.sent.Load())
	assert.Zero(t, tel.retried.Load()+tel.failed.Load()+tel.dropped.Load()+tel.skipped.Load())
}

func TestQueueRetriesWithBackoff(t *testing.T) {
	var calls []time.Time
	q, tel, logs := newTestQueue(t, scripted(func(context.Context, string) error {
		calls = append(calls, time.Now())
		if len(calls) <= 4 {
			return errors.New("connection refused")
		}
		return nil
	}), 10, fastRetry())

	q.Publish(event("r-1"))
	require.NoError(t, q.Shutdown(context.Background()))

	require.Len(t, calls, 5)
	assert.EqualValues(t, 4, tel.retried.Load())
	assert.EqualValues(t, 1, tel.sent.Load())
	assert.Zero(t, tel.failed.Load())
	// The interval doubles up to max_interval.
	for i, wait := range []time.Duration{10, 20, 40, 40} {
		assert.GreaterOrEqual(t, calls[i+1].Sub(calls[i]), wait*time.Millisecond, "wait before attempt %d", i+2)
	}
	assert.Equal(t, 4, logs.FilterMessage("Retrying").Len())
}

func TestQueuePermanentErrorStopsAtOnce(t *testing.T) {
	var calls atomic.Int64
	q, tel, logs := newTestQueue(t, scripted(func(context.Context, string) error {
		calls.Add(1)
		return Permanent(&StatusError{Code: 422, Message: "no commit found for SHA"})
	}), 10, fastRetry())

	q.Publish(event("r-1"))
	require.NoError(t, q.Shutdown(context.Background()))

	assert.EqualValues(t, 1, calls.Load())
	assert.EqualValues(t, 1, tel.failed.Load())
	assert.Zero(t, tel.retried.Load()+tel.sent.Load())
	entries := logs.FilterMessage("Message not delivered").All()
	require.Len(t, entries, 1)
	assert.Equal(t, "report of r-1", entries[0].ContextMap()["message"])
	assert.Equal(t, "HTTP 422: no commit found for SHA", entries[0].ContextMap()["error"])
}

func TestQueueRetryAfter(t *testing.T) {
	retry := fastRetry()
	retry.InitialInterval = time.Minute // the backoff alone would wait this long
	retry.MaxInterval = time.Minute
	retry.MaxElapsedTime = 10 * time.Minute
	var calls []time.Time
	q, tel, _ := newTestQueue(t, scripted(func(context.Context, string) error {
		calls = append(calls, time.Now())
		if len(calls) == 1 {
			return RetryAfter(&StatusError{Code: 429}, 50*time.Millisecond)
		}
		return nil
	}), 10, retry)

	q.Publish(event("r-1"))
	require.NoError(t, q.Shutdown(context.Background()))

	require.Len(t, calls, 2)
	wait := calls[1].Sub(calls[0])
	assert.GreaterOrEqual(t, wait, 50*time.Millisecond)
	assert.Less(t, wait, 10*time.Second)
	assert.EqualValues(t, 1, tel.retried.Load())
	assert.EqualValues(t, 1, tel.sent.Load())
}

// A wait asked for past max_elapsed_time gives up at once rather than
// sleeping for nothing.
func TestQueueRetryAfterPastMaxElapsedTime(t *testing.T) {
	var calls atomic.Int64
	q, tel, _ := newTestQueue(t, scripted(func(context.Context, string) error {
		calls.Add(1)
		return RetryAfter(&StatusError{Code: 429}, time.Hour)
	}), 10, fastRetry())

	start := time.Now()
	q.Publish(event("r-1"))
	require.NoError(t, q.Shutdown(context.Background()))

	assert.Less(t, time.Since(start), 10*time.Second)
	assert.EqualValues(t, 1, calls.Load())
	assert.EqualValues(t, 1, tel.failed.Load())
	assert.Zero(t, tel.retried.Load())
}

func TestQueueRetryDisabled(t *testing.T) {
	retry := fastRetry()
	retry.Enabled = false
	var calls atomic.Int64
	q, tel, _ := newTestQueue(t, scripted(func(context.Context, string) error {
		calls.Add(1)
		return &StatusError{Code: 503}
	}), 10, retry)

	q.Publish(event("r-1"))
	require.NoError(t, q.Shutdown(context.Background()))

	assert.EqualValues(t, 1, calls.Load())
	assert.EqualValues(t, 1, tel.failed.Load())
	assert.Zero(t, tel.retried.Load()+tel.sent.Load())
}

func TestQueueMaxElapsedTime(t *testing.T) {
	retry := fastRetry()
	retry.MaxInterval = 10 * time.Millisecond
	retry.MaxElapsedTime = 100 * time.Millisecond
	var calls atomic.Int64
	q, tel, _ := newTestQueue(t, scripted(func(context.Context, string) error {
		calls.Add(1)
		return &StatusError{Code: 503}
	}), 10, retry)

	start := time.Now()
	q.Publish(event("r-1"))
	require.NoError(t, q.Shutdown(context.Background()))

	assert.Less(t, time.Since(start), 10*time.Second)
	assert.Greater(t, calls.Load(), int64(1))
	assert.Equal(t, calls.Load()-1, tel.retried.Load())
	assert.EqualValues(t, 1, tel.failed.Load())
	assert.Zero(t, tel.sent.Load())
}

func TestQueueSkipsEventsTheSinkCannotDeliver(t *testing.T) {
	q, tel, logs := newTestQueue(t, sinkFunc(func(verdict.Event) ([]Message, error) {
		return nil, errors.New("run has no revision")
	}), 10, fastRetry())

	for _, run := range []string{"r-1", "r-2", "r-3"} {
		q.Publish(event(run))
	}

	assert.EqualValues(t, 3, tel.skipped.Load())
	entries := logs.FilterMessageSnippet("Skipping events").All()
	require.Len(t, entries, 1, "logged once")
	assert.Equal(t, map[string]any{"sink": "test", "run": "r-1", "error": "run has no revision"}, entries[0].ContextMap())
}

func TestQueueFullDropsWithoutBlocking(t *testing.T) {
	started, blocked := make(chan struct{}), make(chan struct{})
	release := sync.OnceFunc(func() { close(blocked) })
	var sent []string
	q, tel, logs := newTestQueue(t, scripted(func(_ context.Context, run string) error {
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

	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := 1; i <= 5; i++ {
			q.Publish(event(fmt.Sprintf("r-%d", i)))
		}
	}()
	select {
	case <-published:
	case <-time.After(5 * time.Second):
		require.FailNow(t, "Publish blocked on a full queue")
	}
	assert.EqualValues(t, 3, tel.dropped.Load())
	assert.Equal(t, 3, logs.FilterMessage("Queue full, dropping a message").Len())

	release()
	require.NoError(t, q.Shutdown(context.Background()))
	assert.Equal(t, []string{"r-0", "r-1", "r-2"}, sent)
	assert.EqualValues(t, 3, tel.sent.Load())
}

func TestQueueShutdownDeliversQueued(t *testing.T) {
	var sent []string
	q, tel, _ := newTestQueue(t, scripted(func(_ context.Context, run string) error {
		time.Sleep(time.Millisecond)
		sent = append(sent, run)
		return nil
	}), 100, fastRetry())
	var want []string
	for i := range 20 {
		run := fmt.Sprintf("r-%d", i)
		q.Publish(event(run))
		want = append(want, run)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, q.Shutdown(ctx))

	assert.Equal(t, want, sent)
	assert.EqualValues(t, 20, tel.sent.Load())
	assert.Zero(t, tel.failed.Load())
}

func TestQueueShutdownDeadlineWhileRetrying(t *testing.T) {
	retry := fastRetry()
	retry.InitialInterval = time.Minute
	retry.MaxInterval = time.Minute
	retry.MaxElapsedTime = 0 // retry forever
	var calls atomic.Int64
	q, tel, logs := newTestQueue(t, scripted(func(context.Context, string) error {
		calls.Add(1)
		return errors.New("connection refused")
	}), 10, retry)
	for _, run := range []string{"r-1", "r-2", "r-3"} {
		q.Publish(event(run))
	}
	// r-1 failed once and now waits a minute for its retry.
	require.Eventually(t, func() bool { return tel.retried.Load() == 1 }, 5*time.Second, time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	require.NoError(t, q.Shutdown(ctx))

	assert.Less(t, time.Since(start), 2*time.Second)
	assert.EqualValues(t, 3, tel.failed.Load(), "the message being retried and the two queued")
	assert.EqualValues(t, 1, calls.Load(), "r-2 and r-3 were never tried")
	assert.Zero(t, tel.sent.Load())
	assert.Equal(t, 3, logs.FilterMessage("Message not delivered").Len())
}

func TestQueueShutdownDeadlineCancelsSend(t *testing.T) {
	q, tel, _ := newTestQueue(t, scripted(func(ctx context.Context, _ string) error {
		<-ctx.Done()
		return ctx.Err()
	}), 10, fastRetry())
	q.Publish(event("r-1"))

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	require.NoError(t, q.Shutdown(ctx))

	assert.Less(t, time.Since(start), 2*time.Second)
	assert.EqualValues(t, 1, tel.failed.Load())
	assert.Zero(t, tel.sent.Load())
}

func TestQueuePublishAfterShutdown(t *testing.T) {
	var calls atomic.Int64
	send := func(context.Context) error {
		calls.Add(1)
		return nil
	}
	q, tel, _ := newTestQueue(t, sinkFunc(func(verdict.Event) ([]Message, error) {
		return []Message{{What: "a", Send: send}, {What: "b", Send: send}}, nil
	}), 10, fastRetry())
	require.NoError(t, q.Shutdown(context.Background()))

	assert.NotPanics(t, func() { q.Publish(event("r-1")) })
	assert.EqualValues(t, 2, tel.failed.Load())
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

func TestTargetURL(t *testing.T) {
	assert.ErrorContains(t, compileErr(TargetURL("http://releasegate/{{.Run")), "target_url: ")
	assert.ErrorContains(t, compileErr(TargetURL("http://tempo/trace/{{.Trace}}")), "can't evaluate field Trace")
	require.NoError(t, compileErr(TargetURL("")))

	tmpl, err := TargetURL("https://grafana.example/explore?traceId={{.TraceID}}&gate={{.Gate}}&run={{.Run | urlquery}}").Compile()
	require.NoError(t, err)
	link, err := tmpl.Render(Link{Run: "team/build 7", Gate: "checkout-latency", TraceID: "5b8efff798038103d269b633813fc60c"})
	require.NoError(t, err)
	assert.Equal(t, "https://grafana.example/explore?traceId=5b8efff798038103d269b633813fc60c&gate=checkout-latency&run=team%2Fbuild+7", link)

	tmpl, err = TargetURL("").Compile()
	require.NoError(t, err)
	link, err = tmpl.Render(Link{Run: "r-1"})
	require.NoError(t, err)
	assert.Empty(t, link, "no template, no link")
}

func TestTruncate(t *testing.T) {
	assert.Equal(t, "passed", Truncate("passed", 6))
	assert.Equal(t, "déjà vu", Truncate("déjà vu", 7), "7 runes in 9 bytes are not cut")
	assert.Equal(t, "déj…", Truncate("déjà vu", 4))
	assert.Equal(t, "…", Truncate("failed", 1))
}

func TestDeliveryConfigValidate(t *testing.T) {
	cfg := NewDefaultDeliveryConfig()
	require.NoError(t, cfg.Check())
	assert.Equal(t, DefaultQueueSize, cfg.QueueSize)
	assert.True(t, cfg.RetryOnFailure.Enabled)

	cfg.QueueSize = 0
	assert.EqualError(t, cfg.Check(), "queue_size: must be at least 1, got 0")
}

func compileErr(t TargetURL) error {
	_, err := t.Compile()
	return err
}
