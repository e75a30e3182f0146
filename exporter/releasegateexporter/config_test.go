package releasegateexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/confignet"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/metadata"
	"github.com/releasegate/releasegate/internal/comptest"
	"github.com/releasegate/releasegate/internal/runstore/runstoretest"
)

func loadConfig(t *testing.T, id component.ID) (*Config, error) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	err := comptest.LoadConfig(t, filepath.Join("testdata", "config.yaml"), "exporters::"+id.String(), cfg)
	return cfg, err
}

func TestLoadConfig(t *testing.T) {
	cfg, err := loadConfig(t, component.NewID(metadata.Type))
	require.NoError(t, err)
	assert.Len(t, cfg.Gates.Gates, 2)
	assert.Equal(t, "localhost:9464", cfg.Server.NetAddr.Endpoint)
	assert.Equal(t, 30*time.Second, cfg.RunIdleTimeout)
	assert.Equal(t, time.Hour, cfg.MaxRunDuration)
	assert.Equal(t, time.Hour, cfg.Retention)
	assert.Equal(t, 10000, cfg.MaxRuns)
	assert.Equal(t, 1000, cfg.MaxSeries)
	assert.Equal(t, 10*time.Second, cfg.TraceIdleTimeout)
	assert.Equal(t, 100_000, cfg.MaxTraces)
	assert.Equal(t, 10_000, cfg.MaxSpansPerTrace)
	assert.Equal(t, 1_000_000, cfg.MaxBufferedSpans)
	assert.Equal(t, 10*time.Second, cfg.Server.ReadHeaderTimeout)
	assert.Equal(t, 30*time.Second, cfg.Server.ReadTimeout)
	assert.Equal(t, 30*time.Second, cfg.Server.WriteTimeout)

	cfg, err = loadConfig(t, component.MustNewIDWithName("releasegate", "custom"))
	require.NoError(t, err)
	assert.Equal(t, "0.0.0.0:19464", cfg.Server.NetAddr.Endpoint)
	assert.Equal(t, 2*time.Minute, cfg.RunIdleTimeout)
	assert.Equal(t, 30*time.Minute, cfg.MaxRunDuration)
	assert.Equal(t, 24*time.Hour, cfg.Retention)
	assert.Equal(t, 500, cfg.MaxRuns)
	assert.Equal(t, 50, cfg.MaxSeries)
	assert.Equal(t, 30*time.Second, cfg.TraceIdleTimeout)
	assert.Equal(t, 5000, cfg.MaxTraces)
	assert.Equal(t, 2000, cfg.MaxSpansPerTrace)
	assert.Equal(t, 200_000, cfg.MaxBufferedSpans)
	assert.Equal(t, "http://jaeger:16686/trace/{{.TraceID}}", cfg.TraceURL)
	assert.Equal(t, "https://releasegate.example/ci", cfg.PublicURL)
	assert.Equal(t, 10*time.Second, cfg.Server.ReadHeaderTimeout, "setting the endpoint keeps the timeouts")
	assert.Equal(t, 30*time.Second, cfg.Server.ReadTimeout)
}

// Every invalid setting is named in the error.
func TestInvalidConfig(t *testing.T) {
	_, err := loadConfig(t, component.MustNewIDWithName("releasegate", "invalid"))
	require.Error(t, err)
	for _, want := range []string{
		`gate "checkout-latency": fail: column 16: invalid duration "25O ms"`,
		"server: endpoint must be set",
		"run_idle_timeout: must be a positive duration, got 0s",
		"max_run_duration: must be a positive duration, got -1s",
		"retention: must be a positive duration, got 0s",
		"max_runs: must be at least 1, got 0",
		"max_series: must be at least 1, got 0",
		"trace_idle_timeout: must be a positive duration, got 0s",
		"max_traces: must be at least 1, got 0",
		"max_spans_per_trace: must be at least 1, got 0",
		"max_buffered_spans: must be at least max_spans_per_trace (0), got -1",
		"trace_url: template: trace_url:1:28: executing \"trace_url\" at <.TraceId>: can't evaluate field TraceId",
		"public_url: must be an absolute http or https URL without a query or fragment, such as https://releasegate.example",
	} {
		assert.Contains(t, err.Error(), want)
	}

	cfg := NewFactory().CreateDefaultConfig()
	assert.ErrorContains(t, cfg.(*Config).Validate(), "gates: at least one gate is required")
}

