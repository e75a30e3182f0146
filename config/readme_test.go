package config

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readmeTraceGates is the document of the README's trace gate examples: the
// first yaml block under "### Trace gates".
func readmeTraceGates(t *testing.T) *Gates {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(readme), "\n### Trace gates\n")
	require.True(t, ok, "README has a Trace gates section")
	_, block, ok := strings.Cut(section, "```yaml\n")
	require.True(t, ok)
	block, _, _ = strings.Cut(block, "```")
	doc, err := Parse([]byte(block))
	require.NoError(t, err)
	gates, err := Compile(doc)
	require.NoError(t, err)
	return gates
}

// The README's trace gate examples load, and each keeps a trace that keeps
// it and is violated by one that breaks it.
func TestReadmeTraceGates(t *testing.T) {
	gates := readmeTraceGates(t)
	withCacheHit := func(dbCall bool) *Trace {
		tr := checkoutTrace(2, "ok")
		hit := tspan("e1", "b1", "cache.get", "orders", 40, 2, "ok")
		hit.Attributes = map[string]any{"cache.hit": true}
		tr.Spans = append(tr.Spans, hit)
		if dbCall {
			tr.Spans[3].Attributes = map[string]any{"db.system.name": "postgresql"}
		}
		return tr
	}
	for name, traces := range map[string]struct{ keeps, breaks *Trace }{
		"order-written-once": {checkoutTrace(3, "ok"), func() *Trace {
			tr := checkoutTrace(3, "ok")
			tr.Spans = append(tr.Spans, tspan("c2", "b1", "INSERT orders", "orders", 25, 5, "ok"))
			return tr
		}()},
		"no-n-plus-one":            {checkoutTrace(9, "ok"), checkoutTrace(10, "ok")}, // the INSERT and the SELECTs under POST /orders
		"no-errors-under-frontend": {checkoutTrace(3, "ok"), checkoutTrace(3, "error")},
		"checkout-under-1s": {checkoutTrace(3, "ok"), func() *Trace {
			tr := checkoutTrace(3, "ok")
			tr.Spans[0] = tspan("a1", "", "POST /checkout", "frontend", 0, 1500, "ok")
			return tr
		}()},
		"written-before-read": {checkoutTrace(3, "ok"), func() *Trace {
			tr := checkoutTrace(3, "ok")
			tr.Spans[2] = tspan("c1", "b1", "INSERT orders", "orders", 100, 5, "ok")
			return tr
		}()},
		"one-error-per-service": {checkoutTrace(3, "error"), func() *Trace {
			tr := checkoutTrace(3, "error")
			tr.Spans[3].Status = "error"
			return tr
		}()},
		"cache-hit-skips-the-database": {withCacheHit(false), withCacheHit(true)},
	} {
		i := indexOf(t, gates, name)
		keeps, breaks := gates.JudgeTrace(traces.keeps)[i], gates.JudgeTrace(traces.breaks)[i]
		assert.Equal(t, TraceVerdict{Matched: true}, keeps, "%s keeps", name)
		assert.True(t, breaks.Matched && breaks.Violated && !breaks.Errored, "%s breaks: %+v", name, breaks)
	}
	assert.Equal(t, 7, gates.Len(), "every example is tested")
}

func indexOf(t *testing.T, gates *Gates, name string) int {
	t.Helper()
	for i := range gates.Len() {
		if gates.At(i).Name == name {
			return i
		}
	}
	t.Fatalf("no gate %q", name)
	return -1
}
