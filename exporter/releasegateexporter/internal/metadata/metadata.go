// Package metadata holds the releasegate exporter's identity and its
// self-telemetry instruments.
package metadata

import (
	"go.opentelemetry.io/collector/component"
)

var Type = component.MustNewType("releasegate")

const (
	ScopeName       = "github.com/releasegate/releasegate/exporter/releasegateexporter"
	TracesStability = component.StabilityLevelAlpha
)
