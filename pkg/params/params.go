package params

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Doc documents one parameter for listings (CLI help, docs).
type Doc struct {
	// Name is the key accepted in a spec, e.g. "eps".
	Name string
	// Type is the accepted value type: "float", "int", "bool", "duration"
	// or "string", with the allowed values for enumerations, e.g.
	// "string (ce|dlr|cw)".
	Type string
	// Default is the default value as it would be written in a spec, or a
	// formula such as "2.5*eps/steps" for derived defaults.
	Default string
	// Doc is a one-line description.
	Doc string
}

// Binding ties one parameter name to a typed field: Reset sets the field to
// its default, Set parses a value into it (the error says what was wanted,
// without naming the key), Get returns the field's current value.
type Binding struct {
	Doc   Doc
	Reset func()
	Set   func(string) error
	Get   func() any
}

// Binder describes one component's parameters, each bound to a field, with
// a default, a parser and documentation. One Binder is the single source
// for parsing, defaults, the resolved values and the docs.
type Binder struct {
	kind  string // "attack", "defence", ...
	owner string // the component's registered name
	list  []Binding
}

// New returns an empty Binder for the component owner of the given kind;
// both appear in error messages ("attack pgd: parameter eps=...").
func New(kind, owner string) *Binder { return &Binder{kind: kind, owner: owner} }

// Kind returns the kind of component the binder describes.
func (b *Binder) Kind() string { return b.kind }

// Owner returns the name of the component the binder describes.
func (b *Binder) Owner() string { return b.owner }

// Add appends a custom binding; the typed helpers below use it.
func (b *Binder) Add(bd Binding) { b.list = append(b.list, bd) }

func finite(s string, bits int) (float64, error) {
	v, err := strconv.ParseFloat(s, bits)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("want a finite number")
	}
	return v, nil
}

// Float binds a float64 parameter. defDoc, when not empty, replaces the
// formatted default in the docs.
func (b *Binder) Float(name string, dst *float64, def float64, defDoc, doc string) {
	if defDoc == "" {
		defDoc = strconv.FormatFloat(def, 'g', -1, 64)
	}
	b.Add(Binding{
		Doc:   Doc{Name: name, Type: "float", Default: defDoc, Doc: doc},
		Reset: func() { *dst = def },
		Set: func(s string) error {
			v, err := finite(s, 64)
			if err != nil {
				return err
			}
			*dst = v
			return nil
		},
		Get: func() any { return *dst },
	})
}

// AutoFloat binds a float64 whose value 0 (written "auto") means "derive
// from other parameters"; defDoc names the formula.
func (b *Binder) AutoFloat(name string, dst *float64, defDoc, doc string) {
	b.Add(Binding{
		Doc:   Doc{Name: name, Type: "float", Default: defDoc, Doc: doc},
		Reset: func() { *dst = 0 },
		Set: func(s string) error {
			if strings.EqualFold(s, "auto") {
				*dst = 0
				return nil
			}
			v, err := finite(s, 64)
			if err != nil {
				return fmt.Errorf("want a finite number or auto")
			}
			*dst = v
			return nil
		},
		Get: func() any { return *dst },
	})
}

// Float32 binds a float32 parameter; Values reports it as a float64.
func (b *Binder) Float32(name string, dst *float32, def float32, doc string) {
	b.Add(Binding{
		Doc:   Doc{Name: name, Type: "float", Default: strconv.FormatFloat(float64(def), 'g', -1, 32), Doc: doc},
		Reset: func() { *dst = def },
		Set: func(s string) error {
			v, err := finite(s, 32)
			if err != nil {
				return err
			}
			*dst = float32(v)
			return nil
		},
		Get: func() any { return float64(*dst) },
	})
}

// Int binds an int parameter. defDoc, when not empty, replaces the
// formatted default in the docs.
func (b *Binder) Int(name string, dst *int, def int, defDoc, doc string) {
	if defDoc == "" {
		defDoc = strconv.Itoa(def)
	}
	b.Add(Binding{
		Doc:   Doc{Name: name, Type: "int", Default: defDoc, Doc: doc},
		Reset: func() { *dst = def },
		Set: func(s string) error {
			v, err := strconv.Atoi(s)
			if err != nil {
				return fmt.Errorf("want an integer")
			}
			*dst = v
			return nil
		},
		Get: func() any { return *dst },
	})
}

// AutoInt binds an int whose value 0 (written "auto") means "derive from
// other parameters"; defDoc names the formula.
func (b *Binder) AutoInt(name string, dst *int, defDoc, doc string) {
	b.Add(Binding{
		Doc:   Doc{Name: name, Type: "int", Default: defDoc, Doc: doc},
		Reset: func() { *dst = 0 },
		Set: func(s string) error {
			if strings.EqualFold(s, "auto") {
				*dst = 0
				return nil
			}
			v, err := strconv.Atoi(s)
			if err != nil {
				return fmt.Errorf("want an integer or auto")
			}
			*dst = v
			return nil
		},
		Get: func() any { return *dst },
	})
}

