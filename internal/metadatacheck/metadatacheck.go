// Package metadatacheck holds a component to its metadata.yaml: the type and
// stability in its internal/metadata package, the instruments of its
// TelemetryBuilder, the attributes its tests record and its
// documentation.md.
package metadatacheck

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.yaml.in/yaml/v3"
)

// Metadata is a component's metadata.yaml, in the schema of the collector's
// metadata generator: its status and its internal telemetry.
type Metadata struct {
	DisplayName   string               `yaml:"display_name"`
	Type          string               `yaml:"type"`
	GithubProject string               `yaml:"github_project"`
	Status        Status               `yaml:"status"`
	Attributes    map[string]Attribute `yaml:"attributes"`
	Telemetry     Telemetry            `yaml:"telemetry"`
}

// Status is the component's class, its stability per signal, the
// distributions that include it and its code owners.
type Status struct {
	Class         string                                `yaml:"class"`
	Stability     map[component.StabilityLevel][]string `yaml:"stability"`
	Distributions []string                              `yaml:"distributions"`
	Codeowners    Codeowners                            `yaml:"codeowners"`
}

type Codeowners struct {
	Active     []string `yaml:"active"`
	Emeritus   []string `yaml:"emeritus"`
	SeekingNew bool     `yaml:"seeking_new"`
}

// Attribute is an attribute the component's instruments record.
type Attribute struct {
	Description string   `yaml:"description"`
	Type        string   `yaml:"type"`
	Enum        []string `yaml:"enum"`
}

type Telemetry struct {
	// Metrics are keyed by name without the otelcol_ prefix, as
	// processor_releasegate_spans.
	Metrics map[string]Metric `yaml:"metrics"`
}

// Metric is one instrument: exactly one of Sum, Gauge and Histogram is set.
// ExtendedDocumentation follows the description in documentation.md.
type Metric struct {
	Enabled               *bool                    `yaml:"enabled"`
	Stability             component.StabilityLevel `yaml:"stability"`
	Description           string                   `yaml:"description"`
	ExtendedDocumentation string                   `yaml:"extended_documentation"`
	Unit                  *string                  `yaml:"unit"`
	Sum                   *Sum                     `yaml:"sum"`
	Gauge                 *Gauge                   `yaml:"gauge"`
	Histogram             *Histogram               `yaml:"histogram"`
	Attributes            []string                 `yaml:"attributes"`
}

type Sum struct {
	ValueType string `yaml:"value_type"`
	Monotonic bool   `yaml:"monotonic"`
}

type Gauge struct {
	ValueType string `yaml:"value_type"`
}

type Histogram struct {
	ValueType        string    `yaml:"value_type"`
	BucketBoundaries []float64 `yaml:"bucket_boundaries"`
}

// Load reads the metadata.yaml at path, refusing unknown keys, and checks it
// as the metadata generator would.
func Load(t testing.TB, path string) *Metadata {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	md, err := parse(data)
	require.NoError(t, err, path)
	return md
}

func parse(data []byte) (*Metadata, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var md Metadata
	if err := dec.Decode(&md); err != nil {
		return nil, err
	}
	return &md, md.validate()
}

var (
	classes    = []string{"connector", "exporter", "extension", "processor", "receiver"}
	valueTypes = []string{"int", "double"}
	// The attribute types, and how documentation.md names them.
	attributeTypes = map[string]string{
		"string": "Str", "int": "Int", "double": "Double", "bool": "Bool",
		"bytes": "Bytes", "slice": "Slice", "map": "Map",
	}
)

