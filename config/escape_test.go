package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Gate expressions see span and run data and nothing else: the obvious ways
// out to the process, its environment, the file system or the network do
// not compile, and each says why.
func TestExpressionEscapesDoNotCompile(t *testing.T) {
	for _, tc := range []struct{ expr, err string }{
		// The environment as a value: its internals (pdata handles, accessor
		// functions) through fields, reflection-like builtins or printing.
		{`$env != nil`, "column 1: $env is not available in gate expressions"},
		{`$env.span != nil`, "column 1: $env is not available"},
		{`$env["resource"] != nil`, "column 1: $env is not available"},
		{`$env?.span != nil`, "column 1: $env is not available"},
		{`get($env, "span") != nil`, "column 5: $env is not available"},
		{`$env | get("span") != nil`, "column 1: $env is not available"},
		{`let e = $env; e.span != nil`, "column 9: $env is not available"},
		{`string($env) != ""`, "column 8: $env is not available"},
		{`toJSON($env) != ""`, "column 8: $env is not available"},
		{`type($env) == "struct"`, "column 6: $env is not available"},
		{`len(keys($env)) > 0`, "column 10: $env is not available"},
		{`any([1], {$env != nil})`, "column 11: $env is not available"},
		// The accessors behind the names, called by hand with any argument.
		{`$attribute(1) == nil`, "column 1: unknown name $attribute"},
		{`$resource_attribute(nil) == nil`, "column 1: unknown name $resource_attribute"},
		{`$name() == "POST /checkout"`, "column 1: unknown name $name"},
		{`$attributes()["k"] == nil`, "column 1: unknown name $attributes"},
		// And the evaluation meter's, which would let an expression reset
		// or cheat its own limits.
		{`$step() && true`, "column 1: unknown name $step"},
		{`$charge(name) && true`, "column 1: unknown name $charge"},
		{`$estimate("repeat", name, 1) && true`, "column 1: unknown name $estimate"},
		// The names of the span environment are values, not functions.
		{`name("x") == ""`, "column 1:"},
		{`attributes("k") == nil`, "column 1:"},
		{`events(0) == nil`, "column 1:"},
		// Go packages and the usual names of dangerous functions do not exist.
		{`os.Getenv("HOME") != ""`, "column 1: unknown name os"},
		{`env("HOME") != ""`, "column 1: unknown name env"},
		{`getenv("HOME") != ""`, "column 1: unknown name getenv"},
		{`exec("sh", "-c", "id") == ""`, "column 1: unknown name exec"},
		{`system("id") == ""`, "column 1: unknown name system"},
		{`readFile("/etc/passwd") != ""`, "column 1: unknown name readFile"},
		{`open("/etc/passwd") != nil`, "column 1: unknown name open"},
		{`http.Get("http://127.0.0.1/") != nil`, "column 1: unknown name http"},
		{`net.Dial("tcp", "127.0.0.1:22") != nil`, "column 1: unknown name net"},
		{`reflect.TypeOf(name) != nil`, "column 1: unknown name reflect"},
		{`runtime.NumGoroutine() > 0`, "column 1: unknown name runtime"},
		{`syscall.Getpid() > 0`, "column 1: unknown name syscall"},
		{`process.pid > 0`, "column 1: unknown name process"},
		// Go methods of the values that have them: only pure ones exist;
		// decoding into a value needs a pointer, which expressions never get.
		{`start_time.UnmarshalText(toBase64("x")) == nil`, "type time.Time has no method UnmarshalText"},
		{`start_time.GobDecode(toBase64("x")) == nil`, "type time.Time has no method GobDecode"},
		{`duration.Set("1s") == nil`, "has no method Set"},
		{`name.Len() > 0`, "type string has no method Len"},
		// Events are plain structs: their fields by their expression names
		// only, no methods.
		{`events[0].Attributes != nil`, "type config.Event has no field Attributes"},
		// The builtins that read the system's time zone database from disk.
		{`timezone("Europe/Berlin") != nil`, "column 1: timezone() is not available in gate expressions"},
		{`start_time.In(timezone("../../etc/passwd")) > start_time`, "column 15: timezone() is not available"},
		{`date("2026-11-01", "2006-01-02", "Europe/Berlin") < start_time`, "column 1: date() takes a date and, optionally, its layout"},
		{`"2026-11-01" | date("2006-01-02", "Europe/Berlin") < start_time`, "date() takes a date and, optionally, its layout"},
		{`date(start_time.Location(), "2026-11-01", "2006-01-02", "Europe/Berlin") < start_time`, "date() takes a date and, optionally, its layout"},
		{`now(timezone("UTC")) > start_time`, "column 5: timezone() is not available"},
		// Names of the environment cannot be shadowed to change what they read.
		{`let attributes = fromJSON("{}"); attributes["k"] == nil`, `"attributes" is a name of the span environment and cannot be redeclared`},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			for _, field := range []string{"match", "assert"} {
				gate := Gate{Name: "escape", Match: `name == "POST /checkout"`}
				if field == "match" {
					gate.Match = tc.expr
				} else {
					gate.Assert = tc.expr
				}
				_, err := Compile(Document{Gates: []Gate{gate}})
				require.Error(t, err, field)
				assert.Contains(t, err.Error(), `gate "escape": `+field+": ")
				assert.Contains(t, err.Error(), tc.err, field)
			}
		})
	}
}

