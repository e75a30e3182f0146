//go:build tools

// Module jaeger pins the Jaeger the end-to-end tests search annotated spans
// in: `make e2e` builds its cmd/jaeger (memory storage, the HTTP query API)
// into .tools/jaeger.
package tools

import (
	_ "github.com/jaegertracing/jaeger/cmd/jaeger"
)
