package releasegateprocessor

import (
	"context"
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/releasegate/releasegate/annotation"
	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/processor/releasegateprocessor/internal/metadata"
)

// fuzzGates read every field of the span environment, with the default run
// key (read from pdata directly) or one the VM evaluates.
const fuzzGates = `
gates:
  - name: everything
    match: "true"
    assert: duration >= duration("0s") && len(name) < 100
  - name: by-name
    match: name == "POST /checkout" || name startsWith "GET"
    assert: status != "error"
  - name: server
    match: kind == "server"
  - name: status-code
    match: attributes["http.response.status_code"] != nil
    assert: attributes["http.response.status_code"] < 500
  - name: resource
    match: resource["service.name"] in ["checkout", "cart"]
    assert: len(resource) < 50 && scope_name != "internal"
  - name: loops
    match: len(events) > 0 || len(attributes) > 100
    assert: all(events, .name != "exception" && len(.attributes) < 10) && count(values(attributes), type(#) == "string") < 5000
  - name: ids-and-times
    match: is_root || parent_span_id != ""
    assert: trace_id != span_id && end_time >= start_time && status_message == ""
  - name: rendered
    match: kind in ["client", "unspecified"]
    assert: len(toJSON(attributes)) < 100000 && string(attributes["retries"] ?? 0) != "many"
`

var fuzzRuns = []string{
	"", // the default
	`string(resource["cicd.pipeline.run.id"] ?? attributes["cicd.pipeline.run.id"] ?? name)`,
}

// FuzzProcessSpans sends spans built from the fuzz input through the
// processor: empty and huge names, up to 10,000 attributes, every value
// type nested, missing resources, zero and inverted timestamps, any kind and
// status. It never panics, passes every span on, and annotates exactly the
// spans that matched a gate and have a run key, as the contract says.
func FuzzProcessSpans(f *testing.F) {
	type fuzzProcessor struct {
		gates *config.Gates
		names []string
		proc  processor.Traces
		sink  *consumertest.TracesSink
	}
	var procs []fuzzProcessor
	for _, run := range fuzzRuns {
		doc, err := config.Parse([]byte("run: '" + run + "'\n" + fuzzGates))
		require.NoError(f, err)
		gates, err := config.Compile(doc)
		require.NoError(f, err)
		p := fuzzProcessor{gates: gates, sink: new(consumertest.TracesSink)}
		for i := range gates.Len() {
			p.names = append(p.names, gates.At(i).Name)
		}
		p.proc, err = NewFactory().CreateTraces(f.Context(), processortest.NewNopSettings(metadata.Type), &Config{Gates: doc}, p.sink)
		require.NoError(f, err)
		require.NoError(f, p.proc.Start(f.Context(), componenttest.NewNopHost()))
		f.Cleanup(func() { require.NoError(f, p.proc.Shutdown(context.Background())) })
		procs = append(procs, p)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		defer time.AfterFunc(hang, func() { panic("no result after " + hang.String()) }).Stop()
		in := fuzzBytes(data)
		p := procs[int(in.byte())%len(procs)]
		td := in.traces()
		want := ptrace.NewTraces()
		td.CopyTo(want)
		annotated := expectAnnotations(p.gates, p.names, want)

		p.sink.Reset()
		require.NoError(t, p.proc.ConsumeTraces(t.Context(), td))
		require.Len(t, p.sink.AllTraces(), 1)
		got := p.sink.AllTraces()[0]
		require.Equal(t, marshal(t, want), marshal(t, got), "the processor changed spans otherwise than annotating them")
		i := 0
		for _, rs := range got.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, span := range ss.Spans().All() {
					if annotated[i] {
						checkContract(t, p.names, span.Attributes())
					}
					i++
				}
			}
		}
	})
}

// hang is how long one input may take. Go's fuzzing has no such limit: an
// input that hangs would stall it without a trace, where a crash saves it.
const hang = 20 * time.Second

// expectAnnotations does what the processor must: evaluate each span as it came and
// annotate those that matched a gate and have a run key. It tells, span by
// span, which it annotated: the others keep what they came with, contract
// attributes included.
func expectAnnotations(gates *config.Gates, names []string, td ptrace.Traces) []bool {
	ev := gates.Evaluator()
	defer ev.Release()
	var annotated []bool
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				r := ev.Evaluate(rs.Resource(), ss.Scope(), span)
				annotated = append(annotated, len(r.Matched) > 0 && r.Run != "")
				if annotated[len(annotated)-1] {
					annotation.Write(span.Attributes(), r.Run, annotation.Keys(names), r.Matched, r.Violated, r.Errored)
				}
			}
		}
	}
	return annotated
}

// marshal compares traces byte for byte, NaN attributes included.
func marshal(t *testing.T, td ptrace.Traces) []byte {
	b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	require.NoError(t, err)
	return b
}

// checkContract checks an annotated span against the annotation contract:
// a run key, and one attribute per matched gate, named after a gate of the
// document, whose value is an outcome.
func checkContract(t *testing.T, names []string, attrs pcommon.Map) {
	run, ok := attrs.Get(annotation.Run)
	require.True(t, ok && run.Type() == pcommon.ValueTypeStr && run.Str() != "", "run key")
	gates := 0
	for k, v := range attrs.All() {
		name, _, isGate, valid := annotation.Gate(k, v)
		if !isGate {
			continue
		}
		gates++
		require.Contains(t, names, name, k)
		require.True(t, valid, "%s: %v", k, v.AsRaw())
	}
	require.Positive(t, gates, "no gate annotation")
}

