package defend

import (
	"fmt"

	"github.com/advtest/advtest/pkg/params"
)

// ParamDoc documents one defence parameter for listings (CLI help, docs).
// It is the type attacks use too (pkg/params).
type ParamDoc = params.Doc

// Factory builds a defence of one kind from string parameters and
// documents it.
type Factory struct {
	// Summary is a one-line description naming the paper the defence
	// follows.
	Summary string
	// Kind is the kind of defence New builds.
	Kind Kind
	// Params documents the accepted parameters, in listing order.
	Params []ParamDoc
	// New builds the defence. Keys not in Params and values that do not
	// parse are errors that name the defence, the key and what was expected.
	New func(params map[string]string) (Defence, error)
}

var registry = params.NewRegistry[Factory]("defend", "defence")

// Register adds a factory under name (lower case, no spaces, colons,
// commas or equals signs). It returns an error when the name is malformed,
// already taken, or the factory has no New function.
func Register(name string, f Factory) error {
	if f.New == nil {
		return fmt.Errorf("defend: factory %q has no New function", name)
	}
	return registry.Register(name, f)
}

// mustRegister registers a built-in defence; a failure is a programming
// error in this package, caught by its tests.
func mustRegister(name string, f Factory) {
	if err := Register(name, f); err != nil {
		panic(err)
	}
}

// Lookup returns the factory registered under name (case-insensitive).
func Lookup(name string) (Factory, bool) { return registry.Lookup(name) }

// Names returns the registered defence names, sorted.
func Names() []string { return registry.Names() }

// New builds the defence registered under name with the given parameters
// (string values, as written in YAML). Missing parameters take their
// documented defaults.
func New(name string, params map[string]string) (Defence, error) {
	f, ok := Lookup(name)
	if !ok {
		return nil, registry.Unknown(name)
	}
	return f.New(params)
}

// Configurable is implemented by defences built with FactoryFor: Bind
// returns the binder of their parameters (no side effects beyond tying
// fields), Validate checks the parsed values.
type Configurable interface {
	Defence
	Bind() *params.Binder
	Validate() error
}

// FactoryFor builds a Factory from a constructor of a defence's zero
// config: Params come from its binder's docs, New applies the string
// parameters (defaults first) and validates.
func FactoryFor(summary string, zero func() Configurable) Factory {
	z := zero()
	return Factory{
		Summary: summary,
		Kind:    z.Kind(),
		Params:  z.Bind().Docs(),
		New: func(p map[string]string) (Defence, error) {
			d := zero()
			if err := d.Bind().Apply(p); err != nil {
				return nil, err
			}
			if err := d.Validate(); err != nil {
				return nil, err
			}
			return d, nil
		},
	}
}
