// Package config owns the gates document: its schema, strict decoding,
// compilation of its expr-lang expressions and validation. Both releasegate
// components and any tool load gates through it, so they read them the same
// way.
package config

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"

	"go.opentelemetry.io/collector/confmap"
	"go.yaml.in/yaml/v3"
)

// DefaultRun is the run key expression used when a document sets none: the
// CI run id, as a resource or span attribute. Nothing else: a fallback that
// ordinary traffic carries, such as service.version, would open runs for
// every service that sends spans through a shared collector.
const DefaultRun = `resource["cicd.pipeline.run.id"] ?? attributes["cicd.pipeline.run.id"]`

// DefaultFail is the fail condition of a gate that sets none.
const DefaultFail = "violations > 0"

// DefaultMinSpans is the min_spans of a span gate that sets none, and
// DefaultMinTraces the min_traces of a trace gate.
const (
	DefaultMinSpans  = 1
	DefaultMinTraces = 1
)

// DefaultSeries is the series of a run whose series expression gives
// nothing, and of every run when the document sets none.
const DefaultSeries = "default"

// DefaultMinSamples is the baseline's min_samples when the document sets
// none; MinMinSamples the fewest it may set: with fewer durations a side, a
// 95% confidence interval of the ratio has no bounds.
const (
	DefaultMinSamples = 50
	MinMinSamples     = 5
)

// Scope says what a gate judges one at a time: a span (the default), or a
// whole trace, assembled from its spans.
type Scope string

const (
	ScopeSpan  Scope = "span"
	ScopeTrace Scope = "trace"
)

// NoData says what a gate's verdict is when a run finishes with fewer than
// min_spans matched spans.
type NoData string

const (
	NoDataInconclusive NoData = "inconclusive"
	NoDataFail         NoData = "fail"
	NoDataPass         NoData = "pass"
)

// NoBaseline says what a gate whose conditions compare with a baseline
// does when the run has none: judge on the rest of its conditions, or be
// inconclusive.
type NoBaseline string

const (
	NoBaselineIgnore       NoBaseline = "ignore"
	NoBaselineInconclusive NoBaseline = "inconclusive"
)

// Document is the gates document, as written by users.
type Document struct {
	// Run computes a span's run key; empty means DefaultRun.
	Run      string   `mapstructure:"run"`
	Baseline Baseline `mapstructure:"baseline"`
	Gates    []Gate   `mapstructure:"gates"`
}

// Baseline says which runs compare with each other.
type Baseline struct {
	// Series computes the series of a run from its first span (span
	// environment); runs compare with runs of their series. Empty, or a
	// span without one, is DefaultSeries.
	Series string `mapstructure:"series"`
	// MinSamples is the fewest durations on each side for a comparison.
	MinSamples int `mapstructure:"min_samples"`
}

// Gate is one gate of the document. Decoding fills in the defaults of the
// keys a user left out, so a decoded Gate is complete.
type Gate struct {
	Name        string `mapstructure:"name"`
	Description string `mapstructure:"description"`
	// Scope is what match and assert judge: each span, or each trace.
	Scope Scope `mapstructure:"scope"`
	// Match selects the spans (traces) the gate judges: span (trace)
	// environment, bool.
	Match string `mapstructure:"match"`
	// Assert must hold for every matched span (trace); empty means no
	// check of each.
	Assert string `mapstructure:"assert"`
	// Fail and Warn judge the run (run environment, bool).
	Fail string `mapstructure:"fail"`
	Warn string `mapstructure:"warn"`
	// MinSpans (span gates) and MinTraces (trace gates): fewer matched
	// when the run finishes is no data.
	MinSpans  int    `mapstructure:"min_spans"`
	MinTraces int    `mapstructure:"min_traces"`
	OnNoData  NoData `mapstructure:"on_no_data"`
	// OnNoBaseline applies when the gate's conditions use baseline names
	// and the run has no baseline.
	OnNoBaseline NoBaseline `mapstructure:"on_no_baseline"`
}

var _ confmap.Unmarshaler = (*Document)(nil)

