// Package metadata holds the releasegate exporter's type, stability and
// internal telemetry, as its metadata.yaml describes them.
package metadata

import (
	"go.opentelemetry.io/collector/component"
)

var (
	Type      = component.MustNewType("releasegate")
	ScopeName = "github.com/releasegate/releasegate/exporter/releasegateexporter"
)

const (
	TracesStability = component.StabilityLevelAlpha
)
