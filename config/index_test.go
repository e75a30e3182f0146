package config

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func TestPins(t *testing.T) {
	tests := []struct {
		match    string
		pins     []pin
		onlyPins bool
	}{
		{`name == "GET /"`, []pin{{field: pinName, values: []string{"GET /"}}}, true},
		{`"GET /" == name`, []pin{{field: pinName, values: []string{"GET /"}}}, true},
		{`name in ["b", "a", "b"] and kind == "server"`, []pin{{field: pinName, values: []string{"a", "b"}}, {field: pinKind, values: []string{"server"}}}, true},
		{`resource["service.name"] == "cart" && status == "error" && duration > duration("1s")`,
			[]pin{{field: pinResource, key: "service.name", values: []string{"cart"}}, {field: pinStatus, values: []string{"error"}}}, false},
		{`attributes["http.route"] == "/pay" && (kind == "server" || kind == "consumer")`,
			[]pin{{field: pinAttribute, key: "http.route", values: []string{"/pay"}}}, false},
		{`name == "a" || name == "b"`, nil, false},
		{`name != "a"`, nil, false},
		{`attributes["code"] == 500`, nil, false},
		{`name in [x]`, nil, false},
		{`resource?.["service.name"] == "cart"`, nil, false},
		{`true`, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.match, func(t *testing.T) {
			got, only := pins(tt.match)
			assert.Equal(t, tt.pins, got)
			assert.Equal(t, tt.onlyPins, only)
		})
	}
}

// The index and runChain must change nothing but the work done: for random
// gates, run expressions and spans, indexed and naive evaluation find the
// same matches, violations, errors and run keys.
func TestIndexAgreesWithNaiveEvaluation(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	var matches, violations, naiveErrors, indexedErrors, runKeys int
	for round := range 50 {
		doc := Document{Gates: randomGates(rng, 1+rng.IntN(40)), Run: pick(rng, runExpressions)}
		naive, err := compile(doc, false)
		require.NoError(t, err, "round %d", round)
		indexed, err := compile(doc, true)
		require.NoError(t, err)
		en, ei := naive.Evaluator(), indexed.Evaluator()
		for range 200 {
			res, scope, span := randomSpan(rng)
			want, got := *en.Evaluate(res, scope, span), *ei.Evaluate(res, scope, span)
			require.Equal(t, want.Run, got.Run, "run %s", doc.Run)
			if got.Run != "" {
				runKeys++
			}
			require.Equal(t, want.Matched, got.Matched, "round %d, span %s", round, span.Name())
			require.Equal(t, want.Violated, got.Violated)
			require.Equal(t, want.Errored, got.Errored)
			matches += len(got.Matched)
			violations += len(got.Violated)
			naiveErrors += len(want.MatchErrors)
			indexedErrors += len(got.MatchErrors)
			// A span the index rules out never evaluates the rest of a match,
			// so it can only have fewer match errors.
			require.Subset(t, want.MatchErrors, got.MatchErrors)
		}
		en.Release()
		ei.Release()
	}
	// The generated cases exercise what they must.
	assert.Greater(t, matches, 1000)
	assert.Greater(t, violations, 100)
	assert.Greater(t, naiveErrors, indexedErrors)
	assert.Positive(t, indexedErrors)
	assert.Greater(t, runKeys, 1000)
}

// runExpressions are runChain's shapes, and some the VM evaluates.
var runExpressions = []string{
	"", // DefaultRun
	`attributes["run"]`,
	`resource["run"] ?? attributes["run"] ?? "fallback"`,
	`attributes.run ?? resource["cicd.pipeline.run.id"]`,
	`"fallback" ?? attributes["run"]`,
	`attributes["run"] ?? name`,
	`string(attributes["run"])`,
}

var (
	services = []string{"cart", "checkout", "payments", "search"}
	routes   = []string{"/", "/pay", "/cart", "/search"}
	names    = []string{"GET /", "POST /pay", "GET /cart", "SELECT orders", "publish orders"}
	kinds    = []string{"server", "client", "internal", "producer", "consumer"}
	statuses = []string{"unset", "ok", "error"}
)

