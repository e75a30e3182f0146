package otlpfile

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// FuzzReader reads arbitrary bytes as a file of recorded traces: whatever
// they are, reading ends in batches, io.EOF or a located error, without a
// panic or a hang, and an error is not followed by more batches.
func FuzzReader(f *testing.F) {
	a, b := batch("a", 2), batch("b", 1)
	lines := []byte(string(jsonOf(f, a)) + "\n" + string(jsonOf(f, b)) + "\n")
	proto := framed(protoOf(f, a), protoOf(f, b))
	for _, seed := range [][]byte{
		lines, proto, zstdOf(f, lines), gzipOf(f, proto),
		framed(zstdOf(f, protoOf(f, a))), framed(zstdOf(f, jsonOf(f, b))),
		[]byte(`{"result":` + string(jsonOf(f, a)) + `}`), []byte(`{"batches":[{}]}`),
		{}, []byte("\n"), []byte("{"), {0, 0, 0, 1, 0x0a},
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, data []byte, skipBad bool) {
		defer time.AfterFunc(20*time.Second, func() { panic("no result after 20s") }).Stop()
		r := NewReader("fuzz", bytes.NewReader(data), Options{SkipBad: skipBad})
		defer r.Close()
		for range len(data) + 2 { // each batch takes at least a byte
			_, err := r.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				var located *Error
				require.True(t, errors.As(err, &located), "%T: %v", err, err)
				_, again := r.Next()
				require.Equal(t, err, again)
				return
			}
		}
		t.Fatal("more batches than bytes")
	})
}
