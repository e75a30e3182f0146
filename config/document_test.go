package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
)

const exampleDoc = `
run: resource["ci.run"]
gates:
  - name: checkout-latency
    description: Checkout stays fast
    match: name == "POST /checkout" && resource["service.name"] == "checkout"
    assert: duration < duration("300ms")
    fail: p95 > duration("250ms") || violation_ratio > 0.01
    warn: p95 > duration("200ms")
    min_spans: 20
    on_no_data: fail
  - name: no-server-errors
    match: kind == "server"
    assert: status != "error"
`

func TestParseDocument(t *testing.T) {
	doc, err := Parse([]byte(exampleDoc))
	require.NoError(t, err)
	assert.Equal(t, `resource["ci.run"]`, doc.Run)
	require.Len(t, doc.Gates, 2)
	assert.Equal(t, Gate{
		Name:         "checkout-latency",
		Description:  "Checkout stays fast",
		Match:        `name == "POST /checkout" && resource["service.name"] == "checkout"`,
		Assert:       `duration < duration("300ms")`,
		Fail:         `p95 > duration("250ms") || violation_ratio > 0.01`,
		Warn:         `p95 > duration("200ms")`,
		Scope:        ScopeSpan,
		MinSpans:     20,
		OnNoData:     NoDataFail,
		OnNoBaseline: NoBaselineIgnore,
	}, doc.Gates[0])

	// Keys left out take their defaults.
	assert.Equal(t, Gate{
		Name:     "no-server-errors",
		Match:    `kind == "server"`,
		Assert:   `status != "error"`,
		Scope:    ScopeSpan,
		MinSpans: 1,
		OnNoData: NoDataInconclusive, OnNoBaseline: NoBaselineIgnore,
	}, doc.Gates[1])

	gates, err := Compile(doc)
	require.NoError(t, err)
	assert.Equal(t, 2, gates.Len())
	assert.Equal(t, DefaultFail, gates.At(1).Fail, "the default fail condition is shown as written")
	i, ok := gates.Lookup("no-server-errors")
	assert.True(t, ok)
	assert.Equal(t, 1, i)
}

func TestDefaultRunKey(t *testing.T) {
	gates, err := Compile(Document{Gates: []Gate{{Name: "g", Match: "true"}}})
	require.NoError(t, err)
	assert.Equal(t, DefaultRun, gates.Run())
}

// The collector hands the gates document over as a confmap (from
// `gates: ${file:gates.yaml}`); it decodes exactly as Parse does.
func TestUnmarshalFromConfmap(t *testing.T) {
	type holder struct {
		Gates Document `mapstructure:"gates"`
	}
	raw := map[string]any{"gates": map[string]any{
		"gates": []any{map[string]any{"name": "g", "match": true, "min_spans": 0}},
	}}
	var h holder
	require.NoError(t, confmap.NewFromStringMap(raw).Unmarshal(&h))
	assert.Equal(t, []Gate{{Name: "g", Scope: ScopeSpan, Match: "true", MinSpans: 0, OnNoData: NoDataInconclusive, OnNoBaseline: NoBaselineIgnore}}, h.Gates.Gates)

	raw["gates"].(map[string]any)["gates"] = []any{map[string]any{"name": "g", "match": "true", "asert": "x"}}
	err := confmap.NewFromStringMap(raw).Unmarshal(&h)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `gate "g": asert: unknown key`)
}

func TestLoad(t *testing.T) {
	gates, err := Load("../examples/gates.yaml")
	require.NoError(t, err)
	assert.Equal(t, 4, gates.Len())

	_, err = Load("testdata/bad-gates.yaml")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "testdata/bad-gates.yaml: ")
	assert.Contains(t, err.Error(), `gate "checkout-latency": assert: column 1: unknown name duraton`)
	assert.Contains(t, err.Error(), `gate "errors": fail: column 30: invalid duration "1 second"`)

	_, err = Load("testdata/missing.yaml")
	require.Error(t, err)
}

