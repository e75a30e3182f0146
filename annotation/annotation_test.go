package annotation

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

var keys = Keys([]string{"checkout-latency", "checkout-status", "no-errors"})

func TestKeys(t *testing.T) {
	assert.Equal(t, []string{"releasegate.gate.checkout-latency", "releasegate.gate.checkout-status", "releasegate.gate.no-errors"}, keys)
}

// One attribute per matched gate, with its outcome; errored gates, which
// the evaluator also lists as violated, say error.
func TestWrite(t *testing.T) {
	attrs := pcommon.NewMap()
	attrs.PutStr("http.route", "/checkout")
	Write(attrs, "run-1", keys, []int{0, 1, 2}, []int{1, 2}, []int{2})
	assert.Equal(t, map[string]any{
		"http.route":                        "/checkout",
		"releasegate.run":                   "run-1",
		"releasegate.gate.checkout-latency": "passed",
		"releasegate.gate.checkout-status":  "violated",
		"releasegate.gate.no-errors":        "error",
	}, attrs.AsRaw())
}

// Gate annotations the span came with, from an earlier evaluation or a
// client, are replaced: the span shows this evaluation only.
func TestWriteReplacesEarlierAnnotations(t *testing.T) {
	attrs := pcommon.NewMap()
	attrs.PutStr("releasegate.gate.checkout-latency", "violated")
	attrs.PutStr("releasegate.gate.from-a-client", "passed")
	attrs.PutInt("releasegate.gate.checkout-status", 7)
	Write(attrs, "run-2", keys, []int{1}, nil, nil)
	assert.Equal(t, map[string]any{
		"releasegate.run":                  "run-2",
		"releasegate.gate.checkout-status": "passed",
	}, attrs.AsRaw())
}

func TestGate(t *testing.T) {
	str := pcommon.NewValueStr
	for _, tt := range []struct {
		key          string
		value        pcommon.Value
		name         string
		outcome      Outcome
		isGate, good bool
	}{
		{"releasegate.gate.checkout-latency", str("passed"), "checkout-latency", Passed, true, true},
		{"releasegate.gate.checkout-latency", str("violated"), "checkout-latency", Violated, true, true},
		{"releasegate.gate.checkout-latency", str("error"), "checkout-latency", Error, true, true},
		{"releasegate.gate.checkout-latency", str("Violated"), "checkout-latency", "", true, false},
		{"releasegate.gate.checkout-latency", pcommon.NewValueInt(1), "checkout-latency", "", true, false},
		{"releasegate.gate.", str("passed"), "", Passed, true, true},
		{"releasegate.run", str("run-1"), "", "", false, false},
		{"http.route", str("passed"), "", "", false, false},
	} {
		name, outcome, isGate, good := Gate(tt.key, tt.value)
		assert.Equal(t, tt.name, name, tt.key)
		assert.Equal(t, tt.outcome, outcome, tt.key)
		assert.Equal(t, tt.isGate, isGate, tt.key)
		assert.Equal(t, tt.good, good, tt.key)
	}
}

// What annotating a matched span allocates: the contract's cost per span.
func BenchmarkWrite(b *testing.B) {
	attrs := pcommon.NewMap()
	for _, k := range []string{"http.request.method", "http.route", "http.response.status_code", "url.scheme", "server.address"} {
		attrs.PutStr(k, "v")
	}
	base := pcommon.NewMap()
	attrs.CopyTo(base)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		base.CopyTo(attrs)
		b.StartTimer()
		Write(attrs, "run-1", keys, []int{0, 1}, []int{1}, nil)
	}
}