// trace_url must render an absolute http(s) URL from a trace id; public_url
// must be one, to put /runs/<run> after. Neither is quoted back: a
// public_url may carry credentials.
func TestPageSettings(t *testing.T) {
	valid := func() *Config {
		cfg := createDefaultConfig().(*Config)
		doc, err := config.Parse([]byte(runstoretest.Gates))
		require.NoError(t, err)
		cfg.Gates = doc
		return cfg
	}
	for _, tt := range []struct{ traceURL, publicURL, err string }{
		{"", "", ""},
		{"http://jaeger:16686/trace/{{.TraceID}}?uiFind={{.SpanID}}", "http://releasegate:9464", ""},
		{"", "https://releasegate.example/ci/", ""},
		{"{{.TraceID}}", "", `trace_url: must render an absolute http or https URL, got "4bf92f3577b34da6a3ce929d0e0e4736"`},
		{"http://jaeger/{{.Trace", "", "trace_url: template: trace_url:1: unclosed action"},
		{"", "https://user:s3cret@releasegate.example?x=1", "public_url: must be an absolute http or https URL"},
		{"", "https://releasegate.example/#runs", "public_url: must be"},
		{"", "/runs", "public_url: must be"},
		{"", "ftp://releasegate.example", "public_url: must be"},
	} {
		cfg := valid()
		cfg.TraceURL, cfg.PublicURL = tt.traceURL, tt.publicURL
		err := cfg.Validate()
		if tt.err == "" {
			assert.NoError(t, err, "%+v", tt)
			continue
		}
		assert.ErrorContains(t, err, tt.err)
		assert.NotContains(t, err.Error(), "s3cret")
	}
}

func TestInvalidServerConfig(t *testing.T) {
	doc, err := config.Parse([]byte(runstoretest.Gates))
	require.NoError(t, err)
	tests := []struct {
		name     string
		endpoint string
		modify   func(*confignet.AddrConfig)
		want     string
	}{
		{"no port", "localhost", nil, `server: endpoint must be host:port, for example localhost:9464, got "localhost"`},
		{"a URL", "http://localhost:9464", nil, `server: endpoint must be host:port, for example localhost:9464, got "http://localhost:9464"`},
		{"not a stream", "localhost:9464", func(a *confignet.AddrConfig) { a.Transport = confignet.TransportTypeUDP }, `server: transport must be tcp, tcp4, tcp6 or unix, got "udp"`},
		{"any port", ":9464", nil, ""},
		{"a unix socket", "/run/releasegate.sock", func(a *confignet.AddrConfig) { a.Transport = confignet.TransportTypeUnix }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.Gates = doc
			cfg.Server.NetAddr.Endpoint = tt.endpoint
			if tt.modify != nil {
				tt.modify(&cfg.Server.NetAddr)
			}
			if tt.want == "" {
				assert.NoError(t, cfg.Validate())
				return
			}
			assert.EqualError(t, cfg.Validate(), tt.want)
		})
	}
}

