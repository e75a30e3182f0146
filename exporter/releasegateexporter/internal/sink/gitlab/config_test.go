package gitlab

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"

	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/sink"
)

func TestNewDefaultConfig(t *testing.T) {
	cfg := NewDefaultConfig()
	assert.Equal(t, "https://gitlab.com", cfg.ClientConfig.Endpoint)
	assert.Equal(t, 10*time.Second, cfg.ClientConfig.Timeout)
	assert.Equal(t, "releasegate", cfg.NamePrefix)
	assert.Equal(t, sink.NewDefaultDeliveryConfig(), cfg.DeliveryConfig)
	require.EqualError(t, cfg.Check(), "token: must be set\nproject: must be set")

	cfg.Token = testToken
	cfg.Project = "42"
	require.NoError(t, cfg.Check())
}

func TestConfigUnmarshal(t *testing.T) {
	cfg := NewDefaultConfig()
	require.NoError(t, confmap.NewFromStringMap(map[string]any{
		"endpoint":         "https://gitlab.example.com",
		"timeout":          "3s",
		"token":            testToken,
		"project":          "group/sub/name",
		"name_prefix":      "ci/releasegate",
		"target_url":       "https://grafana.example/explore?traceId={{.TraceID}}",
		"queue_size":       10,
		"retry_on_failure": map[string]any{"max_elapsed_time": "1m"},
	}).Unmarshal(&cfg))

	assert.Equal(t, "https://gitlab.example.com", cfg.ClientConfig.Endpoint)
	assert.Equal(t, 3*time.Second, cfg.ClientConfig.Timeout)
	assert.Equal(t, testToken, string(cfg.Token))
	assert.Equal(t, "group/sub/name", cfg.Project)
	assert.Equal(t, "ci/releasegate", cfg.NamePrefix)
	assert.Equal(t, sink.TargetURL("https://grafana.example/explore?traceId={{.TraceID}}"), cfg.TargetURL)
	assert.Equal(t, 10, cfg.QueueSize)
	assert.Equal(t, time.Minute, cfg.RetryOnFailure.MaxElapsedTime)
	assert.True(t, cfg.RetryOnFailure.Enabled, "defaults are kept")
	require.NoError(t, cfg.Check())
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   string
	}{
		{"no endpoint", func(c *Config) { c.ClientConfig.Endpoint = "" }, "endpoint: must be set"},
		{"endpoint without scheme", func(c *Config) { c.ClientConfig.Endpoint = "gitlab.com" }, "endpoint: must be an http or https URL"},
		{"no token", func(c *Config) { c.Token = "" }, "token: must be set"},
		{"no project", func(c *Config) { c.Project = "" }, "project: must be set"},
		{"project without group", func(c *Config) { c.Project = "name" }, `project: must be a numeric id or a path such as group/name, got "name"`},
		{"project with an empty segment", func(c *Config) { c.Project = "group//name" }, `project: must be a numeric id or a path such as group/name, got "group//name"`},
		{"no name prefix", func(c *Config) { c.NamePrefix = "" }, "name_prefix: must be set"},
		{"no timeout", func(c *Config) { c.ClientConfig.Timeout = 0 }, "timeout: must be a positive duration, got 0s"},
		{"target_url that does not parse", func(c *Config) { c.TargetURL = "https://x/{{.Run" }, "target_url: template: target_url:1: unclosed action"},
		{"target_url with an unknown field", func(c *Config) { c.TargetURL = "https://x/{{.Trace}}" }, "target_url: template: target_url:1:12: executing"},
		{"target_url that is not a URL", func(c *Config) { c.TargetURL = "tempo/{{.TraceID}}" }, `target_url: must render an http or https URL, got "tempo/t"`},
		{"bad queue_size", func(c *Config) { c.QueueSize = 0 }, "queue_size: must be at least 1, got 0"},
		{"negative queue_size", func(c *Config) { c.QueueSize = -1 }, "queue_size: must be at least 1, got -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := NewDefaultConfig()
			cfg.Token = testToken
			cfg.Project = "group/name"
			tt.modify(&cfg)
			err := cfg.Check()
			require.ErrorContains(t, err, tt.want)
			assert.NotContains(t, err.Error(), testToken)
		})
	}

	t.Run("all at once", func(t *testing.T) {
		cfg := NewDefaultConfig()
		for _, tt := range tests {
			tt.modify(&cfg)
		}
		err := cfg.Check()
		require.Error(t, err)
		for _, key := range []string{"endpoint", "timeout", "token", "project", "name_prefix", "target_url", "queue_size"} {
			assert.Contains(t, err.Error(), key+": ")
		}
	})
}
