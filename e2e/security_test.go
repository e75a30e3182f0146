package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/releasegate/releasegate/internal/fakehost"
	"github.com/releasegate/releasegate/internal/page"
)

// The secrets of the collectors under test. Each is distinctive, so that
// finding it anywhere but in the requests that carry it is a leak.
const (
	apiToken         = "rg-e2e-api-token-7f3c91"
	gitlabToken      = "glpat-e2e-secret-token-52ab"
	webhookSecret    = "whsec-e2e-hmac-secret-c0de"
	webhookToken     = "wh-e2e-header-token-9e1f"
	cdeventsSecret   = "cd-e2e-hmac-secret-4b7a"
	cdeventsURLToken = "cd-e2e-url-token-d2c8"
	downURLToken     = "down-e2e-url-token-61f0"
)

// securityFiles copies testdata/<config> as collector.yaml, and the
// end-to-end gates, into a fresh directory for the collector to start in.
func securityFiles(t *testing.T, config string) string {
	t.Helper()
	dir := t.TempDir()
	for src, dst := range map[string]string{
		filepath.Join("testdata", config):             "collector.yaml",
		filepath.Join("..", "testdata", "gates.yaml"): "gates.yaml",
	} {
		data, err := os.ReadFile(src)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, dst), data, 0o600))
	}
	return dir
}

// call sends a request with the given Authorization header (none when
// empty) and returns the answer's status and body.
func call(t require.TestingT, client *http.Client, method, u, authorization string) (int, string) {
	req, err := http.NewRequest(method, u, nil)
	require.NoError(t, err)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// The verdict API behind the bearertokenauth extension (token from a file):
// every endpoint, finishing a run included, shown 401 without the right
// token and works with it; Prometheus scrapes /metrics with the same token
// from its credentials_file.
func TestAPIBearerTokenAuth(t *testing.T) {
	dir := securityFiles(t, "security-auth.yaml")
	tokenFile := filepath.Join(dir, "api.token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(apiToken+"\n"), 0o600))
	col := startCollector(t, dir, "http://127.0.0.1:1")
	col.waitReady(t)
	api := "http://" + col.apiAddr
	bearer := "Bearer " + apiToken

	telemetrygen(t, col.otlpGRPC, "--traces", "2", "--span-duration", "10ms",
		"--otlp-attributes", `cicd.pipeline.run.id="auth-run"`,
		"--telemetry-attributes", "http.response.status_code=200")
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		code, body := call(c, http.DefaultClient, http.MethodGet, api+"/v1/runs/auth-run", bearer)
		require.Equal(c, http.StatusOK, code, body)
		var v verdict
		require.NoError(c, json.Unmarshal([]byte(body), &v))
		_, _, spans := v.gate("server-latency")
		assert.Equal(c, 2, spans)
	}, 10*time.Second, 100*time.Millisecond)

	// The authenticator wraps the server's whole handler: the reads and
	// /metrics are guarded as well as finishing a run.
	endpoints := []struct{ method, path string }{
		{http.MethodPost, "/v1/runs/auth-run/finish"},
		{http.MethodGet, "/v1/runs"},
		{http.MethodGet, "/v1/runs/auth-run"},
		{http.MethodGet, "/metrics"},
		{http.MethodGet, "/no-such-endpoint"},
		{http.MethodGet, "/"},
		{http.MethodGet, "/runs"},
		{http.MethodGet, "/runs/auth-run"},
		{http.MethodGet, page.StylesheetPath},
	}
	for _, ep := range endpoints {
		for _, authorization := range []string{
			"",
			"Bearer wrong-token",
			apiToken, // without its scheme
			"Basic " + base64.StdEncoding.EncodeToString([]byte("releasegate:"+apiToken)),
		} {
			code, body := call(t, http.DefaultClient, ep.method, api+ep.path, authorization)
			assert.Equal(t, http.StatusUnauthorized, code, "%s %s with %q: %s", ep.method, ep.path, authorization, body)
			assert.NotContains(t, body, apiToken)
			var refusal struct{ Error string }
			assert.NoError(t, json.Unmarshal([]byte(body), &refusal), "a JSON error: %s", body)
			assert.NotEmpty(t, refusal.Error)
		}
	}
	// With the token, the pages answer as the API does.
	for _, path := range []string{"/", "/runs/auth-run", page.StylesheetPath} {
		code, body := call(t, http.DefaultClient, http.MethodGet, api+path, bearer)
		assert.Equal(t, http.StatusOK, code, "%s: %s", path, body)
	}

	// The refused finish changed nothing.
	var open verdict
	code, body := call(t, http.DefaultClient, http.MethodGet, api+"/v1/runs/auth-run", bearer)
	require.Equal(t, http.StatusOK, code, body)
	require.NoError(t, json.Unmarshal([]byte(body), &open))
	assert.False(t, open.Finished)

	// With the token, the CI step finishes the run and reads its verdict;
	// without it, the step fails.
	out, code := gate(t, api, "auth-run")
	assert.Equal(t, 5, code, out)
	assert.Contains(t, out, "401 Unauthorized")
	assert.Contains(t, out, "the API requires a token (server.auth): set RELEASEGATE_TOKEN")
	out, code = gate(t, api, "auth-run", "RELEASEGATE_TOKEN=wrong-token")
	assert.Equal(t, 5, code, out)
	assert.Contains(t, out, "the token in RELEASEGATE_TOKEN was refused")
	out, code = gate(t, api, "auth-run", "RELEASEGATE_TOKEN="+apiToken)
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "\n✓ passed")
	assert.NotContains(t, out, apiToken)
	var finished verdict
	code, body = call(t, http.DefaultClient, http.MethodGet, api+"/v1/runs/auth-run", bearer)
	require.Equal(t, http.StatusOK, code, body)
	require.NoError(t, json.Unmarshal([]byte(body), &finished))
	assert.True(t, finished.Finished)
	assert.Equal(t, "passed", finished.Status)
	for _, ep := range endpoints[1:4] {
		code, body := call(t, http.DefaultClient, ep.method, api+ep.path, bearer)
		assert.Equal(t, http.StatusOK, code, "%s %s: %s", ep.method, ep.path, body)
	}

	// Prometheus scrapes with the token read from a file; without it, the
	// target is down.
	prometheus := startPrometheusWith(t, fmt.Sprintf(`global:
  scrape_interval: 1s
scrape_configs:
  - job_name: releasegate
    authorization:
      credentials_file: %s
    static_configs:
      - targets: [%q]
  - job_name: releasegate-without-token
    static_configs:
      - targets: [%q]
`, tokenFile, col.apiAddr, col.apiAddr))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Equal(c, 1.0, promQuery(c, prometheus, `up{job="releasegate"}`))
		assert.Equal(c, 0.0, promQuery(c, prometheus, `up{job="releasegate-without-token"}`))
		assert.Equal(c, 1.0, promQuery(c, prometheus, `releasegate_run_status{job="releasegate",run="auth-run",status="passed"}`))
	}, 30*time.Second, 500*time.Millisecond)
}

