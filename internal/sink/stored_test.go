package sink

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/releasegate/releasegate/internal/storagetest"
	"github.com/releasegate/releasegate/internal/verdict"
)

// endpoint is a receiver the test turns off and on; it keeps what it got,
// in order.
type endpoint struct {
	mu   sync.Mutex
	down bool
	got  []string
}

func (p *endpoint) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

func (p *endpoint) received() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.got...)
}

// sink makes two messages per event, "<kind> <run> a" and "... b".
func (p *endpoint) sink() Sink {
	return sinkFunc(func(e verdict.Event) ([]Message, error) {
		var messages []Message
		for _, part := range []string{"a", "b"} {
			what := fmt.Sprintf("%s %s %s", e.Kind, e.Run.Run, part)
			messages = append(messages, Message{What: what, Send: func(context.Context) error {
				p.mu.Lock()
				defer p.mu.Unlock()
				if p.down {
					return &StatusError{Code: 503}
				}
				p.got = append(p.got, what)
				return nil
			}})
		}
		return messages, nil
	})
}

// persistedQueue is a queue of s kept in client, with retries that would
// go on for a minute.
func persistedQueue(t *testing.T, s Sink, size int, client *storagetest.Client) *testQueue {
	t.Helper()
	retry := fastRetry()
	retry.MaxElapsedTime = time.Minute
	q := newTestQueue(t, s, size, retry)
	require.NoError(t, q.Persist(t.Context(), client, "sink/github/"))
	return q
}

// shutdownNow shuts the queue down, which must not wait for a retry: the
// clock does not move, and a queue that waited would fail the test.
func (q *testQueue) shutdownNow(t *testing.T) {
	t.Helper()
	returned := make(chan error, 1)
	go func() { returned <- q.Shutdown(context.Background()) }()
	select {
	case err := <-returned:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		require.FailNow(t, "Shutdown waits for a retry")
	}
}

func storedEvents(client *storagetest.Client) []string {
	var keys []string
	for _, k := range client.Keys("sink/github/") {
		if k != "sink/github/index" {
			keys = append(keys, k)
		}
	}
	return keys
}

// Events not delivered when the collector stops are delivered, in order,
// after it starts again; shutdown does not wait on retries for them.
func TestStoredEventsSurviveARestart(t *testing.T) {
	client := storagetest.New()
	github := &endpoint{down: true}
	q := persistedQueue(t, github.sink(), 100, client)
	for _, run := range []string{"r-1", "r-2", "r-3"} {
		q.Publish(verdict.Event{Kind: verdict.RunStarted, Run: verdict.Run{Run: run, Status: verdict.Pending}})
	}
	q.waiting(t) // the first message waits for its retry

	q.shutdownNow(t)
	assert.Zero(t, q.tel.failed.Load(), "kept, not failed")
	assert.Empty(t, github.received())
	assert.Equal(t, []string{"sink/github/0", "sink/github/1", "sink/github/2"}, storedEvents(client))
	kept := q.logs.FilterMessageSnippet("left in storage").All()
	require.Len(t, kept, 1)
	assert.EqualValues(t, 6, kept[0].ContextMap()["messages"])

	// The next start: GitHub is back.
	github.setDown(false)
	q = persistedQueue(t, github.sink(), 100, client)
	assert.Equal(t, 1, q.logs.FilterMessageSnippet("left undelivered before the restart").Len())
	q.Publish(verdict.Event{Kind: verdict.RunFinished, Run: verdict.Run{Run: "r-1", Status: verdict.Passed}})
	require.NoError(t, q.Shutdown(context.Background()))

	assert.Equal(t, []string{
		"run.started r-1 a", "run.started r-1 b", "run.started r-2 a", "run.started r-2 b",
		"run.started r-3 a", "run.started r-3 b", "run.finished r-1 a", "run.finished r-1 b",
	}, github.received())
	assert.EqualValues(t, 8, q.tel.sent.Load())
	assert.Empty(t, storedEvents(client), "delivered events leave storage")
}

