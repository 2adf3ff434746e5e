package config

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// decoder fills a Plan from the generic values that viper and the YAML
// parser produce (maps, lists, strings, numbers), collecting one error per
// bad key. Strings are accepted wherever a number is wanted, since the
// environment only holds strings.
type decoder struct {
	// strict makes keys that match no field errors (file check).
	strict bool
	errs   []error
}

func (d *decoder) fail(key, format string, args ...any) {
	d.errs = append(d.errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
}

func (d *decoder) err() error { return errors.Join(d.errs...) }

// join builds a nested key path.
func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// got describes a value for an error message.
func got(v any) string {
	switch x := v.(type) {
	case nil:
		return "nothing"
	case string:
		return strconv.Quote(x)
	case map[string]any, map[any]any:
		return "a mapping"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%v", v)
}

// stringMap turns a map with string keys (or, from YAML, any keys) into
// map[string]any; ok is false for anything else.
func stringMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, x := range m {
			out[fmt.Sprint(k)] = x
		}
		return out, true
	}
	return nil, false
}

// decode stores in into out (a settable value), naming key in errors.
func (d *decoder) decode(key string, in any, out reflect.Value) {
	if in == nil {
		return // absent or null: keep the zero value or default
	}
	switch out.Kind() {
	case reflect.Struct:
		d.decodeStruct(key, in, out)
	case reflect.Pointer:
		v := reflect.New(out.Type().Elem())
		before := len(d.errs)
		d.decode(key, in, v.Elem())
		if len(d.errs) == before {
			out.Set(v)
		}
	case reflect.Slice:
		d.decodeSlice(key, in, out)
	case reflect.Map:
		d.decodeParams(key, in, out)
	case reflect.String:
		s, ok := in.(string)
		if !ok {
			d.fail(key, "want a string, got %s", got(in))
			return
		}
		out.SetString(s)
	case reflect.Int:
		n, ok := toInt(in)
		if !ok {
			d.fail(key, "want an integer, got %s", got(in))
			return
		}
		out.SetInt(n)
	case reflect.Uint64:
		n, ok := toInt(in)
		if !ok || n < 0 {
			d.fail(key, "want an integer >= 0, got %s", got(in))
			return
		}
		out.SetUint(uint64(n))
	case reflect.Bool:
		b, ok := in.(bool)
		if str, isStr := in.(string); isStr {
			// Environment variables and flags arrive as text.
			b, ok = parseBool(str)
		}
		if !ok {
			d.fail(key, "want true or false, got %s", got(in))
			return
		}
		out.SetBool(b)
	case reflect.Float64:
		f, ok := toFloat(in)
		if !ok {
			d.fail(key, "want a number, got %s", got(in))
			return
		}
		out.SetFloat(f)
	default:
		d.fail(key, "internal: no decoder for %s", out.Type())
	}
}

func (d *decoder) decodeStruct(key string, in any, out reflect.Value) {
	m, ok := stringMap(in)
	if !ok {
		d.fail(key, "want a mapping, got %s", got(in))
		return
	}
	t := out.Type()
	known := make(map[string]int, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		known[tagName(t.Field(i))] = i
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		i, ok := known[k]
		if !ok {
			if d.strict {
				names := make([]string, 0, len(known))
				for n := range known {
					names = append(names, n)
				}
				sort.Strings(names)
				d.fail(join(key, k), "unknown key (known here: %s)", strings.Join(names, ", "))
			}
			continue
		}
		d.decode(join(key, k), m[k], out.Field(i))
	}
}

func (d *decoder) decodeSlice(key string, in any, out reflect.Value) {
	elem := out.Type().Elem()
	var items []any
	switch x := in.(type) {
	case []any:
		items = x
	case []float64:
		for _, f := range x {
			items = append(items, f)
		}
	case []string:
		for _, s := range x {
			items = append(items, s)
		}
	case string:
		// From the environment or a flag: "0.5,0.5,0.5" or "[0.5 0.5]".
		if elem.Kind() != reflect.Float64 {
			d.fail(key, "want a list, got %s", got(in))
			return
		}
		for _, f := range strings.FieldsFunc(strings.Trim(x, "[] "), func(r rune) bool { return r == ',' || r == ' ' }) {
			items = append(items, f)
		}
	default:
		d.fail(key, "want a list, got %s", got(in))
		return
	}
	s := reflect.MakeSlice(out.Type(), len(items), len(items))
	for i, it := range items {
		k := fmt.Sprintf("%s[%d]", key, i)
		if it == nil {
			d.fail(k, "want a value, got nothing")
			continue
		}
		d.decode(k, it, s.Index(i))
	}
	out.Set(s)
}

// decodeParams fills a map[string]string from a mapping of scalars,
// writing numbers in their shortest form and booleans as true/false.
func (d *decoder) decodeParams(key string, in any, out reflect.Value) {
	m, ok := stringMap(in)
	if !ok {
		d.fail(key, "want a mapping of names to values, got %s", got(in))
		return
	}
	res := make(map[string]string, len(m))
	for k, v := range m {
		s, ok := scalarString(v)
		if !ok {
			d.fail(join(key, k), "want a single value (number, string or boolean), got %s", got(v))
			continue
		}
		res[k] = s
	}
	out.Set(reflect.ValueOf(res))
}

func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), true
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32), true
	}
	return "", false
}

func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint64:
		if x > math.MaxInt64 {
			return 0, false
		}
		return int64(x), true
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return 0, false
		}
		return int64(x), true
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		return n, err == nil
	}
	return 0, false
}

func toFloat(v any) (float64, bool) {
	var f float64
	switch x := v.(type) {
	case int:
		f = float64(x)
	case int32:
		f = float64(x)
	case int64:
		f = float64(x)
	case uint64:
		f = float64(x)
	case float32:
		f = float64(x)
	case float64:
		f = x
	case string:
		var err error
		f, err = strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	return f, !math.IsNaN(f) && !math.IsInf(f, 0)
}

func tagName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		return strings.ToLower(f.Name)
	}
	return name
}

// leafKeys lists the dotted keys of the scalar (and number-list) fields of
// t, descending into structs but not into lists of structs: the keys that
// the environment can set.
func leafKeys(prefix string, t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		k := join(prefix, tagName(f))
		ft := f.Type
		switch {
		case ft.Kind() == reflect.Struct:
			out = append(out, leafKeys(k, ft)...)
		case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct:
			out = append(out, leafKeys(k, ft.Elem())...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
		case ft.Kind() == reflect.Map:
		default:
			out = append(out, k)
		}
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// parseBool reads a boolean written as text (an environment variable):
// true/false, yes/no, on/off, 1/0, any case.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "on", "1":
		return true, true
	case "false", "no", "off", "0":
		return false, true
	}
	return false, false
}