// Unmarshal decodes the document from the collector's configuration, strictly:
// an unknown key or a value of the wrong type is an error that names the gate
// and the key.
func (d *Document) Unmarshal(conf *confmap.Conf) error {
	doc, err := decode(conf.ToStringMap())
	if err != nil {
		return err
	}
	*d = doc
	return nil
}

// Parse decodes a gates document from YAML, as strictly as Unmarshal.
func Parse(data []byte) (Document, error) {
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return Document{}, err
	}
	return decode(raw)
}

// Load reads, decodes and compiles the gates file at path.
func Load(path string) (*Gates, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	doc, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	gates, err := Compile(doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return gates, nil
}

var gateName = regexp.MustCompile(`^[a-z0-9._-]+$`)

// MaxGateName keeps gate names usable as metric label values and CI
// contexts, in bytes.
const MaxGateName = 100

// decode turns a generic map into a Document, collecting one error per
// problem rather than stopping at the first.
func decode(raw map[string]any) (Document, error) {
	var (
		doc  = Document{Baseline: Baseline{MinSamples: DefaultMinSamples}}
		errs []error
	)
	for _, key := range sortedKeys(raw) {
		value := raw[key]
		switch key {
		case "run":
			s, err := exprString(value)
			if err != nil {
				errs = append(errs, fmt.Errorf("run: %w", err))
			}
			doc.Run = s
		case "gates":
			list, ok := value.([]any)
			if !ok && value != nil {
				errs = append(errs, fmt.Errorf("gates: must be a list of gates, got %s", typeName(value)))
			}
			for i, item := range list {
				gate, err := decodeGate(i, item)
				if err != nil {
					errs = append(errs, err)
				}
				doc.Gates = append(doc.Gates, gate)
			}
		case "baseline":
			errs = append(errs, decodeBaseline(value, &doc.Baseline)...)
		default:
			errs = append(errs, fmt.Errorf("unknown key %q (the document has run, baseline and gates)", key))
		}
	}
	return doc, errors.Join(errs...)
}

func decodeBaseline(value any, b *Baseline) []error {
	fields, ok := value.(map[string]any)
	if !ok {
		if value == nil {
			return nil
		}
		return []error{fmt.Errorf("baseline: must be a mapping, got %s", typeName(value))}
	}
	var errs []error
	for _, key := range sortedKeys(fields) {
		var err error
		switch value := fields[key]; key {
		case "series":
			b.Series, err = exprString(value)
		case "min_samples":
			n, ok := value.(int)
			switch {
			case !ok:
				err = fmt.Errorf("must be a whole number, got %s", typeName(value))
			case n < MinMinSamples:
				err = fmt.Errorf("must be at least %d (with fewer a side, a 95%% confidence interval has no bounds), got %d", MinMinSamples, n)
			default:
				b.MinSamples = n
			}
		default:
			err = errors.New("unknown key (baseline has series and min_samples)")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("baseline: %s: %w", key, err))
		}
	}
	return errs
}

