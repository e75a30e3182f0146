package releasegateexporter

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/confignet"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/confmap"

	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/internal/page"
	"github.com/releasegate/releasegate/internal/runstore"
	"github.com/releasegate/releasegate/internal/traces"
)

// Config is the releasegate exporter's configuration.
type Config struct {
	// Gates is the gates document, shared with the releasegate processor:
	// `gates: ${file:gates.yaml}`.
	Gates config.Document `mapstructure:"gates"`
	// Server serves the verdict API and /metrics; TLS and auth extensions
	// work as on any collector HTTP server.
	Server confighttp.ServerConfig `mapstructure:"server"`
	// RunIdleTimeout finishes a run that received no span for this long.
	RunIdleTimeout time.Duration `mapstructure:"run_idle_timeout"`
	// MaxRunDuration finishes a run this long after its first span.
	MaxRunDuration time.Duration `mapstructure:"max_run_duration"`
	// Retention is how long a finished run stays in the API and /metrics.
	Retention time.Duration `mapstructure:"retention"`
	// MaxRuns bounds the runs held, open and finished. Past it the oldest
	// finished run is forgotten early; with none finished, new runs are
	// refused (and counted) until one finishes.
	MaxRuns int `mapstructure:"max_runs"`
	// MaxSeries bounds the series of runs whose baselines are held; past it
	// the least recently used is forgotten, with its baselines.
	MaxSeries int `mapstructure:"max_series"`
	// TraceIdleTimeout judges a trace that received no span for this long
	// (trace gates); a trace is judged when its run finishes in any case.
	TraceIdleTimeout time.Duration `mapstructure:"trace_idle_timeout"`
	// MaxTraces bounds the traces buffered for trace gates; past it the
	// oldest is judged at once.
	MaxTraces int `mapstructure:"max_traces"`
	// MaxSpansPerTrace bounds a buffered trace; a trace past it is judged
	// as a violation of the trace gates it matches, never a pass.
	MaxSpansPerTrace int `mapstructure:"max_spans_per_trace"`
	// MaxBufferedSpans bounds the spans buffered, all traces together; past
	// it the oldest traces are judged at once.
	MaxBufferedSpans int `mapstructure:"max_buffered_spans"`
	// Storage is the ID of a storage extension (such as file_storage) that
	// keeps the runs and the undelivered CI status events across restarts.
	Storage *component.ID `mapstructure:"storage"`
	// TraceURL links the verdict page's exemplars to a trace UI: a Go
	// template of .TraceID (and .SpanID), such as
	// `http://jaeger:16686/trace/{{.TraceID}}`.
	TraceURL string `mapstructure:"trace_url"`
	// PublicURL is the address people reach the exporter's server at, such
	// as https://releasegate.example: runs link to their pages under it, in
	// the API, the CI statuses without a target_url, webhooks and JUnit
	// reports.
	PublicURL string `mapstructure:"public_url"`

	// compiled holds what Validate compiled, so that creating the
	// exporter, and a processor of the same document, share it.
	compiled *config.Gates

	// CI status sinks, each optional.
	GitHub   configoptional.Optional[GitHubConfig] `mapstructure:"github"`
	GitLab   configoptional.Optional[GitLabConfig] `mapstructure:"gitlab"`
	Webhooks []WebhookConfig                       `mapstructure:"webhooks"`
	JUnit    configoptional.Optional[JUnitConfig]  `mapstructure:"junit"`
}

var _ confmap.Validator = (*Config)(nil)

