package releasegateexporter

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/metadata"
	"github.com/releasegate/releasegate/internal/runstore"
	"github.com/releasegate/releasegate/internal/runstore/runstoretest"
	"github.com/releasegate/releasegate/internal/verdict"
)

// apiError asserts that an answer is a JSON error with the status want and
// returns its message.
func apiError(t *testing.T, want, status int, header http.Header, body []byte) string {
	t.Helper()
	assert.Equal(t, want, status, string(body))
	assert.Equal(t, "application/json", header.Get("Content-Type"))
	var msg struct{ Error string }
	require.NoError(t, json.Unmarshal(body, &msg), string(body))
	require.NotEmpty(t, msg.Error, string(body))
	return msg.Error
}

func runsHeld(e *releasegateExporter) []string {
	var keys []string
	for _, v := range e.store.List() {
		keys = append(keys, v.Run)
	}
	return keys
}

// escapeRunID is url.PathEscape, plus the dots of "." and "..", which
// would otherwise be cleaned out of the path (and redirected) by the router.
func escapeRunID(key string) string {
	if key == "." || key == ".." {
		return strings.ReplaceAll(key, ".", "%2E")
	}
	return url.PathEscape(key)
}

func TestAPIRunIDs(t *testing.T) {
	e, _, server, _ := newTestExporter(t, testLimits())
	keys := []string{
		"team/build-7", // %2F
		"a/b/finish",   // a path of its own
		"50%",          // %25
		"%2F",          // escaped text, escaped again: %252F
		"build 7",      // a space: %20
		"a+b&c=d?e#f",  // URL syntax
		"ü-日本-🚀",       // unicode
		"..",           // %2E%2E
		strings.Repeat("r", runstore.MaxRunIDLength),
	}
	for _, key := range keys {
		status, header, body := call(t, http.MethodGet, server.URL+"/v1/runs/"+escapeRunID(key))
		msg := apiError(t, http.StatusNotFound, status, header, body)
		assert.Equal(t, fmt.Sprintf("unknown run %q", key), msg)
	}
	assert.Empty(t, runsHeld(e), "looking a run up does not open it")

	for _, key := range keys {
		v := getRun(t, http.MethodPost, server.URL+"/v1/runs/"+escapeRunID(key)+"/finish")
		assert.Equal(t, key, v.Run)
		assert.True(t, v.Finished)
		assert.Equal(t, key, getRun(t, http.MethodGet, server.URL+"/v1/runs/"+escapeRunID(key)).Run)
	}
	assert.ElementsMatch(t, keys, runsHeld(e))

	// Escapes are case-insensitive.
	assert.Equal(t, "team/build-7", getRun(t, http.MethodGet, server.URL+"/v1/runs/team%2fbuild-7").Run)
}

func TestAPIRefusesRunIDsItCannotHold(t *testing.T) {
	e, _, server, _ := newTestExporter(t, testLimits())
	for _, tt := range []struct {
		name, escaped string
		status        int
		message       string
	}{
		{"64 KiB", strings.Repeat("r", 64<<10), http.StatusRequestURITooLong, fmt.Sprintf("run id is 65536 bytes long; at most %d are allowed", runstore.MaxRunIDLength)},
		{"one byte too long", strings.Repeat("r", runstore.MaxRunIDLength+1), http.StatusRequestURITooLong, "run id is 257 bytes long; at most 256 are allowed"},
		{"counted in bytes", strings.Repeat("%C3%BC", runstore.MaxRunIDLength/2+1), http.StatusRequestURITooLong, "run id is 258 bytes long; at most 256 are allowed"},
		{"not UTF-8", "r-%FF", http.StatusBadRequest, "run id is not valid UTF-8"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, req := range []struct{ method, path string }{
				{http.MethodGet, "/v1/runs/" + tt.escaped},
				{http.MethodPost, "/v1/runs/" + tt.escaped + "/finish"},
			} {
				status, header, body := call(t, req.method, server.URL+req.path)
				assert.Equal(t, tt.message, apiError(t, tt.status, status, header, body), req.method)
				assert.Less(t, len(body), 256, "the id is not echoed back")
			}
			assert.Empty(t, runsHeld(e))
		})
	}
	// /metrics, which could not show such a run, still answers.
	assert.NotNil(t, scrape(t, server.URL))
}

