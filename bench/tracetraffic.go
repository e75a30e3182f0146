package bench

import (
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// TraceTraffic is traces of 5 to 50 spans across the services, in the span
// mix of Traffic: a root HTTP server span, HTTP server and client spans
// below it and database spans at the leaves, 3% errors. Their spans come
// in batches of about batchSpans spans, each trace's spread over several
// batches, as they reach a gateway from many pods. Spans carry the run id
// as a resource attribute.
func TraceTraffic(traces, batchSpans int, seed uint64) []ptrace.Traces {
	rng := rand.New(rand.NewPCG(seed, 2))
	type generated struct {
		service int
		span    ptrace.Span
	}
	var all []generated
	start := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for t := range traces {
		// A trace starts every 2ms, so that the traffic moves on in time
		// as recorded traffic does.
		start := start.Add(time.Duration(t) * 2 * time.Millisecond)
		traceID := pcommon.TraceID{byte(t >> 24), byte(t >> 16), byte(t >> 8), byte(t), 7}
		n := 5 + rng.IntN(46)
		ids := make([]pcommon.SpanID, n)
		for i := range n {
			ids[i] = pcommon.SpanID{byte(t >> 16), byte(t >> 8), byte(t), byte(i >> 8), byte(i), 9}
			span := ptrace.NewSpan()
			span.SetTraceID(traceID)
			span.SetSpanID(ids[i])
			if i > 0 {
				span.SetParentSpanID(ids[rng.IntN(i)])
			}
			d := time.Duration(5+rng.IntN(80)) * time.Millisecond
			span.SetStartTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(i) * time.Millisecond)))
			span.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(i)*time.Millisecond + d)))
			failed := rng.Float64() < 0.03
			if failed {
				span.Status().SetCode(ptrace.StatusCodeError)
			}
			switch r := rng.Float64(); {
			case i == 0:
				httpServer(span, routes[rng.IntN(len(routes))], failed)
			case r < 0.4:
				httpServer(span, routes[rng.IntN(len(routes))], failed)
			case r < 0.7:
				httpClient(span, services[rng.IntN(len(services))], failed)
			default:
				dbClient(span, rng)
			}
			all = append(all, generated{rng.IntN(len(services)), span})
		}
	}
	// Spread each trace's spans over batches: a window of a few traces'
	// spans, shuffled.
	for i := range all {
		j := i + rng.IntN(min(200, len(all)-i))
		all[i], all[j] = all[j], all[i]
	}
	var batches []ptrace.Traces
	for len(all) > 0 {
		n := min(batchSpans, len(all))
		td := ptrace.NewTraces()
		bySvc := make([]ptrace.SpanSlice, len(services))
		for s, service := range services {
			rs := td.ResourceSpans().AppendEmpty()
			res := rs.Resource().Attributes()
			res.PutStr("service.name", service)
			res.PutStr("service.version", "1.4.2")
			res.PutStr("deployment.environment.name", "staging")
			res.PutStr("cicd.pipeline.run.id", "bench")
			bySvc[s] = rs.ScopeSpans().AppendEmpty().Spans()
		}
		for _, g := range all[:n] {
			g.span.CopyTo(bySvc[g.service].AppendEmpty())
		}
		batches = append(batches, td)
		all = all[n:]
	}
	return batches
}

// TraceGates are ten trace gates as teams write them: structure, counts,
// duration, ordering and absence, reading span names, two attributes and
// the service.
const TraceGates = `
gates:
  - name: root-is-a-server
    scope: trace
    match: root != nil
    assert: root.kind == "server"
  - name: no-n-plus-one
    scope: trace
    match: root != nil
    assert: all(spans, len(children(#)) <= 20)
  - name: few-queries
    scope: trace
    match: any(spans, .attributes["db.operation.name"] != nil)
    assert: count(spans, .attributes["db.operation.name"] == "SELECT") <= 10
  - name: under-a-second
    scope: trace
    match: root != nil && root.name startsWith "GET"
    assert: duration < duration("1s")
  - name: no-5xx-under-checkout
    scope: trace
    match: any(spans, .resource["service.name"] == "checkout")
    assert: none(spans, (.attributes["http.response.status_code"] ?? 0) >= 500 && .resource["service.name"] == "checkout")
  - name: errors-have-a-parent
    scope: trace
    match: any(spans, .status == "error")
    assert: all(filter(spans, .status == "error"), .is_root || parent(#) != nil)
  - name: few-services
    scope: trace
    match: "true"
    assert: len(groupBy(spans, .resource["service.name"])) <= 10
  - name: starts-at-the-root
    scope: trace
    match: root != nil
    assert: let s = sortBy(spans, .start_time); s[0] == root
  - name: shallow
    scope: trace
    match: root != nil
    assert: all(spans, len(ancestors(#)) < 30)
  - name: writes-after-reads
    scope: trace
    match: any(spans, .name startsWith "INSERT")
    assert: any(spans, .name startsWith "SELECT" || .name startsWith "GET")
`