func (md *Metadata) validate() error {
	var errs []error
	if md.Type == "" {
		errs = append(errs, errors.New("type: missing"))
	} else if _, err := component.NewType(md.Type); err != nil {
		errs = append(errs, fmt.Errorf("type: %w", err))
	}
	if !slices.Contains(classes, md.Status.Class) {
		errs = append(errs, fmt.Errorf("status.class: must be one of %v, got %q", classes, md.Status.Class))
	}
	if len(md.Status.Stability) == 0 {
		errs = append(errs, errors.New("status.stability: missing"))
	}
	for level, signals := range md.Status.Stability {
		if len(signals) == 0 {
			errs = append(errs, fmt.Errorf("status.stability.%s: no signal", strings.ToLower(level.String())))
		}
	}
	used := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(md.Telemetry.Metrics)) {
		m := md.Telemetry.Metrics[name]
		for _, err := range m.validate(md.Attributes) {
			errs = append(errs, fmt.Errorf("telemetry.metrics.%s: %w", name, err))
		}
		if strings.HasPrefix(name, "otelcol_") {
			errs = append(errs, fmt.Errorf("telemetry.metrics.%s: the otelcol_ prefix is added to every name, leave it out", name))
		}
		for _, a := range m.Attributes {
			used[a] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(md.Attributes)) {
		a := md.Attributes[name]
		if a.Description == "" {
			errs = append(errs, fmt.Errorf("attributes.%s: missing description", name))
		}
		if _, ok := attributeTypes[a.Type]; !ok {
			errs = append(errs, fmt.Errorf("attributes.%s: unknown type %q", name, a.Type))
		}
		if len(a.Enum) > 0 && a.Type != "string" {
			errs = append(errs, fmt.Errorf("attributes.%s: an enum must be of type string", name))
		}
		if !used[name] {
			errs = append(errs, fmt.Errorf("attributes.%s: used by no metric", name))
		}
	}
	return errors.Join(errs...)
}

func (m *Metric) validate(attributes map[string]Attribute) []error {
	var errs []error
	if m.Enabled == nil {
		errs = append(errs, errors.New("missing enabled"))
	}
	if m.Stability == component.StabilityLevelUndefined {
		errs = append(errs, errors.New("missing stability"))
	}
	if m.Description == "" {
		errs = append(errs, errors.New("missing description"))
	}
	if m.Unit == nil {
		errs = append(errs, errors.New("missing unit"))
	}
	kinds := 0
	for _, set := range []bool{m.Sum != nil, m.Gauge != nil, m.Histogram != nil} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		errs = append(errs, errors.New("exactly one of sum, gauge and histogram must be set"))
	} else if !slices.Contains(valueTypes, m.valueType()) {
		errs = append(errs, fmt.Errorf("value_type: must be int or double, got %q", m.valueType()))
	}
	for _, a := range m.Attributes {
		if _, ok := attributes[a]; !ok {
			errs = append(errs, fmt.Errorf("attribute %q is not under attributes", a))
		}
	}
	return errs
}

func (m *Metric) valueType() string {
	switch {
	case m.Sum != nil:
		return m.Sum.ValueType
	case m.Gauge != nil:
		return m.Gauge.ValueType
	default:
		return m.Histogram.ValueType
	}
}

// kind is the metric type as documentation.md names it.
func (m *Metric) kind() string {
	switch {
	case m.Sum != nil:
		return "Sum"
	case m.Gauge != nil:
		return "Gauge"
	default:
		return "Histogram"
	}
}

// CheckStatus checks the component's type and its stability per signal, as
// internal/metadata declares them, against status.
func (md *Metadata) CheckStatus(t testing.TB, typ component.Type, stability map[string]component.StabilityLevel) {
	t.Helper()
	require.Equal(t, md.Type, typ.String(), "type")
	want := map[string]component.StabilityLevel{}
	for level, signals := range md.Status.Stability {
		for _, signal := range signals {
			want[signal] = level
		}
	}
	require.Equal(t, want, stability, "status.stability")
}

// metricName is the name an instrument is created with.
func metricName(name string) string {
	return "otelcol_" + name
}

// fieldName is the TelemetryBuilder field of the metric name:
// processor_releasegate_spans is ProcessorReleasegateSpans.
func fieldName(name string) string {
	var b strings.Builder
	for _, word := range strings.Split(name, "_") {
		if word == "" {
			continue
		}
		if upper := strings.ToUpper(word); acronyms[upper] {
			b.WriteString(upper)
			continue
		}
		b.WriteString(strings.ToUpper(word[:1]) + word[1:])
	}
	return b.String()
}

// acronyms are written in capitals in Go names.
var acronyms = map[string]bool{
	"ACL": true, "API": true, "ASCII": true, "CPU": true, "CSS": true, "DNS": true,
	"EOF": true, "GUID": true, "HTML": true, "HTTP": true, "HTTPS": true, "ID": true,
	"IP": true, "JSON": true, "LHS": true, "QPS": true, "RAM": true, "RHS": true,
	"RPC": true, "SLA": true, "SMTP": true, "SQL": true, "SSH": true, "TCP": true,
	"TLS": true, "TTL": true, "UDP": true, "UI": true, "UID": true, "UUID": true,
	"URI": true, "URL": true, "UTF8": true, "VM": true, "XML": true, "XMPP": true,
	"XSRF": true, "XSS": true,
}