// An event whose first message went out before the stop is delivered
// whole again: at least once.
func TestStoredEventPartlyDelivered(t *testing.T) {
	client := storagetest.New()
	var (
		mu   sync.Mutex
		sent []string
		down bool
	)
	s := sinkFunc(func(e verdict.Event) ([]Message, error) {
		var messages []Message
		for _, part := range []string{"a", "b"} {
			messages = append(messages, Message{What: part, Send: func(context.Context) error {
				mu.Lock()
				defer mu.Unlock()
				if down {
					return errors.New("connection refused")
				}
				sent = append(sent, part)
				down = true // after the first message, the receiver goes down
				return nil
			}})
		}
		return messages, nil
	})
	q := persistedQueue(t, s, 10, client)
	q.Publish(event("r-1"))
	q.waiting(t) // b waits for its retry
	q.shutdownNow(t)
	assert.Len(t, storedEvents(client), 1)

	mu.Lock()
	down = false
	mu.Unlock()
	q = persistedQueue(t, s, 10, client)
	q.waiting(t) // b again
	q.shutdownNow(t)
	// a went out again with b, which failed again, as the receiver goes
	// down after each message.
	assert.Equal(t, []string{"a", "a"}, sent)
}

// Events delivered, or given up on for good, leave storage; so do events
// that did not fit in the queue, which are never stored.
func TestStoredEventsLeaveWhenDone(t *testing.T) {
	client := storagetest.New()
	q := persistedQueue(t, scripted(func(_ context.Context, run string) error {
		if run == "r-bad" {
			return Permanent(&StatusError{Code: 422})
		}
		return nil
	}), 10, client)
	q.Publish(event("r-1"))
	q.Publish(event("r-bad"))
	q.Publish(event("r-2"))
	require.NoError(t, q.Shutdown(context.Background()))

	assert.EqualValues(t, 2, q.tel.sent.Load())
	assert.EqualValues(t, 1, q.tel.failed.Load())
	assert.Empty(t, storedEvents(client))
	// The index says where the next start begins.
	index, err := client.Get(t.Context(), "sink/github/index")
	require.NoError(t, err)
	assert.JSONEq(t, `{"v":1,"head":3,"tail":3}`, string(index))
}

// A restart with a smaller queue delivers what fits and forgets the rest
// (counted as dropped).
func TestStoredEventsPastTheQueueSize(t *testing.T) {
	client := storagetest.New()
	github := &endpoint{down: true}
	q := persistedQueue(t, github.sink(), 100, client)
	for i := range 5 {
		q.Publish(event(fmt.Sprintf("r-%d", i)))
	}
	q.waiting(t)
	q.shutdownNow(t)
	require.Len(t, storedEvents(client), 5)

	// The next start's worker holds its first message until the restore is
	// over: the 3 messages queued, and perhaps the one it took, go out.
	github.setDown(false)
	release := make(chan struct{})
	held := sinkFunc(func(e verdict.Event) ([]Message, error) {
		messages, err := github.sink().Messages(e)
		for i := range messages {
			send := messages[i].Send
			messages[i].Send = func(ctx context.Context) error {
				<-release
				return send(ctx)
			}
		}
		return messages, err
	})
	q = persistedQueue(t, held, 3, client)
	close(release)
	require.NoError(t, q.Shutdown(context.Background()))
	all := []string{"run.finished r-0 a", "run.finished r-0 b", "run.finished r-1 a", "run.finished r-1 b"}
	got := github.received()
	require.Contains(t, []int{3, 4}, len(got))
	assert.Equal(t, all[:len(got)], got)
	assert.EqualValues(t, 10-len(got), q.tel.dropped.Load())
	assert.Empty(t, storedEvents(client))
}