func pick(rng *rand.Rand, from []string) string { return from[rng.IntN(len(from))] }

func randomGates(rng *rand.Rand, n int) []Gate {
	conjuncts := []func() string{
		func() string { return fmt.Sprintf("name == %q", pick(rng, names)) },
		func() string { return fmt.Sprintf("%q == name", pick(rng, names)) },
		func() string { return fmt.Sprintf("name in [%q, %q]", pick(rng, names), pick(rng, names)) },
		func() string { return fmt.Sprintf("kind == %q", pick(rng, kinds)) },
		func() string { return fmt.Sprintf("status in [%q]", pick(rng, statuses)) },
		func() string { return fmt.Sprintf("resource[\"service.name\"] == %q", pick(rng, services)) },
		func() string { return fmt.Sprintf("attributes[\"http.route\"] == %q", pick(rng, routes)) },
		func() string {
			return fmt.Sprintf("attributes[\"http.route\"] in [%q, %q]", pick(rng, routes), pick(rng, routes))
		},
		func() string { return `duration > duration("50ms")` },
		func() string { return `attributes["http.response.status_code"] >= 500` }, // errors where missing
		func() string { return fmt.Sprintf("(name == %q || kind == %q)", pick(rng, names), pick(rng, kinds)) },
		func() string { return fmt.Sprintf("name != %q", pick(rng, names)) },
	}
	asserts := []string{"", `duration < duration("100ms")`, `status != "error"`, `attributes["http.response.status_code"] < 500`}
	gates := make([]Gate, n)
	for i := range gates {
		parts := make([]string, 1+rng.IntN(3))
		for j := range parts {
			parts[j] = conjuncts[rng.IntN(len(conjuncts))]()
		}
		gates[i] = Gate{Name: fmt.Sprint("g", i), Match: strings.Join(parts, " && "), Assert: asserts[rng.IntN(len(asserts))], MinSpans: 1}
	}
	return gates
}

// putRunKey sets "run" to a value of any type, or leaves it out.
func putRunKey(rng *rand.Rand, attrs pcommon.Map) {
	switch rng.IntN(10) {
	case 0:
		attrs.PutInt("run", rng.Int64N(1e6)-5e5)
	case 1:
		attrs.PutDouble("run", rng.NormFloat64()*1e3)
	case 2:
		attrs.PutBool("run", true)
	case 3:
		attrs.PutEmpty("run")
	case 4:
		attrs.PutEmptyBytes("run").Append(byte(rng.IntN(3)) * 7)
	case 5:
		attrs.PutEmptyBytes("run")
	case 6:
		attrs.PutEmptySlice("run")
	case 7:
		attrs.PutEmptyMap("run")
	case 8:
		attrs.PutStr("run", pick(rng, []string{"", "a", "b"}))
	}
}

func randomSpan(rng *rand.Rand) (pcommon.Resource, pcommon.InstrumentationScope, ptrace.Span) {
	rs := ptrace.NewResourceSpans()
	if rng.IntN(5) > 0 {
		rs.Resource().Attributes().PutStr("service.name", pick(rng, services))
	}
	if rng.IntN(5) > 0 {
		rs.Resource().Attributes().PutStr("cicd.pipeline.run.id", fmt.Sprint("run-", rng.IntN(3)))
	}
	ss := rs.ScopeSpans().AppendEmpty()
	span := ss.Spans().AppendEmpty()
	putRunKey(rng, rs.Resource().Attributes())
	putRunKey(rng, span.Attributes())
	span.SetName(pick(rng, names))
	span.SetKind(ptrace.SpanKind(rng.IntN(6)))
	span.Status().SetCode(ptrace.StatusCode(rng.IntN(3)))
	span.SetEndTimestamp(pcommon.Timestamp(rng.IntN(int(200 * time.Millisecond))))
	switch rng.IntN(3) {
	case 0:
		span.Attributes().PutStr("http.route", pick(rng, routes))
		span.Attributes().PutInt("http.response.status_code", int64(200+100*rng.IntN(4)))
	case 1:
		span.Attributes().PutInt("http.route", 7) // not a string: no pinned value
	}
	return rs.Resource(), ss.Scope(), span
}

