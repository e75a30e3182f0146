package config

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// An expression larger than maxNodes is refused when the gates load, with a
// message that names the gate and the field; one of a few thousand nodes
// loads.
func TestExpressionTooLarge(t *testing.T) {
	huge := strings.Repeat("1 + ", maxNodes/2) + "1 > 0"
	for _, field := range []string{"match", "assert", "fail", "warn"} {
		t.Run(field, func(t *testing.T) {
			gate := "gates:\n  - name: big\n"
			if field != "match" {
				gate += "    match: 'true'\n"
			}
			doc, err := Parse(fmt.Appendf(nil, "%s    %s: '%s'\n", gate, field, huge))
			require.NoError(t, err)
			_, err = Compile(doc)
			require.Error(t, err)
			assert.Regexp(t, `^gate "big": `+field+`: column \d+: the expression is too large: more than 10000 operators, names and literals$`, err.Error())
		})
	}
	_, err := Compile(Document{Run: huge, Gates: []Gate{{Name: "g", Match: "true"}}})
	require.Error(t, err)
	assert.Regexp(t, `^run: column \d+: the expression is too large`, err.Error())

	large := strings.Repeat(`name == "x" || `, 1000) + "true"
	_, err = Compile(Document{Run: `"r"`, Gates: []Gate{{Name: "g", Match: large, Assert: large, Fail: strings.Repeat("spans > 1 || ", 1000) + "false"}}})
	assert.NoError(t, err)
}

// manyAttributes is the test span with n attributes more.
func manyAttributes(n int) (pcommon.Resource, pcommon.InstrumentationScope, ptrace.Span) {
	res, scope, span := testSpan()
	for i := range n {
		span.Attributes().PutInt(fmt.Sprint("attribute.", i), int64(i))
	}
	return res, scope, span
}

// An expression that would take the collector's memory, or run for hours,
// stops with an evaluation error, well within bounded memory: a span it
// asserts on is a violation and is marked errored, a run condition makes an
// error.
func TestExpensiveEvaluationsStop(t *testing.T) {
	const (
		memory = "memory budget exceeded"
		steps  = "too many loop iterations"
	)
	concat := "let l = 1..500000; len(concat(l, l, l)) > 0"
	tests := []struct {
		name, expr, err string
		attributes      int // added to the test span
	}{
		{"1 GB string", `len(repeat("x", 1000000000)) > 0`, memory, 0},
		{"1 TB string", `len(repeat(repeat("x", 1000000), 1000000)) > 0`, memory, 0},
		{"a billion numbers", `len(1..1000000000) > 0`, memory, 0},
		{"a million turns", `len(map(1..1000000, #)) > 0`, steps, 0},
		{"a million filtered", `len(filter(1..1000000, # < 0)) == 0`, steps, 0},
		{"a billion turns, nested", `count(1..1000, count(1..1000, count(1..1000, # > #) > 0) > 0) > 0`, steps, 0},
		{"doubling", `len(reduce(1..64, #acc + #acc, "xx")) > 0`, memory, 0},
		{"doubling with let", "let a = repeat(\"x\", 1000000); let b = a + a; let c = b + b; let d = c + c; let e = d + d; let f = e + e; len(f) > 0", memory, 0},
		{"copies in loops", `let s = repeat("x", 500000); len(map(1..500, map(1..500, upper(s)))) > 0`, memory, 0},
		{"join", `let s = repeat("x", 100000); len(join(map(1..1000, s), "")) > 0`, memory, 0},
		{"join glue", `len(join(map(1..100000, ""), repeat("x", 1000))) > 0`, memory, 0},
		{"toJSON", `let s = repeat("x", 100000); len(toJSON(map(1..1000, s))) > 0`, memory, 0},
		{"string", `let s = repeat("x", 100000); len(string(map(1..1000, s))) > 0`, memory, 0},
		{"replace", `len(replace(repeat("x", 100000), "", repeat("y", 1000))) > 0`, memory, 0},
		{"split", `len(split(repeat("x", 2000000), "")) > 0`, memory, 0},
		{"fromJSON", `len(fromJSON("[" + repeat("{},", 300000) + "{}]")) > 0`, memory, 0},
		{"concat", concat, memory, 0},
		{"flatten", `len(flatten(map(1..1000, 1..1000))) > 0`, memory, 0},
		{"attributes in a loop", `len(map(1..1000, attributes)) > 0`, memory, 10_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gates := compileOne(t, Gate{Match: "true", Assert: tt.expr})
			res, scope, span := manyAttributes(tt.attributes)
			ev := gates.Evaluator()
			defer ev.Release()

			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			r := ev.Evaluate(res, scope, span)
			runtime.ReadMemStats(&after)
			assert.Equal(t, []int{0}, r.Violated)
			assert.Equal(t, []int{0}, r.Errored)
			assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(256<<20), "bytes allocated")

			_, err := ev.holds(gates.At(0).assert)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.err)
		})
	}

	// Run conditions are held to the same limits.
	for _, expr := range []string{tests[0].expr, tests[5].expr, tests[6].expr, concat} {
		gates := compileOne(t, Gate{Match: "true", Fail: expr, Warn: expr})
		fails, err := gates.At(0).Fails(RunStats{Aggregates: Aggregates{Spans: 1}})
		assert.False(t, fails)
		require.Error(t, err, expr)
		assert.Regexp(t, memory+"|"+steps, err.Error())
		_, err = gates.At(0).Warns(RunStats{Aggregates: Aggregates{Spans: 1}})
		assert.Error(t, err, expr)
	}
}

