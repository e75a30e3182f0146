// Package otlpfile reads recorded traces: what the collector's file
// exporter writes (OTLP JSON lines, or its length-prefixed protobuf, each
// message or the whole file compressed with zstd), a single OTLP JSON
// document (a /v1/traces body; Jaeger's and Tempo's OTLP JSON exports), and
// any of these gzip'd. The format is told from the content, not the name.
package otlpfile

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// MaxMessage bounds one message: a JSON line, a protobuf message, a JSON
// document. A length prefix that announces more is taken as corruption.
const MaxMessage = 256 << 20

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// Error is a decoding error, located in its file: by line in JSON, by
// offset (in the decompressed stream, when compressed) in protobuf.
type Error struct {
	File   string
	Line   int   // 1-based; 0 when located by Offset
	Offset int64 // of the message's length prefix
	Err    error
}

func (e *Error) Error() string {
	switch {
	case e.Line > 0:
		return fmt.Sprintf("%s: line %d: %v", e.File, e.Line, e.Err)
	case e.Offset >= 0:
		return fmt.Sprintf("%s: offset %d: %v", e.File, e.Offset, e.Err)
	default:
		return fmt.Sprintf("%s: %v", e.File, e.Err)
	}
}

func (e *Error) Unwrap() error { return e.Err }

// ErrEmpty is the error of a file without a single message.
var ErrEmpty = errors.New("empty: no traces")

// Reader reads the batches of one file, one message at a time, so that
// memory does not grow with the file.
type Reader struct {
	name    string
	skipBad bool
	next    func() (ptrace.Traces, error)
	closers []io.Closer

	messages int
	skipped  []*Error
	failed   error // sticky: a reader that failed returns its error again
}

// Options tune a Reader.
type Options struct {
	// SkipBad skips JSON lines and protobuf messages that do not decode,
	// instead of failing; Skipped lists them. A truncated protobuf file,
	// whose framing is lost, still fails.
	SkipBad bool
}

// NewReader reads the file name (used in errors) from r.
func NewReader(name string, r io.Reader, opts Options) *Reader {
	rd := &Reader{name: name, skipBad: opts.SkipBad}
	rd.next = func() (ptrace.Traces, error) {
		if err := rd.detect(bufio.NewReaderSize(r, 1<<20), true); err != nil {
			return ptrace.Traces{}, err
		}
		return rd.next()
	}
	return rd
}

// Next returns the next batch, io.EOF after the last, or an *Error.
func (r *Reader) Next() (ptrace.Traces, error) {
	if r.failed != nil {
		return ptrace.Traces{}, r.failed
	}
	td, err := r.next()
	switch {
	case err == io.EOF && r.messages == 0 && len(r.skipped) == 0:
		err = &Error{File: r.name, Offset: -1, Err: ErrEmpty}
	case err == nil:
		r.messages++
	}
	if err != nil {
		r.failed = err
	}
	return td, err
}

// Skipped lists what SkipBad skipped, each with why.
func (r *Reader) Skipped() []*Error { return r.skipped }

// Close releases the decompressors; it does not close the underlying
// reader.
func (r *Reader) Close() error {
	for _, c := range slices.Backward(r.closers) {
		_ = c.Close()
	}
	return nil
}

// detect tells the compression and the format from the first bytes.
func (r *Reader) detect(br *bufio.Reader, outer bool) error {
	head, err := br.Peek(4)
	if len(head) == 0 && err == io.EOF {
		r.next = func() (ptrace.Traces, error) { return ptrace.Traces{}, io.EOF }
		return nil
	}
	switch {
	case outer && bytes.HasPrefix(head, gzipMagic):
		gz, err := gzip.NewReader(br)
		if err != nil {
			return r.errorf(0, -1, "gzip: %w", err)
		}
		r.closers = append(r.closers, gz)
		r.name += " (gunzipped)"
		return r.detect(bufio.NewReaderSize(gz, 1<<20), false)
	case outer && bytes.HasPrefix(head, zstdMagic):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return r.errorf(0, -1, "zstd: %w", err)
		}
		r.closers = append(r.closers, zr.IOReadCloser())
		r.name += " (decompressed)"
		return r.detect(bufio.NewReaderSize(zr, 1<<20), false)
	}
	// JSON starts with an object, after white space; a length prefix of
	// the file exporter's protobuf does not.
	for {
		b, err := br.ReadByte()
		if err != nil {
			r.next = func() (ptrace.Traces, error) { return ptrace.Traces{}, io.EOF }
			return nil
		}
		if !isSpace(b) {
			_ = br.UnreadByte()
			if b == '{' {
				r.next = (&jsonLines{r: r, br: br}).next
			} else {
				r.next = (&protoMessages{r: r, br: br}).next
			}
			return nil
		}
	}
}

