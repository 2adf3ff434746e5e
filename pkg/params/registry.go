package params

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Registry is a concurrency-safe set of named factories: the attacks' and
// the defences' registries are both one. Names are lower case, without
// spaces, colons, commas or equals signs (they appear in specs such as
// "pgd:eps=0.3"); lookups ignore case and surrounding space.
type Registry[F any] struct {
	pkg, what string // for errors: "attack", "attack"; "defend", "defence"
	mu        sync.RWMutex
	m         map[string]F
}

// NewRegistry returns an empty registry. pkg prefixes its errors and what
// names the kind of thing registered.
func NewRegistry[F any](pkg, what string) *Registry[F] {
	return &Registry[F]{pkg: pkg, what: what, m: map[string]F{}}
}

// Register adds f under name. It returns an error when the name is
// malformed or already taken.
func (r *Registry[F]) Register(name string, f F) error {
	if name == "" || name != strings.ToLower(name) || strings.ContainsAny(name, " :,=\t") {
		return fmt.Errorf("%s: malformed %s name %q", r.pkg, r.what, name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.m[name]; ok {
		return fmt.Errorf("%s: %q registered twice", r.pkg, name)
	}
	r.m[name] = f
	return nil
}

// Lookup returns the factory registered under name.
func (r *Registry[F]) Lookup(name string) (F, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	f, ok := r.m[strings.ToLower(strings.TrimSpace(name))]
	return f, ok
}

// Names returns the registered names, sorted.
func (r *Registry[F]) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.m))
	for n := range r.m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Unknown is the error for a name nobody registered; it lists the known
// names.
func (r *Registry[F]) Unknown(name string) error {
	return fmt.Errorf("unknown %s %q (known: %s)", r.what, name, strings.Join(r.Names(), ", "))
}