// fuzzBytes hands out the fuzz input; once it runs out, every read is zero.
type fuzzBytes []byte

func (b *fuzzBytes) byte() byte {
	if len(*b) == 0 {
		return 0
	}
	c := (*b)[0]
	*b = (*b)[1:]
	return c
}

func (b *fuzzBytes) bytes(n int) []byte {
	n = min(n, len(*b))
	out := (*b)[:n]
	*b = (*b)[n:]
	return out
}

func (b *fuzzBytes) uint64() uint64 {
	var buf [8]byte
	copy(buf[:], b.bytes(8))
	return binary.LittleEndian.Uint64(buf[:])
}

// string is up to 31 bytes of the input, or, after 0xff, 64 KiB.
func (b *fuzzBytes) string() string {
	n := b.byte()
	if n == 0xff {
		return strings.Repeat(string(b.bytes(1))+"x", 64<<10)[:64<<10]
	}
	return string(b.bytes(int(n % 32)))
}

// fuzzKeys are keys the gates and the contract use.
var fuzzKeys = []string{
	"cicd.pipeline.run.id", "service.name", "service.version", "http.response.status_code", "retries",
	annotation.Run, annotation.GatePrefix + "server", annotation.GatePrefix + "unknown", annotation.GatePrefix, "",
}

func (b *fuzzBytes) key() string {
	if i := int(b.byte()); i < len(fuzzKeys) {
		return fuzzKeys[i]
	}
	return b.string()
}

// value sets v to a value of any type, nested up to four levels.
func (b *fuzzBytes) value(v pcommon.Value, depth int) {
	switch b.byte() % 8 {
	case 1:
		v.SetStr(b.string())
	case 2:
		v.SetInt(int64(b.uint64()))
	case 3:
		v.SetDouble(math.Float64frombits(b.uint64()))
	case 4:
		v.SetBool(b.byte()%2 == 1)
	case 5:
		v.SetEmptyBytes().FromRaw(b.bytes(int(b.byte())))
	case 6:
		s := v.SetEmptySlice()
		for n := b.byte() % 4; depth < 4 && n > 0; n-- {
			b.value(s.AppendEmpty(), depth+1)
		}
	case 7:
		m := v.SetEmptyMap()
		if depth < 4 {
			b.attributes(m, depth+1)
		}
	}
	// 0 leaves it empty.
}

// attributes adds up to 7 attributes, or, after 0xff, 10,000.
func (b *fuzzBytes) attributes(m pcommon.Map, depth int) {
	n := b.byte()
	if n == 0xff {
		manyAttributes().CopyTo(m)
		return
	}
	for range n % 8 {
		b.value(m.PutEmpty(b.key()), depth)
	}
}

// manyAttributes are 10,000 attributes of every type, made once: each Put
// looks for the key first.
var manyAttributes = sync.OnceValue(func() pcommon.Map {
	m := pcommon.NewMap()
	m.EnsureCapacity(10_000)
	for i := range 10_000 {
		k := "attribute." + strconv.Itoa(i)
		switch i % 7 {
		case 0:
			m.PutStr(k, k)
		case 1:
			m.PutInt(k, int64(i))
		case 2:
			m.PutDouble(k, float64(i)/7)
		case 3:
			m.PutBool(k, i%2 == 0)
		case 4:
			m.PutEmptyBytes(k).FromRaw([]byte(k))
		case 5:
			m.PutEmptySlice(k).AppendEmpty().SetInt(int64(i))
		default:
			m.PutEmptyMap(k).PutStr("k", k)
		}
	}
	return m
})

// traces builds up to 3 resources of up to 2 scopes of up to 3 spans each.
func (b *fuzzBytes) traces() ptrace.Traces {
	td := ptrace.NewTraces()
	for range 1 + b.byte()%3 {
		rs := td.ResourceSpans().AppendEmpty()
		b.attributes(rs.Resource().Attributes(), 0) // none: a missing resource
		for range b.byte() % 3 {
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName(b.string())
			for range b.byte() % 4 {
				b.span(ss.Spans().AppendEmpty())
			}
		}
	}
	return td
}

func (b *fuzzBytes) span(span ptrace.Span) {
	span.SetName(b.string())
	span.SetKind(ptrace.SpanKind(b.byte()))
	span.Status().SetCode(ptrace.StatusCode(b.byte()))
	span.Status().SetMessage(b.string())
	start := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	switch b.byte() % 4 {
	case 1: // inverted
		span.SetStartTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Second)))
		span.SetEndTimestamp(pcommon.NewTimestampFromTime(start))
	case 2:
		span.SetStartTimestamp(pcommon.Timestamp(b.uint64()))
		span.SetEndTimestamp(pcommon.Timestamp(b.uint64()))
	case 3:
		span.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		span.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(b.byte()) * time.Millisecond)))
	}
	// 0 leaves both zero.
	var traceID pcommon.TraceID
	var spanID, parentID pcommon.SpanID
	copy(traceID[:], b.bytes(int(b.byte()%17)))
	copy(spanID[:], b.bytes(int(b.byte()%9)))
	copy(parentID[:], b.bytes(int(b.byte()%9)))
	span.SetTraceID(traceID)
	span.SetSpanID(spanID)
	span.SetParentSpanID(parentID)
	b.attributes(span.Attributes(), 0)
	for range b.byte() % 3 {
		e := span.Events().AppendEmpty()
		e.SetName(b.string())
		e.SetTimestamp(pcommon.Timestamp(b.uint64()))
		b.attributes(e.Attributes(), 0)
	}
}
