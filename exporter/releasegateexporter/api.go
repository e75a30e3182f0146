package releasegateexporter

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"unicode/utf8"

	"github.com/releasegate/releasegate/internal/page"
	"github.com/releasegate/releasegate/internal/runstore"
)

// maxFinishBody is the largest body the finish endpoint reads and ignores:
// it takes none, but clients that always send one (`{}`) still work.
const maxFinishBody = 4 << 10

// api serves the verdicts: GET /v1/runs, GET /v1/runs/{run} and
// POST /v1/runs/{run}/finish, and the pages for people: GET /runs/{run},
// and the list at GET / and GET /runs. Run ids are path segments,
// URL-escaped.
func (e *releasegateExporter) api() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/runs", method(http.MethodGet, func(w http.ResponseWriter, _ *http.Request) {
		runs := e.store.List()
		for i := range runs {
			runs[i] = e.sinks.withURL(runs[i])
		}
		writeJSON(w, http.StatusOK, map[string]any{"runs": runs})
	}))
	mux.HandleFunc("/v1/runs/{run}", method(http.MethodGet, func(w http.ResponseWriter, r *http.Request) {
		key, ok := runID(w, r)
		if !ok {
			return
		}
		view, ok := e.store.Get(key)
		if !ok {
			writeError(w, http.StatusNotFound, fmt.Sprintf("unknown run %q", key))
			return
		}
		writeJSON(w, http.StatusOK, e.sinks.withURL(view))
	}))
	mux.HandleFunc("/v1/runs/{run}/finish", method(http.MethodPost, func(w http.ResponseWriter, r *http.Request) {
		key, ok := runID(w, r)
		if !ok || !discardBody(w, r) {
			return
		}
		view, err := e.finish(r.Context(), key)
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("cannot hold run %q: %v", key, err))
			return
		}
		writeJSON(w, http.StatusOK, view)
	}))
	mux.Handle("/metrics", e.metricsHandler())
	mux.HandleFunc("/{$}", method(http.MethodGet, e.pages.List))
	mux.HandleFunc("/runs", method(http.MethodGet, e.pages.List))
	mux.HandleFunc("/runs/{run}", method(http.MethodGet, e.pages.Run))
	mux.HandleFunc(page.StylesheetPath, method(http.MethodGet, e.pages.Stylesheet))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint %s; see /v1/runs, /v1/runs/{run}, /v1/runs/{run}/finish, /metrics, and the pages /runs and /runs/{run}", r.URL.Path))
	})
	return mux
}

// runID is the request's {run}, or false after answering with an error for
// an id the exporter never holds: neither opened nor echoed back.
func runID(w http.ResponseWriter, r *http.Request) (string, bool) {
	key := r.PathValue("run")
	switch {
	case len(key) > runstore.MaxRunIDLength:
		writeError(w, http.StatusRequestURITooLong, fmt.Sprintf("run id is %d bytes long; at most %d are allowed", len(key), runstore.MaxRunIDLength))
		return "", false
	case !utf8.ValidString(key):
		// Not a Prometheus label value: /metrics could not show the run.
		writeError(w, http.StatusBadRequest, "run id is not valid UTF-8")
		return "", false
	}
	return key, true
}

// discardBody reads a body the handler does not use, up to maxFinishBody,
// or answers 413 past it. Refused this way, the rest is never read: the
// server closes the connection instead.
func discardBody(w http.ResponseWriter, r *http.Request) bool {
	_, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, maxFinishBody))
	var (
		tooLarge *http.MaxBytesError
		timeout  net.Error
	)
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body too large: this endpoint takes no body (at most %d bytes are ignored)", maxFinishBody))
		return false
	case errors.As(err, &timeout) && timeout.Timeout():
		writeError(w, http.StatusRequestTimeout, "request body not received within the server's read_timeout")
		return false
	case err != nil:
		writeError(w, http.StatusBadRequest, "request body cut short")
		return false
	}
	return true
}

// method answers a request with another method with a JSON 405.
func method(allowed string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != allowed {
			w.Header().Set("Allow", allowed)
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed; use %s", r.Method, allowed))
			return
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ") // examples/gate.sh reads the run's status by its indentation
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
