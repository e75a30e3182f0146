package releasegateexporter

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/releasegate/releasegate/config"
	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/metadata"
	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/sink/junit"
	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/sink/webhook"
	"github.com/releasegate/releasegate/exporter/releasegateexporter/internal/verdict"
	"github.com/releasegate/releasegate/internal/comptest"
)

// hookReceiver is a webhook endpoint that checks signatures as a receiver
// would, and keeps the events it accepted.
type hookReceiver struct {
	mu     sync.Mutex
	events []string
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if !webhook.Verify("hook-secret", body, r.Header.Get(webhook.SignatureHeader)) {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var run verdict.Run
	if err := json.Unmarshal(body, &run); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.events = append(h.events, r.Header.Get(webhook.EventHeader)+" "+run.Run+" "+string(run.Status))
	h.mu.Unlock()
}

func (h *hookReceiver) received() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.events...)
}

// Sinks get every run's events through the component: the run's start and
// its finish in order; on shutdown, the runs still open (JUnit marks their
// gates skipped), and the queues are flushed.
func TestSinksThroughTheExporter(t *testing.T) {
	hooks := &hookReceiver{}
	server := httptest.NewServer(hooks)
	defer server.Close()
	dir := t.TempDir()

	doc, err := config.Parse([]byte(testGates))
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	cfg.Gates = doc
	cfg.Server.NetAddr.Endpoint = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	hook := webhook.NewDefaultConfig()
	hook.ClientConfig.Endpoint = server.URL
	hook.Secret = "hook-secret"
	cfg.Webhooks = []webhook.Config{hook}
	reports := junit.NewDefaultConfig()
	reports.Directory = dir
	cfg.JUnit = configoptional.Some(reports)
	require.NoError(t, cfg.Validate())

	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	set := exportertest.NewNopSettings(metadata.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	exp, err := NewFactory().CreateTraces(t.Context(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(t.Context(), componenttest.NewNopHost()))

	require.NoError(t, exp.ConsumeTraces(t.Context(), traces(checkout("done", 500*time.Millisecond), checkout("open", time.Millisecond))))
	status, _, _ := call(t, http.MethodPost, "http://"+cfg.Server.NetAddr.Endpoint+"/v1/runs/done/finish")
	require.Equal(t, http.StatusOK, status)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Contains(c, hooks.received(), "run.finished done failed")
	}, 5*time.Second, 20*time.Millisecond)
	require.NoError(t, exp.Shutdown(context.Background()))

	var done, open []string
	for _, e := range hooks.received() {
		switch {
		case strings.Contains(e, " done "):
			done = append(done, e)
		case strings.Contains(e, " open "):
			open = append(open, e)
		}
	}
	assert.Equal(t, []string{"run.started done pending", "run.finished done failed"}, done)
	assert.Equal(t, []string{"run.started open pending"}, open, "webhooks are not told of abandoned runs")
	assert.Equal(t, int64(3), comptest.Counter(t, tel, "otelcol_exporter_releasegate_sink_sent", "sink", "webhooks[0]"))

	// JUnit: the finished run's report, and the open run's with its gates
	// skipped.
	for run, wantSkipped := range map[string]string{"done": "0", "open": "4"} {
		data, err := os.ReadFile(filepath.Join(dir, run+".xml"))
		require.NoError(t, err, run)
		var suites struct {
			Suites []struct {
				Skipped string `xml:"skipped,attr"`
			} `xml:"testsuite"`
		}
		require.NoError(t, xml.Unmarshal(data, &suites))
		require.Len(t, suites.Suites, 1)
		assert.Equal(t, wantSkipped, suites.Suites[0].Skipped, run)
	}
}