// Go's server answers, in plain text, what never reaches the API: request
// lines it cannot parse and headers past its 1 MiB limit.
func TestAPIRequestsRefusedBeforeTheAPI(t *testing.T) {
	e, _, server, _ := newTestExporter(t, testLimits())
	for path, want := range map[string]int{
		"/v1/runs/%zz/finish":                                http.StatusBadRequest,
		"/v1/runs/" + strings.Repeat("r", 2<<20) + "/finish": http.StatusRequestHeaderFieldsTooLarge,
	} {
		conn := dial(t, server.Listener.Addr().String())
		// The server stops reading at its limit: the write may fail.
		go func() { _, _ = fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: releasegate\r\n\r\n", path) }()
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err)
		assert.Equal(t, want, resp.StatusCode)
		require.NoError(t, resp.Body.Close())
	}
	assert.Empty(t, runsHeld(e))
}

func TestAPIWrongMethods(t *testing.T) {
	e, _, server, _ := newTestExporter(t, testLimits())
	require.NoError(t, e.consume(t.Context(), runstoretest.Traces(runstoretest.Checkout("r", time.Millisecond))))
	for path, allowed := range map[string]string{
		"/v1/runs":          http.MethodGet,
		"/v1/runs/r":        http.MethodGet,
		"/v1/runs/r/finish": http.MethodPost,
		"/":                 http.MethodGet,
		"/runs":             http.MethodGet,
		"/runs/r":           http.MethodGet,
	} {
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions} {
			if m == allowed {
				continue
			}
			status, header, body := call(t, m, server.URL+path)
			assert.Equal(t, allowed, header.Get("Allow"), "%s %s", m, path)
			if m == http.MethodHead {
				assert.Equal(t, http.StatusMethodNotAllowed, status, "%s %s", m, path)
				continue
			}
			msg := apiError(t, http.StatusMethodNotAllowed, status, header, body)
			assert.Equal(t, fmt.Sprintf("method %s not allowed; use %s", m, allowed), msg)
		}
	}
	v := getRun(t, http.MethodGet, server.URL+"/v1/runs/r")
	assert.False(t, v.Finished, "no other method finishes a run")
}

