package junit

import (
	"encoding/xml"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/releasegate/releasegate/internal/verdict"
)

// The report follows the JUnit schema CI tools validate against (Jenkins'
// junit-10.xsd), which has no skipped count on <testsuites>: the count is
// on the one <testsuite>.
type testSuites struct {
	XMLName  xml.Name  `xml:"testsuites"`
	Name     string    `xml:"name,attr"`
	Tests    int       `xml:"tests,attr"`
	Failures int       `xml:"failures,attr"`
	Errors   int       `xml:"errors,attr"`
	Time     string    `xml:"time,attr"`
	Suite    testSuite `xml:"testsuite"`
}

type testSuite struct {
	Name       string     `xml:"name,attr"`
	Tests      int        `xml:"tests,attr"`
	Failures   int        `xml:"failures,attr"`
	Errors     int        `xml:"errors,attr"`
	Skipped    int        `xml:"skipped,attr"`
	Time       string     `xml:"time,attr"`
	Timestamp  string     `xml:"timestamp,attr"`
	Hostname   string     `xml:"hostname,attr,omitempty"`
	Properties []property `xml:"properties>property"`
	Cases      []testCase `xml:"testcase"`
}

type property struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type testCase struct {
	Name      string  `xml:"name,attr"`
	Classname string  `xml:"classname,attr"`
	Time      string  `xml:"time,attr"`
	Skipped   *result `xml:"skipped"`
	Error     *result `xml:"error"`
	Failure   *result `xml:"failure"`
	SystemOut string  `xml:"system-out,omitempty"`
}

// result is a failure, an error or a skip; its tags are for reading a
// report back.
type result struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// MarshalXML keeps the text's line breaks as they are, where a ",chardata"
// field would write each as "&#xA;": the same to an XML reader, but not to
// someone opening the report.
func (r result) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: "message"}, Value: r.Message})
	if r.Type != "" {
		start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: "type"}, Value: r.Type})
	}
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	if err := e.EncodeToken(xml.CharData(r.Text)); err != nil {
		return err
	}
	return e.EncodeToken(start.End())
}

// timestampLayout is ISO 8601 without a zone, as Ant and Surefire write it
// and some readers insist on; the time is UTC.
const timestampLayout = "2006-01-02T15:04:05"

func (s *Sink) report(e verdict.Event) ([]byte, error) {
	run := e.Run
	elapsed := seconds(run.Elapsed(e.Time))
	suite := testSuite{
		Name:       "releasegate: " + run.Run,
		Tests:      len(run.Gates),
		Time:       elapsed,
		Timestamp:  run.StartedAt.UTC().Format(timestampLayout),
		Hostname:   s.hostname,
		Properties: properties(&run),
	}
	for _, g := range run.Gates {
		c := testCase{Name: g.Name, Classname: "releasegate", Time: elapsed}
		switch g.Status {
		case verdict.Failed:
			suite.Failures++
			c.Failure = &result{Message: g.Reason, Type: string(g.Status), Text: details(&g, run.GateURL(g.Name))}
		case verdict.Error, verdict.Inconclusive:
			suite.Errors++
			c.Error = &result{Message: g.Reason, Type: string(g.Status), Text: details(&g, run.GateURL(g.Name))}
		case verdict.Pending:
			suite.Skipped++
			c.Skipped = &result{Message: "run still open when the collector shut down: " + g.Reason}
		default: // passed and warning: the reason shows a warning
			c.SystemOut = g.Reason
		}
		suite.Cases = append(suite.Cases, c)
	}
	out, err := xml.MarshalIndent(testSuites{
		Name:     "releasegate",
		Tests:    suite.Tests,
		Failures: suite.Failures,
		Errors:   suite.Errors,
		Time:     elapsed,
		Suite:    suite,
	}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("junit report: %w", err)
	}
	return append(append([]byte(xml.Header), out...), '\n'), nil
}

func properties(run *verdict.Run) []property {
	props := []property{{"run", run.Run}, {"status", string(run.Status)}}
	for _, p := range []property{
		{"revision", run.Revision},
		{"repository", run.Repository},
		{"environment", run.Environment},
		{"url", run.URL}, // the run's verdict page
	} {
		if p.Value != "" {
			props = append(props, p)
		}
	}
	return props
}

// details is the evidence of a verdict, in the text CI tools show for a
// failure or an error, with the gate's row on the run's page when there is
// one.
func details(g *verdict.Gate, page string) string {
	var b strings.Builder
	b.WriteString(g.Reason + "\n")
	if page != "" {
		b.WriteString("page: " + page + "\n")
	}
	b.WriteString("condition: " + g.Condition + "\n")
	if g.Assert != "" {
		b.WriteString("assert: " + g.Assert + "\n")
	}
	o := g.Observed
	fmt.Fprintf(&b, "observed: spans %d, violations %d, p50 %sms, p95 %sms, p99 %sms, max %sms, violation_ratio %s\n",
		g.Spans, g.Violations, number(o.P50Ms), number(o.P95Ms), number(o.P99Ms), number(o.MaxMs), number(o.ViolationRatio))
	if len(g.Exemplars) > 0 {
		b.WriteString("exemplars:\n")
	}
	for _, x := range g.Exemplars {
		fmt.Fprintf(&b, "trace %s span %s %s\n", x.TraceID, x.SpanID, x.Name)
	}
	return b.String()
}

// number shows at most three decimals: 166.2, not 166.20000000000002.
func number(v float64) string {
	return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
}

// seconds is a JUnit time: seconds with three decimals, never negative.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(max(d, 0).Seconds(), 'f', 3, 64)
}
