package sink

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// A message whose Send cannot be interrupted (a JUnit report written to a
// file system that stalls: a file write does not take a context) does not
// hold Shutdown past its deadline.
func TestQueueShutdownDeadlineWithSendIgnoringContext(t *testing.T) {
	const deadline, slack = 50 * time.Millisecond, 250 * time.Millisecond
	started, stalled := make(chan struct{}), make(chan struct{})
	q, _, _ := newTestQueue(t, scripted(func(context.Context, string) error {
		close(started)
		<-stalled
		return nil
	}), 10, fastRetry())
	// Cleanups run last first: the stalled Send ends before the queue's
	// own cleanup shuts it down.
	unstall := sync.OnceFunc(func() { close(stalled) })
	t.Cleanup(unstall)
	q.Publish(event("r-1"))
	<-started

	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	returned := make(chan time.Duration, 1)
	go func() {
		_ = q.Shutdown(ctx)
		returned <- time.Since(start)
	}()
	select {
	case took := <-returned:
		assert.Less(t, took, deadline+slack)
	case <-time.After(2 * time.Second):
		unstall()
		took := <-returned
		assert.Failf(t, "Shutdown waited past its deadline", "with a %s deadline, Shutdown returned after %s, once the Send did", deadline, took)
	}
}
