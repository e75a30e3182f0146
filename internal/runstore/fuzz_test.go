package runstore

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/releasegate/releasegate/annotation"
	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/internal/verdict"
)

const fuzzGates = `
gates:
  - name: latency
    match: "true"
    assert: duration < duration("300ms")
    fail: p95 > duration("250ms") || violation_ratio > 0.5
    warn: p95 > duration("200ms")
    min_spans: 2
  - name: errors
    match: "true"
    fail: errors > 0
  - name: quiet
    match: "true"
    on_no_data: fail
`

// fuzzMaxRuns is small, for the fuzzer to go past it often.
const fuzzMaxRuns = 8

func newFuzzStore(t testing.TB, maxRuns int) (*Store, *time.Time) {
	doc, err := config.Parse([]byte(fuzzGates))
	require.NoError(t, err)
	gates, err := config.Compile(doc)
	require.NoError(t, err)
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	s := New(gates, Settings{
		Limits: Limits{IdleTimeout: 30 * time.Second, MaxRunDuration: time.Hour, Retention: 10 * time.Minute, MaxRuns: maxRuns},
		Now:    func() time.Time { return now },
	})
	return s, &now
}

// FuzzRecordAnnotations feeds the run store spans whose annotations come
// from the fuzz input: contract attributes of the wrong types, unknown gate
// names, empty, invalid and 64 KiB run keys, bursts of new runs; between
// batches the clock moves, runs finish by the API and are looked up. The
// store never panics, never holds more than max_runs runs, holds only valid
// run keys, and every view it gives can be served as JSON.
func FuzzRecordAnnotations(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		s, now := newFuzzStore(t, fuzzMaxRuns)
		in := &annotationInput{data: data}
		for op := 0; op < 64 && len(in.data) > 0; op++ {
			switch in.byte() % 5 {
			case 0:
				s.Record(in.batch())
			case 1:
				*now = now.Add(time.Duration(in.byte()) * time.Second)
				s.Sweep()
			case 2:
				key := in.runKey()
				if f, err := s.Finish(key); err == nil {
					require.Equal(t, key, f.Run.Run)
					require.True(t, f.Run.Finished)
				}
			case 3:
				s.Record(in.burst(1 + int(in.byte())))
			case 4:
				_, _ = s.Get(in.runKey())
			}
			checkStore(t, s)
		}
	})
}

// checkStore checks what the store holds: at most max_runs runs, each with
// a key the exporter accepts, a valid status, and a view that encodes.
func checkStore(t *testing.T, s *Store) {
	runs := s.List()
	require.LessOrEqual(t, len(runs), s.limits.MaxRuns)
	for _, listed := range runs {
		require.True(t, listed.Run != "" && len(listed.Run) <= MaxRunIDLength && utf8.ValidString(listed.Run), "run key %.40q", listed.Run)
		v, ok := s.Get(listed.Run)
		require.True(t, ok)
		require.Len(t, v.Gates, s.gates.Len())
		require.Contains(t, verdict.Statuses, v.Status)
		require.Equal(t, v.Finished, v.FinishedAt != nil)
		for _, g := range v.Gates {
			require.Contains(t, verdict.Statuses, g.Status)
			require.LessOrEqual(t, len(g.Exemplars), maxExemplars)
		}
		_, err := json.Marshal(v)
		require.NoError(t, err)
	}
}

// annotationInput builds annotated spans from the fuzz input; once it runs
// out, every read is zero.
type annotationInput struct {
	data   []byte
	bursts int // runs opened by bursts so far
}

func (in *annotationInput) byte() byte {
	if len(in.data) == 0 {
		return 0
	}
	c := in.data[0]
	in.data = in.data[1:]
	return c
}

func (in *annotationInput) bytes(n int) []byte {
	n = min(n, len(in.data))
	out := in.data[:n]
	in.data = in.data[n:]
	return out
}

// string is up to 31 bytes of the input, or, after 0xff, 64 KiB.
func (in *annotationInput) string() string {
	n := in.byte()
	if n == 0xff {
		return strings.Repeat("k", 64<<10)
	}
	return string(in.bytes(int(n % 32)))
}

// runKey is one of a few keys, or any string.
func (in *annotationInput) runKey() string {
	if c := in.byte(); c < 0x80 {
		return fmt.Sprint("run-", c%4)
	}
	return in.string()
}

