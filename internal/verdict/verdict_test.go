package verdict

import (
	"encoding/json"
	"strings"
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
		g := Gate{Name: "g", Scope: scope, Status: Passed, Spans: 40, Violations: 3, MinSpans: 20, Exemplars: []Exemplar{},
			Reason: "passed: p95 1s ≤ 2s & <3s>"}
		var b strings.Builder
		enc := json.NewEncoder(&b) // as the API writes
		enc.SetEscapeHTML(false)
		require.NoError(t, enc.Encode(g))
		data := b.String()
		assert.Contains(t, data, `"reason":"passed: p95 1s ≤ 2s & <3s>"`, "not escaped for HTML")
		for _, w := range want {
			assert.Contains(t, data, w, scope)
		}
		other := map[string]string{"span": `"traces"`, "trace": `"spans"`}[scope]
		assert.NotContains(t, data, other, scope)
		var back Gate
		require.NoError(t, json.Unmarshal([]byte(data), &back))
		assert.Equal(t, g, back, scope)
	}
}
