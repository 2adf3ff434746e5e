package attack

import (
	"fmt"
	"strings"

	"github.com/advtest/advtest/pkg/params"
)

// binder describes an attack's parameters: the shared params.Binder plus
// the attack-specific kinds (norms, clip range). The lower-case methods
// keep the attacks' bind functions short.
type binder struct{ *params.Binder }

func newBinder(attack string) *binder { return &binder{params.New("attack", attack)} }

func (b *binder) float(name string, dst *float64, def float64, defDoc, doc string) {
	b.Float(name, dst, def, defDoc, doc)
}

func (b *binder) autoFloat(name string, dst *float64, defDoc, doc string) {
	b.AutoFloat(name, dst, defDoc, doc)
}

func (b *binder) float32(name string, dst *float32, def float32, doc string) {
	b.Float32(name, dst, def, doc)
}

func (b *binder) int(name string, dst *int, def int, defDoc, doc string) {
	b.Int(name, dst, def, defDoc, doc)
}

func (b *binder) autoInt(name string, dst *int, defDoc, doc string) {
	b.AutoInt(name, dst, defDoc, doc)
}

func (b *binder) bool(name string, dst *bool, def bool, doc string) { b.Bool(name, dst, def, doc) }

func (b *binder) enum(name string, dst *string, def string, allowed []string, doc string) {
	b.Enum(name, dst, def, allowed, doc)
}

func (b *binder) norm(name string, dst *Norm, def Norm, allowed []Norm, doc string) {
	names := make([]string, len(allowed))
	for i, n := range allowed {
		names[i] = n.String()
	}
	want := strings.Join(names, "|")
	b.Add(params.Binding{
		Doc:   ParamDoc{Name: name, Type: "norm (" + want + ")", Default: def.String(), Doc: doc},
		Reset: func() { *dst = def },
		Set: func(s string) error {
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
		Get: func() any { return dst.String() },
	})
}

// bounds binds the clip range keys "min" and "max".
func (b *binder) bounds(dst *Bounds) {
	b.float32("min", &dst.Min, 0, "lower end of the clip range (input space)")
	b.float32("max", &dst.Max, 1, "upper end of the clip range (input space)")
}

// apply resets to defaults, then parses params; unknown keys and bad values
// are errors naming the attack, the key and what was expected.
func (b *binder) apply(p map[string]string) error { return b.Apply(p) }

func (b *binder) docs() []ParamDoc { return b.Docs() }

func (b *binder) values() map[string]any { return b.Values() }

// paramErr formats a validation error after parsing, in the same style as
// parse errors.
func paramErr(attack, key string, val any, want string) error {
	return params.Errf("attack", attack, key, val, want)
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
