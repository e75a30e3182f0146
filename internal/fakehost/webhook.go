package fakehost

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"mime"
	"net/http"
	"slices"
	"testing"
)

// WebhookChecks are what a fake webhook requires of every post; an empty
// one is not checked.
type WebhookChecks struct {
	// Secret signs the body: X-Releasegate-Signature-256 must carry
	// sha256= and its HMAC-SHA256, as GitHub signs its webhooks.
	Secret string
	// Authorization is the Authorization header.
	Authorization string
	// URLToken is the token query parameter.
	URLToken string
}

// Webhook takes the posts of a webhook sink that pass its checks, and
// keeps the event of each: the X-Releasegate-Event of a json post, the
// CloudEvents type of a cdevents one.
type Webhook struct {
	*Server
	checks WebhookChecks
	events []string // guarded by the server's lock
}

// NewWebhook serves a webhook that checks what checks name, until the
// test ends.
func NewWebhook(tb testing.TB, checks WebhookChecks) *Webhook {
	tb.Helper()
	h := &Webhook{checks: checks}
	h.Server = newServer(tb, h.serve)
	return h
}

func (h *Webhook) serve(r *http.Request, body []byte) Answer {
	switch {
	case r.Method != http.MethodPost:
		return Answer{Code: http.StatusMethodNotAllowed}
	case h.checks.Authorization != "" && r.Header.Get("Authorization") != h.checks.Authorization,
		h.checks.URLToken != "" && r.URL.Query().Get("token") != h.checks.URLToken:
		return Answer{Code: http.StatusUnauthorized, Body: "unauthorized"}
	case h.checks.Secret != "" && !verify(h.checks.Secret, body, r.Header.Get("X-Releasegate-Signature-256")):
		return Answer{Code: http.StatusUnauthorized, Body: "bad signature"}
	}
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	event := r.Header.Get("X-Releasegate-Event")
	switch {
	case event != "" && mediaType != "application/json":
		return Answer{Code: http.StatusUnsupportedMediaType, Body: "a releasegate event is JSON"}
	case event == "" && mediaType != "application/cloudevents+json":
		return Answer{Code: http.StatusBadRequest, Body: "neither a releasegate event nor a structured CloudEvent"}
	case event == "":
		var cloudEvent struct{ Type string }
		if err := json.Unmarshal(body, &cloudEvent); err != nil || cloudEvent.Type == "" {
			return Answer{Code: http.StatusBadRequest, Body: "a CloudEvent without a type"}
		}
		event = cloudEvent.Type
	}
	h.events = append(h.events, event)
	return Answer{Code: http.StatusNoContent}
}

func verify(secret string, body []byte, signature string) bool {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal([]byte(signature), []byte("sha256="+hex.EncodeToString(mac.Sum(nil))))
}

// Events is the event of every post taken, in the order they came.
func (h *Webhook) Events() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.events)
}
