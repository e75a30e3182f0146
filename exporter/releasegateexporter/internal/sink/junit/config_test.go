package junit

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
)

func TestConfigUnmarshal(t *testing.T) {
	cfg := NewDefaultConfig()
	require.NoError(t, confmap.NewFromStringMap(map[string]any{
		"directory":        "reports/releasegate",
		"queue_size":       10,
		"retry_on_failure": map[string]any{"enabled": false},
	}).Unmarshal(&cfg))

	assert.Equal(t, "reports/releasegate", cfg.Directory)
	assert.Equal(t, 10, cfg.QueueSize)
	assert.False(t, cfg.RetryOnFailure.Enabled)
	assert.Equal(t, NewDefaultConfig().RetryOnFailure.MaxElapsedTime, cfg.RetryOnFailure.MaxElapsedTime)
}

func TestConfigValidate(t *testing.T) {
	cfg := NewDefaultConfig()
	assert.EqualError(t, cfg.Check(), "directory: must be set")

	cfg.Directory = "reports"
	require.NoError(t, cfg.Check())

	cfg.QueueSize = 0
	assert.EqualError(t, cfg.Check(), "queue_size: must be at least 1, got 0")

	cfg.Directory = ""
	assert.EqualError(t, cfg.Check(), "directory: must be set\nqueue_size: must be at least 1, got 0")
}

func TestConfigUnknownKeys(t *testing.T) {
	for _, tt := range []struct {
		conf map[string]any
		want string
	}{
		{map[string]any{"directry": "reports"}, "unknown keys: directry"},
		{map[string]any{"directory": "reports", "retry_on_failure": map[string]any{"enabld": false}}, "unknown keys: retry_on_failure::enabld"},
	} {
		cfg := NewDefaultConfig()
		assert.ErrorContains(t, confmap.NewFromStringMap(tt.conf).Unmarshal(&cfg), tt.want)
	}
}
