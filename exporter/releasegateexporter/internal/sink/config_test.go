package sink

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/confmap"
)

func TestTargetURLRendersAURL(t *testing.T) {
	for _, tmpl := range []TargetURL{
		"tempo.example/trace/{{.TraceID}}",
		"{{.Run}}",
		"ftp://tempo.example/trace/{{.TraceID}}",
		"https:///trace/{{.TraceID}}",
	} {
		assert.ErrorContains(t, compileErr(tmpl), "target_url: must render an http or https URL, got ", tmpl)
	}
	// A template may render no link: the status then has none.
	require.NoError(t, compileErr(`{{if eq .Gate ""}}https://releasegate.example/v1/runs/{{.Run | urlquery}}{{end}}`))
}

func TestCheckClient(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*confighttp.ClientConfig)
		want   string
	}{
		{"no endpoint", func(c *confighttp.ClientConfig) { c.Endpoint = "" }, "endpoint: must be set"},
		{"endpoint without scheme", func(c *confighttp.ClientConfig) { c.Endpoint = "hooks.example/T0K3N" }, "endpoint: must be an http or https URL"},
		{"endpoint without host", func(c *confighttp.ClientConfig) { c.Endpoint = "https:///T0K3N" }, "endpoint: must be an http or https URL"},
		{"no timeout", func(c *confighttp.ClientConfig) { c.Timeout = 0 }, "timeout: must be a positive duration, got 0s"},
		{"negative timeout", func(c *confighttp.ClientConfig) { c.Timeout = -time.Second }, "timeout: must be a positive duration, got -1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := NewClientConfig("https://hooks.example/T0K3N")
			require.NoError(t, CheckClient(&client))
			tt.modify(&client)
			err := CheckClient(&client)
			require.EqualError(t, err, tt.want)
			assert.NotContains(t, err.Error(), "T0K3N")
		})
	}
}

// DeliveryConfig.Check leaves retry_on_failure to the collector, which
// validates it on its own and names it.
func TestRetryOnFailureValidated(t *testing.T) {
	tests := []struct {
		modify func(*configretry.BackOffConfig)
		want   string
	}{
		{func(c *configretry.BackOffConfig) { c.InitialInterval = -time.Second }, "initial_interval value must be greater than or equal to 0"},
		{func(c *configretry.BackOffConfig) { c.MaxInterval = -time.Second }, "max_interval value must be greater than or equal to 0"},
		{func(c *configretry.BackOffConfig) { c.MaxElapsedTime = -time.Second }, "max_elapsed_time value must be greater than or equal to 0"},
		{func(c *configretry.BackOffConfig) { c.MaxElapsedTime = time.Second }, "'max_elapsed_time' must not be less than 'initial_interval'"},
		{func(c *configretry.BackOffConfig) { c.Multiplier = -1 }, "multiplier value must be greater than or equal to 0"},
		{func(c *configretry.BackOffConfig) { c.RandomizationFactor = 2 }, "randomization_factor value must be less than or equal to 1"},
	}
	for _, tt := range tests {
		cfg := NewDefaultDeliveryConfig()
		tt.modify(&cfg.RetryOnFailure)
		require.NoError(t, cfg.Check())
		assert.ErrorContains(t, confmap.Validate(&cfg), "retry_on_failure: "+tt.want)
	}
}

// testConfig is shaped as the sinks' configs are.
type testConfig struct {
	ClientConfig   confighttp.ClientConfig `mapstructure:",squash"`
	Token          string                  `mapstructure:"token"`
	DeliveryConfig `mapstructure:",squash"`
}

func TestUnmarshalRefusesUnknownKeys(t *testing.T) {
	tests := []struct {
		name string
		conf map[string]any
		want string
	}{
		{"top level", map[string]any{"tokn": "t", "queue_sise": 1}, "unknown keys: queue_sise, tokn"},
		{"in retry_on_failure", map[string]any{"retry_on_failure": map[string]any{"max_elapsed": "1m"}}, "unknown keys: retry_on_failure::max_elapsed"},
		{"in tls", map[string]any{"tls": map[string]any{"ca_fle": "ca.pem"}}, "unknown keys: tls::ca_fle"},
		{"in an optional section", map[string]any{"auth": map[string]any{"authenticatr": "oauth2client"}}, "authenticatr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig{ClientConfig: NewClientConfig(""), DeliveryConfig: NewDefaultDeliveryConfig()}
			assert.ErrorContains(t, Unmarshal(confmap.NewFromStringMap(tt.conf), &cfg), tt.want)
		})
	}

	// What the sections have decodes; headers are free-form.
	cfg := testConfig{ClientConfig: NewClientConfig(""), DeliveryConfig: NewDefaultDeliveryConfig()}
	require.NoError(t, Unmarshal(confmap.NewFromStringMap(map[string]any{
		"endpoint":         "https://hooks.example",
		"token":            "t",
		"headers":          map[string]any{"X-Team": "checkout"},
		"tls":              map[string]any{"insecure_skip_verify": true},
		"auth":             map[string]any{"authenticator": "oauth2client"},
		"retry_on_failure": map[string]any{"max_elapsed_time": "1m"},
	}), &cfg))
	assert.Equal(t, "t", cfg.Token)
	assert.True(t, cfg.ClientConfig.TLS.InsecureSkipVerify)
	assert.True(t, cfg.ClientConfig.Auth.HasValue())
	assert.Equal(t, time.Minute, cfg.RetryOnFailure.MaxElapsedTime)
	assert.True(t, cfg.RetryOnFailure.Enabled, "defaults are kept")
}