// gateNames are the gates', an unknown one and an empty one.
var gateNames = []string{"latency", "errors", "quiet", "unknown", ""}

// gates adds gate annotations to attrs: of known, unknown, empty and
// arbitrary gate names, with outcomes, other strings, or values of another
// type.
func (in *annotationInput) gates(attrs pcommon.Map) {
	outcomes := []annotation.Outcome{annotation.Passed, annotation.Violated, annotation.Error}
	for range in.byte() % 5 {
		name := in.string()
		if c := int(in.byte()); c < len(gateNames)*32 {
			name = gateNames[c%len(gateNames)]
		}
		key := annotation.GatePrefix + name
		switch c := in.byte(); c % 8 {
		case 0:
			attrs.PutInt(key, int64(c))
		case 1:
			attrs.PutEmptySlice(key).AppendEmpty().SetStr(string(annotation.Violated))
		case 2:
			attrs.PutStr(key, in.string())
		default:
			attrs.PutStr(key, string(outcomes[int(c)%len(outcomes)]))
		}
	}
}

// batch is up to 7 spans, annotated or not, rightly or not.
func (in *annotationInput) batch() ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	if in.byte()%2 == 1 {
		rs.Resource().Attributes().PutStr("vcs.ref.head.revision", in.string())
	}
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for range in.byte() % 8 {
		span := spans.AppendEmpty()
		span.SetName(in.string())
		span.Status().SetCode(ptrace.StatusCode(in.byte()))
		var ts [16]byte
		copy(ts[:], in.bytes(16))
		span.SetStartTimestamp(pcommon.Timestamp(binary.LittleEndian.Uint64(ts[:8])))
		span.SetEndTimestamp(pcommon.Timestamp(binary.LittleEndian.Uint64(ts[8:])))
		attrs := span.Attributes()
		switch in.byte() % 6 {
		case 0: // no run key: not annotated
		case 1:
			attrs.PutStr(annotation.Run, in.runKey())
		case 2:
			attrs.PutInt(annotation.Run, int64(in.byte()))
		case 3:
			attrs.PutEmptySlice(annotation.Run).AppendEmpty().SetStr(in.runKey())
		case 4:
			attrs.PutStr(annotation.Run, "run-\xff")
		default:
			attrs.PutStr(annotation.Run, in.string())
		}
		in.gates(attrs)
	}
	return td
}

// burst is one annotated span for each of n runs never seen before.
func (in *annotationInput) burst(n int) ptrace.Traces {
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	for range n {
		in.bursts++
		annotation.Write(spans.AppendEmpty().Attributes(), fmt.Sprint("burst-", in.bursts), annotation.Keys(gateNames), []int{0, 1}, []int{0}, nil)
	}
	return td
}

// A million distinct run keys through a store of max_runs 100: it never
// holds more than 100 runs, refuses what it cannot hold while none has
// finished, and its memory stays where it was after the first batches.
func TestMillionRunKeysStayBounded(t *testing.T) {
	const (
		maxRuns = 100
		batch   = 1000
		batches = 1000
	)
	s, now := newFuzzStore(t, maxRuns)
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	for range batch {
		annotation.Write(spans.AppendEmpty().Attributes(), "", annotation.Keys(gateNames), []int{0, 1, 2}, []int{0}, nil)
	}
	var refused, evicted int64
	var baseline runtime.MemStats
	for i := range batches {
		for j, span := range spans.All() {
			span.Attributes().PutStr(annotation.Run, "run-"+strconv.Itoa(i*batch+j))
		}
		tally := s.Record(td)
		refused += tally.Refused
		evicted += tally.Evicted
		require.LessOrEqual(t, len(s.List()), maxRuns)
		// Every second batch the runs go idle and finish, and make room.
		if i%2 == 1 {
			*now = now.Add(time.Minute)
			s.Sweep()
		}
		if i == 10 {
			runtime.GC()
			runtime.ReadMemStats(&baseline)
		}
	}
	var end runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&end)
	assert.Len(t, s.List(), maxRuns)
	assert.Positive(t, refused, "new runs are refused while none has finished")
	assert.Positive(t, evicted, "finished runs make room for new ones")
	assert.Less(t, int64(end.HeapAlloc)-int64(baseline.HeapAlloc), int64(8<<20), "heap growth")
}