// Validate compiles the gates and checks the limits, naming each setting
// that is wrong.
func (cfg *Config) Validate() error {
	var err error
	cfg.compiled, err = config.Shared(cfg.Gates)
	errs := []error{err}
	switch addr := cfg.Server.NetAddr; {
	case addr.Endpoint == "":
		errs = append(errs, errors.New("server: endpoint must be set, for example localhost:9464"))
	case addr.Transport == confignet.TransportTypeUnix:
	case addr.Transport != confignet.TransportTypeTCP && addr.Transport != confignet.TransportTypeTCP4 && addr.Transport != confignet.TransportTypeTCP6:
		errs = append(errs, fmt.Errorf("server: transport must be tcp, tcp4, tcp6 or unix, got %q", addr.Transport))
	default:
		// Caught here rather than as a listen error at start-up.
		if _, _, err := net.SplitHostPort(addr.Endpoint); err != nil {
			errs = append(errs, fmt.Errorf("server: endpoint must be host:port, for example localhost:9464, got %q", addr.Endpoint))
		}
	}
	positive := func(name string, d time.Duration) {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be a positive duration, got %s", name, d))
		}
	}
	positive("run_idle_timeout", cfg.RunIdleTimeout)
	positive("max_run_duration", cfg.MaxRunDuration)
	positive("retention", cfg.Retention)
	if cfg.MaxRuns < 1 {
		errs = append(errs, fmt.Errorf("max_runs: must be at least 1, got %d", cfg.MaxRuns))
	}
	if cfg.MaxSeries < 1 {
		errs = append(errs, fmt.Errorf("max_series: must be at least 1, got %d", cfg.MaxSeries))
	}
	positive("trace_idle_timeout", cfg.TraceIdleTimeout)
	if cfg.MaxTraces < 1 {
		errs = append(errs, fmt.Errorf("max_traces: must be at least 1, got %d", cfg.MaxTraces))
	}
	if cfg.MaxSpansPerTrace < 1 {
		errs = append(errs, fmt.Errorf("max_spans_per_trace: must be at least 1, got %d", cfg.MaxSpansPerTrace))
	}
	if cfg.MaxBufferedSpans < cfg.MaxSpansPerTrace {
		errs = append(errs, fmt.Errorf("max_buffered_spans: must be at least max_spans_per_trace (%d), got %d", cfg.MaxSpansPerTrace, cfg.MaxBufferedSpans))
	}
	if _, err := page.ParseTraceURL(cfg.TraceURL); err != nil {
		errs = append(errs, fmt.Errorf("trace_url: %w", err))
	}
	if cfg.PublicURL != "" {
		// Not quoted: an address may carry credentials.
		if u, err := url.Parse(cfg.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			errs = append(errs, errors.New("public_url: must be an absolute http or https URL without a query or fragment, such as https://releasegate.example"))
		}
	}
	sink := func(key string, err error) {
		// Every line names its sink; the collector would prefix the first only.
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				errs = append(errs, fmt.Errorf("%s: %s", key, line))
			}
		}
	}
	if c := cfg.GitHub.Get(); c != nil {
		sink("github", c.check())
	}
	if c := cfg.GitLab.Get(); c != nil {
		sink("gitlab", c.check())
	}
	for i := range cfg.Webhooks {
		sink(fmt.Sprintf("webhooks[%d]", i), cfg.Webhooks[i].check())
	}
	if c := cfg.JUnit.Get(); c != nil {
		sink("junit", c.check())
	}
	return errors.Join(errs...)
}

// hasSinks reports whether any CI status sink is configured.
func (cfg *Config) hasSinks() bool {
	return cfg.GitHub.HasValue() || cfg.GitLab.HasValue() || len(cfg.Webhooks) > 0 || cfg.JUnit.HasValue()
}

// StoreSettings are the run store's settings of this configuration, with
// the store's clock, and whether it keeps events for CI status sinks. The
// releasegate command judges recorded spans with them too.
func (cfg *Config) StoreSettings(now func() time.Time, events bool) runstore.Settings {
	return runstore.Settings{
		Limits: runstore.Limits{
			IdleTimeout:    cfg.RunIdleTimeout,
			MaxRunDuration: cfg.MaxRunDuration,
			Retention:      cfg.Retention,
			MaxRuns:        cfg.MaxRuns,
			MaxSeries:      cfg.MaxSeries,
		},
		Traces: traces.Limits{
			IdleTimeout:      cfg.TraceIdleTimeout,
			MaxTraces:        cfg.MaxTraces,
			MaxSpansPerTrace: cfg.MaxSpansPerTrace,
			MaxSpans:         cfg.MaxBufferedSpans,
		},
		Now:    now,
		Events: events,
	}
}
