// Package params binds string parameters (as written in a spec such as
// "pgd:eps=0.3,steps=10" or in YAML) to the typed fields of a component's
// configuration, with defaults, parsing, validation messages and
// documentation from one description.
//
// Attacks (pkg/attack) and defences (pkg/defend) share it, so that both
// registries accept, default and document their parameters the same way.
//
// A component builds a Binder that ties each parameter name to a field:
//
//	b := params.New("attack", "fgsm")
//	b.Float("eps", &a.eps, 0.3, "", "radius of the ball")
//	err := b.Apply(map[string]string{"eps": "0.1"}) // resets to defaults, then parses
//	docs := b.Docs()                                 // for listings
//	vals := b.Values()                               // the resolved parameters
package params