// The limits are per evaluation and cost nothing to expressions within
// them: the builtins they meter give their usual results, values keep their
// types, and what one evaluation spends does not count against the next.
func TestLimitsLeaveOrdinaryExpressionsAlone(t *testing.T) {
	for _, cond := range []string{
		`join(split("a,b,c", ","), "-") == "a-b-c" && join(["a"]) == "a"`,
		`replace("aaa", "a", "bc") == "bcbcbc" && replace("aaa", "a", "b", 1) == "baa"`,
		`repeat("ab", 3) == "ababab"`,
		`toJSON({"a": [1]}) == "{\n  \"a\": [\n    1\n  ]\n}"`,
		`string(42) == "42" && string([1, "a"]) == "[1 a]" && string(attributes["payload"]) == "[1 2]"`,
		`fromJSON("{\"a\": [1, 2]}").a[1] == 2`,
		`concat([1], [2, 3]) == [1, 2, 3] && flatten([[1], [2, [3]]]) == [1, 2, 3]`,
		`upper(name) + "!" == "POST /CHECKOUT!" && lower(name)[0:4] == "post"`,
		`reduce(1..10, #acc + string(#), "") == "12345678910"`,
		`all(events, .name == "exception" && all(keys(.attributes), # startsWith "exception."))`,
		`len(attributes) == 7 && len(resource) == 2 && attributes["tags"][1] == 7`,
		`count(1..90000, # % 2 == 0) == 45000`,
		`let s = repeat("x", 1000000); len(s + s + s + s) == 4000000`,
	} {
		gates := compileOne(t, Gate{Match: "true", Assert: cond})
		for range 3 {
			r := evaluate(gates)
			assert.Empty(t, r.Errored, cond)
			assert.Empty(t, r.Violated, cond)
		}
	}

	// Each expression has the whole budget, the run key's included.
	tenMiB := `let s = repeat("x", 1000000); len(s + s + s + s)`
	gates, err := Compile(Document{Run: "string(" + tenMiB + ")", Gates: []Gate{{Name: "g", Match: tenMiB + " > 0", Assert: tenMiB + " > 0"}}})
	require.NoError(t, err)
	r := evaluate(gates)
	assert.Equal(t, "4000000", r.Run)
	assert.Equal(t, []int{0}, r.Matched)
	assert.Empty(t, r.Violated)

	// Metered results keep their types: type errors are still found at load.
	for _, tc := range []struct{ expr, err string }{
		{`upper(1) == "x"`, `column 7: cannot use int as argument (type string) to call upper`},
		{`split(name, ",")[0] + 1 == ""`, `column 21: invalid operation: + (mismatched types string and int)`},
		{`repeat(name, "3") == ""`, `column 14: cannot use string as argument (type int) to call repeat`},
		{`(name + "x") * 2 == ""`, `column 14: invalid operation: * (mismatched types string and int)`},
	} {
		_, err := Compile(Document{Gates: []Gate{{Name: "g", Match: "true", Assert: tc.expr}}})
		require.Error(t, err, tc.expr)
		assert.Contains(t, err.Error(), `gate "g": assert: `+tc.err)
	}
}

// allBut begins an expression that builds all of an evaluation's memory
// budget but left bytes: strings of 1, 2, 4 and 8 MB, and the rest.
func allBut(left int) string {
	return fmt.Sprintf(`let a = repeat("x", 1000000); let b = a + a; let c = b + b; let d = c + c; let e = b[0:%d] + ""; `, maxMemory-15_000_000-left)
}

