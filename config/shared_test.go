package config

import (
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sharedDoc(name string) Document {
	return Document{Gates: []Gate{{Name: name, Match: `name == "POST /checkout"`, Assert: `duration < duration("300ms")`}}}
}

// Equal documents share one compilation; another document gets its own.
func TestSharedCompilesOnce(t *testing.T) {
	a, err := Shared(sharedDoc("checkout"))
	require.NoError(t, err)
	b, err := Shared(sharedDoc("checkout"))
	require.NoError(t, err)
	assert.Same(t, a, b)

	other, err := Shared(sharedDoc("payment"))
	require.NoError(t, err)
	assert.NotSame(t, a, other)
	assert.Equal(t, "payment", other.At(0).Name)

	_, err = Shared(Document{Gates: []Gate{{Name: "bad", Match: "nme == 1"}}})
	assert.ErrorContains(t, err, `gate "bad": match: column 1: unknown name nme`)
}

// Gates nobody holds leave the cache: a reloaded configuration does not
// keep the old ones.
func TestSharedForgetsWhatNobodyHolds(t *testing.T) {
	doc := sharedDoc("forgotten")
	key, err := documentKey(doc)
	require.NoError(t, err)
	g, err := Shared(doc)
	require.NoError(t, err)
	require.NotNil(t, g)
	runtime.KeepAlive(g)
	require.Eventually(t, func() bool {
		runtime.GC()
		shared.mu.Lock()
		defer shared.mu.Unlock()
		_, cached := shared.entries[key]
		return !cached
	}, 5*time.Second, 10*time.Millisecond)
}
