package releasegateexporter

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/extension/xextension/storage"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/metadata"
	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/sink"
	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/sink/github"
	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/sink/gitlab"
	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/sink/junit"
	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/sink/webhook"
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

// startSinks starts a queue for every CI status sink configured. With a
// storage client, each queue keeps its events under sink/<name>/ and first
// delivers those an earlier start left undelivered.
func (e *releasegateExporter) startSinks(ctx context.Context, host component.Host, client storage.Client) ([]*sink.Queue, error) {
	var (
		queues []*sink.Queue
		errs   []error
	)
	start := func(name string, delivery sink.DeliveryConfig, s sink.Sink, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			return
		}
		q := sink.NewQueue(name, s, delivery.QueueSize, delivery.RetryOnFailure,
			e.settings.Logger, newSinkTelemetry(e.telemetry, name))
		queues = append(queues, q)
		if client != nil {
			if err := q.Persist(ctx, client, "sink/"+name+"/"); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	}
	// startHTTP builds the sink's HTTP client (TLS, proxy, auth extensions)
	// first.
	startHTTP := func(name string, client confighttp.ClientConfig, delivery sink.DeliveryConfig, build func(*http.Client) (sink.Sink, error)) {
		c, err := client.ToClient(ctx, host.GetExtensions(), e.settings)
		var s sink.Sink
		if err == nil {
			s, err = build(c)
		}
		start(name, delivery, s, err)
	}
	if cfg := e.cfg.GitHub.Get(); cfg != nil {
		startHTTP("github", cfg.ClientConfig, cfg.DeliveryConfig, func(c *http.Client) (sink.Sink, error) { return github.New(cfg, c) })
	}
	if cfg := e.cfg.GitLab.Get(); cfg != nil {
		startHTTP("gitlab", cfg.ClientConfig, cfg.DeliveryConfig, func(c *http.Client) (sink.Sink, error) { return gitlab.New(cfg, c) })
	}
	for i := range e.cfg.Webhooks {
		cfg := &e.cfg.Webhooks[i]
		startHTTP(fmt.Sprintf("webhooks[%d]", i), cfg.ClientConfig, cfg.DeliveryConfig, func(c *http.Client) (sink.Sink, error) {
			return webhook.New(cfg, c, e.source())
		})
	}
	if cfg := e.cfg.JUnit.Get(); cfg != nil {
		s, err := junit.New(cfg)
		start("junit", cfg.DeliveryConfig, s, err)
	}
	if err := errors.Join(errs...); err != nil {
		for _, q := range queues {
			_ = q.Shutdown(ctx)
		}
		return nil, err
	}
	return queues, nil
}

// source names this exporter in CloudEvents: the collector instance's
// service.instance.id, when the collector has one.
func (e *releasegateExporter) source() string {
	if id, ok := e.settings.Resource.Attributes().Get("service.instance.id"); ok {
		return "releasegate/" + id.AsString()
	}
	return "releasegate"
}