// Baselines through the API: listed, pinned and unpinned, and a finish
// compared with another run; every refusal says why.
func TestAPIBaselines(t *testing.T) {
	e, _, server, _ := newTestExporterOf(t, `
baseline:
  min_samples: 5
gates:
  - name: latency
    match: name == "POST /checkout"
    fail: latency_ratio_low > 1.10
`, testLimits())
	checkouts := func(run string, d time.Duration) {
		var spans []runstoretest.Span
		for i := range 10 {
			spans = append(spans, runstoretest.Span{Run: run, Name: "POST /checkout", Duration: d + time.Duration(i)*time.Millisecond, Matched: []string{"latency"}})
		}
		require.NoError(t, e.consume(t.Context(), runstoretest.Traces(spans...)))
	}
	request := func(method, path, body string) (int, http.Header, []byte) {
		req, err := http.NewRequestWithContext(t.Context(), method, server.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, resp.Header, data
	}
	checkouts("r-1", 100*time.Millisecond)
	assert.Equal(t, verdict.Passed, getRun(t, http.MethodPost, server.URL+"/v1/runs/r-1/finish").Status)
	checkouts("r-2", 200*time.Millisecond)

	status, _, body := request(http.MethodGet, "/v1/baselines", "")
	require.Equal(t, http.StatusOK, status)
	assert.JSONEq(t, `{"series": [{"series": "default", "baseline": "r-1", "pinned": null, "last_passed": "r-1"}]}`, string(body))
	status, _, body = request(http.MethodPut, "/v1/baselines/default", `{"run": "r-1"}`)
	require.Equal(t, http.StatusOK, status, string(body))
	assert.JSONEq(t, `{"series": "default", "baseline": "r-1", "pinned": "r-1", "last_passed": "r-1"}`, string(body))
	for _, tt := range []struct {
		method, path, body string
		status             int
		message            string
	}{
		{http.MethodPut, "/v1/baselines/default", `{"runs": "r-1"}`, http.StatusBadRequest, `the body pins a run: {"run": "<run id>"}`},
		{http.MethodPut, "/v1/baselines/default", `{"run": "r-gone"}`, http.StatusNotFound, `no such run held to compare with: "r-gone"`},
		{http.MethodPut, "/v1/baselines/default", `{"run": "r-2"}`, http.StatusConflict, `only a run that finished passed can be a baseline: "r-2" is pending`},
		{http.MethodDelete, "/v1/baselines/nowhere", "", http.StatusNotFound, `no such series: "nowhere"`},
		{http.MethodGet, "/v1/baselines/default", "", http.StatusMethodNotAllowed, "method GET not allowed; use PUT or DELETE"},
		{http.MethodPost, "/v1/runs/r-2/finish?baseline=r-gone", "", http.StatusNotFound, `cannot compare run "r-2" with "r-gone": no such run held to compare with: "r-gone"`},
		{http.MethodPost, "/v1/runs/r-2/finish?baseline=", "", http.StatusBadRequest, "baseline: not a run id (1 to 256 bytes of UTF-8)"},
	} {
		status, header, body := request(tt.method, tt.path, tt.body)
		assert.Equal(t, tt.message, apiError(t, tt.status, status, header, body), "%s %s", tt.method, tt.path)
	}

	v := getRun(t, http.MethodPost, server.URL+"/v1/runs/r-2/finish?baseline=r-1")
	assert.Equal(t, "r-1", *v.Baseline)
	assert.Equal(t, verdict.Failed, v.Status)
	status, header, body := request(http.MethodPost, "/v1/runs/r-2/finish?baseline=r-1", "")
	assert.Equal(t, `cannot compare run "r-2" with "r-1": the run finished already (api): it was compared with r-1`, apiError(t, http.StatusConflict, status, header, body))

	status, _, body = request(http.MethodDelete, "/v1/baselines/default", "")
	require.Equal(t, http.StatusOK, status)
	assert.JSONEq(t, `{"series": "default", "baseline": "r-1", "pinned": null, "last_passed": "r-1"}`, string(body))
}

// The finish endpoint takes no body. It ignores a small one and refuses a
// larger one, reading no more than its limit of it.
func TestAPIFinishBody(t *testing.T) {
	e, _, server, _ := newTestExporter(t, testLimits())
	post := func(key string, body io.Reader) *http.Response {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, server.URL+"/v1/runs/"+key+"/finish", body)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		return resp
	}
	read := func(resp *http.Response) (int, http.Header, []byte) {
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, resp.Header, body
	}

	for key, body := range map[string]string{
		"empty-json": "{}",
		"at-limit":   strings.Repeat("x", maxFinishBody),
	} {
		status, _, got := read(post(key, strings.NewReader(body)))
		assert.Equal(t, http.StatusOK, status, string(got))
	}

	resp := post("over-limit", strings.NewReader(strings.Repeat("x", maxFinishBody+1)))
	assert.True(t, resp.Close, "the server hangs up rather than read the rest")
	status, header, got := read(resp)
	msg := apiError(t, http.StatusRequestEntityTooLarge, status, header, got)
	assert.Equal(t, "request body too large: this endpoint takes no body (at most 4096 bytes are ignored)", msg)
	assert.ElementsMatch(t, []string{"empty-json", "at-limit"}, runsHeld(e), "a refused request finishes nothing")

	// 1 GiB announced, 8 KiB sent: refused at once, without waiting for the rest.
	conn := dial(t, server.Listener.Addr().String())
	_, err := fmt.Fprintf(conn, "POST /v1/runs/huge/finish HTTP/1.1\r\nHost: releasegate\r\nContent-Length: %d\r\n\r\n%s", 1<<30, strings.Repeat("x", 8<<10))
	require.NoError(t, err)
	resp, err = http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	status, header, got = read(resp)
	apiError(t, http.StatusRequestEntityTooLarge, status, header, got)

	// Unbounded, as a chunked body: the handler reads its limit and a byte.
	body := &countingReader{}
	rec := httptest.NewRecorder()
	e.api().ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/v1/runs/chunked/finish", body))
	apiError(t, http.StatusRequestEntityTooLarge, rec.Code, rec.Header(), rec.Body.Bytes())
	assert.Equal(t, int64(maxFinishBody+1), body.n)
	assert.NotContains(t, runsHeld(e), "chunked")
}

// countingReader is an endless body that counts what was read of it.
type countingReader struct{ n int64 }

func (r *countingReader) Read(p []byte) (int, error) {
	r.n += int64(len(p))
	return len(p), nil
}

// The API is read, and runs finished, while spans arrive.
func TestAPIConcurrentRequests(t *testing.T) {
	e, _, server, _ := newTestExporter(t, testLimits())
	get := func(method, path string) {
		req, err := http.NewRequestWithContext(t.Context(), method, server.URL+path, nil)
		if !assert.NoError(t, err) {
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if !assert.NoError(t, err) {
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		assert.Less(t, resp.StatusCode, 500, "%s %s", method, path)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 8 {
				key := fmt.Sprintf("w%d/r%d", w, i%4)
				assert.NoError(t, e.consume(t.Context(), runstoretest.Traces(runstoretest.Checkout(key, time.Duration(i)*time.Millisecond))))
				get(http.MethodGet, "/v1/runs/"+url.PathEscape(key))
				get(http.MethodGet, "/v1/runs")
				switch i % 4 {
				case 1:
					get(http.MethodGet, "/metrics")
				case 3:
					get(http.MethodPost, "/v1/runs/"+url.PathEscape(key)+"/finish")
				}
			}
		})
	}
	wg.Wait()
	assert.Len(t, runsHeld(e), 32)
}

