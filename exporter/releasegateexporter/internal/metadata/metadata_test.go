package metadata

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"

	"github.com/releasegate/releasegate/internal/metadatacheck"
)

// The package and documentation.md say what metadata.yaml says; the
// helpers of internal/metadatatest are held to the package by their own
// test.
func TestMetadataYAML(t *testing.T) {
	md := metadatacheck.Load(t, filepath.Join("..", "..", "metadata.yaml"))
	md.CheckStatus(t, Type, map[string]component.StabilityLevel{"traces": TracesStability})

	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	tb, err := NewTelemetryBuilder(tel.NewTelemetrySettings())
	require.NoError(t, err)
	defer tb.Shutdown()
	md.CheckTelemetry(t, tel, ScopeName, tb)

	md.CheckDocumentation(t, filepath.Join("..", "..", "documentation.md"))
}
