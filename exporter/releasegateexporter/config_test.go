package releasegateexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"

	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/metadata"
	"github.com/releasegate/releasegate/internal/comptest"
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

	cfg, err = loadConfig(t, component.MustNewIDWithName("releasegate", "custom"))
	require.NoError(t, err)
	assert.Equal(t, "0.0.0.0:19464", cfg.Server.NetAddr.Endpoint)
	assert.Equal(t, 2*time.Minute, cfg.RunIdleTimeout)
	assert.Equal(t, 30*time.Minute, cfg.MaxRunDuration)
	assert.Equal(t, 24*time.Hour, cfg.Retention)
	assert.Equal(t, 500, cfg.MaxRuns)
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
	} {
		assert.Contains(t, err.Error(), want)
	}

	cfg := NewFactory().CreateDefaultConfig()
	assert.ErrorContains(t, cfg.(*Config).Validate(), "gates: at least one gate is required")
}

func TestConfigStruct(t *testing.T) {
	require.NoError(t, componenttest.CheckConfigStruct(NewFactory().CreateDefaultConfig()))
}