// The verdict API over TLS with a self-signed certificate: a client that
// trusts it gets its shown (and still needs the token); one that does not
// trust it, or offers only TLS older than 1.2, is refused; plain HTTP on the
// same port never reaches the API.
func TestAPITLS(t *testing.T) {
	dir := securityFiles(t, "security-tls.yaml")
	roots := writeSelfSignedCert(t, filepath.Join(dir, "api.crt"), filepath.Join(dir, "api.key"))
	t.Setenv("RELEASEGATE_API_TOKEN", apiToken)
	col := startCollector(t, dir, "http://127.0.0.1:1")
	col.waitReady(t)
	api := "https://" + col.apiAddr
	bearer := "Bearer " + apiToken
	trusting := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}},
	}

	var v verdict
	code, body := call(t, trusting, http.MethodPost, api+"/v1/runs/tls-run/finish", bearer)
	require.Equal(t, http.StatusOK, code, body)
	require.NoError(t, json.Unmarshal([]byte(body), &v))
	assert.Equal(t, "tls-run", v.Run)
	assert.True(t, v.Finished)
	code, _ = call(t, trusting, http.MethodGet, api+"/v1/runs/tls-run", "")
	assert.Equal(t, http.StatusUnauthorized, code)

	req, err := http.NewRequest(http.MethodGet, api+"/v1/runs", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", bearer)
	resp, err := trusting.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	require.NotNil(t, resp.TLS)
	assert.GreaterOrEqual(t, resp.TLS.Version, uint16(tls.VersionTLS12))

	// A client with the system's roots does not trust the certificate.
	_, err = (&http.Client{Timeout: 10 * time.Second}).Get(api + "/v1/runs")
	var unknown x509.UnknownAuthorityError
	assert.ErrorAs(t, err, &unknown)

	// TLS 1.2 is the least the server takes (confighttp's default
	// min_version).
	old := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: roots, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11,
	}}}
	_, err = old.Get(api + "/v1/runs")
	assert.ErrorContains(t, err, "protocol version")

	// Plain HTTP on the TLS port: the server shown 400 before any handler
	// runs, so the run is not created.
	code, body = call(t, &http.Client{Timeout: 10 * time.Second}, http.MethodPost, "http://"+col.apiAddr+"/v1/runs/plain-run/finish", bearer)
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, body, "Client sent an HTTP request to an HTTPS server")
	code, body = call(t, trusting, http.MethodGet, api+"/v1/runs/plain-run", bearer)
	assert.Equal(t, http.StatusNotFound, code, body)
}