// The budget is exact: an evaluation may build 16 MiB, not a byte more,
// whatever builds it.
func TestMemoryBudgetIsExact(t *testing.T) {
	for _, tt := range []struct {
		name, expr string
		left       int // bytes of the budget left for expr
		ok         bool
	}{
		{"nothing more", `true`, 0, true},
		{"a byte more", `true`, -1, false},
		{"+, all that is left", `len(a[0:10] + "") == 10`, 10, true},
		{"+, a byte more", `len(a[0:10] + "") == 10`, 9, false},
		{"repeat, all that is left", `repeat("ab", 5) == "ababababab"`, 10, true},
		{"repeat, a byte more", `repeat("ab", 5) == "ababababab"`, 9, false},
		{"repeat of nothing", `repeat("ab", 0) == "" && repeat("", 5) == ""`, 0, true},
		// Even when the size would overflow an int.
		{"repeat past an int", `repeat("xx", 4611686018427387905) == ""`, 1000, false},
		// The list, and the glue between its elements.
		{"join, all that is left", `join(["a", "b"], "--") == "a--b"`, 2*(elementSize+1) + 2*2, true},
		{"join, a byte more", `join(["a", "b"], "--") == "a--b"`, 2*(elementSize+1) + 2*2 - 1, false},
		{"replace, all that is left", `replace("ab", "", "-") == "-a-b-"`, 2 + 3, true},
		{"replace, a byte more", `replace("ab", "", "-") == "-a-b-"`, 2 + 2, false},
		// As many pieces as the separator could cut, and one more.
		{"split, all that is left", `split("a,b,c", ",") == ["a", "b", "c"]`, 6 * elementSize, true},
		{"split, a byte more", `split("a,b,c", ",") == ["a", "b", "c"]`, 6*elementSize - 1, false},
		{"split by two bytes, all that is left", `len(split("a, b, c", ", ")) == 3`, 4 * elementSize, true},
		{"split by two bytes, a byte more", `len(split("a, b, c", ", ")) == 3`, 4*elementSize - 1, false},
		{"concat, all that is left", `concat([1], [2, 3]) == [1, 2, 3]`, 3 * elementSize, true},
		{"concat, a byte more", `concat([1], [2, 3]) == [1, 2, 3]`, 3*elementSize - 1, false},
		{"fromJSON, all that is left", `fromJSON("[1]") == [1]`, 3 * jsonDecodeFactor, true},
		{"fromJSON, a byte more", `fromJSON("[1]") == [1]`, 3*jsonDecodeFactor - 1, false},
		// A nil prints as much as a scalar may.
		{"string, all that is left", `string([nil]) == "[<nil>]"`, 4 + 80, true},
		{"string, a byte more", `string([nil]) == "[<nil>]"`, 4 + 79, false},
		{"toJSON, all that is left", `toJSON([nil]) == "[\n  null\n]"`, 8 + 80, true},
		{"toJSON, a byte more", `toJSON([nil]) == "[\n  null\n]"`, 8 + 79, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			gates := compileOne(t, Gate{Match: "true", Assert: allBut(tt.left) + tt.expr})
			ev := gates.Evaluator()
			defer ev.Release()
			holds, err := ev.holds(gates.At(0).assert)
			if tt.ok {
				require.NoError(t, err)
				assert.True(t, holds)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), "memory budget exceeded (at most 16 MiB per evaluation)")
		})
	}
}

// What the meter charges a value, by what it takes in memory, what
// string() and toJSON() make of it and what flatten() builds of it: a
// string its bytes (and, printed, a scalar's room), an element or a
// map entry or a struct field its own cost and its nesting's.
func TestCostsOfValues(t *testing.T) {
	when := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name                         string
		value                        any
		memory, print, json, flatten int
	}{
		{"string", "abc", 3, 3 + 80, 6*3 + 80, 0},
		{"bytes", []byte{1, 2, 3}, 3, 4*3 + 80, 2*3 + 80, 0},
		{"scalars", []any{1, 2.5, true, nil}, 4 * 16, 4 * (4 + 80), 4 * (8 + 80), 4 * 16},
		{"nested list", []any{"ab", 1, []any{true}},
			3*16 + 2 + 16,
			3*4 + (2 + 80) + 80 + (4 + 80),
			3*8 + (12 + 80) + 80 + (8 + 4 + 80),
			3*16 + (16 + 16)},
		{"map", map[string]any{"k": "v"}, 16 + 1 + 1, 4 + 81 + 81, 8 + 86 + 86, 16},
		{"nested map", map[string]any{"k": map[string]any{"j": 1}}, 16 + 1 + (16 + 1), 4 + 81 + (4 + 81 + 80), 8 + 86 + (8 + 4 + 86 + 80), 16 + (16 + 16)},
		{"time", when, 0, 80, 80, 0},
		{"struct", Event{Name: "e", Time: when},
			(16 + 4 + 1) + (16 + 4) + (16 + 10),
			(4 + 4 + 81) + (4 + 4 + 80) + (4 + 10),
			(8 + 24 + 86) + (8 + 24 + 80) + (8 + 60),
			3 * 16},
		// A struct's fields, and what they hold, are nested in it.
		{"struct in a list", []any{Event{Name: "e", Time: when, Attributes: map[string]any{"a": 1}}},
			16 + (16 + 4 + 1) + (16 + 4) + (16 + 10 + (16 + 1)),
			4 + (4 + 4 + 81) + (4 + 4 + 80) + (4 + 10 + (4 + 81 + 80)),
			8 + (8 + 4 + 24 + 86) + (8 + 4 + 24 + 80) + (8 + 4 + 60 + (8 + 8 + 86 + 80)),
			16 + 32 + 32 + (32 + 48)},
		{"pointer", &Event{Name: "e"}, (16 + 4 + 1) + (16 + 4) + (16 + 10), (4 + 4 + 81) + (4 + 4 + 80) + (4 + 10), (8 + 24 + 86) + (8 + 24 + 80) + (8 + 60), 3 * 16},
		{"nil pointer", (*Event)(nil), 0, 80, 80, 0},
		{"nil", nil, 0, 80, 80, 0},
	} {
		for _, model := range []struct {
			name  string
			costs costs
			want  int
		}{{"memory", memoryCosts, tt.memory}, {"print", printCosts, tt.print}, {"json", jsonCosts, tt.json}, {"flatten", flattenCosts, tt.flatten}} {
			full := model.costs.of(tt.value, maxMemory)
			assert.Equal(t, model.want, full, "%s, %s", tt.name, model.name)
			// Weighing stops once past limit, never before: a value that
			// weighs more than limit is never found to weigh limit or less.
			for limit := range full {
				got := model.costs.of(tt.value, limit)
				assert.True(t, got > limit && got <= full, "%s, %s, limit %d: %d", tt.name, model.name, limit, got)
			}
		}
	}
}

