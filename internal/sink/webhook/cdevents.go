package webhook

import (
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"

	"github.com/releasegate/releasegate/internal/sink"
	"github.com/releasegate/releasegate/internal/verdict"
)

// The CDEvents v0.5.1 test events, with the fields releasegate fills in.
const (
	cdeventsSpecVersion = "0.5.1"

	testSuiteRunStarted  = "dev.cdevents.testsuiterun.started.0.3.0"
	testSuiteRunFinished = "dev.cdevents.testsuiterun.finished.0.3.0"
	testCaseRunFinished  = "dev.cdevents.testcaserun.finished.0.3.0"

	// testSuiteID is the suite every run runs: the gates of releasegate.
	testSuiteID = "releasegate"
	// unknownEnvironment stands in for a run without
	// deployment.environment.name: CDEvents require an environment id.
	unknownEnvironment = "unknown"
)

type cdevent struct {
	Context cdeventContext `json:"context"`
	Subject cdeventSubject `json:"subject"`
	// CustomData carries the link to the verdict page, when the run has
	// one: CDEvents have no field of their own for it.
	CustomData            *pageLink `json:"customData,omitempty"`
	CustomDataContentType string    `json:"customDataContentType,omitempty"`
}

// pageLink is the customData of an event whose run has a page.
type pageLink struct {
	URL string `json:"url"`
}

type cdeventContext struct {
	SpecVersion string `json:"specversion"`
	ID          string `json:"id"`
	Source      string `json:"source"`
	Type        string `json:"type"`
	Timestamp   string `json:"timestamp"`
}

type cdeventSubject struct {
	ID      string `json:"id"`
	Content any    `json:"content"`
}

type reference struct {
	ID string `json:"id"`
}

type testSuite struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

type trigger struct {
	Type string `json:"type"`
}

type testCase struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
}

type testSuiteRunStartedContent struct {
	Environment reference `json:"environment"`
	TestSuite   testSuite `json:"testSuite"`
	Trigger     trigger   `json:"trigger"`
}

type testSuiteRunFinishedContent struct {
	Outcome     string    `json:"outcome"`
	Reason      string    `json:"reason"`
	Environment reference `json:"environment"`
	TestSuite   testSuite `json:"testSuite"`
}

type testCaseRunFinishedContent struct {
	Outcome      string    `json:"outcome"`
	Reason       string    `json:"reason"`
	Environment  reference `json:"environment"`
	TestCase     testCase  `json:"testCase"`
	TestSuiteRun reference `json:"testSuiteRun"`
}

// cdeventMessages posts a testsuiterun.started when the run starts; when it
// finishes, a testcaserun.finished per gate, then the testsuiterun.finished,
// so that a receiver has every case before the suite closes.
func (s *Sink) cdeventMessages(e verdict.Event) ([]sink.Message, error) {
	run := e.Run
	env := reference{ID: run.Environment}
	if env.ID == "" {
		env.ID = unknownEnvironment
	}
	var events []cdevent
	if e.Kind == verdict.RunStarted {
		events = append(events, s.cdevent(e.Time, testSuiteRunStarted, run.Run, run.URL, testSuiteRunStartedContent{
			Environment: env,
			TestSuite:   testSuite{ID: testSuiteID, Name: testSuiteID},
			Trigger:     trigger{Type: "pipeline"},
		}))
	} else {
		for _, g := range run.Gates {
			events = append(events, s.cdevent(e.Time, testCaseRunFinished, run.Run+"/"+g.Name, run.GateURL(g.Name), testCaseRunFinishedContent{
				Outcome:      outcome(g.Status),
				Reason:       g.Reason,
				Environment:  env,
				TestCase:     testCase{ID: g.Name, Name: g.Name, Type: testCaseType(g)},
				TestSuiteRun: reference{ID: run.Run},
			}))
		}
		events = append(events, s.cdevent(e.Time, testSuiteRunFinished, run.Run, run.URL, testSuiteRunFinishedContent{
			Outcome:     outcome(run.Status),
			Reason:      run.Summary(),
			Environment: env,
			TestSuite:   testSuite{ID: testSuiteID},
		}))
	}

	messages := make([]sink.Message, 0, len(events))
	for _, cd := range events {
		body, err := cloudEvent(cd, e.Time)
		if err != nil {
			return nil, err
		}
		what := fmt.Sprintf("cdevent %s of %s", cd.Context.Type, cd.Subject.ID)
		messages = append(messages, s.message(what, cloudevents.ApplicationCloudEventsJSON, body, ""))
	}
	return messages, nil
}

// cdevent is an event of typ about subject; link, when set, is the page
// that shows it.
func (s *Sink) cdevent(t time.Time, typ, subject, link string, content any) cdevent {
	cd := cdevent{
		Context: cdeventContext{
			SpecVersion: cdeventsSpecVersion,
			// One id per message, kept across retries, so that a receiver
			// can drop the duplicates of at-least-once delivery.
			ID:        uuid.NewString(),
			Source:    s.source,
			Type:      typ,
			Timestamp: t.UTC().Format(time.RFC3339Nano),
		},
		Subject: cdeventSubject{ID: subject, Content: content},
	}
	if link != "" {
		cd.CustomData, cd.CustomDataContentType = &pageLink{URL: link}, "application/json"
	}
	return cd
}

// cloudEvent is the structured-mode CloudEvent carrying cd: its id, source
// and type are the CDEvent's, as the CDEvents CloudEvents binding says.
func cloudEvent(cd cdevent, t time.Time) ([]byte, error) {
	ce := cloudevents.New()
	ce.SetID(cd.Context.ID)
	ce.SetSource(cd.Context.Source)
	ce.SetType(cd.Context.Type)
	ce.SetTime(t)
	if err := ce.SetData(cloudevents.ApplicationJSON, cd); err != nil {
		return nil, err
	}
	// The SDK writes an event as it is, valid or not.
	if err := ce.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(ce)
}

// outcome is the CDEvents outcome of a verdict. Inconclusive and error
// gates have no verdict either way: the test could not run as meant.
func outcome(s verdict.Status) string {
	switch s {
	case verdict.Passed, verdict.Warning:
		return "success"
	case verdict.Failed:
		return "failure"
	default:
		return "error"
	}
}

var performanceTerm = regexp.MustCompile(`\b(duration|p50|p90|p95|p99)\b`)

// testCaseType is "performance" for a gate that judges latency, from the
// words of its expressions, and "functional" otherwise.
func testCaseType(g verdict.Gate) string {
	if performanceTerm.MatchString(g.Condition) || performanceTerm.MatchString(g.Assert) {
		return "performance"
	}
	return "functional"
}
