package config

import (
	"crypto/sha256"
	"encoding/json"
	"runtime"
	"sync"
	"weak"
)

// Compiled gates are shared by every component of a collector that uses
// the same document: a sidecar's processor and a gateway's exporter each
// compile it, but a collector with both, and the validation of each
// component's configuration, compile it once. A document of 10,000 gates
// takes seconds and hundreds of MiB to compile.
//
// The cache holds compiled gates weakly: they live as long as a component
// or a configuration holds them, and leave the cache after, so a collector
// whose configuration is reloaded does not keep old gates.
var shared = struct {
	mu      sync.Mutex // held while compiling: one compilation per document
	entries map[[sha256.Size]byte]weak.Pointer[Gates]
}{entries: make(map[[sha256.Size]byte]weak.Pointer[Gates])}

// Shared returns the compiled gates of doc: those another user of the same
// document still holds, or a new compilation. Keep the result for as long
// as it is used. A document that does not compile is not cached.
func Shared(doc Document) (*Gates, error) {
	key, err := documentKey(doc)
	if err != nil {
		return Compile(doc)
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if g := shared.entries[key].Value(); g != nil {
		return g, nil
	}
	g, err := Compile(doc)
	if err != nil {
		return nil, err
	}
	entry := weak.Make(g)
	shared.entries[key] = entry
	runtime.AddCleanup(g, forget, sharedKey{key, entry})
	return g, nil
}

type sharedKey struct {
	key   [sha256.Size]byte
	entry weak.Pointer[Gates]
}

// forget removes a collected compilation from the cache, unless the
// document was compiled again since.
func forget(k sharedKey) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.entries[k.key] == k.entry {
		delete(shared.entries, k.key)
	}
}

// documentKey identifies a document by its content.
func documentKey(doc Document) ([sha256.Size]byte, error) {
	data, err := json.Marshal(doc)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	return sha256.Sum256(data), nil
}
