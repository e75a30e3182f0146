package fakehost

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"regexp"
	"slices"
)

// Status is a commit status a fake code host accepted.
type Status struct {
	// Repo is the repository, owner/name, on GitHub; the project, as
	// given (acme/shop or 42), on GitLab.
	Repo string
	SHA  string
	// State is in the host's words: failure on GitHub, failed on GitLab.
	State string
	// Context is GitHub's context, GitLab's name.
	Context     string
	Description string
	TargetURL   string
}

// codeHost is what the fake code hosts share: the server and the statuses
// accepted, which the server's lock guards.
type codeHost struct {
	*Server
	statuses []Status
}

// accept keeps s; the caller holds the server's lock (an api does).
func (h *codeHost) accept(s Status) int {
	h.statuses = append(h.statuses, s)
	return len(h.statuses)
}

// Statuses is every status accepted, in the order they came.
func (h *codeHost) Statuses() []Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.statuses)
}

// Received is the statuses accepted for a commit, in the order they came.
func (h *codeHost) Received(sha string) []Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Status
	for _, s := range h.statuses {
		if s.SHA == sha {
			out = append(out, s)
		}
	}
	return out
}

// sha40 is a full commit id: the only form the status APIs take.
var sha40 = regexp.MustCompile(`^[0-9a-f]{40}$`)

// decodeStrictly decodes a request body, refusing fields the API does not
// have, as a typo in a sink's body would be lost on the real host.
func decodeStrictly(body []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

func jsonAnswer(code int, format string, args ...any) Answer {
	return Answer{Code: code, Body: fmt.Sprintf(format, args...)}
}

// isJSON reports whether a request says its body is JSON.
func isJSON(r *http.Request) bool {
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mediaType == "application/json"
}