func (r *Reader) errorf(line int, offset int64, format string, args ...any) *Error {
	return &Error{File: r.name, Line: line, Offset: offset, Err: fmt.Errorf(format, args...)}
}

// bad handles a message that does not decode: skipped when asked, an
// error otherwise.
func (r *Reader) bad(e *Error) error {
	if !r.skipBad {
		return e
	}
	r.skipped = append(r.skipped, e)
	return nil
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

var jsonUnmarshaler = &ptrace.JSONUnmarshaler{}

// jsonLines reads OTLP JSON, a message per line as the file exporter
// writes it. A first line that is not a whole message starts a single
// document spread over lines (an export, pretty-printed).
type jsonLines struct {
	r    *Reader
	br   *bufio.Reader
	line int
	buf  []byte
}

func (j *jsonLines) next() (ptrace.Traces, error) {
	for {
		line, err := j.readLine()
		if err == io.EOF && len(line) == 0 {
			return ptrace.Traces{}, io.EOF
		}
		if err != nil && err != io.EOF {
			return ptrace.Traces{}, j.r.errorf(j.line, 0, "%w", err)
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if j.line == 1 && !json.Valid(line) {
			return j.document(line)
		}
		td, derr := decodeJSON(line)
		if derr != nil {
			if err := j.r.bad(j.r.errorf(j.line, 0, "%v", derr)); err != nil {
				return ptrace.Traces{}, err
			}
			continue
		}
		return td, nil
	}
}

// readLine reads the next line, however long, into j.buf.
func (j *jsonLines) readLine() ([]byte, error) {
	j.line++
	j.buf = j.buf[:0]
	for {
		chunk, err := j.br.ReadSlice('\n')
		j.buf = append(j.buf, chunk...)
		if len(j.buf) > MaxMessage {
			return nil, fmt.Errorf("a line longer than %d MiB", MaxMessage>>20)
		}
		if err != bufio.ErrBufferFull {
			return j.buf, err
		}
	}
}

// document reads the rest of the input as one JSON document.
func (j *jsonLines) document(first []byte) (ptrace.Traces, error) {
	doc := bytes.NewBuffer(append(slices.Clone(first), '\n'))
	if _, err := io.Copy(doc, io.LimitReader(j.br, MaxMessage)); err != nil {
		return ptrace.Traces{}, j.r.errorf(0, -1, "%w", err)
	}
	j.br = bufio.NewReader(strings.NewReader("")) // the document was the whole input
	if !json.Valid(doc.Bytes()) {
		var syntax *json.SyntaxError
		if err := json.Unmarshal(doc.Bytes(), new(any)); errors.As(err, &syntax) {
			line := 1 + bytes.Count(doc.Bytes()[:syntax.Offset], []byte("\n"))
			return ptrace.Traces{}, j.r.errorf(line, 0, "not JSON: %v", err)
		}
		return ptrace.Traces{}, j.r.errorf(1, 0, "not JSON")
	}
	td, err := decodeJSON(doc.Bytes())
	if err != nil {
		return ptrace.Traces{}, j.r.errorf(1, 0, "%v", err)
	}
	return td, nil
}

// decodeJSON decodes one OTLP JSON message, unwrapping the envelopes trace
// stores export it in: Jaeger's {"result": …}, Tempo's {"trace": …} and
// {"batches": […]}. A JSON object with none of OTLP's fields is not taken
// for an empty batch.
func decodeJSON(data []byte) (ptrace.Traces, error) {
	td, err := jsonUnmarshaler.UnmarshalTraces(data)
	if err != nil {
		return ptrace.Traces{}, fmt.Errorf("not OTLP JSON: %w", err)
	}
	if td.ResourceSpans().Len() > 0 {
		return td, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return ptrace.Traces{}, fmt.Errorf("not OTLP JSON: %w", err)
	}
	switch {
	case fields["resourceSpans"] != nil || fields["resource_spans"] != nil:
		return td, nil
	case fields["result"] != nil:
		return decodeJSON(fields["result"])
	case fields["trace"] != nil:
		return decodeJSON(fields["trace"])
	case fields["batches"] != nil:
		return decodeJSON(append(append([]byte(`{"resourceSpans":`), fields["batches"]...), '}'))
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return ptrace.Traces{}, fmt.Errorf("not OTLP traces: no resourceSpans (fields: %s)", strings.Join(keys, ", "))
}

var protoUnmarshaler = &ptrace.ProtoUnmarshaler{}

// protoMessages reads the file exporter's protobuf: each message after
// its length, 4 bytes big-endian. A message may itself be zstd-compressed
// (the file exporter's compression: zstd), and hold JSON (format: json
// with compression).
type protoMessages struct {
	r      *Reader
	br     *bufio.Reader
	offset int64
	buf    bytes.Buffer
	zstd   *zstd.Decoder
	plain  []byte
}

func (p *protoMessages) next() (ptrace.Traces, error) {
	for {
		at := p.offset
		var prefix [4]byte
		n, err := io.ReadFull(p.br, prefix[:])
		p.offset += int64(n)
		switch {
		case err == io.EOF:
			return ptrace.Traces{}, io.EOF
		case err == io.ErrUnexpectedEOF:
			return ptrace.Traces{}, p.r.errorf(0, at, "truncated: the file ends inside a message's length")
		case err != nil:
			return ptrace.Traces{}, p.r.errorf(0, at, "%w", err)
		}
		size := int64(binary.BigEndian.Uint32(prefix[:]))
		if size > MaxMessage {
			return ptrace.Traces{}, p.r.errorf(0, at, "not OTLP: neither JSON nor the file exporter's length-prefixed protobuf (a message of %d bytes announced)", size)
		}
		p.buf.Reset()
		read, err := io.CopyN(&p.buf, p.br, size)
		p.offset += read
		if err == io.EOF {
			return ptrace.Traces{}, p.r.errorf(0, at, "truncated: a message of %d bytes announced, the file ends after %d", size, read)
		}
		if err != nil {
			return ptrace.Traces{}, p.r.errorf(0, at, "%w", err)
		}
		td, derr := p.decode(p.buf.Bytes())
		if derr != nil {
			if err := p.r.bad(p.r.errorf(0, at, "%v", derr)); err != nil {
				return ptrace.Traces{}, err
			}
			continue
		}
		return td, nil
	}
}

func (p *protoMessages) decode(msg []byte) (ptrace.Traces, error) {
	if bytes.HasPrefix(msg, zstdMagic) {
		if p.zstd == nil {
			var err error
			if p.zstd, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(MaxMessage)); err != nil {
				return ptrace.Traces{}, err
			}
			p.r.closers = append(p.r.closers, p.zstd.IOReadCloser())
		}
		var err error
		if p.plain, err = p.zstd.DecodeAll(msg, p.plain[:0]); err != nil {
			return ptrace.Traces{}, fmt.Errorf("zstd: %w", err)
		}
		msg = p.plain
		if trimmed := bytes.TrimLeft(msg, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '{' {
			return decodeJSON(msg)
		}
	}
	td, err := protoUnmarshaler.UnmarshalTraces(msg)
	if err != nil {
		return ptrace.Traces{}, fmt.Errorf("not OTLP protobuf: %w", err)
	}
	if td.ResourceSpans().Len() == 0 {
		return ptrace.Traces{}, errors.New("not OTLP protobuf: no resource spans")
	}
	return td, nil
}
