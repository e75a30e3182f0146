package metadatacheck

import (
	"context"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
)

// CheckTelemetry checks builder, the component's *metadata.TelemetryBuilder
// made on tel, against telemetry.metrics. The builder must have one
// exported field per metric, named as the metadata generator names it
// (processor_releasegate_spans is ProcessorReleasegateSpans) and of the
// instrument its type, value type and monotonicity call for. Once each
// instrument has recorded 1, tel must hold exactly those metrics, under the
// scope scopeName, the component's import path, each with its name
// (otelcol_ and its key), description, unit and type.
func (md *Metadata) CheckTelemetry(t testing.TB, tel *componenttest.Telemetry, scopeName string, builder any) {
	t.Helper()
	v := reflect.ValueOf(builder)
	require.Equal(t, reflect.Pointer, v.Kind(), "builder must be a *TelemetryBuilder")
	v = v.Elem()
	require.Equal(t, strings.TrimSuffix(v.Type().PkgPath(), "/internal/metadata"), scopeName,
		"the scope name is the component's import path")

	fields := map[string]reflect.Value{}
	for i := range v.NumField() {
		if f := v.Type().Field(i); f.IsExported() {
			fields[f.Name] = v.Field(i)
		}
	}
	metrics := map[string]string{} // by field name
	for name := range md.Telemetry.Metrics {
		metrics[fieldName(name)] = name
	}
	require.ElementsMatch(t, slices.Collect(maps.Keys(metrics)), slices.Collect(maps.Keys(fields)),
		"TelemetryBuilder has one exported field per telemetry metric")

	for _, field := range slices.Sorted(maps.Keys(metrics)) {
		m := md.Telemetry.Metrics[metrics[field]]
		inst := fields[field]
		require.Equal(t, m.instrument(), inst.Type(), "TelemetryBuilder.%s", field)
		require.False(t, inst.IsNil(), "TelemetryBuilder.%s is not created", field)
		m.record(inst)
	}

	var rm metricdata.ResourceMetrics
	require.NoError(t, tel.Reader.Collect(context.Background(), &rm))
	require.Len(t, rm.ScopeMetrics, 1, "every instrument is under one scope")
	sm := rm.ScopeMetrics[0]
	require.Equal(t, scopeName, sm.Scope.Name)
	got := map[string]metricdata.Metrics{}
	for _, m := range sm.Metrics {
		got[m.Name] = m
	}
	var want []string
	for name := range md.Telemetry.Metrics {
		want = append(want, metricName(name))
	}
	require.ElementsMatch(t, want, slices.Collect(maps.Keys(got)), "metrics collected")
	for _, name := range slices.Sorted(maps.Keys(md.Telemetry.Metrics)) {
		m := md.Telemetry.Metrics[name]
		opts := []metricdatatest.Option{metricdatatest.IgnoreTimestamp()}
		if m.Histogram != nil {
			opts = append(opts, metricdatatest.IgnoreValue())
			if b := m.Histogram.BucketBoundaries; len(b) > 0 {
				assert.Equal(t, b, histogramBounds(got[metricName(name)].Data), "%s: bucket boundaries", metricName(name))
			}
		}
		metricdatatest.AssertEqual(t, m.want(name), got[metricName(name)], opts...)
	}
}

// CheckAttributes checks that every data point tel holds under scopeName
// belongs to a telemetry metric and carries exactly the attributes the
// metric lists, of their types and, for an enum, one of its values. Run it
// after a component test that recorded through the component's own code.
func (md *Metadata) CheckAttributes(t testing.TB, tel *componenttest.Telemetry, scopeName string) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, tel.Reader.Collect(context.Background(), &rm))
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != scopeName {
			continue
		}
		for _, got := range sm.Metrics {
			m, ok := md.Telemetry.Metrics[strings.TrimPrefix(got.Name, "otelcol_")]
			if !assert.True(t, ok, "%s is not a telemetry metric", got.Name) {
				continue
			}
			for _, set := range attributeSets(got.Data) {
				var keys []string
				for _, kv := range set.ToSlice() {
					key := string(kv.Key)
					keys = append(keys, key)
					a, ok := md.Attributes[key]
					if !ok || !slices.Contains(m.Attributes, key) {
						continue
					}
					if kind, ok := attributeKinds[a.Type]; ok {
						assert.Equal(t, kind, kv.Value.Type(), "%s: attribute %s", got.Name, key)
					}
					if len(a.Enum) > 0 {
						assert.Contains(t, a.Enum, kv.Value.AsString(), "%s: attribute %s", got.Name, key)
					}
				}
				assert.ElementsMatch(t, m.Attributes, keys, "%s: attributes of %s", got.Name, set.Encoded(attribute.DefaultEncoder()))
			}
		}
	}
}