func decodeGate(index int, item any) (Gate, error) {
	gate := Gate{Scope: ScopeSpan, MinSpans: DefaultMinSpans, MinTraces: DefaultMinTraces, OnNoData: NoDataInconclusive, OnNoBaseline: NoBaselineIgnore}
	fields, ok := item.(map[string]any)
	if !ok {
		return gate, fmt.Errorf("%s: must be a mapping, got %s", indexRef(index), typeName(item))
	}
	if name, ok := fields["name"].(string); ok {
		gate.Name = name
	}
	ref := gateRef(index, gate.Name)
	var errs []error
	fail := func(key string, err error) { errs = append(errs, fmt.Errorf("%s: %s: %w", ref, key, err)) }
	for _, key := range sortedKeys(fields) {
		value := fields[key]
		var err error
		switch key {
		case "name":
			if _, ok := value.(string); !ok {
				err = fmt.Errorf("must be a string, got %s", typeName(value))
			}
		case "description":
			gate.Description, err = plainString(value)
		case "match":
			gate.Match, err = exprString(value)
		case "assert":
			gate.Assert, err = exprString(value)
		case "fail":
			gate.Fail, err = exprString(value)
		case "warn":
			gate.Warn, err = exprString(value)
		case "scope":
			s, _ := value.(string)
			switch scope := Scope(s); scope {
			case ScopeSpan, ScopeTrace:
				gate.Scope = scope
			default:
				err = fmt.Errorf("must be span or trace; got %v", value)
			}
		case "min_spans":
			gate.MinSpans, err = minimum(value, gate.MinSpans)
		case "min_traces":
			gate.MinTraces, err = minimum(value, gate.MinTraces)
		case "on_no_data":
			s, _ := value.(string)
			switch policy := NoData(s); policy {
			case NoDataInconclusive, NoDataFail, NoDataPass:
				gate.OnNoData = policy
			default:
				err = fmt.Errorf("must be one of inconclusive, fail, pass; got %v", value)
			}
		case "on_no_baseline":
			s, _ := value.(string)
			switch policy := NoBaseline(s); policy {
			case NoBaselineIgnore, NoBaselineInconclusive:
				gate.OnNoBaseline = policy
			default:
				err = fmt.Errorf("must be ignore or inconclusive; got %v", value)
			}
		default:
			err = fmt.Errorf("unknown key (a gate has name, description, scope, match, assert, fail, warn, min_spans or min_traces, on_no_data, on_no_baseline)")
		}
		if err != nil {
			fail(key, err)
		}
	}
	// Each scope counts its own: spans, or traces.
	_, minSpans := fields["min_spans"]
	_, minTraces := fields["min_traces"]
	switch gate.Scope {
	case ScopeTrace:
		if minSpans {
			fail("min_spans", errors.New("a trace gate counts traces: use min_traces"))
		}
		gate.MinSpans = 0
	default:
		if minTraces {
			fail("min_traces", errors.New("a span gate counts spans: use min_spans, or scope: trace"))
		}
		gate.MinTraces = 0
	}
	return gate, errors.Join(errs...)
}

// minimum decodes min_spans or min_traces.
func minimum(value any, otherwise int) (int, error) {
	n, ok := value.(int)
	switch {
	case !ok:
		return otherwise, fmt.Errorf("must be a whole number, got %s", typeName(value))
	case n < 0:
		return otherwise, fmt.Errorf("must not be negative, got %d", n)
	}
	return n, nil
}

// checkNames reports missing, malformed and duplicate gate names.
func checkNames(gates []Gate) []error {
	var errs []error
	seen := make(map[string]int, len(gates))
	for i, g := range gates {
		switch {
		case g.Name == "":
			errs = append(errs, fmt.Errorf("%s: name: is required", indexRef(i)))
		case len(g.Name) > MaxGateName || !gateName.MatchString(g.Name):
			errs = append(errs, fmt.Errorf("%s: name: must be 1 to %d characters of a-z, 0-9, '.', '_' and '-'", gateRef(i, g.Name), MaxGateName))
		default:
			if first, dup := seen[g.Name]; dup {
				errs = append(errs, fmt.Errorf("%s: name: duplicate of %s", gateRef(i, g.Name), indexRef(first)))
			} else {
				seen[g.Name] = i
			}
		}
	}
	return errs
}

func gateRef(index int, name string) string {
	if name == "" {
		return indexRef(index)
	}
	return fmt.Sprintf("gate %q", name)
}

func indexRef(index int) string { return fmt.Sprintf("gates[%d]", index) }

// exprString accepts an expression. YAML reads `true` and `false` as booleans;
// they are valid expressions too.
func exprString(value any) (string, error) {
	switch v := value.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case bool:
		return fmt.Sprint(v), nil
	default:
		return "", fmt.Errorf("must be an expression (a string), got %s", typeName(value))
	}
}

func plainString(value any) (string, error) {
	switch v := value.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	default:
		return "", fmt.Errorf("must be a string, got %s", typeName(value))
	}
}

func typeName(value any) string {
	switch value.(type) {
	case nil:
		return "nothing"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int64, uint64, float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	default:
		return fmt.Sprintf("%T", value)
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
