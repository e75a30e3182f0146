// Package webhook is the generic webhook sink: it posts every run event to
// an HTTP endpoint, as the verdict API's JSON or as CloudEvents carrying
// CDEvents, signed with a shared secret when one is set.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/releasegate/releasegate/internal/sink"
	"github.com/releasegate/releasegate/internal/verdict"
)

const (
	// EventHeader names the event of a json body: run.started or run.finished.
	EventHeader = "X-Releasegate-Event"
	// SignatureHeader carries "sha256=" and the lowercase hex HMAC-SHA256 of
	// the body under the secret, GitHub's X-Hub-Signature-256 scheme.
	SignatureHeader = "X-Releasegate-Signature-256"

	signaturePrefix = "sha256="
)

// Settings are what a webhook sink posts, and where.
type Settings struct {
	// Endpoint is the URL posted to; it may carry a token, and is never
	// shown.
	Endpoint string
	// Secret, when set, signs every body in SignatureHeader.
	Secret configopaque.String
	// CDEvents posts CloudEvents carrying CDEvents test events instead of
	// the run as the verdict API returns it.
	CDEvents bool
	// Source is the CloudEvents and CDEvents source of the CDEvents.
	Source string
}

// Sink posts run events to a webhook.
type Sink struct {
	client   *http.Client
	endpoint string
	secret   []byte
	cdevents bool
	source   string
}

var _ sink.Sink = (*Sink)(nil)

// New returns a sink posting with client, which brings the configured
// headers, auth and TLS.
func New(client *http.Client, set Settings) (*Sink, error) {
	if set.CDEvents {
		// CloudEvents require a non-empty URI-reference.
		if _, err := url.Parse(set.Source); err != nil || set.Source == "" {
			return nil, fmt.Errorf("source: must be a non-empty URI reference, got %q", set.Source)
		}
	}
	s := &Sink{client: client, endpoint: set.Endpoint, cdevents: set.CDEvents, source: set.Source}
	if set.Secret != "" {
		s.secret = []byte(set.Secret)
	}
	return s, nil
}

// Messages is one request per event in json format; in cdevents format,
// one per gate and one for the run when the run finishes. Abandoned runs
// are not posted: no verdict came of them.
func (s *Sink) Messages(e verdict.Event) ([]sink.Message, error) {
	if e.Kind != verdict.RunStarted && e.Kind != verdict.RunFinished {
		return nil, nil
	}
	if s.cdevents {
		return s.cdeventMessages(e)
	}
	// Marshalled now, so that every attempt sends the same bytes under the
	// same signature.
	body, err := json.Marshal(e.Run)
	if err != nil {
		return nil, err
	}
	return []sink.Message{s.message(
		fmt.Sprintf("webhook %s of run %s", e.Kind, e.Run.Run),
		"application/json", body, string(e.Kind),
	)}, nil
}

// message posts body once per Send. event, when set, goes in EventHeader.
func (s *Sink) message(what, contentType string, body []byte, event string) sink.Message {
	header := http.Header{"Content-Type": {contentType}}
	if event != "" {
		header.Set(EventHeader, event)
	}
	if s.secret != nil {
		header.Set(SignatureHeader, sign(s.secret, body))
	}
	return sink.Message{
		What: what,
		Send: func(ctx context.Context) error {
			return sink.Post(ctx, s.client, s.endpoint, header, body, reject)
		},
	}
}

// reject reads a receiver's error answer as plain text, and what it means
// as HTTP defines it.
func reject(resp *http.Response) error {
	return sink.Classify(sink.ReadError(resp, sink.Text), resp.Header)
}

func sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return signaturePrefix + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether header, the SignatureHeader of a request, signs
// body under secret. It is what a receiver runs; the comparison takes
// constant time.
func Verify(secret string, body []byte, header string) bool {
	return hmac.Equal([]byte(header), []byte(sign([]byte(secret), body)))
}
