// Package fakehost serves fakes of the receivers CI status sinks post to
// (GitHub, GitLab, a webhook) on the loopback interface, for unit and
// end-to-end tests alike. Each checks what the real one checks, keeps what
// it received in order, and can be switched to fail: refuse connections,
// answer 503, hang, or rate limit.
package fakehost

import (
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Health is how a fake answers, whatever it is asked.
type Health int

const (
	// Healthy answers as the real receiver does.
	Healthy Health = iota
	// Refusing listens no more: connections are refused.
	Refusing
	// Unavailable answers 503, as in an outage.
	Unavailable
	// Hung never answers, until the client gives up or the test ends.
	Hung
	// rateLimited answers 429 with a Retry-After; set by RateLimit.
	rateLimited
)

// Answer is a canned answer.
type Answer struct {
	Code   int
	Header http.Header
	Body   string
}

// Request is a request a fake received, with the code it answered.
type Request struct {
	Method string
	// Path is the path as sent, escaped: /api/v4/projects/acme%2Fshop/...
	Path   string
	Header http.Header
	Body   []byte
	// Code is the answer's status code; 0 for a request that hung.
	Code int
}

// api answers a request as the real receiver would. It is called with the
// server's lock held, so that what it records is in the order of the log.
type api func(r *http.Request, body []byte) Answer

// Server is what every fake shares: the listener, the health switch, the
// canned answers and the log.
type Server struct {
	// URL is the fake's root, http://127.0.0.1:<port>, which stays the same
	// while it refuses connections.
	URL string

	tb       testing.TB
	api      api
	addr     string
	handlers sync.WaitGroup
	release  chan struct{} // closed by Close: ends the hung requests

	mu         sync.Mutex // guards what follows, and the hosts' records
	health     Health
	retryAfter time.Duration
	script     []Answer
	requests   []Request
	cancelled  int
	server     *http.Server // nil while refusing
	closed     bool
	client     *http.Client
}

func newServer(tb testing.TB, a api) *Server {
	tb.Helper()
	s := &Server{tb: tb, api: a, release: make(chan struct{})}
	ln, err := listenBelowEphemeral()
	if err != nil {
		tb.Fatalf("fakehost: %v", err)
	}
	s.addr = ln.Addr().String()
	s.URL = "http://" + s.addr
	s.serve(ln)
	tb.Cleanup(s.Close)
	return s
}

// listenBelowEphemeral listens on a loopback port below the ephemeral
// ranges (32768 and up on Linux, 49152 and up elsewhere) that clients take
// their ports from: no connection made while the fake refuses can hold its
// port when it listens again.
func listenBelowEphemeral() (net.Listener, error) {
	var err error
	for range 100 {
		var ln net.Listener
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(20000+rand.IntN(12000)))
		if ln, err = (&net.ListenConfig{}).Listen(context.Background(), "tcp", addr); err == nil {
			return ln, nil
		}
	}
	return nil, err
}

// serve starts answering on ln. The caller holds s.mu, or is the only user
// of s.
func (s *Server) serve(ln net.Listener) {
	server := &http.Server{Handler: http.HandlerFunc(s.handle), ReadHeaderTimeout: 10 * time.Second}
	s.server = server
	go func() { _ = server.Serve(ln) }()
}

// SetHealth switches how the fake answers from now on. Refusing closes
// every connection; leaving it listens again on the same port.
func (s *Server) SetHealth(h Health) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setHealth(h)
}

// RateLimit makes the fake answer 429 with Retry-After: the whole seconds
// of retryAfter, until SetHealth.
func (s *Server) RateLimit(retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setHealth(rateLimited)
	s.retryAfter = retryAfter
}

func (s *Server) setHealth(h Health) {
	if s.closed {
		return
	}
	switch {
	case h == Refusing && s.server != nil:
		_ = s.server.Close()
		s.server = nil
		if s.client != nil {
			// Other clients find their connections closed on their next
			// request; this one knows at once.
			s.client.CloseIdleConnections()
		}
	case h != Refusing && s.server == nil:
		ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", s.addr)
		if err != nil {
			s.tb.Fatalf("fakehost: listening again on %s: %v", s.addr, err)
		}
		s.serve(ln)
	}
	s.health = h
}

// AnswerFirst queues answers that go before anything else, one per
// request, whatever the fake's health.
func (s *Server) AnswerFirst(answers ...Answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, answers...)
}

// Requests is every request received so far, in the order they came.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Answered counts the requests answered with code; 0 counts those that
// hung.
func (s *Server) Answered(code int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.Code == code {
			n++
		}
	}
	return n
}

// Cancelled counts the hung requests whose client gave up.
func (s *Server) Cancelled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cancelled
}

// Client is a client for the fake whose connections end with it.
func (s *Server) Client() *http.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		s.client = &http.Client{Transport: &http.Transport{}}
	}
	return s.client
}

// Close ends the hung requests and stops the fake; it is called when the
// test ends.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.release)
	if s.server != nil {
		_ = s.server.Close()
	}
	client := s.client
	s.mu.Unlock()
	s.handlers.Wait()
	if client != nil {
		client.CloseIdleConnections()
	}
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	// Counted under the lock, so that Close waits for every request that
	// came before it.
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.handlers.Add(1)
	s.mu.Unlock()
	defer s.handlers.Done()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "cannot read the body", http.StatusBadRequest)
		return
	}
	req := Request{Method: r.Method, Path: r.URL.EscapedPath(), Header: r.Header.Clone(), Body: body}

	s.mu.Lock()
	var answer Answer
	switch {
	case len(s.script) > 0:
		answer, s.script = s.script[0], s.script[1:]
	case s.health == Hung:
		s.requests = append(s.requests, req)
		s.mu.Unlock()
		s.hang(r.Context())
		return
	case s.health == Unavailable:
		answer = Answer{Code: http.StatusServiceUnavailable, Body: `{"message":"Service Unavailable"}`}
	case s.health == rateLimited:
		answer = Answer{
			Code:   http.StatusTooManyRequests,
			Header: http.Header{"Retry-After": {strconv.Itoa(int(s.retryAfter / time.Second))}},
			Body:   `{"message":"You have exceeded a rate limit. Please wait before you try again."}`,
		}
	default:
		answer = s.api(r, body)
	}
	req.Code = answer.Code
	s.requests = append(s.requests, req)
	s.mu.Unlock()
	write(w, answer)
}

// hang holds a request until its client gives up or the fake closes.
func (s *Server) hang(ctx context.Context) {
	select {
	case <-ctx.Done():
		s.mu.Lock()
		s.cancelled++
		s.mu.Unlock()
	case <-s.release:
	}
}

func write(w http.ResponseWriter, a Answer) {
	for k, v := range a.Header {
		w.Header()[k] = v
	}
	if w.Header().Get("Content-Type") == "" && a.Body != "" {
		w.Header().Set("Content-Type", contentType(a.Body))
	}
	w.WriteHeader(a.Code)
	_, _ = io.WriteString(w, a.Body)
}

func contentType(body string) string {
	if strings.HasPrefix(body, "{") || strings.HasPrefix(body, "[") {
		return "application/json; charset=utf-8"
	}
	return "text/plain; charset=utf-8"
}