// Unreadable stored events are logged, without their content, and
// forgotten; the others are delivered.
func TestStoredEventsCorrupt(t *testing.T) {
	client := storagetest.New()
	github := &endpoint{down: true}
	q := persistedQueue(t, github.sink(), 100, client)
	for _, run := range []string{"r-0", "r-1", "r-2", "r-3"} {
		q.Publish(event(run))
	}
	q.waiting(t)
	q.shutdownNow(t)
	ctx := t.Context()
	require.NoError(t, client.Set(ctx, "sink/github/1", []byte(`{"v":1,"run":{"run": 42}} token=ghp_secret`)))
	require.NoError(t, client.Set(ctx, "sink/github/2", []byte(`{"v":7,"kind":"run.finished"}`)))

	github.setDown(false)
	q = persistedQueue(t, github.sink(), 100, client)
	require.NoError(t, q.Shutdown(context.Background()))

	assert.Equal(t, []string{"run.finished r-0 a", "run.finished r-0 b", "run.finished r-3 a", "run.finished r-3 b"}, github.received())
	warnings := q.logs.FilterMessage("Forgetting an unreadable stored CI status event").All()
	require.Len(t, warnings, 2)
	assert.Equal(t, "sink/github/1", warnings[0].ContextMap()["key"])
	assert.Equal(t, "version 7, not 1", warnings[1].ContextMap()["error"])
	for _, w := range warnings {
		assert.NotContains(t, fmt.Sprint(w.ContextMap()), "ghp_secret")
	}
	assert.Empty(t, storedEvents(client))

	// An unreadable index: nothing to restore, and the queue works.
	require.NoError(t, client.Set(ctx, "sink/github/index", []byte("not json")))
	q = persistedQueue(t, github.sink(), 100, client)
	assert.Equal(t, 1, q.logs.FilterMessageSnippet("unreadable index").Len())
	q.Publish(event("r-4"))
	require.NoError(t, q.Shutdown(context.Background()))
	assert.EqualValues(t, 2, q.tel.sent.Load())
}

// A storage that fails does not stop delivery: the events go out, and
// the failure is logged once.
func TestStoredEventsStorageFails(t *testing.T) {
	client := storagetest.New()
	github := &endpoint{}
	q := persistedQueue(t, github.sink(), 100, client)
	client.Break(true)
	q.Publish(event("r-1"))
	q.Publish(event("r-2"))
	require.NoError(t, q.Shutdown(context.Background()))
	assert.EqualValues(t, 4, q.tel.sent.Load())
	assert.Equal(t, 1, q.logs.FilterMessageSnippet("Cannot write to storage").Len())

	// Reading it at start is an error: the exporter does not start.
	q = newTestQueue(t, github.sink(), 10, fastRetry())
	require.ErrorIs(t, q.Persist(t.Context(), client, "sink/github/"), storagetest.ErrBroken)
}

// Without storage, shutdown keeps its behaviour: retries go on until the
// deadline, then what is left fails. (With storage, only stored messages
// are kept; see TestStoredEventsSurviveARestart.)
func TestUnstoredQueueShutdownRetries(t *testing.T) {
	github := &endpoint{down: true}
	q := newTestQueue(t, github.sink(), 10, fastRetry())
	q.Publish(event("r-1"))
	ctx, deadline := context.WithCancel(t.Context())
	returned := make(chan error, 1)
	go func() { returned <- q.Shutdown(ctx) }()
	for range 3 {
		q.waiting(t)
		q.clock.Advance(fastRetry().MaxInterval)
	}
	q.waiting(t)
	deadline()
	require.NoError(t, <-returned)
	assert.EqualValues(t, 4, q.tel.retried.Load(), "retried during shutdown")
	assert.EqualValues(t, 2, q.tel.failed.Load())
}

// At shutdown, nothing overtakes a message left in storage: a later one
// that could not be stored fails rather than go out before it.
func TestStoredEventsKeepTheirOrderAtShutdown(t *testing.T) {
	client := storagetest.New()
	var sent []string // by the worker only
	q := persistedQueue(t, scripted(func(_ context.Context, run string) error {
		if run == "r-1" {
			return &StatusError{Code: 503}
		}
		sent = append(sent, run)
		return nil
	}), 10, client)
	q.Publish(event("r-1"))
	q.waiting(t)
	client.Break(true)
	q.Publish(event("r-2")) // not stored
	client.Break(false)
	q.shutdownNow(t)

	assert.Empty(t, sent, "r-1 waits for the next start, so r-2 does not go first")
	assert.EqualValues(t, 1, q.tel.failed.Load(), "r-2")
	assert.Len(t, storedEvents(client), 1)
}
