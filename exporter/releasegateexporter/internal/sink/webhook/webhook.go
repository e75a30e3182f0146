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
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/sink"
	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/verdict"
)

const (
	// EventHeader names the event of a json body: run.started or run.finished.
	EventHeader = "X-Releasegate-Event"
	// SignatureHeader carries "sha256=" and the lowercase hex HMAC-SHA256 of
	// the body under the secret, GitHub's X-Hub-Signature-256 scheme.
	SignatureHeader = "X-Releasegate-Signature-256"

	signaturePrefix = "sha256="
	// maxErrorBody bounds what is read of a failed answer for its message.
	maxErrorBody = 1024
)

// Sink posts run events to a webhook.
type Sink struct {
	client   *http.Client
	endpoint string
	secret   []byte
	format   Format
	source   string
}

var _ sink.Sink = (*Sink)(nil)

// New returns the sink of cfg, posting with client (built from
// cfg.ClientConfig, so that headers, auth and TLS apply). source is the
// CloudEvents and CDEvents source of the cdevents format.
func New(cfg *Config, client *http.Client, source string) (*Sink, error) {
	if err := sink.CheckEndpoint(cfg.ClientConfig.Endpoint); err != nil {
		return nil, err
	}
	switch cfg.Format {
	case FormatJSON:
	case FormatCDEvents:
		// CloudEvents require a non-empty URI-reference.
		if _, err := url.Parse(source); err != nil || source == "" {
			return nil, fmt.Errorf("source: must be a non-empty URI reference, got %q", source)
		}
	default:
		return nil, fmt.Errorf("format: must be %s or %s, got %q", FormatJSON, FormatCDEvents, cfg.Format)
	}
	s := &Sink{client: client, endpoint: cfg.ClientConfig.Endpoint, format: cfg.Format, source: source}
	if cfg.Secret != "" {
		s.secret = []byte(cfg.Secret)
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
	if s.format == FormatCDEvents {
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
			return sink.Post(ctx, s.client, s.endpoint, header, body, statusError)
		},
	}
}

// statusError classifies a failed answer: a 4xx other than 408 and 429 is
// permanent, anything else worth retrying, after the Retry-After the
// receiver asked for on 429 and 503.
func statusError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	err := &sink.StatusError{
		Code:    resp.StatusCode,
		Message: sink.Truncate(strings.Join(strings.Fields(string(body)), " "), 200),
	}
	switch code := resp.StatusCode; {
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		if wait, ok := sink.RetryAfterHeader(resp.Header); ok {
			return sink.RetryAfter(err, wait)
		}
	case code == http.StatusRequestTimeout:
	case code >= 400 && code < 500:
		return sink.Permanent(err)
	}
	return err
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