// writeSelfSignedCert writes a self-signed certificate for 127.0.0.1 and
// localhost and its key as PEM, and returns a pool that trusts it.
func writeSelfSignedCert(t *testing.T, certFile, keyFile string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	require.NoError(t, err)
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "releasegate e2e"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return roots
}

// A full run at debug log level with every sink configured with its
// secrets, and sink endpoints that refuse, fail and are down before they
// accept: no secret appears in the collector's output, its printed
// configuration, the API, its metrics or the JUnit report.
func TestSecretsStayOutOfLogs(t *testing.T) {
	const run, sha = "secrets-run", "3333333333333333333333333333333333333333"
	dir := securityFiles(t, "security-secrets.yaml")

	// Each fake fails its first requests, then checks the secrets it is
	// sent, so that a delivery proves the collector used them.
	github := newFakeGitHub(t)
	github.AnswerFirst(
		fakehost.Answer{Code: http.StatusInternalServerError, Body: `{"message": "Server Error"}`},
		fakehost.Answer{Code: http.StatusUnauthorized, Body: `{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}`})
	gitlab := fakehost.NewGitLab(t, gitlabToken)
	gitlab.AnswerFirst(
		fakehost.Answer{Code: http.StatusUnauthorized, Body: `{"message": "401 Unauthorized"}`},
		fakehost.Answer{Code: http.StatusBadGateway, Body: "<html><body><h1>502 Bad Gateway</h1></body></html>"})
	hook := fakehost.NewWebhook(t, fakehost.WebhookChecks{Secret: webhookSecret, Authorization: "Bearer " + webhookToken})
	hook.AnswerFirst(
		fakehost.Answer{Code: http.StatusInternalServerError, Body: "upstream failed"},
		fakehost.Answer{Code: http.StatusServiceUnavailable, Body: "try again"})
	cdevents := fakehost.NewWebhook(t, fakehost.WebhookChecks{Secret: cdeventsSecret, URLToken: cdeventsURLToken})
	cdevents.AnswerFirst(
		fakehost.Answer{Code: http.StatusUnauthorized, Body: `{"error": "invalid token"}`},
		fakehost.Answer{Code: http.StatusInternalServerError, Body: `{"error": "internal"}`})
	secrets := map[string]string{
		"the API token":              apiToken,
		"the GitHub token":           githubToken,
		"the GitLab token":           gitlabToken,
		"the webhook secret":         webhookSecret,
		"the webhook header token":   webhookToken,
		"the cdevents secret":        cdeventsSecret,
		"the cdevents URL token":     cdeventsURLToken,
		"the down webhook URL token": downURLToken,
	}
	for key, value := range map[string]string{
		"RELEASEGATE_API_TOKEN":   apiToken,
		"SECRETS_GITHUB_ENDPOINT": github.URL,
		"GITLAB_ENDPOINT":         gitlab.URL,
		"GITLAB_TOKEN":            gitlabToken,
		"WEBHOOK_ENDPOINT":        hook.URL + "/releasegate",
		"WEBHOOK_SECRET":          webhookSecret,
		"WEBHOOK_TOKEN":           webhookToken,
		"CDEVENTS_ENDPOINT":       cdevents.URL + "/events?token=" + cdeventsURLToken,
		"CDEVENTS_SECRET":         cdeventsSecret,
		"DOWN_ENDPOINT":           fmt.Sprintf("http://127.0.0.1:%d/hook?token=%s", freePort(t), downURLToken),
	} {
		t.Setenv(key, value)
	}

	col := startCollector(t, dir, "http://127.0.0.1:1")
	col.waitReady(t)
	api := "http://" + col.apiAddr
	bearer := "Bearer " + apiToken

	telemetrygen(t, col.otlpGRPC, "--traces", "3", "--span-duration", "200ms",
		"--otlp-attributes", `cicd.pipeline.run.id="`+run+`"`,
		"--otlp-attributes", `vcs.repository.url.full="https://github.com/acme/shop"`,
		"--otlp-attributes", `vcs.ref.head.revision="`+sha+`"`,
		"--telemetry-attributes", "http.response.status_code=200")
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		code, body := call(c, http.DefaultClient, http.MethodGet, api+"/v1/runs/"+run, bearer)
		require.Equal(c, http.StatusOK, code, body)
		var v verdict
		require.NoError(c, json.Unmarshal([]byte(body), &v))
		_, _, spans := v.gate("server-latency")
		assert.Equal(c, 3, spans)
	}, 10*time.Second, 100*time.Millisecond)

	// Everything the collector shows, starting with what the API answers
	// to anyone and to the token's holder.
	shown := map[string]string{}
	for _, authorization := range []string{"", "Bearer " + githubToken} {
		code, body := call(t, http.DefaultClient, http.MethodPost, api+"/v1/runs/"+run+"/finish", authorization)
		require.Equal(t, http.StatusUnauthorized, code, body)
		shown[fmt.Sprintf("the 401 answer to %q", authorization)] = body
	}
	code, body := call(t, http.DefaultClient, http.MethodPost, api+"/v1/runs/"+run+"/finish", bearer)
	require.Equal(t, http.StatusOK, code, body)
	shown["POST /v1/runs/{run}/finish"] = body

	// Every sink delivers the run's end once its endpoint accepts; the one
	// that stays down gives up on both of its messages.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Contains(c, states(github.Received(sha), "releasegate"), "failure", "GitHub")
		assert.Contains(c, states(gitlab.Received(sha), "releasegate"), "failed", "GitLab")
		assert.Contains(c, hook.Events(), "run.finished", "webhook")
		assert.Contains(c, cdevents.Events(), "dev.cdevents.testsuiterun.finished.0.3.0", "cdevents")
		assert.FileExists(c, filepath.Join(dir, "junit", run+".xml"))
		assert.Equal(c, 2.0, sinkCounter(c, col.metricsURL, "otelcol_exporter_releasegate_sink_failed", "webhooks[2]"))
	}, 30*time.Second, 100*time.Millisecond)
	// The failures took the error paths: retries and messages given up.
	for sink, want := range map[string]struct{ retried, failed float64 }{
		"github": {1, 1}, "gitlab": {1, 1}, "webhooks[0]": {2, 0}, "webhooks[1]": {1, 1},
	} {
		assert.GreaterOrEqual(t, sinkCounter(t, col.metricsURL, "otelcol_exporter_releasegate_sink_retried", sink), want.retried, sink)
		assert.Equal(t, want.failed, sinkCounter(t, col.metricsURL, "otelcol_exporter_releasegate_sink_failed", sink), sink)
	}

	for _, path := range []string{"/v1/runs", "/v1/runs/" + run, "/metrics"} {
		code, body := call(t, http.DefaultClient, http.MethodGet, api+path, bearer)
		require.Equal(t, http.StatusOK, code, body)
		shown["GET "+path] = body
	}
	_, shown["the collector's own metrics"] = call(t, http.DefaultClient, http.MethodGet, col.metricsURL, "")
	report, err := os.ReadFile(filepath.Join(dir, "junit", run+".xml"))
	require.NoError(t, err)
	shown["the JUnit report"] = string(report)

	// The configuration as the collector prints it: every secret that is a
	// setting of its own is configopaque, so redacted. (Endpoints are plain
	// strings in every collector component: a token in a URL shows here.)
	printConfig := exec.Command(tool(t, "RELEASEGATE_BINARY"), "print-config", "--config", "collector.yaml")
	printConfig.Dir, printConfig.Env = dir, col.cmd.Env
	printed, err := printConfig.CombinedOutput()
	require.NoError(t, err, string(printed))
	assert.GreaterOrEqual(t, strings.Count(string(printed), "[REDACTED]"), 7, string(printed))
	opaque := maps.Clone(secrets)
	delete(opaque, "the cdevents URL token")
	delete(opaque, "the down webhook URL token")
	assertNoSecret(t, opaque, "print-config", string(printed))

	// Stop the collector, so its output includes the shutdown.
	require.NoError(t, col.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, col.waitExit(t))
	output := col.output.String()
	// The output is the debug log, and it logged the failures.
	assert.Contains(t, output, "\tdebug\t")
	assert.Contains(t, output, "Retrying")
	assert.Contains(t, output, "Message not delivered")
	assert.Contains(t, output, "Bad credentials")
	assert.Contains(t, output, "401 Unauthorized")
	assert.Contains(t, output, "connection refused")
	shown["the collector's output"] = output

	for where, text := range shown {
		assertNoSecret(t, secrets, where, text)
	}
}

// assertNoSecret reports every line of text that holds one of secrets.
func assertNoSecret(t *testing.T, secrets map[string]string, where, text string) {
	t.Helper()
	for line := range strings.Lines(text) {
		for name, secret := range secrets {
			if strings.Contains(line, secret) {
				t.Errorf("%s in %s: %s", name, where, strings.TrimSpace(line))
			}
		}
	}
}

// states lists the states a commit status context went through.
func states(statuses []fakehost.Status, context string) []string {
	var out []string
	for _, s := range statuses {
		if s.Context == context {
			out = append(out, s.State)
		}
	}
	return out
}

// sinkCounter is a sink's counter on the collector's own /metrics.
func sinkCounter(t require.TestingT, metricsURL, name, sink string) float64 {
	return selfMetric(t, metricsURL, name, "sink", sink)
}
