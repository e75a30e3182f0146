package sink

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/confmap"
)

// Unmarshal decodes a sink's settings into cfg, which holds its defaults,
// and refuses keys cfg does not have. confighttp.ClientConfig, squashed into
// the sinks' configs, decodes leniently (it ignores keys it does not know, as
// they may be its parent's), so without this check a misspelt `tokn` would
// pass silently.
func Unmarshal(conf *confmap.Conf, cfg any) error {
	known := keysOf(reflect.TypeOf(cfg).Elem())
	var unknown []string
	for key := range conf.ToStringMap() {
		if !known[key] {
			unknown = append(unknown, key)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("unknown keys: %s", strings.Join(unknown, ", "))
	}
	return conf.Unmarshal(cfg)
}

// keysOf lists the mapstructure keys of a struct, squashed fields included.
func keysOf(t reflect.Type) map[string]bool {
	keys := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		switch {
		case name == "-":
		case strings.Contains(opts, "squash"):
			for k := range keysOf(f.Type) {
				keys[k] = true
			}
		case name == "":
			keys[strings.ToLower(f.Name)] = true
		default:
			keys[name] = true
		}
	}
	return keys
}
