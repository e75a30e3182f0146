// Package sink delivers CI status events: each sink turns a run's events
// into messages (one HTTP request, one file), and a Queue delivers them in
// order, at least once, with bounded retries, off the span path.
package sink

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/releasegate/releasegate/internal/verdict"
)

// Message is one delivery: an HTTP request, a file. Send is called until it
// succeeds, fails permanently, or the retries run out.
type Message struct {
	// What names the message in logs, without secrets:
	// "status releasegate/checkout-latency of 1a2b3c4".
	What string
	Send func(context.Context) error
}

// Sink turns events into the messages to deliver, in order. An error means
// the sink skips the event (a run without a commit, say): it is counted,
// and logged the first time.
type Sink interface {
	Messages(verdict.Event) ([]Message, error)
}

// Permanent marks an error that retrying cannot fix (a 4xx answer).
func Permanent(err error) error { return permanentError{err} }

type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

// RetryAfter marks an error after which the receiver asked to wait (a rate
// limit): the next attempt comes after d instead of the backoff interval.
func RetryAfter(err error, d time.Duration) error { return retryAfterError{err, d} }

type retryAfterError struct {
	error
	after time.Duration
}

func (e retryAfterError) Unwrap() error { return e.error }

func isPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

func retryAfter(err error) (time.Duration, bool) {
	var r retryAfterError
	if errors.As(err, &r) {
		return r.after, true
	}
	return 0, false
}

// Truncate shortens s to at most n characters (runes), ending it with "…"
// when it had to be cut.
func Truncate(s string, n int) string {
	r := []rune(s)
	switch {
	case len(r) <= n:
		return s
	case n < 1:
		return ""
	}
	return string(r[:n-1]) + "…"
}

// StatusError is an HTTP answer that was not a success, with the
// receiver's own message.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("HTTP %d", e.Code)
	}
	return fmt.Sprintf("HTTP %d: %s", e.Code, e.Message)
}

// RetryAfterHeader is the wait a Retry-After header asks for, in seconds
// (the HTTP-date form is not used by the CI services).
func RetryAfterHeader(h http.Header) (time.Duration, bool) {
	seconds, err := strconv.Atoi(h.Get("Retry-After"))
	if err != nil || seconds < 0 {
		return 0, false
	}
	return time.Duration(seconds) * time.Second, true
}
