// Package releasegateexporter turns the spans the releasegate processor
// annotated into per-run, per-gate verdicts, and publishes them over an HTTP
// API a CI job polls and as Prometheus metrics.
package releasegateexporter

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/jonboulle/clockwork"
	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/metadata"
)

const (
	defaultEndpoint       = "localhost:9464"
	defaultRunIdleTimeout = 30 * time.Second
	defaultMaxRunDuration = time.Hour
	defaultRetention      = time.Hour
	defaultMaxRuns        = 10000
	defaultMaxSeries      = 1000

	// Trace gates: a trace is complete when idle this long (SDKs export
	// every few seconds), and the buffer holds this much at most.
	defaultTraceIdleTimeout = 10 * time.Second
	defaultMaxTraces        = 100_000
	defaultMaxSpansPerTrace = 10_000
	defaultMaxBufferedSpans = 1_000_000

	// The API's clients, CI jobs and Prometheus, send a request at once, so
	// the server's read limits are tighter than confighttp's (1m for the
	// headers, none for the body): a client that trickles its request cannot
	// hold a connection for long.
	defaultReadHeaderTimeout = 10 * time.Second
	defaultReadTimeout       = 30 * time.Second
)

// NewFactory returns the factory of the releasegate exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(
		metadata.Type,
		createDefaultConfig,
		exporter.WithTraces(createTraces, metadata.TracesStability),
	)
}

func createDefaultConfig() component.Config {
	server := confighttp.NewDefaultServerConfig()
	server.NetAddr.Endpoint = defaultEndpoint
	server.ReadHeaderTimeout = defaultReadHeaderTimeout
	server.ReadTimeout = defaultReadTimeout
	return &Config{
		Server:         server,
		RunIdleTimeout: defaultRunIdleTimeout,
		MaxRunDuration: defaultMaxRunDuration,
		Retention:      defaultRetention,
		MaxRuns:        defaultMaxRuns,
		MaxSeries:      defaultMaxSeries,

		TraceIdleTimeout: defaultTraceIdleTimeout,
		MaxTraces:        defaultMaxTraces,
		MaxSpansPerTrace: defaultMaxSpansPerTrace,
		MaxBufferedSpans: defaultMaxBufferedSpans,
		GitHub:           configoptional.Default(newDefaultGitHubConfig()),
		GitLab:           configoptional.Default(newDefaultGitLabConfig()),
		JUnit:            configoptional.Default(newDefaultJUnitConfig()),
	}
}

func createTraces(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Traces, error) {
	c := cfg.(*Config)
	gates, err := config.Shared(c.Gates)
	if err != nil {
		return nil, err
	}
	e, err := newExporter(c, gates, set.TelemetrySettings, clockwork.NewRealClock())
	if err != nil {
		return nil, err
	}
	e.id = set.ID // owns the storage client
	return exporterhelper.NewTraces(ctx, set, cfg, e.consume,
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
	)
}
