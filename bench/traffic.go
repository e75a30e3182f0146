// Package bench measures the releasegate processor side by side with the
// contrib filter processor on the same generated span batches.
package bench

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

var services = []string{"checkout", "cart", "payments", "search", "catalog", "users", "orders", "shipping", "email", "recommendations"}

var routes = []string{"/", "/api/items", "/api/items/{id}", "/api/cart", "/api/orders", "/api/orders/{id}", "/health", "/login", "/search", "/static/{file}"}

// Traffic is a batch of spans as ten services send them: HTTP server and
// client spans and database client spans with current semantic-convention
// attributes (ten on each), 3% errors and 2% slow spans. A share of the spans
// (matchShare, 0 to 1) is the operation one of the rules looks for, on the
// rule's service.
func Traffic(spans int, matchShare float64, rules int, seed uint64) ptrace.Traces {
	rng := rand.New(rand.NewPCG(seed, 1))
	td := ptrace.NewTraces()
	bySvc := make([]ptrace.SpanSlice, len(services))
	for s, service := range services {
		rs := td.ResourceSpans().AppendEmpty()
		res := rs.Resource().Attributes()
		res.PutStr("service.name", service)
		res.PutStr("service.version", "1.4.2")
		res.PutStr("deployment.environment.name", "staging")
		res.PutStr("cicd.pipeline.run.id", "run-1")
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName("io.opentelemetry.http")
		bySvc[s] = ss.Spans()
	}
	start := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for i := range spans {
		s := rng.IntN(len(services))
		matched := rules > 0 && rng.Float64() < matchShare
		k := rng.IntN(max(rules, 1))
		if matched {
			s = k % len(services)
		}
		span := bySvc[s].AppendEmpty()
		span.SetTraceID(pcommon.TraceID{byte(i >> 16), byte(i >> 8), byte(i), 1})
		span.SetSpanID(pcommon.SpanID{byte(i >> 16), byte(i >> 8), byte(i), 2})
		d := time.Duration(5+rng.IntN(80)) * time.Millisecond
		if rng.Float64() < 0.02 {
			d = time.Duration(400+rng.IntN(2000)) * time.Millisecond
		}
		span.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		span.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(d)))
		failed := rng.Float64() < 0.03
		if failed {
			span.Status().SetCode(ptrace.StatusCodeError)
		}
		switch r := rng.Float64(); {
		case matched:
			httpServer(span, ruleRoute(k), failed)
		case r < 0.6:
			httpServer(span, routes[rng.IntN(len(routes))], failed)
		case r < 0.85:
			httpClient(span, services[rng.IntN(len(services))], failed)
		default:
			dbClient(span, rng)
		}
	}
	return td
}

func ruleRoute(k int) string { return fmt.Sprintf("/gated/%d", k) }

func httpServer(span ptrace.Span, route string, failed bool) {
	span.SetName("GET " + route)
	span.SetKind(ptrace.SpanKindServer)
	code := int64(200)
	if failed {
		code = 503
	}
	a := span.Attributes()
	a.PutStr("http.request.method", "GET")
	a.PutStr("http.route", route)
	a.PutInt("http.response.status_code", code)
	a.PutStr("url.path", strings.ReplaceAll(route, "{id}", "42"))
	a.PutStr("url.scheme", "https")
	a.PutStr("server.address", "shop.example")
	a.PutInt("server.port", 443)
	a.PutStr("client.address", "10.1.2.3")
	a.PutStr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)")
	a.PutStr("network.protocol.version", "2")
}

func httpClient(span ptrace.Span, peer string, failed bool) {
	span.SetName("GET")
	span.SetKind(ptrace.SpanKindClient)
	code := int64(200)
	if failed {
		code = 500
	}
	a := span.Attributes()
	a.PutStr("http.request.method", "GET")
	a.PutStr("url.full", "http://"+peer+":8080/api/items")
	a.PutStr("server.address", peer)
	a.PutInt("server.port", 8080)
	a.PutInt("http.response.status_code", code)
	a.PutStr("network.protocol.version", "1.1")
	a.PutStr("service.peer.name", peer)
	a.PutInt("http.request.resend_count", 0)
	a.PutStr("network.peer.address", "10.1.2.4")
	a.PutInt("network.peer.port", 8080)
}

func dbClient(span ptrace.Span, rng *rand.Rand) {
	ops := []string{"SELECT", "INSERT", "UPDATE"}
	op := ops[rng.IntN(len(ops))]
	span.SetName(op + " shop.orders")
	span.SetKind(ptrace.SpanKindClient)
	a := span.Attributes()
	a.PutStr("db.system.name", "postgresql")
	a.PutStr("db.namespace", "shop")
	a.PutStr("db.operation.name", op)
	a.PutStr("db.collection.name", "orders")
	a.PutStr("db.query.text", op+" * FROM orders WHERE id = $1")
	a.PutStr("server.address", "db.internal")
	a.PutInt("server.port", 5432)
	a.PutStr("db.response.status_code", "00000")
	a.PutInt("db.response.returned_rows", int64(rng.IntN(20)))
	a.PutStr("network.peer.address", "10.1.9.9")
}

// Gates writes n release gates, gate k pinning the span name of rule k and
// its service, with a latency assert.
func Gates(n int) string {
	var b strings.Builder
	b.WriteString("gates:\n")
	for k := range n {
		fmt.Fprintf(&b, "  - name: rule-%d\n    match: name == %q && resource[\"service.name\"] == %q\n    assert: duration < duration(\"300ms\")\n",
			k, "GET "+ruleRoute(k), services[k%len(services)])
	}
	return b.String()
}

// Conditions writes the same n rules as OTTL span conditions.
func Conditions(n int) []string {
	conditions := make([]string, n)
	for k := range conditions {
		conditions[k] = fmt.Sprintf(`name == %q and resource.attributes["service.name"] == %q`, "GET "+ruleRoute(k), services[k%len(services)])
	}
	return conditions
}
