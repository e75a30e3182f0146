package otlpfile

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// batch is a batch of n spans named name-0…
func batch(name string, n int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "shop")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for i := range n {
		s := spans.AppendEmpty()
		s.SetName(name)
		s.SetTraceID(pcommon.TraceID{byte(i + 1)})
		s.SetSpanID(pcommon.SpanID{byte(i + 1)})
	}
	return td
}

func jsonOf(t testing.TB, td ptrace.Traces) []byte {
	data, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	require.NoError(t, err)
	return data
}

func protoOf(t testing.TB, td ptrace.Traces) []byte {
	data, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	require.NoError(t, err)
	return data
}

// framed is the file exporter's framing of a message: its length, 4 bytes
// big-endian, then the message.
func framed(msgs ...[]byte) []byte {
	var out []byte
	for _, m := range msgs {
		out = binary.BigEndian.AppendUint32(out, uint32(len(m)))
		out = append(out, m...)
	}
	return out
}

func zstdOf(t testing.TB, data []byte) []byte {
	enc, err := zstd.NewWriter(nil)
	require.NoError(t, err)
	defer enc.Close()
	return enc.EncodeAll(data, nil)
}

func gzipOf(t testing.TB, data []byte) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, err := w.Write(data)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return b.Bytes()
}

// readAll reads every batch and returns the spans' names per batch.
func readAll(t *testing.T, data []byte, opts Options) ([][]string, *Reader, error) {
	t.Helper()
	r := NewReader("traces", bytes.NewReader(data), opts)
	defer r.Close()
	var got [][]string
	for {
		td, err := r.Next()
		if err == io.EOF {
			return got, r, nil
		}
		if err != nil {
			return got, r, err
		}
		var names []string
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, s := range ss.Spans().All() {
					names = append(names, s.Name())
				}
			}
		}
		got = append(got, names)
	}
}

func TestFormats(t *testing.T) {
	a, b := batch("a", 2), batch("b", 1)
	jsonLines := append(append(append(jsonOf(t, a), '\n'), jsonOf(t, b)...), '\n')
	protoFile := framed(protoOf(t, a), protoOf(t, b))
	want := [][]string{{"a", "a"}, {"b"}}
	for name, data := range map[string][]byte{
		"json lines":                           jsonLines,
		"json lines without last newline":      bytes.TrimSuffix(jsonLines, []byte("\n")),
		"json lines with blank lines and CRLF": bytes.ReplaceAll(append([]byte("\n\n"), jsonLines...), []byte("\n"), []byte("\r\n")),
		"proto":                                protoFile,
		"proto, each message zstd":             framed(zstdOf(t, protoOf(t, a)), zstdOf(t, protoOf(t, b))),
		"json, each message zstd":              framed(zstdOf(t, jsonOf(t, a)), zstdOf(t, jsonOf(t, b))),
		"json lines in a zstd stream":          zstdOf(t, jsonLines),
		"proto in a zstd stream":               zstdOf(t, protoFile),
		"json lines gzip'd":                    gzipOf(t, jsonLines),
		"proto gzip'd":                         gzipOf(t, protoFile),
	} {
		t.Run(name, func(t *testing.T) {
			got, _, err := readAll(t, data, Options{})
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}
}

func TestDocuments(t *testing.T) {
	a := jsonOf(t, batch("a", 2))
	var pretty bytes.Buffer
	require.NoError(t, json.Indent(&pretty, a, "", "  "))
	resourceSpans := strings.TrimSuffix(strings.TrimPrefix(string(a), `{"resourceSpans":`), "}")
	for name, data := range map[string]string{
		"a /v1/traces body":         string(a),
		"pretty-printed":            pretty.String(),
		"Jaeger's api/v3 export":    `{"result":` + string(a) + `}`,
		"Tempo's v2 export, pretty": "{\n  \"trace\": " + pretty.String() + "\n}\n",
		"Tempo's batches":           `{"batches":` + resourceSpans + `}`,
	} {
		t.Run(name, func(t *testing.T) {
			got, _, err := readAll(t, []byte(data), Options{})
			require.NoError(t, err)
			assert.Equal(t, [][]string{{"a", "a"}}, got)
		})
	}
}

func TestBadInput(t *testing.T) {
	a, b := jsonOf(t, batch("a", 1)), jsonOf(t, batch("b", 1))
	proto := protoOf(t, batch("a", 3))
	for name, tc := range map[string]struct {
		data string
		want string
	}{
		"empty":                            {"", "traces: empty: no traces"},
		"only white space":                 {"\n \n", "traces: empty: no traces"},
		"a line that is not OTLP":          {string(a) + "\n{\"foo\": 1}\n" + string(b) + "\n", `traces: line 2: not OTLP traces: no resourceSpans (fields: foo)`},
		"a line that is not JSON":          {string(a) + "\n" + string(b[:20]) + "\n" + string(b) + "\n", "traces: line 2: not OTLP JSON"},
		"a truncated last line":            {string(a) + "\n" + string(b[:len(b)-3]), "traces: line 2: not OTLP JSON"},
		"a document that is not JSON":      {"{\n  \"resourceSpans\": [\n  }\n", "traces: line 3: not JSON"},
		"text":                             {"hello, traces\n", "traces: offset 0: not OTLP: neither JSON nor the file exporter's length-prefixed protobuf"},
		"a truncated proto message":        {string(framed(proto)[:20]), "traces: offset 0: truncated: a message of"},
		"a truncated length":               {string(framed(proto)) + "\x00\x00", "traces: offset " + strconv.Itoa(4+len(proto)) + ": truncated: the file ends inside a message's length"},
		"a proto message that is not OTLP": {string(framed(proto, []byte("\xff\xff\xff"))), "traces: offset " + strconv.Itoa(4+len(proto)) + ": not OTLP protobuf"},
		"a gzip file cut short":            {string(gzipOf(t, append(a, '\n'))[:15]), "traces"},
	} {
		t.Run(name, func(t *testing.T) {
			_, r, err := readAll(t, []byte(tc.data), Options{})
			require.Error(t, err)
			var located *Error
			require.True(t, errors.As(err, &located), "%T: %v", err, err)
			assert.Contains(t, err.Error(), tc.want)
			// The error sticks: nothing after it is read as if it were fine.
			_, again := r.Next()
			assert.Equal(t, err, again)
		})
	}
}

func TestSkipBadLines(t *testing.T) {
	a, b := jsonOf(t, batch("a", 1)), jsonOf(t, batch("b", 1))
	data := string(a) + "\nnot json\n{\"foo\":1}\n" + string(b) + "\n"
	got, r, err := readAll(t, []byte(data), Options{SkipBad: true})
	require.NoError(t, err)
	assert.Equal(t, [][]string{{"a"}, {"b"}}, got, "the lines after the bad ones are read")
	require.Len(t, r.Skipped(), 2)
	assert.Equal(t, 2, r.Skipped()[0].Line)
	assert.Equal(t, 3, r.Skipped()[1].Line)

	proto := protoOf(t, batch("a", 1))
	got, r, err = readAll(t, framed(proto, []byte("\xff\xff"), proto), Options{SkipBad: true})
	require.NoError(t, err)
	assert.Equal(t, [][]string{{"a"}, {"a"}}, got)
	require.Len(t, r.Skipped(), 1)
	assert.Equal(t, int64(4+len(proto)), r.Skipped()[0].Offset)

	// A truncated protobuf file has lost its framing: still an error.
	_, _, err = readAll(t, framed(proto)[:10], Options{SkipBad: true})
	require.ErrorContains(t, err, "truncated")
}
