package releasegateprocessor

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"

	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/internal/comptest"
	"github.com/releasegate/releasegate/processor/releasegateprocessor/internal/metadata"
)

func loadConfig(t *testing.T, id component.ID) (*Config, error) {
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	err := comptest.LoadConfig(t, filepath.Join("testdata", "config.yaml"), "processors::"+id.String(), cfg)
	return cfg, err
}

func TestLoadConfig(t *testing.T) {
	cfg, err := loadConfig(t, component.NewID(metadata.Type))
	require.NoError(t, err)
	assert.Equal(t, `resource["cicd.pipeline.run.id"]`, cfg.Gates.Run)
	require.Len(t, cfg.Gates.Gates, 2)
	assert.Equal(t, config.Gate{
		Name:         "checkout-latency",
		Match:        `name == "POST /checkout"`,
		Assert:       `duration < duration("300ms")`,
		Scope:        config.ScopeSpan,
		MinSpans:     1,
		OnNoData:     config.NoDataInconclusive,
		OnNoBaseline: config.NoBaselineIgnore,
	}, cfg.Gates.Gates[0])

	cfg, err = loadConfig(t, component.MustNewIDWithName("releasegate", "inline"))
	require.NoError(t, err)
	assert.Empty(t, cfg.Gates.Run)
	require.Len(t, cfg.Gates.Gates, 1)
	assert.Equal(t, "no-errors", cfg.Gates.Gates[0].Name)
}

func TestInvalidConfig(t *testing.T) {
	_, err := loadConfig(t, component.MustNewIDWithName("releasegate", "invalid"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `gate "checkout-latency": assert: column 1: unknown name duraton`)
	assert.Contains(t, err.Error(), `gate "Checkout": name: must be 1 to 100 characters`)
	assert.Contains(t, err.Error(), `gate "Checkout": match: is required`)

	_, err = loadConfig(t, component.MustNewIDWithName("releasegate", "empty"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "gates: at least one gate is required")
}

func TestUnknownKeys(t *testing.T) {
	_, err := loadConfig(t, component.MustNewIDWithName("releasegate", "unknown-keys"))
	require.Error(t, err)
	for _, want := range []string{
		"invalid keys: gates_file",
		`unknown key "rn" (the document has run, baseline and gates)`,
		`gate "checkout-latency": asert: unknown key`,
	} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestConfigStruct(t *testing.T) {
	require.NoError(t, componenttest.CheckConfigStruct(NewFactory().CreateDefaultConfig()))
}
