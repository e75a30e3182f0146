package releasegateexporter

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/metadata"
	"github.com/releasegate/releasegate/internal/runstore"
	"github.com/releasegate/releasegate/internal/sink"
	"github.com/releasegate/releasegate/internal/sink/commitstatus"
	"github.com/releasegate/releasegate/internal/sink/junit"
	"github.com/releasegate/releasegate/internal/sink/webhook"
	"github.com/releasegate/releasegate/internal/verdict"
)

// sinkTelemetry counts one sink's deliveries.
type sinkTelemetry struct {
	t     *metadata.TelemetryBuilder
	attrs metric.AddOption
}

func newSinkTelemetry(t *metadata.TelemetryBuilder, name string) sinkTelemetry {
	return sinkTelemetry{t, metric.WithAttributeSet(attribute.NewSet(attribute.String("sink", name)))}
}

func (s sinkTelemetry) Sent()    { s.add(s.t.ExporterReleasegateSinkSent) }
func (s sinkTelemetry) Retried() { s.add(s.t.ExporterReleasegateSinkRetried) }
func (s sinkTelemetry) Failed()  { s.add(s.t.ExporterReleasegateSinkFailed) }
func (s sinkTelemetry) Dropped() { s.add(s.t.ExporterReleasegateSinkDropped) }
func (s sinkTelemetry) Skipped() { s.add(s.t.ExporterReleasegateSinkSkipped) }

func (s sinkTelemetry) add(c metric.Int64Counter) { c.Add(context.Background(), 1, s.attrs) }

// publisher hands the store's events to every sink's queue, in the order
// the store emitted them.
type publisher struct {
	mu     sync.Mutex // one hand-over at a time keeps the order
	queues []*sink.Queue
	// publicURL, when set, gives every run the address of its page.
	publicURL string
}

func (p *publisher) publish(store *runstore.Store) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range store.TakeEvents() {
		e.Run = p.withURL(e.Run)
		for _, q := range p.queues {
			q.Publish(e)
		}
	}
}

// withURL is the run with its page's address, when the exporter has a
// public_url.
func (p *publisher) withURL(run verdict.Run) verdict.Run {
	if p.publicURL != "" {
		run.URL = verdict.PageURL(p.publicURL, run.Run)
	}
	return run
}

// shutdown flushes every queue until ctx ends.
func (p *publisher) shutdown(ctx context.Context) {
	var wg sync.WaitGroup
	for _, q := range p.queues {
		wg.Go(func() { _ = q.Shutdown(ctx) })
	}
	wg.Wait()
}

// startSinks starts a queue for every CI status sink configured, its
// retries timed by clock. With a storage client, each queue keeps its
// events under sink/<name>/ and first delivers those an earlier start left
// undelivered.
func (e *releasegateExporter) startSinks(ctx context.Context, host component.Host, client storage.Client, clock clockwork.Clock) ([]*sink.Queue, error) {
	return startQueues(ctx, e.cfg, sinkSettings{host: host, set: e.settings, telemetry: e.telemetry, storage: client, clock: clock})
}

// sinkSettings are what the sinks' queues start with.
type sinkSettings struct {
	host      component.Host
	set       component.TelemetrySettings
	telemetry *metadata.TelemetryBuilder
	storage   storage.Client // nil: nothing outlives a restart
	clock     clockwork.Clock
}

// startQueues starts the queues of cfg's sinks; on an error, it stops
// those it started.
func startQueues(ctx context.Context, cfg *Config, set sinkSettings) ([]*sink.Queue, error) {
	var (
		queues []*sink.Queue
		errs   []error
	)
	start := func(name string, delivery DeliveryConfig, s sink.Sink, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			return
		}
		q := sink.NewQueue(s, sink.QueueSettings{
			Name:      name,
			Size:      delivery.QueueSize,
			Retry:     delivery.RetryOnFailure,
			Clock:     set.clock,
			Logger:    set.set.Logger,
			Telemetry: newSinkTelemetry(set.telemetry, name),
		})
		queues = append(queues, q)
		if set.storage != nil {
			if err := q.Persist(ctx, set.storage, "sink/"+name+"/"); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	}
	// startHTTP builds the sink's HTTP client (TLS, proxy, auth extensions)
	// first.
	startHTTP := func(name string, client confighttp.ClientConfig, delivery DeliveryConfig, build func(*http.Client) (sink.Sink, error)) {
		c, err := client.ToClient(ctx, set.host.GetExtensions(), set.set)
		var s sink.Sink
		if err == nil {
			s, err = build(c)
		}
		start(name, delivery, s, err)
	}
	if c := cfg.GitHub.Get(); c != nil {
		startHTTP("github", c.ClientConfig, c.DeliveryConfig, func(client *http.Client) (sink.Sink, error) {
			host := commitstatus.GitHub(c.ClientConfig.Endpoint, c.Token, c.Repository)
			return commitstatus.New(client, host, c.ContextPrefix, string(c.TargetURL))
		})
	}
	if c := cfg.GitLab.Get(); c != nil {
		startHTTP("gitlab", c.ClientConfig, c.DeliveryConfig, func(client *http.Client) (sink.Sink, error) {
			host := commitstatus.GitLab(c.ClientConfig.Endpoint, c.Token, c.Project)
			return commitstatus.New(client, host, c.NamePrefix, string(c.TargetURL))
		})
	}
	for i := range cfg.Webhooks {
		c := &cfg.Webhooks[i]
		startHTTP(fmt.Sprintf("webhooks[%d]", i), c.ClientConfig, c.DeliveryConfig, func(client *http.Client) (sink.Sink, error) {
			return webhook.New(client, webhook.Settings{
				Endpoint: c.ClientConfig.Endpoint,
				Secret:   c.Secret,
				CDEvents: c.Format == WebhookFormatCDEvents,
				Source:   cloudEventsSource(set.set.Resource),
			})
		})
	}
	if c := cfg.JUnit.Get(); c != nil {
		s, err := junit.New(c.Directory)
		start("junit", c.DeliveryConfig, s, err)
	}
	if err := errors.Join(errs...); err != nil {
		for _, q := range queues {
			_ = q.Shutdown(ctx)
		}
		return nil, err
	}
	return queues, nil
}

// cloudEventsSource names this exporter in CloudEvents: the collector
// instance's service.instance.id, when the collector has one.
func cloudEventsSource(resource pcommon.Resource) string {
	if id, ok := resource.Attributes().Get("service.instance.id"); ok {
		return "releasegate/" + id.AsString()
	}
	return "releasegate"
}
