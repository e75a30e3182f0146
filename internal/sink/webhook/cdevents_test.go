package webhook

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/releasegate/releasegate/internal/fakehost"
	"github.com/releasegate/releasegate/internal/verdict"
)

// envelope is a structured-mode CloudEvent as received.
type envelope struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Time            string          `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
}

// received is a CDEvent as a receiver reads it, with every field this sink
// may send, so that the test sees what arrived rather than what was meant.
type received struct {
	Context struct {
		SpecVersion string `json:"specversion"`
		ID          string `json:"id"`
		Source      string `json:"source"`
		Type        string `json:"type"`
		Timestamp   string `json:"timestamp"`
	} `json:"context"`
	Subject struct {
		ID      string `json:"id"`
		Content struct {
			Outcome     string `json:"outcome"`
			Reason      string `json:"reason"`
			Environment struct {
				ID string `json:"id"`
			} `json:"environment"`
			TestSuite *struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"testSuite"`
			Trigger *struct {
				Type string `json:"type"`
			} `json:"trigger"`
			TestCase *struct {
				ID   string `json:"id"`
				Name string `json:"name"`
				Type string `json:"type"`
			} `json:"testCase"`
			TestSuiteRun *struct {
				ID string `json:"id"`
			} `json:"testSuiteRun"`
		} `json:"content"`
	} `json:"subject"`
	CustomData *struct {
		URL string `json:"url"`
	} `json:"customData"`
	CustomDataContentType string `json:"customDataContentType"`
}

// cdevents posts the events in cdevents format and returns the CloudEvents
// that arrived, checked as a structured-mode receiver would, with their
// CDEvents.
func cdevents(t *testing.T, events ...verdict.Event) ([]envelope, []received) {
	hook := fakehost.NewWebhook(t, fakehost.WebhookChecks{Secret: testSecret})
	send(t, newSink(t, clientOf(hook.URL), Settings{Secret: testSecret, CDEvents: true, Source: testSource}), events...)

	var envelopes []envelope
	var cds []received
	for _, req := range hook.Requests() {
		assert.Equal(t, "application/cloudevents+json", req.Header.Get("Content-Type"))
		assert.True(t, Verify(testSecret, req.Body, req.Header.Get("X-Releasegate-Signature-256")))

		// The CloudEvents SDK reads it back as a valid event.
		var ce cloudevents.Event
		require.NoError(t, json.Unmarshal(req.Body, &ce))
		require.NoError(t, ce.Validate())

		var env envelope
		require.NoError(t, json.Unmarshal(req.Body, &env))
		var cd received
		require.NoError(t, json.Unmarshal(env.Data, &cd))
		envelopes = append(envelopes, env)
		cds = append(cds, cd)
	}
	return envelopes, cds
}