// The run key expression is a span expression and is held to the same
// rules; through a string it would otherwise carry whatever it reached into
// /metrics labels and the API.
func TestRunExpressionEscapesDoNotCompile(t *testing.T) {
	for _, tc := range []struct{ expr, err string }{
		{`string($env)`, "run: column 8: $env is not available"},
		{`type($env)`, "run: column 6: $env is not available"},
		{`$resource_attribute(1)`, "run: column 1: unknown name $resource_attribute"},
		{`timezone("UTC").String()`, "run: column 1: timezone() is not available"},
		{`os.Getenv("CI_JOB_TOKEN")`, "run: column 1: unknown name os"},
	} {
		_, err := Compile(Document{Run: tc.expr, Gates: []Gate{{Name: "g", Match: "true"}}})
		require.Error(t, err, tc.expr)
		assert.Contains(t, err.Error(), tc.err, tc.expr)
	}
}

// The run environment is a struct of numbers and durations; the same ways
// out are closed.
func TestRunConditionEscapesDoNotCompile(t *testing.T) {
	for _, tc := range []struct{ expr, err string }{
		{`$env.Spans > 0`, "column 1: $env is not available"},
		{`get($env, "Spans") > 0`, "column 5: $env is not available"},
		{`len(toJSON($env)) > 0`, "column 12: $env is not available"},
		{`timezone("UTC") != nil`, "column 1: timezone() is not available"},
		{`$step() || spans > 0`, "column 1: unknown name $step"},
		{`os.Getenv("HOME") != ""`, "column 1: unknown name os"},
		{`spans.Set(1) == nil`, "column 7: type int has no method Set"},
		{`p95.Round(duration("1ms")) > duration("0s") && exec("id") == ""`, "column 48: unknown name exec"},
	} {
		for _, field := range []string{"fail", "warn"} {
			gate := Gate{Name: "escape", Match: "true"}
			if field == "fail" {
				gate.Fail = tc.expr
			} else {
				gate.Warn = tc.expr
			}
			_, err := Compile(Document{Gates: []Gate{gate}})
			require.Error(t, err, "%s: %s", field, tc.expr)
			assert.Contains(t, err.Error(), `gate "escape": `+field+": "+tc.err, tc.expr)
		}
	}
}

// What does compile, the builtins and the pure Go methods of time values,
// computes from the span (and the clock, for now()) and nothing else: each
// holds on the test span.
func TestExpressionsComputeOnlyFromTheSpan(t *testing.T) {
	for _, cond := range []string{
		`start_time.Location().String() == "UTC"`,
		`start_time.Format("2006-01-02") == "2026-11-01"`,
		`end_time.Sub(start_time) == duration`,
		`duration.String() == "120ms" && duration.Milliseconds() == 120`,
		`start_time.In(start_time.Location()) == start_time`,
		`date("2026-11-01 12:00", "2006-01-02 15:04") == start_time`,
		`date("2026-11-01T13:00:00+01:00") == start_time`,
		`now() > start_time`, // the clock, read-only
		`type(attributes["payload"]) == "array" && type(attributes["user"]) == "map"`,
		`toJSON(attributes["user"]) == "{\n  \"tier\": \"gold\"\n}"`,
		`fromJSON(toJSON(attributes["tags"]))[1] == 7`,
		`events[0].attributes["exception.type"] == "CardDeclined"`,
		`get(events, 0).name == "exception"`,
		`get(attributes, "user").tier == "gold"`,
		`len(keys(resource)) == 2`,
	} {
		gates := compileOne(t, Gate{Match: `name == "POST /checkout"`, Assert: cond})
		r := evaluate(gates)
		assert.Equal(t, []int{0}, r.Matched, cond)
		assert.Empty(t, r.Errored, cond)
		assert.Empty(t, r.Violated, cond)
	}
}