// Every load-time problem gets a message that names the gate, the field and,
// for an expression, the column.
func TestDocumentErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{
			name: "syntax error",
			doc:  "gates: [{name: a, match: 'name == \"x\" &&'}]",
			want: []string{`gate "a": match: column 14: unexpected token EOF`},
		},
		{
			name: "unknown identifier",
			doc:  `gates: [{name: a, match: "true", assert: 'duraton < duration("300ms")'}]`,
			want: []string{`gate "a": assert: column 1: unknown name duraton`},
		},
		{
			name: "unknown identifier further in",
			doc:  `gates: [{name: a, match: 'name == "x" && resorce["k"] == 1'}]`,
			want: []string{`gate "a": match: column 16: unknown name resorce`},
		},
		{
			name: "multi-line expression",
			doc:  "gates:\n  - name: a\n    match: |\n      name == \"x\" &&\n        kindd == \"server\"\n",
			want: []string{`gate "a": match: line 2, column 3: unknown name kindd`},
		},
		{
			name: "non-bool match",
			doc:  `gates: [{name: a, match: name}]`,
			want: []string{`gate "a": match: column 1: expected bool, but got string`},
		},
		{
			name: "non-bool assert",
			doc:  `gates: [{name: a, match: "true", assert: duration}]`,
			want: []string{`gate "a": assert: column 1: expected bool, but got time.Duration`},
		},
		{
			name: "non-bool fail",
			doc:  `gates: [{name: a, match: "true", fail: p95}]`,
			want: []string{`gate "a": fail: column 1: expected bool, but got time.Duration`},
		},
		{
			name: "non-bool warn",
			doc:  `gates: [{name: a, match: "true", warn: spans + 1}]`,
			want: []string{`gate "a": warn: column 1: expected bool, but got int`},
		},
		{
			name: "span name in a run condition",
			doc:  `gates: [{name: a, match: "true", fail: 'name == "x"'}]`,
			want: []string{`gate "a": fail: column 1: unknown name name`},
		},
		{
			name: "run name in a span condition",
			doc:  `gates: [{name: a, match: "true", assert: 'p95 < duration("1s")'}]`,
			want: []string{`gate "a": assert: column 1: unknown name p95`},
		},
		{
			name: "type mismatch",
			doc:  `gates: [{name: a, match: 'name > 5'}]`,
			want: []string{`gate "a": match: column 6: invalid operation: > (mismatched types string and int)`},
		},
		{
			name: "bad duration literal",
			doc:  `gates: [{name: a, match: "true", assert: 'duration < duration("3OOms")'}]`,
			want: []string{`gate "a": assert: column 21: invalid duration "3OOms"`},
		},
		{
			name: "bad duration literal in a run condition",
			doc:  `gates: [{name: a, match: "true", fail: 'p95 > duration("fast")'}]`,
			want: []string{`gate "a": fail: column 16: invalid duration "fast"`},
		},
		{
			name: "empty match",
			doc:  `gates: [{name: a, match: "  "}]`,
			want: []string{`gate "a": match: is required`},
		},
		{
			name: "missing match",
			doc:  `gates: [{name: a, assert: "true"}]`,
			want: []string{`gate "a": match: is required`},
		},
		{
			name: "duplicate name",
			doc:  `gates: [{name: a, match: "true"}, {name: a, match: "true"}]`,
			want: []string{`gate "a": name: duplicate of gates[0]`},
		},
		{
			name: "malformed name",
			doc:  `gates: [{name: Checkout Latency, match: "true"}]`,
			want: []string{`gate "Checkout Latency": name: must be 1 to 100 characters of a-z, 0-9, '.', '_' and '-'`},
		},
		{
			name: "missing name",
			doc:  `gates: [{match: "true"}]`,
			want: []string{`gates[0]: name: is required`},
		},
		{
			name: "name of the wrong type",
			doc:  `gates: [{name: 12, match: "true"}]`,
			want: []string{`gates[0]: name: must be a string, got a number`},
		},
		{
			name: "unknown key",
			doc:  `gates: [{name: a, match: "true", asert: "false"}]`,
			want: []string{`gate "a": asert: unknown key (a gate has name, description, scope, match, assert, fail, warn, min_spans or min_traces, on_no_data, on_no_baseline)`},
		},
		{
			name: "unknown top-level key",
			doc:  "gate: []\ngates: [{name: a, match: \"true\"}]",
			want: []string{`unknown key "gate" (the document has run, baseline and gates)`},
		},
		{
			name: "negative min_spans",
			doc:  `gates: [{name: a, match: "true", min_spans: -1}]`,
			want: []string{`gate "a": min_spans: must not be negative, got -1`},
		},
		{
			name: "min_spans not a number",
			doc:  `gates: [{name: a, match: "true", min_spans: many}]`,
			want: []string{`gate "a": min_spans: must be a whole number, got a string`},
		},
		{
			name: "unknown on_no_data",
			doc:  `gates: [{name: a, match: "true", on_no_data: ignore}]`,
			want: []string{`gate "a": on_no_data: must be one of inconclusive, fail, pass; got ignore`},
		},
		{
			name: "expression of the wrong type",
			doc:  `gates: [{name: a, match: 42}]`,
			want: []string{`gate "a": match: must be an expression (a string), got a number`},
		},
		{
			name: "gate not a mapping",
			doc:  `gates: [checkout]`,
			want: []string{`gates[0]: must be a mapping, got a string`},
		},
		{
			name: "gates not a list",
			doc:  `gates: {name: a}`,
			want: []string{`gates: must be a list of gates, got a mapping`},
		},
		{
			name: "no gates",
			doc:  `gates: []`,
			want: []string{`gates: at least one gate is required`},
		},
		{
			name: "bad run expression",
			doc:  `{run: 'resource["k"] ??', gates: [{name: a, match: "true"}]}`,
			want: []string{`run: column 16: unexpected token EOF`},
		},
		{
			name: "redeclared span name",
			doc:  `gates: [{name: a, match: 'let name = "x"; name == "x"'}]`,
			want: []string{`gate "a": match: column 5: "name" is a name of the span environment and cannot be redeclared`},
		},
		{
			name: "every problem is reported",
			doc: `gates:
  - {name: a, match: "nam == 1", assert: "true"}
  - {name: b, match: "true", fail: "spans >"}
  - {name: a, match: "true"}`,
			want: []string{
				`gate "a": match: column 1: unknown name nam`,
				`gate "b": fail: column 7: unexpected token EOF`,
				`gate "a": name: duplicate of gates[0]`,
			},
		},
		{
			name: "every decoding problem is reported",
			doc: `gates:
  - {name: a, match: "true", min_spans: -2, on_no_data: never}
  - {name: b, match: [], colour: red}`,
			want: []string{
				`gate "a": min_spans: must not be negative, got -2`,
				`gate "a": on_no_data: must be one of`,
				`gate "b": colour: unknown key`,
				`gate "b": match: must be an expression (a string), got a list`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse([]byte(tt.doc))
			if err == nil {
				_, err = Compile(doc)
			}
			require.Error(t, err)
			for _, want := range tt.want {
				assert.Contains(t, err.Error(), want)
			}
			// One line per problem.
			assert.Len(t, strings.Split(err.Error(), "\n"), len(tt.want), err.Error())
		})
	}
}
