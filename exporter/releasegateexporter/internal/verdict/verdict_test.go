package verdict

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A span gate counts spans, a trace gate traces, in the JSON too; either
// reads back as it was.
func TestGateJSON(t *testing.T) {
	for scope, want := range map[string][]string{
		"span":  {`"spans":40`, `"min_spans":20`},
		"trace": {`"traces":40`, `"min_traces":20`},
	} {
		g := Gate{Name: "g", Scope: scope, Status: Passed, Spans: 40, Violations: 3, MinSpans: 20, Exemplars: []Exemplar{}}
		data, err := json.Marshal(g)
		require.NoError(t, err)
		for _, w := range want {
			assert.Contains(t, string(data), w, scope)
		}
		other := map[string]string{"span": `"traces"`, "trace": `"spans"`}[scope]
		assert.NotContains(t, string(data), other, scope)
		var back Gate
		require.NoError(t, json.Unmarshal(data, &back))
		assert.Equal(t, g, back, scope)
	}
}
