package attack

import (
	"fmt"
	"sort"
	"strings"

	"github.com/advtest/advtest/pkg/params"
)

// ParamDoc documents one attack parameter for listings (CLI help, docs):
// Name (the key accepted by New, e.g. "eps"), Type ("float", "int",
// "bool", "norm" or "string", with the allowed values for enumerations),
// Default (as written in a spec, or a formula such as "2.5*eps/steps") and
// Doc (one line). Defences share the type (pkg/params).
type ParamDoc = params.Doc

// Factory builds an attack of one kind from string parameters and
// documents it.
type Factory struct {
	// Summary is a one-line description naming the paper the attack follows.
	Summary string
	// Params documents the accepted parameters, in listing order.
	Params []ParamDoc
	// New builds the attack. Keys not in Params and values that do not
	// parse are errors that name the attack, the key and what was expected.
	New func(params map[string]string) (Attack, error)
}

var registry = params.NewRegistry[Factory]("attack", "attack")

// Register adds a factory under name (lower case, no spaces, colons,
// commas or equals signs). It returns an error when the name is malformed,
// already taken, or the factory has no New function.
func Register(name string, f Factory) error {
	if f.New == nil {
		return fmt.Errorf("attack: factory %q has no New function", name)
	}
	return registry.Register(name, f)
}

// mustRegister registers a built-in attack; a failure is a programming
// error in this package, caught by its tests.
func mustRegister(name string, f Factory) {
	if err := Register(name, f); err != nil {
		panic(err)
	}
}

// Lookup returns the factory registered under name (case-insensitive).
func Lookup(name string) (Factory, bool) { return registry.Lookup(name) }

// Names returns the registered attack names, sorted.
func Names() []string { return registry.Names() }

// New builds the attack registered under name with the given parameters
// (string values, as written in a spec or YAML). Missing parameters take
// their documented defaults.
//
// The keys targeted and target (see TargetRule) are accepted by every
// attack with a targeted form: the attack is built from the other keys and
// wrapped with NewTargeted.
func New(name string, params map[string]string) (Attack, error) {
	f, ok := Lookup(name)
	if !ok {
		return nil, registry.Unknown(name)
	}
	rest, rule, err := splitTargetKeys(name, params)
	if err != nil {
		return nil, err
	}
	a, err := f.New(rest)
	if err != nil || rule == nil {
		return a, err
	}
	return NewTargeted(a, rule)
}

// Spec is a parsed attack specification such as "pgd:norm=linf,eps=0.3".
type Spec struct {
	Name   string
	Params map[string]string
}

// String formats the spec back as name:key=value,... with sorted keys.
func (s Spec) String() string {
	if len(s.Params) == 0 {
		return s.Name
	}
	keys := make([]string, 0, len(s.Params))
	for k := range s.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + s.Params[k]
	}
	return s.Name + ":" + strings.Join(parts, ",")
}

// ParseSpec parses "name" or "name:key=value,key=value". Names and keys are
// lower-cased; spaces around them are ignored. A repeated key, a pair
// without "=" or an empty name is an error.
func ParseSpec(s string) (Spec, error) {
	name, rest, hasParams := strings.Cut(s, ":")
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" {
		return Spec{}, fmt.Errorf("attack spec %q: empty attack name", s)
	}
	sp := Spec{Name: name, Params: map[string]string{}}
	if !hasParams || strings.TrimSpace(rest) == "" {
		return sp, nil
	}
	for _, kv := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		if !ok || k == "" {
			return Spec{}, fmt.Errorf("attack spec %q: %q is not key=value", s, strings.TrimSpace(kv))
		}
		if _, dup := sp.Params[k]; dup {
			return Spec{}, fmt.Errorf("attack spec %q: key %q given twice", s, k)
		}
		sp.Params[k] = strings.TrimSpace(v)
	}
	return sp, nil
}
