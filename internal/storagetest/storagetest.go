// Package storagetest is an in-memory storage.Client for tests: what the
// collector's storage extension gives a component, with a switch to make
// every call fail.
package storagetest

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// ErrBroken is what a broken Client answers.
var ErrBroken = errors.New("storage is broken")

// Client keeps its entries in a map. It survives Close, as a file would a
// restart: a new component can be handed the same Client.
type Client struct {
	mu      sync.Mutex
	entries map[string][]byte
	broken  bool
	writes  int
}

var _ storage.Client = (*Client)(nil)

func New() *Client { return &Client{entries: map[string][]byte{}} }

// Break makes every later call fail (true) or work again (false).
func (c *Client) Break(broken bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.broken = broken
}

// Keys lists the keys held with the given prefix, sorted.
func (c *Client) Keys(prefix string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var keys []string
	for k := range maps.Keys(c.entries) {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// Writes counts the Set and Delete operations applied.
func (c *Client) Writes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

func (c *Client) Get(ctx context.Context, key string) ([]byte, error) {
	op := storage.GetOperation(key)
	err := c.Batch(ctx, op)
	return op.Value, err
}

func (c *Client) Set(ctx context.Context, key string, value []byte) error {
	return c.Batch(ctx, storage.SetOperation(key, value))
}

func (c *Client) Delete(ctx context.Context, key string) error {
	return c.Batch(ctx, storage.DeleteOperation(key))
}

// Batch applies every operation or, when broken, none.
func (c *Client) Batch(_ context.Context, ops ...*storage.Operation) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken {
		return ErrBroken
	}
	for _, op := range ops {
		switch op.Type {
		case storage.Get:
			op.Value = slices.Clone(c.entries[op.Key])
		case storage.Set:
			c.entries[op.Key] = slices.Clone(op.Value)
			c.writes++
		case storage.Delete:
			delete(c.entries, op.Key)
			c.writes++
		}
	}
	return nil
}

func (c *Client) Close(context.Context) error { return nil }

// Extension is a storage extension that hands every component the same
// Client.
type Extension struct {
	component.StartFunc
	component.ShutdownFunc
	Client *Client
}

var _ storage.Extension = (*Extension)(nil)

func (e *Extension) GetClient(context.Context, component.Kind, component.ID, string) (storage.Client, error) {
	return e.Client, nil
}

// Host is a component.Host with the given extensions.
type Host map[component.ID]component.Component

func (h Host) GetExtensions() map[component.ID]component.Component { return h }

// Size is the bytes of the values held.
func (c *Client) Size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.entries {
		n += len(v)
	}
	return n
}