// The index files each gate under its most selective pin (the first of
// equally selective ones), under every key its pins read: a span is a
// candidate of the gates filed under its values and of those without pins,
// and matches exactly the gates a naive evaluation matches.
func TestIndexFilesGatesUnderTheirMostSelectivePin(t *testing.T) {
	doc := Document{Gates: []Gate{
		{Name: "kind-then-name", Match: `kind == "server" && name == "GET /"`},
		{Name: "name-twice", Match: `name == "a" && name in ["a", "b"]`},
		{Name: "route", Match: `attributes["http.route"] == "/pay"`},
		{Name: "method", Match: `attributes["rpc.method"] == "Pay"`},
		{Name: "service-and-route", Match: `attributes["http.route"] == "/cart" && resource["service.name"] == "cart"`},
		{Name: "unpinned", Match: `duration > duration("1s")`},
	}}
	indexed, err := compile(doc, true)
	require.NoError(t, err)
	naive, err := compile(doc, false)
	require.NoError(t, err)
	for _, tt := range []struct {
		name, kind, route, method, service string
		candidates, matched                []int
	}{
		{name: "GET /", kind: "server", candidates: []int{0, 5}, matched: []int{0}},
		{name: "POST /", kind: "server", candidates: []int{5}, matched: nil},
		{name: "GET /", kind: "client", candidates: []int{0, 5}, matched: nil},
		{name: "a", candidates: []int{1, 5}, matched: []int{1}},
		{name: "b", candidates: []int{5}, matched: nil},
		{name: "x", route: "/pay", candidates: []int{2, 5}, matched: []int{2}},
		{name: "x", method: "Pay", candidates: []int{3, 5}, matched: []int{3}},
		{name: "x", route: "/pay", method: "Pay", candidates: []int{2, 3, 5}, matched: []int{2, 3}},
		{name: "x", route: "/cart", service: "cart", candidates: []int{4, 5}, matched: []int{4}},
		// A resource attribute tells gates apart better than a span's.
		{name: "x", route: "/cart", service: "search", candidates: []int{5}, matched: nil},
		{name: "x", service: "cart", candidates: []int{4, 5}, matched: nil},
	} {
		rs := ptrace.NewResourceSpans()
		if tt.service != "" {
			rs.Resource().Attributes().PutStr("service.name", tt.service)
		}
		ss := rs.ScopeSpans().AppendEmpty()
		span := ss.Spans().AppendEmpty()
		span.SetName(tt.name)
		span.SetKind(ptrace.SpanKindClient)
		if tt.kind == "server" {
			span.SetKind(ptrace.SpanKindServer)
		}
		if tt.route != "" {
			span.Attributes().PutStr("http.route", tt.route)
		}
		if tt.method != "" {
			span.Attributes().PutStr("rpc.method", tt.method)
		}
		desc := fmt.Sprintf("%+v", tt)
		ei, en := indexed.Evaluator(), naive.Evaluator()
		assert.Equal(t, tt.candidates, ei.candidatesFor(rs.Resource(), span), desc)
		got := ei.Evaluate(rs.Resource(), ss.Scope(), span)
		assert.Equal(t, tt.matched, nilIfEmpty(got.Matched), desc)
		assert.Equal(t, tt.matched, nilIfEmpty(en.Evaluate(rs.Resource(), ss.Scope(), span).Matched), desc)
		ei.Release()
		en.Release()
	}
}

func nilIfEmpty(s []int) []int {
	if len(s) == 0 {
		return nil
	}
	return s
}
