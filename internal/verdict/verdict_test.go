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

// A run's page is one escaped path segment under the exporter's address,
// whatever the run id holds.
func TestPageURL(t *testing.T) {
	for run, want := range map[string]string{
		"r-42":                "https://releasegate.example/ci/runs/r-42",
		"team/build 7":        "https://releasegate.example/ci/runs/team%2Fbuild%207",
		`<script>"?#&`:        "https://releasegate.example/ci/runs/%3Cscript%3E%22%3F%23&",
		".":                   "https://releasegate.example/ci/runs/%2E",
		"..":                  "https://releasegate.example/ci/runs/%2E%2E",
		"ü":                   "https://releasegate.example/ci/runs/%C3%BC",
		"javascript:alert(1)": "https://releasegate.example/ci/runs/javascript:alert%281%29",
	} {
		assert.Equal(t, want, PageURL("https://releasegate.example/ci/", run), run)
		assert.Equal(t, want, PageURL("https://releasegate.example/ci", run), run)
	}
	r := Run{Run: "r-42"}
	assert.Empty(t, r.GateURL("checkout-latency"), "no page without a URL")
	r.URL = PageURL("http://rg:9464", r.Run)
	assert.Equal(t, "http://rg:9464/runs/r-42#gate-checkout-latency", r.GateURL("checkout-latency"))
}
