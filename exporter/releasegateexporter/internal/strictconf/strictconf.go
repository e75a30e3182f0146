// Package strictconf decodes configuration sections that refuse the keys
// they do not have, at any depth.
package strictconf

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/confmap"
)

// Unmarshal decodes conf into cfg, which holds its defaults, and refuses
// keys cfg does not have, at any depth. confighttp.ClientConfig, squashed
// into the sinks' configs, decodes leniently (it ignores keys it does not
// know, as they may be its parent's), and so is everything decoded beside
// it, retry_on_failure and tls included: without this check a misspelt
// `tokn` or `retry_on_failure::max_elapsed` would pass silently.
func Unmarshal(conf *confmap.Conf, cfg any) error {
	if unknown := unknownKeys(reflect.TypeOf(cfg).Elem(), conf.ToStringMap(), ""); len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("unknown keys: %s", strings.Join(unknown, ", "))
	}
	return conf.Unmarshal(cfg)
}

var unmarshalerType = reflect.TypeFor[confmap.Unmarshaler]()

// unknownKeys lists the keys of m that the struct t does not have, as paths
// such as retry_on_failure::max_elapsed. It looks into the sections of
// plain structs; a type with its own Unmarshal (configoptional.Optional)
// decodes its section, strictly, itself.
func unknownKeys(t reflect.Type, m map[string]any, prefix string) []string {
	fields := fieldsOf(t)
	var unknown []string
	for key, value := range m {
		ft, ok := fields[key]
		if !ok {
			unknown = append(unknown, prefix+key)
			continue
		}
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		section, isMap := value.(map[string]any)
		if isMap && ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(unmarshalerType) {
			unknown = append(unknown, unknownKeys(ft, section, prefix+key+confmap.KeyDelimiter)...)
		}
	}
	return unknown
}

// fieldsOf maps the mapstructure keys of a struct to their fields' types,
// squashed fields included.
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		switch {
		case name == "-":
		case strings.Contains(opts, "squash"):
			for k, ft := range fieldsOf(f.Type) {
				fields[k] = ft
			}
		case name == "":
			fields[strings.ToLower(f.Name)] = f.Type
		default:
			fields[name] = f.Type
		}
	}
	return fields
}