// Expressions that compile against a value typed any, an attribute, and
// then try to call a method on it fail at run time, and the gate fails
// safe: the span counts as a violation and is marked errored, and the
// pipeline goes on.
func TestMethodCallsOnAttributeValuesFailSafe(t *testing.T) {
	for _, cond := range []string{
		`attributes.Get("http.request.method") == "POST"`,
		`resource.Len() == 2`,
		`attributes["user"].AsRaw() != nil`,
		`attributes["payload"].String() != ""`,
		`attributes["tags"].At(0) == "a"`,
		`attributes["user"].tier.Str() == "gold"`,
	} {
		gates := compileOne(t, Gate{Match: `name == "POST /checkout"`, Assert: cond})
		r := evaluate(gates)
		assert.Equal(t, []int{0}, r.Matched, cond)
		assert.Equal(t, []int{0}, r.Errored, cond)
		assert.Equal(t, []int{0}, r.Violated, cond)
	}
}

// No pdata value reaches an expression: every attribute, of every type and
// nested, arrives as a plain Go value with no methods to call.
func TestAttributeValuesArePlainData(t *testing.T) {
	res, scope, span := testSpan()
	m := span.Attributes()
	m.PutEmpty("empty")
	list := m.PutEmptySlice("nested.slice")
	list.AppendEmpty().SetEmptyMap().PutEmptyBytes("b").FromRaw([]byte{2})
	list.AppendEmpty().SetEmptySlice().AppendEmpty().SetInt(3)
	m.PutEmptyMap("nested.map").PutEmptyMap("inner").PutEmptySlice("list").AppendEmpty().SetDouble(4)
	res.Attributes().PutEmptyMap("resource.map").PutEmptyBytes("b").FromRaw([]byte{5})

	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case nil, string, int, float64, bool, []byte:
		case []any:
			for i, e := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		case map[string]any:
			for k, e := range v {
				walk(path+"."+k, e)
			}
		default:
			t.Errorf("%s: %T reaches expressions", path, v)
		}
		if v != nil {
			assert.Zero(t, reflect.TypeOf(v).NumMethod(), "%s: %T has methods", path, v)
		}
	}
	env := newSpanEnv()
	env.set(res, scope, span)
	attributes := env.Attributes()
	assert.Len(t, attributes, m.Len())
	walk("attributes", attributes)
	walk("resource", env.Resource())
	for k := range m.All() {
		walk("attribute "+k, env.Attribute(k))
	}
	for k := range res.Attributes().All() {
		walk("resource_attribute "+k, env.ResourceAttribute(k))
	}
	for i, e := range env.Events() {
		walk(fmt.Sprintf("events[%d]", i), e.Attributes)
	}
}

// The span environment is reached only through the names the patcher maps:
// every field is an accessor named with a $, which an expression cannot
// write (sandbox), and the environment has no method an expression could
// call by name. Run conditions and events see plain values.
func TestEnvironmentsExposeOnlyData(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeFor[spanEnv](), reflect.TypeFor[*spanEnv]()} {
		for i := range typ.NumMethod() {
			t.Errorf("%s has method %s, callable from expressions", typ, typ.Method(i).Name)
		}
	}
	for _, f := range reflect.VisibleFields(reflect.TypeFor[spanEnv]()) {
		if !f.IsExported() || f.Anonymous {
			continue
		}
		assert.Equal(t, reflect.Func, f.Type.Kind(), f.Name)
		assert.True(t, strings.HasPrefix(f.Tag.Get("expr"), "$"), "%s is named %q in expressions", f.Name, f.Tag.Get("expr"))
	}
	for name, accessor := range spanNames {
		assert.True(t, strings.HasPrefix(accessor, "$"), name)
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[runEnv](), reflect.TypeFor[*runEnv]()} {
		for i := range typ.NumMethod() {
			t.Errorf("%s has method %s, callable from expressions", typ, typ.Method(i).Name)
		}
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[RunStats](), reflect.TypeFor[Aggregates]()} {
		for _, f := range reflect.VisibleFields(typ) {
			if f.Anonymous || f.Tag.Get("expr") == "-" {
				continue
			}
			assert.Contains(t, []string{"int", "float64", "time.Duration", "config.Aggregates"}, f.Type.String(), f.Name)
		}
	}
	assert.Zero(t, reflect.TypeFor[Event]().NumMethod())
	for _, f := range reflect.VisibleFields(reflect.TypeFor[Event]()) {
		assert.Contains(t, []string{"string", "time.Time", "map[string]interface {}"}, f.Type.String(), f.Name)
	}
}
