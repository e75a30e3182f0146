package config

import (
	"fmt"
	"testing"
)

func BenchmarkEvaluate(b *testing.B) {
	for _, tc := range []struct{ name, match, assert string }{
		{"name-nomatch", `name == "GET /other"`, ""},
		{"name-match-assert", `name == "POST /checkout"`, `duration < duration("300ms")`},
		{"attr-nomatch", `attributes["http.request.method"] == "GET"`, ""},
		{"kind-status", `kind == "server" && status == "ok"`, ""},
	} {
		b.Run(tc.name, func(b *testing.B) {
			gates, err := Compile(Document{Gates: []Gate{{Name: "g", Match: tc.match, Assert: tc.assert}}})
			if err != nil {
				b.Fatal(err)
			}
			res, scope, span := testSpan()
			ev := gates.Evaluator()
			b.ReportAllocs()
			for b.Loop() {
				ev.Evaluate(res, scope, span)
			}
		})
	}
}

// BenchmarkCompile reports what compiling a gates document costs at start-up,
// per document of n gates written as teams write them (a pinned match, an
// assert, a fail condition).
func BenchmarkCompile(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprint("gates=", n), func(b *testing.B) {
			doc := Document{Gates: make([]Gate, n)}
			for i := range doc.Gates {
				doc.Gates[i] = Gate{
					Name:   fmt.Sprint("gate-", i),
					Match:  fmt.Sprintf(`name == "POST /orders-%d" && resource["service.name"] == "svc-%d"`, i, i%10),
					Assert: `duration < duration("300ms")`,
					Fail:   `p95 > duration("250ms") || violation_ratio > 0.01`,
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Compile(doc); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/gate")
		})
	}
}