func TestCDEvents(t *testing.T) {
	envelopes, cds := cdevents(t, runEvents()...)

	wantTypes := []string{
		"dev.cdevents.testsuiterun.started.0.3.0",
		"dev.cdevents.testcaserun.finished.0.3.0",
		"dev.cdevents.testcaserun.finished.0.3.0",
		"dev.cdevents.testsuiterun.finished.0.3.0",
	}
	wantTimes := []time.Time{startedAt, finishedAt, finishedAt, finishedAt}
	require.Len(t, cds, len(wantTypes))
	ids := map[string]bool{}
	for i, env := range envelopes {
		cd := cds[i]
		assert.Equal(t, "1.0", env.SpecVersion)
		assert.Equal(t, wantTypes[i], env.Type)
		assert.Equal(t, testSource, env.Source)
		assert.Equal(t, "application/json", env.DataContentType)
		envTime, err := time.Parse(time.RFC3339Nano, env.Time)
		require.NoError(t, err)
		assert.True(t, wantTimes[i].Equal(envTime))

		// The CloudEvent carries the CDEvent's own context.
		assert.Equal(t, cd.Context.ID, env.ID)
		assert.Equal(t, cd.Context.Type, env.Type)
		assert.Equal(t, cd.Context.Source, env.Source)

		// What the schemas require, checked here too: the schema test
		// skips outside CI.
		assert.Equal(t, "0.5.1", cd.Context.SpecVersion)
		assert.NotEmpty(t, cd.Context.ID)
		assert.False(t, ids[cd.Context.ID], "ids are unique")
		ids[cd.Context.ID] = true
		timestamp, err := time.Parse(time.RFC3339Nano, cd.Context.Timestamp)
		require.NoError(t, err)
		assert.True(t, wantTimes[i].Equal(timestamp))
		assert.NotEmpty(t, cd.Subject.ID)
		assert.Equal(t, "staging", cd.Subject.Content.Environment.ID)
		if strings.Contains(cd.Context.Type, ".finished.") {
			assert.Contains(t, []string{"success", "failure", "cancel", "error"}, cd.Subject.Content.Outcome)
		}
	}

	started := cds[0].Subject
	assert.Equal(t, "r-42", started.ID)
	require.NotNil(t, started.Content.TestSuite)
	assert.Equal(t, "releasegate", started.Content.TestSuite.ID)
	assert.Equal(t, "releasegate", started.Content.TestSuite.Name)
	require.NotNil(t, started.Content.Trigger)
	assert.Equal(t, "pipeline", started.Content.Trigger.Type)

	latency := cds[1].Subject
	assert.Equal(t, "r-42/checkout-latency", latency.ID)
	assert.Equal(t, "failure", latency.Content.Outcome)
	assert.Equal(t, finishedRun().Gates[0].Reason, latency.Content.Reason)
	require.NotNil(t, latency.Content.TestCase)
	assert.Equal(t, "checkout-latency", latency.Content.TestCase.ID)
	assert.Equal(t, "checkout-latency", latency.Content.TestCase.Name)
	assert.Equal(t, "performance", latency.Content.TestCase.Type)
	require.NotNil(t, latency.Content.TestSuiteRun)
	assert.Equal(t, "r-42", latency.Content.TestSuiteRun.ID)

	errs := cds[2].Subject
	assert.Equal(t, "r-42/no-server-errors", errs.ID)
	assert.Equal(t, "success", errs.Content.Outcome)
	require.NotNil(t, errs.Content.TestCase)
	assert.Equal(t, "functional", errs.Content.TestCase.Type)

	suite := cds[3].Subject
	assert.Equal(t, "r-42", suite.ID)
	assert.Equal(t, "failure", suite.Content.Outcome)
	assert.Equal(t, "failed: 1 of 2 gates failed", suite.Content.Reason)
	require.NotNil(t, suite.Content.TestSuite)
	assert.Equal(t, "releasegate", suite.Content.TestSuite.ID)
}

// A run with a page links every event to it in customData, CDEvents'
// place for what the specification has no field for: the suite's events to
// the page, each case to its gate's row.
func TestCDEventsLinkToThePage(t *testing.T) {
	const page = "https://releasegate.example/runs/r-42"
	started, finished := startedRun(), finishedRun()
	started.URL, finished.URL = page, page
	_, cds := cdevents(t,
		verdict.Event{Kind: verdict.RunStarted, Time: startedAt, Run: started},
		verdict.Event{Kind: verdict.RunFinished, Time: finishedAt, Run: finished},
	)
	var links []string
	for _, cd := range cds {
		require.NotNil(t, cd.CustomData, cd.Subject.ID)
		assert.Equal(t, "application/json", cd.CustomDataContentType)
		links = append(links, cd.CustomData.URL)
	}
	assert.Equal(t, []string{page, page + "#gate-checkout-latency", page + "#gate-no-server-errors", page}, links)

	_, cds = cdevents(t, runEvents()...)
	for _, cd := range cds {
		assert.Nil(t, cd.CustomData, "no page, no customData")
		assert.Empty(t, cd.CustomDataContentType)
	}
}

