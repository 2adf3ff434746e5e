package attack

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// binding ties one parameter name to a typed field of an attack's config.
type binding struct {
	doc   ParamDoc
	reset func()
	set   func(string) error
	get   func() any
}

// binder describes an attack's parameters: each bound to a field, with a
// default, a parser and documentation. One binder is the single source for
// parsing, defaults, Params() and the docs.
type binder struct {
	attack string
	list   []binding
}

func newBinder(attack string) *binder { return &binder{attack: attack} }

func (b *binder) add(bd binding) { b.list = append(b.list, bd) }

func (b *binder) float(name string, dst *float64, def float64, defDoc, doc string) {
	if defDoc == "" {
		defDoc = strconv.FormatFloat(def, 'g', -1, 64)
	}
	b.add(binding{
		doc:   ParamDoc{Name: name, Type: "float", Default: defDoc, Doc: doc},
		reset: func() { *dst = def },
		set: func(s string) error {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("want a finite number")
			}
			*dst = v
			return nil
		},
		get: func() any { return *dst },
	})
}

// autoFloat is a float whose value 0 (written "auto") means "derive from
// other parameters"; defDoc names the formula.
func (b *binder) autoFloat(name string, dst *float64, defDoc, doc string) {
	b.add(binding{
		doc:   ParamDoc{Name: name, Type: "float", Default: defDoc, Doc: doc},
		reset: func() { *dst = 0 },
		set: func(s string) error {
			if strings.EqualFold(s, "auto") {
				*dst = 0
				return nil
			}
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("want a finite number or auto")
			}
			*dst = v
			return nil
		},
		get: func() any { return *dst },
	})
}

func (b *binder) float32(name string, dst *float32, def float32, doc string) {
	b.add(binding{
		doc:   ParamDoc{Name: name, Type: "float", Default: strconv.FormatFloat(float64(def), 'g', -1, 32), Doc: doc},
		reset: func() { *dst = def },
		set: func(s string) error {
			v, err := strconv.ParseFloat(s, 32)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("want a finite number")
			}
			*dst = float32(v)
			return nil
		},
		get: func() any { return float64(*dst) },
	})
}

func (b *binder) int(name string, dst *int, def int, defDoc, doc string) {
	if defDoc == "" {
		defDoc = strconv.Itoa(def)
	}
	b.add(binding{
		doc:   ParamDoc{Name: name, Type: "int", Default: defDoc, Doc: doc},
		reset: func() { *dst = def },
		set: func(s string) error {
			v, err := strconv.Atoi(s)
			if err != nil {
				return fmt.Errorf("want an integer")
			}
			*dst = v
			return nil
		},
		get: func() any { return *dst },
	})
}

// autoInt is an int whose value 0 (written "auto") means "derive from
// other parameters"; defDoc names the formula.
func (b *binder) autoInt(name string, dst *int, defDoc, doc string) {
	b.add(binding{
		doc:   ParamDoc{Name: name, Type: "int", Default: defDoc, Doc: doc},
		reset: func() { *dst = 0 },
		set: func(s string) error {
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
		get: func() any { return *dst },
	})
}

func (b *binder) bool(name string, dst *bool, def bool, doc string) {
	b.add(binding{
		doc:   ParamDoc{Name: name, Type: "bool", Default: strconv.FormatBool(def), Doc: doc},
		reset: func() { *dst = def },
		set: func(s string) error {
			v, err := strconv.ParseBool(s)
			if err != nil {
				return fmt.Errorf("want true or false")
			}
			*dst = v
			return nil
		},
		get: func() any { return *dst },
	})
}

func (b *binder) norm(name string, dst *Norm, def Norm, allowed []Norm, doc string) {
	names := make([]string, len(allowed))
	for i, n := range allowed {
		names[i] = n.String()
	}
	want := strings.Join(names, "|")
	b.add(binding{
		doc:   ParamDoc{Name: name, Type: "norm (" + want + ")", Default: def.String(), Doc: doc},
		reset: func() { *dst = def },
		set: func(s string) error {
			v, err := ParseNorm(s)
			if err == nil {
				for _, a := range allowed {
					if a == v {
						*dst = v
						return nil
					}
				}
			}
			return fmt.Errorf("want one of %s", want)
		},
		get: func() any { return dst.String() },
	})
}

func (b *binder) enum(name string, dst *string, def string, allowed []string, doc string) {
	want := strings.Join(allowed, "|")
	b.add(binding{
		doc:   ParamDoc{Name: name, Type: "string (" + want + ")", Default: def, Doc: doc},
		reset: func() { *dst = def },
		set: func(s string) error {
			s = strings.ToLower(s)
			for _, a := range allowed {
				if a == s {
					*dst = s
					return nil
				}
			}
			return fmt.Errorf("want one of %s", want)
		},
		get: func() any { return *dst },
	})
}

// bounds binds the clip range keys "min" and "max".
func (b *binder) bounds(dst *Bounds) {
	b.float32("min", &dst.Min, 0, "lower end of the clip range (input space)")
	b.float32("max", &dst.Max, 1, "upper end of the clip range (input space)")
}

// reset sets every bound field to its default.
func (b *binder) reset() {
	for _, bd := range b.list {
		bd.reset()
	}
}

// apply resets to defaults, then parses params; unknown keys and bad values
// are errors naming the attack, the key and what was expected.
func (b *binder) apply(params map[string]string) error {
	b.reset()
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := strings.TrimSpace(params[k])
		found := false
		for _, bd := range b.list {
			if bd.doc.Name == strings.ToLower(strings.TrimSpace(k)) {
				found = true
				if err := bd.set(v); err != nil {
					return fmt.Errorf("attack %s: parameter %s=%q: %v", b.attack, k, v, err)
				}
				break
			}
		}
		if !found {
			return fmt.Errorf("attack %s: unknown parameter %q (known: %s)", b.attack, k, strings.Join(b.names(), ", "))
		}
	}
	return nil
}

func (b *binder) names() []string {
	out := make([]string, len(b.list))
	for i, bd := range b.list {
		out[i] = bd.doc.Name
	}
	return out
}

func (b *binder) docs() []ParamDoc {
	out := make([]ParamDoc, len(b.list))
	for i, bd := range b.list {
		out[i] = bd.doc
	}
	return out
}

func (b *binder) values() map[string]any {
	out := make(map[string]any, len(b.list))
	for _, bd := range b.list {
		out[bd.doc.Name] = bd.get()
	}
	return out
}

// paramErr formats a validation error after parsing, in the same style as
// parse errors.
func paramErr(attack, key string, val any, want string) error {
	return fmt.Errorf("attack %s: parameter %s=%v: want %s", attack, key, val, want)
}

// configurable is implemented by every built-in attack config: bind
// returns its binder (no side effects), validate checks the parsed values.
type configurable interface {
	Attack
	bind() *binder
	validate() error
}

// factoryFor builds a Factory for a built-in attack from a constructor of
// its zero config.
func factoryFor(summary string, zero func() configurable) Factory {
	return Factory{
		Summary: summary,
		Params:  zero().bind().docs(),
		New: func(params map[string]string) (Attack, error) {
			a := zero()
			if err := a.bind().apply(params); err != nil {
				return nil, err
			}
			if err := a.validate(); err != nil {
				return nil, err
			}
			return a, nil
		},
	}
}