var attributeKinds = map[string]attribute.Type{
	"string": attribute.STRING,
	"int":    attribute.INT64,
	"double": attribute.FLOAT64,
	"bool":   attribute.BOOL,
}

// instrument is the type of the TelemetryBuilder field of m.
func (m *Metric) instrument() reflect.Type {
	pick := func(i, f reflect.Type) reflect.Type {
		if m.valueType() == "double" {
			return f
		}
		return i
	}
	switch {
	case m.Sum != nil && m.Sum.Monotonic:
		return pick(reflect.TypeFor[metric.Int64Counter](), reflect.TypeFor[metric.Float64Counter]())
	case m.Sum != nil:
		return pick(reflect.TypeFor[metric.Int64UpDownCounter](), reflect.TypeFor[metric.Float64UpDownCounter]())
	case m.Gauge != nil:
		return pick(reflect.TypeFor[metric.Int64Gauge](), reflect.TypeFor[metric.Float64Gauge]())
	default:
		return pick(reflect.TypeFor[metric.Int64Histogram](), reflect.TypeFor[metric.Float64Histogram]())
	}
}

// record adds 1 to a sum, or records 1 on a gauge or a histogram.
func (m *Metric) record(inst reflect.Value) {
	method, one := "Record", reflect.ValueOf(int64(1))
	if m.Sum != nil {
		method = "Add"
	}
	if m.valueType() == "double" {
		one = reflect.ValueOf(1.0)
	}
	inst.MethodByName(method).Call([]reflect.Value{reflect.ValueOf(context.Background()), one})
}

// want is the metric the instrument of name collects after record.
func (m *Metric) want(name string) metricdata.Metrics {
	data := aggregation[int64]
	if m.valueType() == "double" {
		data = aggregation[float64]
	}
	return metricdata.Metrics{
		Name:        metricName(name),
		Description: m.Description,
		Unit:        *m.Unit,
		Data:        data(m),
	}
}

func aggregation[N int64 | float64](m *Metric) metricdata.Aggregation {
	switch {
	case m.Sum != nil:
		return metricdata.Sum[N]{
			Temporality: metricdata.CumulativeTemporality,
			IsMonotonic: m.Sum.Monotonic,
			DataPoints:  []metricdata.DataPoint[N]{{Value: 1}},
		}
	case m.Gauge != nil:
		return metricdata.Gauge[N]{DataPoints: []metricdata.DataPoint[N]{{Value: 1}}}
	default:
		return metricdata.Histogram[N]{
			Temporality: metricdata.CumulativeTemporality,
			DataPoints:  []metricdata.HistogramDataPoint[N]{{}},
		}
	}
}

func histogramBounds(data metricdata.Aggregation) []float64 {
	switch h := data.(type) {
	case metricdata.Histogram[int64]:
		if len(h.DataPoints) > 0 {
			return h.DataPoints[0].Bounds
		}
	case metricdata.Histogram[float64]:
		if len(h.DataPoints) > 0 {
			return h.DataPoints[0].Bounds
		}
	}
	return nil
}

func attributeSets(data metricdata.Aggregation) []attribute.Set {
	var sets []attribute.Set
	switch d := data.(type) {
	case metricdata.Sum[int64]:
		for _, dp := range d.DataPoints {
			sets = append(sets, dp.Attributes)
		}
	case metricdata.Sum[float64]:
		for _, dp := range d.DataPoints {
			sets = append(sets, dp.Attributes)
		}
	case metricdata.Gauge[int64]:
		for _, dp := range d.DataPoints {
			sets = append(sets, dp.Attributes)
		}
	case metricdata.Gauge[float64]:
		for _, dp := range d.DataPoints {
			sets = append(sets, dp.Attributes)
		}
	case metricdata.Histogram[int64]:
		for _, dp := range d.DataPoints {
			sets = append(sets, dp.Attributes)
		}
	case metricdata.Histogram[float64]:
		for _, dp := range d.DataPoints {
			sets = append(sets, dp.Attributes)
		}
	}
	return sets
}