func TestCDEventsOutcomes(t *testing.T) {
	run := finishedRun()
	run.Status = verdict.Failed
	run.Gates = nil
	want := map[verdict.Status]string{
		verdict.Passed:       "success",
		verdict.Warning:      "success",
		verdict.Failed:       "failure",
		verdict.Inconclusive: "error",
		verdict.Error:        "error",
	}
	for _, status := range verdict.Statuses {
		if status == verdict.Pending {
			continue // never final
		}
		run.Gates = append(run.Gates, verdict.Gate{Name: string(status), Status: status, Condition: "violations > 0"})
	}

	_, cds := cdevents(t, verdict.Event{Kind: verdict.RunFinished, Time: finishedAt, Run: run})

	require.Len(t, cds, len(want)+1)
	for _, cd := range cds[:len(want)] {
		require.NotNil(t, cd.Subject.Content.TestCase)
		gate := verdict.Status(cd.Subject.Content.TestCase.ID)
		assert.Equal(t, want[gate], cd.Subject.Content.Outcome, gate)
	}
	suite := cds[len(want)].Subject.Content
	assert.Equal(t, "failure", suite.Outcome)
	assert.Equal(t, "failed: 1 of 5 gates failed, 1 error, 1 inconclusive, 1 warning", suite.Reason)
}

func TestCDEventsUnknownEnvironment(t *testing.T) {
	events := runEvents()
	for i := range events {
		events[i].Run.Environment = ""
	}
	_, cds := cdevents(t, events...)
	require.NotEmpty(t, cds)
	for _, cd := range cds {
		assert.Equal(t, "unknown", cd.Subject.Content.Environment.ID)
	}
}

func TestTestCaseType(t *testing.T) {
	tests := []struct {
		gate verdict.Gate
		want string
	}{
		{verdict.Gate{Assert: `duration < duration("300ms")`, Condition: "violations > 0"}, "performance"},
		{verdict.Gate{Condition: `p99 > duration("1s")`}, "performance"},
		{verdict.Gate{Condition: `max > duration("1s")`}, "performance"},
		{verdict.Gate{Assert: `status != "error"`, Condition: "violations > 0"}, "functional"},
		{verdict.Gate{Assert: `attributes["p950"] == nil`, Condition: "error_ratio > 0.01"}, "functional"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, testCaseType(tt.gate), "%+v", tt.gate)
	}
}

