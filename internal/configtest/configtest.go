// Package configtest loads component configurations in tests the way the
// collector does: through a resolver with the file provider, so that
// `gates: ${file:...}` works as in a real collector.
package configtest

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
)

// Load reads the collector configuration at path, unmarshals the section
// key (such as "processors::releasegate") into cfg and validates it. An
// unmarshal or validation error is returned; anything else fails the test.
func Load(t *testing.T, path, key string, cfg component.Config) error {
	t.Helper()
	resolver, err := confmap.NewResolver(confmap.ResolverSettings{
		URIs:              []string{"file:" + path},
		ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory()},
	})
	require.NoError(t, err)
	conf, err := resolver.Resolve(t.Context())
	require.NoError(t, err)
	sub, err := conf.Sub(key)
	require.NoError(t, err)
	if err := sub.Unmarshal(cfg); err != nil {
		return err
	}
	return confmap.Validate(cfg)
}
