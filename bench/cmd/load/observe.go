package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

const heapMetric = "/memory/classes/heap/objects:bytes"

// heapBytes is the heap's object bytes now, live and not yet collected.
func heapBytes() uint64 {
	s := []metrics.Sample{{Name: heapMetric}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// liveHeap is the heap after a full collection. Two, so that what sync.Pool
// keeps for one cycle is gone too.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	return heapBytes()
}

// heapPeak samples the heap every 10ms, without stopping the world as
// runtime.ReadMemStats would.
type heapPeak struct{ max atomic.Uint64 }

func (h *heapPeak) run(ctx context.Context) {
	ticker := time.NewTicker(10 * time.Millisecond)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			h.observe()
		}
	}
}

func (h *heapPeak) observe() {
	v := heapBytes()
	for {
		old := h.max.Load()
		if v <= old || h.max.CompareAndSwap(old, v) {
			return
		}
	}
}

// take returns the peak since the last take and starts a new period.
func (h *heapPeak) take() uint64 {
	h.observe()
	return h.max.Swap(heapBytes())
}

// readings are the components' self-telemetry at one moment.
type readings struct{ rm metricdata.ResourceMetrics }

func (p *pipeline) read() (readings, error) {
	var r readings
	err := p.tel.Reader.Collect(context.Background(), &r.rm)
	return r, err
}

// sum adds up the data points of an integer sum whose attributes include
// attrs; an instrument never recorded to reads 0.
func (r readings) sum(name string, attrs ...attribute.KeyValue) int64 {
	var total int64
	for _, sm := range r.rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			data, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				continue
			}
		points:
			for _, dp := range data.DataPoints {
				for _, kv := range attrs {
					if v, ok := dp.Attributes.Value(kv.Key); !ok || v != kv.Value {
						continue points
					}
				}
				total += dp.Value
			}
		}
	}
	return total
}

// /metrics series of one run: releasegate_run_status has one per status;
// per gate, releasegate_gate_status one per status, the three counters,
// the duration summary (four quantiles, _sum and _count) and the max
// (metrics.go).
const (
	statuses      = 6
	seriesPerRun  = statuses
	seriesPerGate = statuses + 3 + 6 + 1
)

func seriesBound(runs, gates int) int { return runs * (gates*seriesPerGate + seriesPerRun) }

// scrape is what one GET /metrics showed.
type scrape struct {
	series     int
	runs       int // runs with a status, from releasegate_run_status
	verdicts   int // (run, gate) pairs with a current status
	pending    int // of those, still pending
	spans      int64
	violations int64
	bytes      int64
	took       time.Duration
}

// scrapeMetrics reads /metrics as text, uncompressed, and counts its
// series line by line rather than holding the whole body.
func scrapeMetrics(client *http.Client, base string) (scrape, error) {
	var s scrape
	req, err := http.NewRequest(http.MethodGet, base+"/metrics", http.NoBody)
	if err != nil {
		return s, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	req.Header.Set("Accept-Encoding", "identity")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	body := &countingReader{r: resp.Body}
	lines := bufio.NewScanner(body)
	lines.Buffer(make([]byte, 64*1024), 1024*1024)
	for lines.Scan() {
		line := lines.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		s.series++
		name := line[:strings.IndexAny(line, "{ ")]
		value := line[strings.LastIndexByte(line, ' ')+1:]
		switch name {
		case "releasegate_run_status":
			if value == "1" {
				s.runs++
			}
		case "releasegate_gate_status":
			if value == "1" {
				s.verdicts++
				if strings.Contains(line, `status="pending"`) {
					s.pending++
				}
			}
		case "releasegate_gate_spans_total", "releasegate_gate_violations_total":
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				return s, fmt.Errorf("GET /metrics: %q: %w", line, err)
			}
			if name == "releasegate_gate_spans_total" {
				s.spans += int64(v)
			} else {
				s.violations += int64(v)
			}
		}
	}
	s.bytes, s.took = body.n, time.Since(start)
	if err := lines.Err(); err != nil {
		return s, fmt.Errorf("GET /metrics after %d bytes in %s: %w", s.bytes, s.took.Round(time.Millisecond), err)
	}
	return s, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// runView is what GET /v1/runs shows of a run.
type runView struct {
	Run      string `json:"run"`
	Status   string `json:"status"`
	Finished bool   `json:"finished"`
}

func listRuns(client *http.Client, base string) ([]runView, error) {
	resp, err := client.Get(base + "/v1/runs")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /v1/runs: %s", resp.Status)
	}
	var list struct {
		Runs []runView `json:"runs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, fmt.Errorf("GET /v1/runs: %w", err)
	}
	return list.Runs, nil
}

// waitRuns polls GET /v1/runs until done holds for the runs it lists.
func waitRuns(client *http.Client, base string, timeout time.Duration, done func([]runView) bool) ([]runView, error) {
	deadline := time.Now().Add(timeout)
	for {
		runs, err := listRuns(client, base)
		if err != nil || done(runs) {
			return runs, err
		}
		if time.Now().After(deadline) {
			return runs, fmt.Errorf("GET /v1/runs: still %d runs held after %s, %d of them open", len(runs), timeout, countOpen(runs))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func countOpen(runs []runView) int {
	n := 0
	for _, r := range runs {
		if !r.Finished {
			n++
		}
	}
	return n
}

func allFinished(runs []runView) bool { return countOpen(runs) == 0 }