// Bool binds a bool parameter (values as strconv.ParseBool accepts).
func (b *Binder) Bool(name string, dst *bool, def bool, doc string) {
	b.Add(Binding{
		Doc:   Doc{Name: name, Type: "bool", Default: strconv.FormatBool(def), Doc: doc},
		Reset: func() { *dst = def },
		Set: func(s string) error {
			v, err := strconv.ParseBool(s)
			if err != nil {
				return fmt.Errorf("want true or false")
			}
			*dst = v
			return nil
		},
		Get: func() any { return *dst },
	})
}

// Enum binds a string parameter restricted to allowed values (compared
// case-insensitively; stored lower-case).
func (b *Binder) Enum(name string, dst *string, def string, allowed []string, doc string) {
	want := strings.Join(allowed, "|")
	b.Add(Binding{
		Doc:   Doc{Name: name, Type: "string (" + want + ")", Default: def, Doc: doc},
		Reset: func() { *dst = def },
		Set: func(s string) error {
			s = strings.ToLower(s)
			for _, a := range allowed {
				if a == s {
					*dst = s
					return nil
				}
			}
			return fmt.Errorf("want one of %s", want)
		},
		Get: func() any { return *dst },
	})
}

// String binds a free-form string parameter. defDoc, when not empty,
// replaces the default in the docs (e.g. a formula for an empty default).
func (b *Binder) String(name string, dst *string, def, defDoc, doc string) {
	if defDoc == "" {
		defDoc = def
	}
	b.Add(Binding{
		Doc:   Doc{Name: name, Type: "string", Default: defDoc, Doc: doc},
		Reset: func() { *dst = def },
		Set:   func(s string) error { *dst = s; return nil },
		Get:   func() any { return *dst },
	})
}

// Duration binds a time.Duration parameter written as time.ParseDuration
// accepts ("90s", "5m").
func (b *Binder) Duration(name string, dst *time.Duration, def time.Duration, doc string) {
	b.Add(Binding{
		Doc:   Doc{Name: name, Type: "duration", Default: def.String(), Doc: doc},
		Reset: func() { *dst = def },
		Set: func(s string) error {
			v, err := time.ParseDuration(s)
			if err != nil {
				return fmt.Errorf("want a duration such as 90s or 5m")
			}
			*dst = v
			return nil
		},
		Get: func() any { return dst.String() },
	})
}

// Reset sets every bound field to its default.
func (b *Binder) Reset() {
	for _, bd := range b.list {
		bd.Reset()
	}
}

// Apply resets every field to its default, then parses params (keys are
// matched case-insensitively, values are trimmed). Unknown keys and bad
// values are errors naming the component, the key and what was expected.
// Keys are applied in sorted order, so the first error is deterministic.
func (b *Binder) Apply(params map[string]string) error {
	b.Reset()
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := strings.TrimSpace(params[k])
		name := strings.ToLower(strings.TrimSpace(k))
		found := false
		for _, bd := range b.list {
			if bd.Doc.Name == name {
				found = true
				if err := bd.Set(v); err != nil {
					return fmt.Errorf("%s %s: parameter %s=%q: %v", b.kind, b.owner, k, v, err)
				}
				break
			}
		}
		if !found {
			return fmt.Errorf("%s %s: unknown parameter %q (known: %s)", b.kind, b.owner, k, strings.Join(b.Names(), ", "))
		}
	}
	return nil
}

// Names returns the parameter names in listing order.
func (b *Binder) Names() []string {
	out := make([]string, len(b.list))
	for i, bd := range b.list {
		out[i] = bd.Doc.Name
	}
	return out
}

// Docs returns the parameter docs in listing order.
func (b *Binder) Docs() []Doc {
	out := make([]Doc, len(b.list))
	for i, bd := range b.list {
		out[i] = bd.Doc
	}
	return out
}

// Values returns the current value of every parameter, by name.
func (b *Binder) Values() map[string]any {
	out := make(map[string]any, len(b.list))
	for _, bd := range b.list {
		out[bd.Doc.Name] = bd.Get()
	}
	return out
}

// Errf formats a validation error found after parsing, in the same style
// as Apply's parse errors: "<kind> <owner>: parameter <key>=<val>: want <want>".
func Errf(kind, owner, key string, val any, want string) error {
	return fmt.Errorf("%s %s: parameter %s=%v: want %s", kind, owner, key, val, want)
}

// Err formats a validation error for this binder's component (see Errf).
func (b *Binder) Err(key string, val any, want string) error {
	return Errf(b.kind, b.owner, key, val, want)
}
