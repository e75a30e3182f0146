package config

import (
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
