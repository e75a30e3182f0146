// Package comptest holds what the components' tests share: loading a
// configuration as the collector does, and reading self-telemetry.
package comptest

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// LoadConfig reads the collector configuration at path, through a resolver
// with the file provider so that `gates: ${file:...}` works as in a real
// collector,, unmarshals the section
// key (such as "processors::releasegate") into cfg and validates it. An
// unmarshal or validation error is returned; anything else fails the test.
func LoadConfig(t *testing.T, path, key string, cfg component.Config) error {
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

// Counter sums the points of an int64 counter whose attributes include the
// given key/value pairs; 0 when nothing was recorded.
func Counter(t *testing.T, tel *componenttest.Telemetry, name string, kv ...string) int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	if err != nil {
		return 0
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "%s is an int64 counter", name)
	var total int64
points:
	for _, dp := range sum.DataPoints {
		for i := 0; i+1 < len(kv); i += 2 {
			if v, ok := dp.Attributes.Value(attribute.Key(kv[i])); !ok || v.AsString() != kv[i+1] {
				continue points
			}
		}
		total += dp.Value
	}
	return total
}
