package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// checkouts are n traces of POST /checkout of run: the frontend's root
// span, the orders service's child and the database's spans below it, one
// request per service as three pods send them. Trace 2 writes the order
// twice, trace 3 makes five SELECTs, trace 4 fails in the database and
// takes 1.5s.
func checkouts(run string, n int) (frontend, orders, db ptrace.Traces) {
	start := time.Now().Add(-time.Minute)
	service := func(name string, tagged bool) ptrace.SpanSlice {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", name)
		if tagged {
			rs.Resource().Attributes().PutStr("cicd.pipeline.run.id", run)
		}
		switch name {
		case "frontend":
			frontend = td
		case "orders":
			orders = td
		default:
			db = td
		}
		return rs.ScopeSpans().AppendEmpty().Spans()
	}
	f, o, d := service("frontend", true), service("orders", true), service("db", false)
	span := func(spans ptrace.SpanSlice, trace, id, parent int, name string, took time.Duration) ptrace.Span {
		s := spans.AppendEmpty()
		s.SetTraceID(pcommon.TraceID{0: 0xe2, 14: byte(trace >> 8), 15: byte(trace)})
		s.SetSpanID(pcommon.SpanID{0: byte(trace), 7: byte(id)})
		if parent != 0 {
			s.SetParentSpanID(pcommon.SpanID{0: byte(trace), 7: byte(parent)})
		}
		s.SetName(name)
		s.SetKind(ptrace.SpanKindServer)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(took)))
		return s
	}
	for trace := 1; trace <= n; trace++ {
		took := 200 * time.Millisecond
		if trace == 4 {
			took = 1500 * time.Millisecond
		}
		span(f, trace, 1, 0, "POST /checkout", took)
		span(o, trace, 2, 1, "POST /orders", took/2)
		inserts, selects := 1, 1
		switch trace {
		case 2:
			inserts = 2
		case 3:
			selects = 5
		}
		for i := range inserts {
			insert := span(d, trace, 10+i, 2, "INSERT orders", time.Millisecond)
			if trace == 4 {
				insert.Status().SetCode(ptrace.StatusCodeError)
			}
		}
		for i := range selects {
			span(d, trace, 20+i, 2, "SELECT items", time.Millisecond)
		}
	}
	return frontend, orders, db
}

// Trace gates through the built distribution: traces whose spans come from
// three services in separate OTLP requests, one service not tagged with the
// run, are judged whole when the CI job finishes the run, at once, without
// waiting for them to go idle: the verdicts count every trace.
func TestTraceGates(t *testing.T) {
	sink := newOTLPSink(t)
	col := startCollector(t, collectorFiles(t, "trace-gates.yaml"), sink.URL)
	col.waitReady(t)
	const run, traces = "e2e-traces", 5
	frontend, orders, db := checkouts(run, traces)
	spans := frontend.SpanCount() + orders.SpanCount() + db.SpanCount()
	exportTraces(t, col.otlpGRPC, frontend)
	exportTraces(t, col.otlpGRPC, orders)
	exportTraces(t, col.otlpGRPC, db)
	// Every span reached the exporter (the batch processor hands them on
	// every 100ms): the run can finish.
	require.Eventually(t, func() bool {
		return selfMetric(t, col.metricsURL, "otelcol_exporter_sent_spans", "exporter", "releasegate") >= float64(spans)
	}, 30*time.Second, 50*time.Millisecond)
	assert.Equal(t, float64(traces), selfMetric(t, col.metricsURL, "otelcol_exporter_releasegate_traces_buffered"))

	var v struct {
		Status string `json:"status"`
		Gates  []struct {
			Name       string `json:"name"`
			Scope      string `json:"scope"`
			Status     string `json:"status"`
			Traces     int    `json:"traces"`
			Spans      int    `json:"spans"`
			Violations int    `json:"violations"`
			Reason     string `json:"reason"`
			Exemplars  []struct {
				TraceID string `json:"trace_id"`
				Name    string `json:"name"`
			} `json:"exemplars"`
		} `json:"gates"`
	}
	require.Equal(t, http.StatusOK, getJSON(t, http.MethodPost, "http://"+col.apiAddr+"/v1/runs/"+run+"/finish", &v))
	assert.Equal(t, "failed", v.Status)
	got := map[string]string{}
	for _, g := range v.Gates {
		got[g.Name] = fmt.Sprintf("%s %s traces=%d spans=%d violations=%d", g.Scope, g.Status, g.Traces, g.Spans, g.Violations)
		if g.Name == "no-n-plus-one" {
			assert.Equal(t, `failed: violations 1 > 0 (1 of 5 traces violated count(spans, .name == "SELECT items") <= 3: 5 in trace e2000000…)`, g.Reason)
			require.Len(t, g.Exemplars, 1)
			assert.Equal(t, "e2000000000000000000000000000003", g.Exemplars[0].TraceID)
			assert.Equal(t, "POST /checkout", g.Exemplars[0].Name)
		}
	}
	assert.Equal(t, map[string]string{
		"order-written-once":       "trace failed traces=5 spans=0 violations=1",
		"no-n-plus-one":            "trace failed traces=5 spans=0 violations=1",
		"no-errors-under-frontend": "trace failed traces=5 spans=0 violations=1",
		"checkout-under-1s":        "trace failed traces=5 spans=0 violations=1",
		"frontend-server":          "span passed traces=0 spans=5 violations=0",
	}, got)
	assert.Equal(t, float64(traces), selfMetric(t, col.metricsURL, "otelcol_exporter_releasegate_traces_judged", "trigger", "run_finished"))
	assert.Zero(t, selfMetric(t, col.metricsURL, "otelcol_exporter_releasegate_traces_buffered"))
}
