package traces

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/releasegate/releasegate/config"
)

// maxInterned bounds what an interner remembers: past it, it forgets all
// and starts again, so that values that drift (a new version's names)
// cannot grow it.
const maxInterned = 1 << 14

// interner shares the values that repeat across buffered spans (span
// names, status codes, services): one copy of each, not one per span.
type interner struct {
	strs      map[string]any // boxed once: a string in an any costs a header
	ints      map[int64]any
	resources map[string]*Resource // by resourceKey
}

func newInterner() interner {
	return interner{strs: map[string]any{}, ints: map[int64]any{}, resources: map[string]*Resource{}}
}

func (in *interner) str(s string) string {
	if s == "" {
		return ""
	}
	return in.boxedStr(s).(string)
}

func (in *interner) boxedStr(s string) any {
	if v, ok := in.strs[s]; ok {
		return v
	}
	if len(in.strs) >= maxInterned {
		clear(in.strs)
	}
	s = strings.Clone(s) // not to pin the batch it came in
	in.strs[s] = s
	return in.strs[s]
}

// value is an attribute value as config.AttributeValue makes it, shared
// when it is a string or an int.
func (in *interner) value(v pcommon.Value) any {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return in.boxedStr(v.Str())
	case pcommon.ValueTypeInt:
		n := v.Int()
		if b, ok := in.ints[n]; ok {
			return b
		}
		if len(in.ints) >= maxInterned {
			clear(in.ints)
		}
		in.ints[n] = int(n)
		return in.ints[n]
	}
	return config.AttributeValue(v)
}

// resource is the one Resource of the attributes given, kept for spans.
func (in *interner) resource(attrs map[string]any) *Resource {
	if attrs == nil {
		return nil
	}
	key := resourceKey(attrs)
	if r, ok := in.resources[key]; ok {
		return r
	}
	if len(in.resources) >= maxInterned {
		clear(in.resources)
	}
	r := &Resource{attributes: attrs}
	in.resources[key] = r
	return r
}

// resourceKey tells apart resources whose kept attributes differ.
func resourceKey(attrs map[string]any) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		fmt.Fprintf(&b, "%q=%T:%#v;", k, attrs[k], attrs[k])
	}
	return b.String()
}