// What the span accessors build is charged before it is built: 16 bytes an
// attribute, an element of a list or an entry of a map, and the bytes of a
// byte string (strings are shared, not copied); 48 bytes an event, and its
// attributes.
func TestSpanAccessorsAreCharged(t *testing.T) {
	res, scope, span := testSpan()
	attrs := span.Attributes()
	attrs.Clear()
	attrs.PutEmptyBytes("raw").FromRaw([]byte{1, 2, 3})
	list := attrs.PutEmptySlice("list")
	list.AppendEmpty().SetInt(1)
	inner := list.AppendEmpty().SetEmptySlice()
	inner.AppendEmpty().SetInt(2)
	inner.AppendEmpty().SetInt(3)
	attrs.PutEmptyMap("map").PutStr("k", "v")
	attrs.PutStr("s", "str")
	span.Events().RemoveIf(func(ptrace.SpanEvent) bool { return true })
	span.Events().AppendEmpty().Attributes().PutStr("a", "b")
	for _, tt := range []struct {
		expr string
		cost int
	}{
		{"len(attributes) == 4", (16 + 3) + (16 + 16 + (16 + 2*16)) + (16 + 16) + 16},
		{`len(attributes["list"]) == 2`, 16 + (16 + 2*16)},
		{`len(attributes["map"]) == 1`, 16},
		{`len(attributes["raw"]) == 3`, 3},
		{"len(events) == 1", 48 + 16},
	} {
		for _, left := range []int{tt.cost, tt.cost - 1} {
			gates := compileOne(t, Gate{Match: "true", Assert: allBut(left) + tt.expr})
			ev := gates.Evaluator()
			ev.env.set(res, scope, span)
			holds, err := ev.holds(gates.At(0).assert)
			ev.Release()
			if left == tt.cost {
				assert.NoError(t, err, "%s with %d bytes left", tt.expr, left)
				assert.True(t, holds, tt.expr)
			} else {
				assert.ErrorContains(t, err, "memory budget exceeded", "%s with %d bytes left", tt.expr, left)
			}
		}
	}
}

// The VM's own budget counts the elements of the ranges and lists it
// builds, 16 bytes each: a million of them fit in 16 MiB, two million do
// not.
func TestListBudget(t *testing.T) {
	for expr, ok := range map[string]bool{
		`len(1..1000000) == 1000000`: true,
		`len(1..2000000) == 2000000`: false,
	} {
		gates := compileOne(t, Gate{Match: "true", Assert: expr})
		ev := gates.Evaluator()
		_, err := ev.holds(gates.At(0).assert)
		ev.Release()
		if ok {
			assert.NoError(t, err, expr)
		} else {
			assert.ErrorContains(t, err, "memory budget exceeded", expr)
		}
	}
}

// A gate's name may be MaxGateName characters long, not one more.
func TestGateNameLength(t *testing.T) {
	_, err := Compile(Document{Gates: []Gate{{Name: strings.Repeat("g", MaxGateName), Match: "true"}}})
	assert.NoError(t, err)
	_, err = Compile(Document{Gates: []Gate{{Name: strings.Repeat("g", MaxGateName+1), Match: "true"}}})
	assert.ErrorContains(t, err, "name: must be 1 to 100 characters")
}
