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
// POST /v1/runs/{run}/finish[?baseline={run}]; the baselines: GET
// /v1/baselines, PUT and DELETE /v1/baselines/{series}; and the pages for
// people: GET /runs/{run}, and the list at GET / and GET /runs. Run ids
// and series are path segments, URL-escaped.
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
		other := r.URL.Query().Get("baseline")
		if _, ok := r.URL.Query()["baseline"]; ok && !runstore.ValidRunKey(other) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("baseline: not a run id (1 to %d bytes of UTF-8)", runstore.MaxRunIDLength))
			return
		}
		view, err := e.finish(r.Context(), key, other)
		switch {
		case errors.Is(err, runstore.ErrUnknownBaseline):
			writeError(w, http.StatusNotFound, fmt.Sprintf("cannot compare run %q with %q: %v", key, other, err))
		case errors.Is(err, runstore.ErrFinished):
			writeError(w, http.StatusConflict, fmt.Sprintf("cannot compare run %q with %q: %v", key, other, err))
		case err != nil:
			writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("cannot hold run %q: %v", key, err))
		default:
			writeJSON(w, http.StatusOK, view)
		}
	}))
	mux.HandleFunc("/v1/baselines", method(http.MethodGet, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"series": e.store.Baselines()})
	}))
	mux.HandleFunc("PUT /v1/baselines/{series}", func(w http.ResponseWriter, r *http.Request) {
		name, ok := pathKey(w, r, "series")
		if !ok {
			return
		}
		var pin struct {
			Run string `json:"run"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxFinishBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&pin); err != nil || pin.Run == "" {
			writeError(w, http.StatusBadRequest, `the body pins a run: {"run": "<run id>"}`)
			return
		}
		view, err := e.pin(r.Context(), name, pin.Run)
		switch {
		case errors.Is(err, runstore.ErrUnknownBaseline):
			writeError(w, http.StatusNotFound, err.Error())
		case err != nil:
			writeError(w, http.StatusConflict, err.Error())
		default:
			writeJSON(w, http.StatusOK, view)
		}
	})
	mux.HandleFunc("DELETE /v1/baselines/{series}", func(w http.ResponseWriter, r *http.Request) {
		name, ok := pathKey(w, r, "series")
		if !ok {
			return
		}
		view, err := e.store.Unpin(name)
		if err != nil {
			writeError(w, http.StatusNotFound, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, view)
	})
	mux.HandleFunc("/v1/baselines/{series}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "PUT, DELETE")
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed; use PUT or DELETE", r.Method))
	})
	mux.Handle("/metrics", e.metricsHandler())
	mux.HandleFunc("/{$}", method(http.MethodGet, e.pages.List))
	mux.HandleFunc("/runs", method(http.MethodGet, e.pages.List))
	mux.HandleFunc("/runs/{run}", method(http.MethodGet, e.pages.Run))
	mux.HandleFunc(page.StylesheetPath, method(http.MethodGet, e.pages.Stylesheet))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint %s; see /v1/runs, /v1/runs/{run}, /v1/runs/{run}/finish, /v1/baselines, /metrics, and the pages /runs and /runs/{run}", r.URL.Path))
	})
	return mux
}

// runID is the request's {run}, or false after answering with an error for
// an id the exporter never holds: neither opened nor echoed back.
func runID(w http.ResponseWriter, r *http.Request) (string, bool) { return pathKey(w, r, "run") }

// pathKey is the request's run id or series, named by wildcard, or false
// after answering with an error for one the exporter never holds.
func pathKey(w http.ResponseWriter, r *http.Request, wildcard string) (string, bool) {
	key := r.PathValue(wildcard)
	what := map[string]string{"run": "run id"}[wildcard]
	if what == "" {
		what = wildcard
	}
	switch {
	case len(key) > runstore.MaxRunIDLength:
		writeError(w, http.StatusRequestURITooLong, fmt.Sprintf("%s is %d bytes long; at most %d are allowed", what, len(key), runstore.MaxRunIDLength))
		return "", false
	case !utf8.ValidString(key):
		// Not a Prometheus label value: /metrics could not show the run.
		writeError(w, http.StatusBadRequest, what+" is not valid UTF-8")
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
	enc.SetIndent("", "  ") // for people reading it with curl
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