// TestCDEventsSchema validates every CDEvent the sink produces against the
// CDEvents v0.5.1 schemas, which CI checks out next to the repository.
func TestCDEventsSchema(t *testing.T) {
	dir := schemaDir(t)
	schemas := compileSchemas(t, dir)

	run := finishedRun()
	for _, status := range verdict.Statuses {
		if status != verdict.Pending {
			run.Gates = append(run.Gates, verdict.Gate{Name: "gate-" + string(status), Status: status})
		}
	}
	started := startedRun()
	started.Environment = ""
	run.URL = "https://releasegate.example/runs/r-42" // customData too
	envelopes, _ := cdevents(t,
		verdict.Event{Kind: verdict.RunStarted, Time: startedAt, Run: started},
		verdict.Event{Kind: verdict.RunFinished, Time: finishedAt, Run: run},
	)

	seen := map[string]int{}
	for _, env := range envelopes {
		schema, ok := schemas[env.Type]
		require.True(t, ok, "no schema for %s", env.Type)
		assert.NoError(t, schema.Validate(instance(t, env.Data)), "%s", env.Data)
		seen[env.Type]++
	}
	assert.Equal(t, map[string]int{
		"dev.cdevents.testsuiterun.started.0.3.0":  1,
		"dev.cdevents.testcaserun.finished.0.3.0":  len(run.Gates),
		"dev.cdevents.testsuiterun.finished.0.3.0": 1,
	}, seen)

	// The schemas do reject a wrong event, so the test above means something.
	var caseRun map[string]any
	for _, env := range envelopes {
		if env.Type == "dev.cdevents.testcaserun.finished.0.3.0" {
			require.NoError(t, json.Unmarshal(env.Data, &caseRun))
			break
		}
	}
	broken := func(edit func(cd, content map[string]any)) any {
		data, err := json.Marshal(caseRun)
		require.NoError(t, err)
		var cd map[string]any
		require.NoError(t, json.Unmarshal(data, &cd))
		edit(cd, cd["subject"].(map[string]any)["content"].(map[string]any))
		data, err = json.Marshal(cd)
		require.NoError(t, err)
		return instance(t, data)
	}
	schema := schemas["dev.cdevents.testcaserun.finished.0.3.0"]
	require.NoError(t, schema.Validate(broken(func(_, _ map[string]any) {})))
	assert.ErrorContains(t, schema.Validate(broken(func(_, c map[string]any) { c["outcome"] = "maybe" })), "outcome")
	assert.ErrorContains(t, schema.Validate(broken(func(_, c map[string]any) { delete(c, "environment") })), "environment")
	assert.Error(t, schema.Validate(broken(func(_, c map[string]any) { c["testCase"].(map[string]any)["type"] = "latency" })))
	assert.Error(t, schema.Validate(broken(func(_, c map[string]any) { c["verdict"] = "passed" })))
	assert.ErrorContains(t, schema.Validate(broken(func(cd, _ map[string]any) {
		cd["context"].(map[string]any)["timestamp"] = "yesterday"
	})), "date-time")
	assert.Error(t, schema.Validate(broken(func(cd, _ map[string]any) {
		cd["context"].(map[string]any)["type"] = "dev.cdevents.testcaserun.finished.0.2.0"
	})))
}

// schemaDir holds the CDEvents v0.5.1 schemas, copied unchanged from the
// specification (testdata/cdevents-v0.5.1/README.md).
func schemaDir(t *testing.T) string {
	dir := filepath.Join("testdata", "cdevents-v0.5.1")
	info, err := os.Stat(dir)
	require.NoError(t, err)
	require.True(t, info.IsDir(), "%s is not a directory", dir)
	return dir
}

// compileSchemas compiles the schema of each CDEvents type, with every file
// of dir registered under its $id, so that the "links/…" references
// resolve without a network.
func compileSchemas(t *testing.T, dir string) map[string]*jsonschema.Schema {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	require.NoError(t, err)
	links, err := filepath.Glob(filepath.Join(dir, "links", "*.json"))
	require.NoError(t, err)
	ids := map[string]string{}
	for _, file := range append(files, links...) {
		f, err := os.Open(file)
		require.NoError(t, err)
		doc, err := jsonschema.UnmarshalJSON(f)
		require.NoError(t, f.Close())
		require.NoError(t, err, file)
		id, ok := doc.(map[string]any)["$id"].(string)
		require.True(t, ok, "%s has no $id", file)
		require.NoError(t, c.AddResource(id, doc))
		ids[filepath.Base(file)] = id
	}

	schemas := map[string]*jsonschema.Schema{}
	for typ, file := range map[string]string{
		"dev.cdevents.testsuiterun.started.0.3.0":  "testsuiterunstarted.json",
		"dev.cdevents.testsuiterun.finished.0.3.0": "testsuiterunfinished.json",
		"dev.cdevents.testcaserun.finished.0.3.0":  "testcaserunfinished.json",
	} {
		id, ok := ids[file]
		require.True(t, ok, "%s missing from %s", file, dir)
		schema, err := c.Compile(id)
		require.NoError(t, err, file)
		schemas[typ] = schema
	}
	return schemas
}

func instance(t *testing.T, data []byte) any {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	require.NoError(t, err)
	return v
}
