package sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

const (
	// maxDrain bounds what is read of a successful answer to reuse the
	// connection.
	maxDrain = 64 << 10
	// maxErrorBody bounds what is read of an error answer for its message.
	maxErrorBody = 64 << 10
)

// Post sends body with the given headers. A 2xx answer is success; any
// other goes to reject, which reads it (ReadError) and says what the queue
// should do: retry, wait, give up (Permanent), or nothing (nil). Client
// errors leave the URL out (a webhook's URL may carry a token) and are
// retried.
func Post(ctx context.Context, client *http.Client, endpoint string, header http.Header, body []byte, reject func(*http.Response) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return Permanent(withoutURL(err))
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		return withoutURL(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return reject(resp)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	return nil
}

func withoutURL(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return fmt.Errorf("%s: %w", uerr.Op, uerr.Err)
	}
	return err
}

// ReadError is an error answer with the receiver's message, which explain
// finds in the body (Text when the receiver has no format of its own).
func ReadError(resp *http.Response, explain func(body []byte) string) *StatusError {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return &StatusError{Code: resp.StatusCode, Message: explain(body)}
}

// Text is the start of a body on one line, for a log: a proxy's error
// page, a receiver's plain text.
func Text(body []byte) string {
	return Truncate(strings.Join(strings.Fields(string(body)), " "), 200)
}

// Classify says what an error answer means, as HTTP defines it: wait as
// asked on 429 and 503 with a Retry-After, retry 408, 429 and 5xx (and
// anything else that is not a client error), give up on the other 4xx,
// which retrying cannot fix.
func Classify(err *StatusError, header http.Header) error {
	switch code := err.Code; {
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		if wait, ok := RetryAfterHeader(header); ok {
			return RetryAfter(err, wait)
		}
	case code == http.StatusRequestTimeout:
	case code >= 400 && code < 500:
		return Permanent(err)
	}
	return err
}
