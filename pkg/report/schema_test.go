package report_test

import (
	"encoding/json"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/report"
)

// TestJSONSchemaMatchesModel checks docs/report-schema.json against the Go
// model: the same properties at every level, and every field without
// omitempty required.
func TestJSONSchemaMatchesModel(t *testing.T) {
	data, err := os.ReadFile("../../docs/report-schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	defs, _ := schema["$defs"].(map[string]any)
	resolve := func(s map[string]any) map[string]any {
		if ref, ok := s["$ref"].(string); ok {
			d, _ := defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
			return d
		}
		return s
	}
	var walk func(path string, typ reflect.Type, s map[string]any)
	walk = func(path string, typ reflect.Type, s map[string]any) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
			if items, ok := s["items"].(map[string]any); ok {
				s = resolve(items)
			}
		}
		if typ.Kind() != reflect.Struct {
			return
		}
		s = resolve(s)
		props, _ := s["properties"].(map[string]any)
		req := map[string]bool{}
		if r, ok := s["required"].([]any); ok {
			for _, x := range r {
				req[x.(string)] = true
			}
		}
		var goNames []string
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue // not in the JSON form
			}
			goNames = append(goNames, name)
			ps, ok := props[name].(map[string]any)
			if !ok {
				t.Errorf("%s.%s: in the Go model, not in the schema", path, name)
				continue
			}
			if want := !strings.Contains(opts, "omitempty"); req[name] != want {
				t.Errorf("%s.%s: required in schema %v, want %v", path, name, req[name], want)
			}
			if f.Type.Kind() != reflect.Map {
				walk(path+"."+name, f.Type, ps)
			}
		}
		sort.Strings(goNames)
		for name := range props {
			if i := sort.SearchStrings(goNames, name); i == len(goNames) || goNames[i] != name {
				t.Errorf("%s.%s: in the schema, not in the Go model", path, name)
			}
		}
	}
	walk("report", reflect.TypeOf(report.Report{}), schema)
}

// TestSchemaDocMentionsEveryKey checks that docs/report-schema.md names
// every JSON key of the model.
func TestSchemaDocMentionsEveryKey(t *testing.T) {
	data, err := os.ReadFile("../../docs/report-schema.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	seen := map[reflect.Type]bool{}
	var walk func(typ reflect.Type)
	walk = func(typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] {
			return
		}
		seen[typ] = true
		for i := 0; i < typ.NumField(); i++ {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if !strings.Contains(doc, name+"`") {
				t.Errorf("%s.%s is not documented", typ.Name(), name)
			}
			walk(typ.Field(i).Type)
		}
	}
	walk(reflect.TypeOf(report.Report{}))
}
