// Package sinktest helps the sinks' tests: a counting Telemetry, and
// delivery through a real queue on a fake clock.
package sinktest

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/config/configretry"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/releasegate/releasegate/internal/clocktest"
	"github.com/releasegate/releasegate/internal/sink"
	"github.com/releasegate/releasegate/internal/verdict"
)

// Counts is a sink.Telemetry that counts.
type Counts struct {
	Delivered, Retries, Failures, Drops, Skips atomic.Int64
}

func (c *Counts) Sent()    { c.Delivered.Add(1) }
func (c *Counts) Retried() { c.Retries.Add(1) }
func (c *Counts) Failed()  { c.Failures.Add(1) }
func (c *Counts) Dropped() { c.Drops.Add(1) }
func (c *Counts) Skipped() { c.Skips.Add(1) }

// Deliver publishes the events through a queue of s with the default
// retries, on a fake clock it moves on whenever the queue waits, and
// returns once the queue has delivered, or given up on, every message:
// the counts and the queue's logs, where "Retrying" says how long each
// retry waited.
func Deliver(t *testing.T, s sink.Sink, events ...verdict.Event) (*Counts, *observer.ObservedLogs) {
	t.Helper()
	return DeliverWith(t, s, configretry.NewDefaultBackOffConfig(), events...)
}

// DeliverWith is Deliver with the given retries.
func DeliverWith(t *testing.T, s sink.Sink, retry configretry.BackOffConfig, events ...verdict.Event) (*Counts, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	counts := &Counts{}
	clock := clockwork.NewFakeClock()
	q := sink.NewQueue(s, sink.QueueSettings{Name: "test", Size: 100, Retry: retry, Clock: clock, Logger: zap.New(core), Telemetry: counts})
	for _, e := range events {
		q.Publish(e)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		assert.NoError(t, q.Shutdown(context.Background()))
	}()
	clocktest.AdvanceUntil(clock, 100*time.Millisecond, done)
	return counts, logs
}

// Waits are how long the queue waited before each retry, from its logs.
func Waits(logs *observer.ObservedLogs) []time.Duration {
	var waits []time.Duration
	for _, entry := range logs.FilterMessage("Retrying").All() {
		if d, ok := entry.ContextMap()["after"].(time.Duration); ok {
			waits = append(waits, d)
		}
	}
	return waits
}
