// Package sinktest helps the sinks' tests: a counting Telemetry, quick
// retries, delivery through a real queue, and canned HTTP answers.
package sinktest

import (
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configretry"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/sink"
	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/verdict"
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

// Retry retries within milliseconds, so retry tests stay fast.
var Retry = configretry.BackOffConfig{
	Enabled:         true,
	InitialInterval: 10 * time.Millisecond,
	MaxInterval:     50 * time.Millisecond,
	Multiplier:      2,
	MaxElapsedTime:  5 * time.Second,
}

// Deliver publishes the events through a real queue of s and waits until it
// has delivered them; it returns the counts and the queue's logs.
func Deliver(t *testing.T, s sink.Sink, events ...verdict.Event) (*Counts, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	counts := &Counts{}
	q := sink.NewQueue("test", s, 100, Retry, zap.New(core), counts)
	for _, e := range events {
		q.Publish(e)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, q.Shutdown(ctx))
	return counts, logs
}

// Answer writes a canned JSON answer with extra headers.
func Answer(code int, headers map[string]string, body string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for k, v := range headers {
			w.Header().Set(k, v)
		}
		Reply(w, code, body)
	}
}

// Reply writes a JSON answer.
func Reply(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}