// The server's read timeouts default tighter than confighttp's, and reach
// the HTTP server.
func TestServerTimeoutDefaults(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	srv, err := cfg.Server.ToServer(t.Context(), nil, componenttest.NewNopTelemetrySettings(), http.NotFoundHandler())
	require.NoError(t, err)
	assert.Equal(t, 10*time.Second, srv.ReadHeaderTimeout)
	assert.Equal(t, 30*time.Second, srv.ReadTimeout)
	assert.Equal(t, 30*time.Second, srv.WriteTimeout)
	assert.Equal(t, time.Minute, srv.IdleTimeout)
}

// startExporter runs the exporter as the collector does, on its own
// confighttp server, and returns the server's address.
func startExporter(t *testing.T, server func(*confighttp.ServerConfig)) string {
	t.Helper()
	doc, err := config.Parse([]byte(runstoretest.Gates))
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	cfg.Gates = doc
	cfg.Server.NetAddr.Endpoint = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	server(&cfg.Server)
	exp, err := NewFactory().CreateTraces(t.Context(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(t.Context(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })
	return cfg.Server.NetAddr.Endpoint
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := (&net.Dialer{}).DialContext(t.Context(), "tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	// The test's own bound: the server must hang up well before.
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	return conn
}

// hangUp reads r, a dialled connection, until the server closes it, and
// says when that was.
func hangUp(t *testing.T, r io.Reader) time.Time {
	t.Helper()
	_, err := io.Copy(io.Discard, r)
	if nerr, ok := errors.AsType[net.Error](err); ok && nerr.Timeout() {
		t.Fatal("the server never hung up")
	}
	return time.Now()
}

// Slow clients cannot hold a connection past the server's timeouts
// (read_header_timeout, read_timeout, keepalive's idle_timeout).
func TestAPISlowClients(t *testing.T) {
	// The server's clock starts at accept, a little before the test's.
	const timeout, slack = 300 * time.Millisecond, 50 * time.Millisecond

	t.Run("headers sent slowly", func(t *testing.T) {
		addr := startExporter(t, func(s *confighttp.ServerConfig) { s.ReadHeaderTimeout, s.ReadTimeout = timeout, 0 })
		conn := dial(t, addr)
		start := time.Now()
		// A byte every 20ms keeps the connection busy, never idle: only
		// the header deadline, counted from the first byte, cuts it.
		done := make(chan struct{})
		go func() {
			defer close(done)
			for _, b := range []byte("GET /v1/runs HTTP/1.1\r\nHost: releasegate\r\nX-Slow: " + strings.Repeat("z", 500)) {
				if _, err := conn.Write([]byte{b}); err != nil {
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
		closed := hangUp(t, conn)
		assert.GreaterOrEqual(t, closed.Sub(start), timeout-slack)
		assert.Less(t, closed.Sub(start), timeout+2*time.Second)
		_ = conn.Close()
		<-done
	})

	t.Run("body sent slowly", func(t *testing.T) {
		addr := startExporter(t, func(s *confighttp.ServerConfig) { s.ReadTimeout = timeout })
		conn := dial(t, addr)
		start := time.Now()
		_, err := fmt.Fprint(conn, "POST /v1/runs/slow/finish HTTP/1.1\r\nHost: releasegate\r\nContent-Length: 100\r\n\r\n{")
		require.NoError(t, err)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		msg := apiError(t, http.StatusRequestTimeout, resp.StatusCode, resp.Header, body)
		assert.Equal(t, "request body not received within the server's read_timeout", msg)
		closed := hangUp(t, br)
		assert.GreaterOrEqual(t, closed.Sub(start), timeout-slack)
		assert.Less(t, closed.Sub(start), timeout+2*time.Second)

		status, header, body := call(t, http.MethodGet, "http://"+addr+"/v1/runs/slow")
		apiError(t, http.StatusNotFound, status, header, body)
	})

	t.Run("idle keep-alive connection", func(t *testing.T) {
		addr := startExporter(t, func(s *confighttp.ServerConfig) {
			keepalive := confighttp.NewDefaultKeepaliveServerConfig()
			keepalive.IdleTimeout = timeout
			s.Keepalive = configoptional.Some(keepalive)
		})
		conn := dial(t, addr)
		_, err := fmt.Fprint(conn, "GET /v1/runs HTTP/1.1\r\nHost: releasegate\r\n\r\n")
		require.NoError(t, err)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		_, err = io.Copy(io.Discard, resp.Body)
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.False(t, resp.Close, "kept alive")
		idle := time.Now()
		closed := hangUp(t, br)
		assert.GreaterOrEqual(t, closed.Sub(idle), timeout-slack)
		assert.Less(t, closed.Sub(idle), timeout+2*time.Second)
	})
}