func TestLoadSinkConfig(t *testing.T) {
	cfg, err := loadConfig(t, component.MustNewIDWithName("releasegate", "sinks"))
	require.NoError(t, err)

	gh := cfg.GitHub.Get()
	require.NotNil(t, gh)
	assert.Equal(t, "https://api.github.com", gh.ClientConfig.Endpoint, "defaults fill what is left out")
	assert.Equal(t, configopaque.String("ghp-test-token"), gh.Token)
	assert.Equal(t, "acme/shop", gh.Repository)
	assert.Equal(t, "releasegate", gh.ContextPrefix)
	assert.Equal(t, 10*time.Minute, gh.RetryOnFailure.MaxElapsedTime)
	assert.True(t, gh.RetryOnFailure.Enabled)
	assert.Equal(t, defaultQueueSize, gh.QueueSize)

	gl := cfg.GitLab.Get()
	require.NotNil(t, gl)
	assert.Equal(t, "https://gitlab.example", gl.ClientConfig.Endpoint)
	assert.Equal(t, "releasegate", gl.NamePrefix)

	require.Len(t, cfg.Webhooks, 2)
	assert.Equal(t, WebhookFormatJSON, cfg.Webhooks[0].Format, "list elements get the defaults too")
	assert.Equal(t, defaultQueueSize, cfg.Webhooks[0].QueueSize)
	assert.Equal(t, defaultTimeout, cfg.Webhooks[0].ClientConfig.Timeout)
	assert.Equal(t, configopaque.String("webhook-secret"), cfg.Webhooks[0].Secret)
	assert.Equal(t, WebhookFormatCDEvents, cfg.Webhooks[1].Format)
	assert.Equal(t, 50, cfg.Webhooks[1].QueueSize)

	require.NotNil(t, cfg.JUnit.Get())
	assert.Equal(t, "/tmp/releasegate-junit", cfg.JUnit.Get().Directory)

	// Without a sink's key, the sink is off.
	cfg, err = loadConfig(t, component.NewID(metadata.Type))
	require.NoError(t, err)
	assert.False(t, cfg.GitHub.HasValue())
	assert.False(t, cfg.GitLab.HasValue())
	assert.Empty(t, cfg.Webhooks)
	assert.False(t, cfg.JUnit.HasValue())
}

// A misspelt key is an error, not a silently unsigned webhook or a status
// that never goes out.
func TestInvalidSinkConfig(t *testing.T) {
	_, err := loadConfig(t, component.MustNewIDWithName("releasegate", "bad-sinks"))
	require.ErrorContains(t, err, "unknown keys: tokn")

	_, err = loadConfig(t, component.MustNewIDWithName("releasegate", "invalid-sinks"))
	require.Error(t, err)
	for _, want := range []string{
		"github: token: must be set",
		"github: timeout: must be a positive duration, got 0s",
		"github: target_url: template: target_url:1:30: executing",
		"github: queue_size: must be at least 1, got 0",
		"gitlab: project: must be set",
		`gitlab: target_url: must render an http or https URL, got "tempo.example/trace/t"`,
		"webhooks[0]: endpoint: must be set",
		`webhooks[0]: format: must be json or cdevents, got "xml"`,
		"webhooks[1]: timeout: must be a positive duration, got -1s",
		"webhooks[1]: secret: must not begin or end with whitespace",
		"junit: directory: must be set",
		"junit: queue_size: must be at least 1, got -1",
	} {
		assert.Contains(t, err.Error(), want)
	}
	// The collector validates retry_on_failure itself, under its own path.
	assert.Regexp(t, `gitlab: \S*retry_on_failure: randomization_factor value must be less than or equal to 1`, err.Error())
	assert.NotContains(t, err.Error(), "webhook-secret")
}

// An unknown key is refused wherever it is, by its path: a typo never
// leaves a default in place silently.
func TestUnknownKeys(t *testing.T) {
	_, err := loadConfig(t, component.MustNewIDWithName("releasegate", "unknown-keys"))
	require.Error(t, err)
	for _, want := range []string{
		`invalid keys: max_run`,
		`'github'.* unknown keys: retry_on_failure::max_elapsed\n`,
		`'gitlab'.* unknown keys: tls::ca_fle\n`,
		`'webhooks\[0\]'.* unknown keys: secrt\n`,
		`'junit'.* unknown keys: retry_on_failure::enabeld\n`,
	} {
		assert.Regexp(t, want, err.Error())
	}
}

func TestConfigStruct(t *testing.T) {
	require.NoError(t, componenttest.CheckConfigStruct(NewFactory().CreateDefaultConfig()))
}
