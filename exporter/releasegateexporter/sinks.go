package releasegateexporter

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/metadata"
	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/sink"
)

// sinkTelemetry counts one sink's deliveries.
type sinkTelemetry struct {
	t     *metadata.Telemetry
	attrs metric.AddOption
}

func newSinkTelemetry(t *metadata.Telemetry, name string) sinkTelemetry {
	return sinkTelemetry{t, metric.WithAttributeSet(attribute.NewSet(attribute.String("sink", name)))}
}

func (s sinkTelemetry) Sent()    { s.t.SinkSent.Add(context.Background(), 1, s.attrs) }
func (s sinkTelemetry) Retried() { s.t.SinkRetried.Add(context.Background(), 1, s.attrs) }
func (s sinkTelemetry) Failed()  { s.t.SinkFailed.Add(context.Background(), 1, s.attrs) }
func (s sinkTelemetry) Dropped() { s.t.SinkDropped.Add(context.Background(), 1, s.attrs) }
func (s sinkTelemetry) Skipped() { s.t.SinkSkipped.Add(context.Background(), 1, s.attrs) }

// publisher hands the store's events to every sink's queue, in the order
// the store emitted them.
type publisher struct {
	mu     sync.Mutex // one hand-over at a time keeps the order
	queues []*sink.Queue
}

func (p *publisher) publish(store *runStore) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range store.takeEvents() {
		for _, q := range p.queues {
			q.Publish(e)
		}
	}
}

// shutdown flushes every queue until ctx ends.
func (p *publisher) shutdown(ctx context.Context) {
	var wg sync.WaitGroup
	for _, q := range p.queues {
		wg.Go(func() { _ = q.Shutdown(ctx) })
	}
	wg.Wait()
}

// startSinks starts a queue for every CI status sink configured.
func (e *releasegateExporter) startSinks(ctx context.Context, host component.Host) ([]*sink.Queue, error) {
	return nil, nil
}
