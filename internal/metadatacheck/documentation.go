package metadatacheck

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Documentation is the component's documentation.md as the metadata
// generator writes it: every enabled telemetry metric, in name order, with
// its description and extended documentation, unit, type, value type,
// monotonicity (sums), stability and attributes.
func (md *Metadata) Documentation() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n", md.Type)
	var names []string
	for _, name := range slices.Sorted(maps.Keys(md.Telemetry.Metrics)) {
		if *md.Telemetry.Metrics[name].Enabled {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return b.String()
	}
	b.WriteString("\n## Internal Telemetry\n\nThe following telemetry is emitted by this component.\n")
	for _, name := range names {
		m := md.Telemetry.Metrics[name]
		fmt.Fprintf(&b, "\n### %s\n\n%s\n\n", metricName(name), m.Description)
		if m.ExtendedDocumentation != "" {
			fmt.Fprintf(&b, "%s\n\n", strings.TrimRight(m.ExtendedDocumentation, "\n"))
		}
		valueType := strings.ToUpper(m.valueType()[:1]) + m.valueType()[1:]
		if m.Sum != nil {
			b.WriteString("| Unit | Metric Type | Value Type | Monotonic | Stability |\n")
			b.WriteString("| ---- | ----------- | ---------- | --------- | --------- |\n")
			fmt.Fprintf(&b, "| %s | %s | %s | %t | %s |\n", *m.Unit, m.kind(), valueType, m.Sum.Monotonic, m.Stability)
		} else {
			b.WriteString("| Unit | Metric Type | Value Type | Stability |\n")
			b.WriteString("| ---- | ----------- | ---------- | --------- |\n")
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", *m.Unit, m.kind(), valueType, m.Stability)
		}
		if len(m.Attributes) == 0 {
			continue
		}
		b.WriteString("\n#### Attributes\n\n")
		b.WriteString("| Name | Description | Values | Semantic Convention |\n")
		b.WriteString("| ---- | ----------- | ------ | ------------------- |\n")
		for _, key := range m.Attributes {
			a := md.Attributes[key]
			values := "Any " + attributeTypes[a.Type]
			if len(a.Enum) > 0 {
				values = attributeTypes[a.Type] + ": ``" + strings.Join(a.Enum, "``, ``") + "``"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | - |\n", key, a.Description, values)
		}
	}
	return b.String()
}

// CheckDocumentation checks that the documentation.md at path is
// Documentation: it lists exactly the telemetry metrics, as metadata.yaml
// describes them. With UPDATE_DOCUMENTATION=1 in the environment it writes
// it instead, as mdatagen would generate it.
func (md *Metadata) CheckDocumentation(t testing.TB, path string) {
	t.Helper()
	if os.Getenv("UPDATE_DOCUMENTATION") == "1" {
		require.NoError(t, os.WriteFile(path, []byte(md.Documentation()), 0o644))
	}
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, md.Documentation(), string(data), "%s does not match metadata.yaml", path)
}
