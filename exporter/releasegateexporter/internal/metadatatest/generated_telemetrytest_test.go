package metadatatest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/metadata"
)

func TestSetupTelemetry(t *testing.T) {
	testTel := componenttest.NewTelemetry()
	tb, err := metadata.NewTelemetryBuilder(testTel.NewTelemetrySettings())
	require.NoError(t, err)
	defer tb.Shutdown()
	tb.ExporterReleasegateRunsEvicted.Add(context.Background(), 1)
	tb.ExporterReleasegateRunsFinished.Add(context.Background(), 1)
	tb.ExporterReleasegateRunsOpen.Add(context.Background(), 1)
	tb.ExporterReleasegateRunsSaved.Add(context.Background(), 1)
	tb.ExporterReleasegateSeriesEvicted.Add(context.Background(), 1)
	tb.ExporterReleasegateSinkDropped.Add(context.Background(), 1)
	tb.ExporterReleasegateSinkFailed.Add(context.Background(), 1)
	tb.ExporterReleasegateSinkRetried.Add(context.Background(), 1)
	tb.ExporterReleasegateSinkSent.Add(context.Background(), 1)
	tb.ExporterReleasegateSinkSkipped.Add(context.Background(), 1)
	tb.ExporterReleasegateSpansIgnored.Add(context.Background(), 1)
	tb.ExporterReleasegateSpansLate.Add(context.Background(), 1)
	tb.ExporterReleasegateSpansRefused.Add(context.Background(), 1)
	tb.ExporterReleasegateUnknownGates.Add(context.Background(), 1)
	tb.ExporterReleasegateTraceSpansLate.Add(context.Background(), 1)
	tb.ExporterReleasegateTracesBuffered.Add(context.Background(), 1)
	tb.ExporterReleasegateTracesJudged.Add(context.Background(), 1)
	tb.ExporterReleasegateTracesLate.Add(context.Background(), 1)
	tb.ExporterReleasegateTracesTooLarge.Add(context.Background(), 1)
	tb.ExporterReleasegateTracesWithoutRun.Add(context.Background(), 1)
	AssertEqualExporterReleasegateRunsEvicted(t, testTel,
		[]metricdata.DataPoint[int64]{{Value: 1}},
		metricdatatest.IgnoreTimestamp())
	AssertEqualExporterReleasegateRunsFinished(t, testTel,
		[]metricdata.DataPoint[int64]{{Value: 1}},
		metricdatatest.IgnoreTimestamp())
	AssertEqualExporterReleasegateRunsOpen(t, testTel,
		[]metricdata.DataPoint[int64]{{Value: 1}},
		metricdatatest.IgnoreTimestamp())
	AssertEqualExporterReleasegateRunsSaved(t, testTel,
		[]metricdata.DataPoint[int64]{{Value: 1}},
		metricdatatest.IgnoreTimestamp())
	AssertEqualExporterReleasegateSeriesEvicted(t, testTel,
		[]metricdata.DataPoint[int64]{{Value: 1}},
		metricdatatest.IgnoreTimestamp())
	AssertEqualExporterReleasegateSinkDropped(t, testTel,
		[]metricdata.DataPoint[int64]{{Value: 1}},
		metricdatatest.IgnoreTimestamp())
	AssertEqualExporterReleasegateSinkFailed(t, testTel,
		[]metricdata.DataPoint[int64]{{Value: 1}},
		metricdatatest.IgnoreTimestamp())
	AssertEqualExporterReleasegateSinkRetried(t, testTel,
		[]metricdata.DataPoint[int64]{{Value: 1}},
		metricdatatest.IgnoreTimestamp())
	AssertEqualExporterReleasegateSinkSent(t, testTel,
		[]metricdata.DataPoint[int64]{{Value: 1}},
		metricdatatest.IgnoreTimestamp())
	AssertEqualExporterReleasegateSinkSkipped(t, testTel,
		[]metricdata.DataPoint[int64]{{Value: 1}},
		metricdatatest.IgnoreTimestamp())
	AssertEqualExporterReleasegateSpansIgnored(t, testTel,
		[]metricdata.DataPoint[int64]{{Value: 1}},
		metricdatatest.IgnoreTimestamp())
	AssertEqualExporterReleasegateSpansLate(t, testTel,
		[]metricdata.DataPoint[int64]{{Value: 1}},
		metricdatatest.IgnoreTimestamp())
	AssertEqualExporterReleasegateSpansRefused(t, testTel,
		[]metricdata.DataPoint[int64]{{Value: 1}},
		metricdatatest.IgnoreTimestamp())
	AssertEqualExporterReleasegateUnknownGates(t, testTel,
		[]metricdata.DataPoint[int64]{{Value: 1}},
		metricdatatest.IgnoreTimestamp())
	AssertEqualExporterReleasegateTraceSpansLate(t, testTel,
		[]metricdata.DataPoint[int64]{{Value: 1}},
		metricdatatest.IgnoreTimestamp())
	AssertEqualExporterReleasegateTracesBuffered(t, testTel,
		[]metricdata.DataPoint[int64]{{Value: 1}},
		metricdatatest.IgnoreTimestamp())
	AssertEqualExporterReleasegateTracesJudged(t, testTel,
		[]metricdata.DataPoint[int64]{{Value: 1}},
		metricdatatest.IgnoreTimestamp())
	AssertEqualExporterReleasegateTracesLate(t, testTel,
		[]metricdata.DataPoint[int64]{{Value: 1}},
		metricdatatest.IgnoreTimestamp())
	AssertEqualExporterReleasegateTracesTooLarge(t, testTel,
		[]metricdata.DataPoint[int64]{{Value: 1}},
		metricdatatest.IgnoreTimestamp())
	AssertEqualExporterReleasegateTracesWithoutRun(t, testTel,
		[]metricdata.DataPoint[int64]{{Value: 1}},
		metricdatatest.IgnoreTimestamp())

	require.NoError(t, testTel.Shutdown(context.Background()))
}
