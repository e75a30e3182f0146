package webhook

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"

	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/sink"
)

func TestNewDefaultConfig(t *testing.T) {
	cfg := NewDefaultConfig()
	assert.Equal(t, FormatJSON, cfg.Format)
	assert.Equal(t, 10*time.Second, cfg.ClientConfig.Timeout)
	assert.Equal(t, sink.DefaultQueueSize, cfg.QueueSize)
	assert.True(t, cfg.RetryOnFailure.Enabled)
	assert.EqualError(t, cfg.Check(), "endpoint: must be set")

	cfg.ClientConfig.Endpoint = "https://ci.example/hooks/releasegate"
	assert.NoError(t, cfg.Check())
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   []string
	}{
		{
			name:   "no endpoint",
			modify: func(c *Config) { c.ClientConfig.Endpoint = "" },
			want:   []string{"endpoint: must be set"},
		},
		{
			name:   "not http",
			modify: func(c *Config) { c.ClientConfig.Endpoint = "ftp://ci.example/T0K3N" },
			want:   []string{"endpoint: must be an http or https URL"},
		},
		{
			name:   "no scheme",
			modify: func(c *Config) { c.ClientConfig.Endpoint = "ci.example:8080/T0K3N" },
			want:   []string{"endpoint: must be an http or https URL"},
		},
		{
			name:   "unknown format",
			modify: func(c *Config) { c.Format = "xml" },
			want:   []string{`format: must be json or cdevents, got "xml"`},
		},
		{
			name:   "empty format",
			modify: func(c *Config) { c.Format = "" },
			want:   []string{`format: must be json or cdevents, got ""`},
		},
		{
			name:   "format in capitals",
			modify: func(c *Config) { c.Format = "CDEvents" },
			want:   []string{`format: must be json or cdevents, got "CDEvents"`},
		},
		{
			name:   "no timeout",
			modify: func(c *Config) { c.ClientConfig.Timeout = 0 },
			want:   []string{"timeout: must be a positive duration, got 0s"},
		},
		{
			name:   "secret with a trailing newline",
			modify: func(c *Config) { c.Secret = "T0K3N\n" },
			want:   []string{"secret: must not begin or end with whitespace"},
		},
		{
			name: "secret with a leading space, cdevents",
			modify: func(c *Config) {
				c.Secret = " T0K3N"
				c.Format = FormatCDEvents
			},
			want: []string{"secret: must not begin or end with whitespace"},
		},
		{
			name:   "queue size",
			modify: func(c *Config) { c.QueueSize = 0 },
			want:   []string{"queue_size: must be at least 1, got 0"},
		},
		{
			name: "every error at once",
			modify: func(c *Config) {
				c.ClientConfig.Endpoint = ""
				c.ClientConfig.Timeout = -time.Second
				c.Secret = "T0K3N "
				c.Format = "xml"
				c.QueueSize = -1
			},
			want: []string{
				"endpoint: must be set",
				"timeout: must be a positive duration, got -1s",
				"secret: must not begin or end with whitespace",
				`format: must be json or cdevents, got "xml"`,
				"queue_size: must be at least 1, got -1",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := NewDefaultConfig()
			cfg.ClientConfig.Endpoint = "https://ci.example/hooks/releasegate"
			tt.modify(&cfg)
			err := cfg.Check()
			require.Error(t, err)
			for _, want := range tt.want {
				assert.ErrorContains(t, err, want)
			}
			// Webhook URLs and secrets: errors never quote them.
			assert.NotContains(t, err.Error(), "T0K3N")
		})
	}

	// Either format, signed or not.
	for _, format := range []Format{FormatJSON, FormatCDEvents} {
		cfg := NewDefaultConfig()
		cfg.ClientConfig.Endpoint = "https://ci.example/hooks/releasegate"
		cfg.Format = format
		require.NoError(t, cfg.Check())
		cfg.Secret = "s3cret"
		require.NoError(t, cfg.Check())
	}
}

func TestUnmarshal(t *testing.T) {
	cfg := NewDefaultConfig()
	require.NoError(t, confmap.NewFromStringMap(map[string]any{
		"endpoint":         "https://ci.example/hooks/releasegate",
		"headers":          map[string]any{"X-Team": "checkout"},
		"timeout":          "2s",
		"secret":           "s3cret",
		"format":           "cdevents",
		"queue_size":       5,
		"retry_on_failure": map[string]any{"enabled": false},
	}).Unmarshal(&cfg))

	assert.Equal(t, "https://ci.example/hooks/releasegate", cfg.ClientConfig.Endpoint)
	v, ok := cfg.ClientConfig.Headers.Get("X-Team")
	assert.True(t, ok)
	assert.Equal(t, configopaque.String("checkout"), v)
	assert.Equal(t, 2*time.Second, cfg.ClientConfig.Timeout)
	assert.Equal(t, configopaque.String("s3cret"), cfg.Secret)
	assert.Equal(t, FormatCDEvents, cfg.Format)
	assert.Equal(t, 5, cfg.QueueSize)
	assert.False(t, cfg.RetryOnFailure.Enabled)
	assert.NoError(t, cfg.Check())
}
