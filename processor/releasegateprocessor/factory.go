// Package releasegateprocessor matches every span against the release gates,
// evaluates their per-span assertions and annotates the span with the
// outcome, for the releasegate exporter to judge runs on.
package releasegateprocessor

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"

	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/processor/releasegateprocessor/internal/metadata"
)

// NewFactory returns the factory of the releasegate processor.
func NewFactory() processor.Factory {
	return processor.NewFactory(
		metadata.Type,
		createDefaultConfig,
		processor.WithTraces(createTraces, metadata.TracesStability),
	)
}

func createDefaultConfig() component.Config {
	return &Config{}
}

func createTraces(ctx context.Context, set processor.Settings, cfg component.Config, next consumer.Traces) (processor.Traces, error) {
	gates, err := config.Shared(cfg.(*Config).Gates)
	if err != nil {
		return nil, err
	}
	p, err := newGateProcessor(set.TelemetrySettings, gates)
	if err != nil {
		return nil, err
	}
	return processorhelper.NewTraces(ctx, set, cfg, next, p.processTraces,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
		processorhelper.WithShutdown(p.shutdown))
}
