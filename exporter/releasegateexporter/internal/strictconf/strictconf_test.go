package strictconf

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/confmap"
)

// testConfig is shaped as the sinks' configs are.
type testConfig struct {
	ClientConfig   confighttp.ClientConfig   `mapstructure:",squash"`
	Token          string                    `mapstructure:"token"`
	RetryOnFailure configretry.BackOffConfig `mapstructure:"retry_on_failure"`
}

func newTestConfig() testConfig {
	return testConfig{ClientConfig: confighttp.NewDefaultClientConfig(), RetryOnFailure: configretry.NewDefaultBackOffConfig()}
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
			cfg := newTestConfig()
			assert.ErrorContains(t, Unmarshal(confmap.NewFromStringMap(tt.conf), &cfg), tt.want)
		})
	}
}

// What the sections have decodes; headers are free-form.
func TestUnmarshal(t *testing.T) {
	cfg := newTestConfig()
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
