package attack

import (
	"reflect"
	"testing"
)

// TestAutoAttackVersions checks each version's stage list and the
// settings it gives its stages, as the reference's set_version does.
func TestAutoAttackVersions(t *testing.T) {
	for _, tc := range []struct {
		spec   string
		stages []string
		check  map[string]map[string]any // stage -> param -> value
	}{
		{"autoattack:eps=0.1", []string{"apgd-ce", "apgd-t", "fab-t", "square"}, map[string]map[string]any{
			"apgd-ce": {"restarts": 1, "steps": 100, "eps": 0.1},
			"apgd-t":  {"n_targets": 9, "restarts": 1},
			"fab-t":   {"n_targets": 9, "restarts": 1, "steps": 100},
			"square":  {"max_queries": 5000},
		}},
		{"autoattack:version=standard,norm=l2,eps=0.5", []string{"apgd-ce", "apgd-t", "fab-t", "square"}, map[string]map[string]any{
			"fab-t":  {"norm": "l2", "eps": 0.5},
			"square": {"norm": "l2"},
		}},
		{"autoattack:version=standard,norm=l1,eps=5", []string{"apgd-ce", "apgd-t", "fab-t"}, map[string]map[string]any{
			"apgd-ce": {"restarts": 5, "large_reps": true, "norm": "l1"},
			"apgd-t":  {"n_targets": 5, "large_reps": true},
			"fab-t":   {"n_targets": 9, "norm": "l1"},
		}},
		{"autoattack:version=plus,eps=0.1", []string{"apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t"}, map[string]map[string]any{
			"apgd-ce":  {"restarts": 5},
			"apgd-dlr": {"restarts": 5},
			"fab":      {"restarts": 5},
			"square":   {"max_queries": 5000},
			"apgd-t":   {"restarts": 1, "n_targets": 9},
			"fab-t":    {"restarts": 1, "n_targets": 9},
		}},
		{"autoattack:version=rand,eps=0.1", []string{"apgd-ce", "apgd-dlr"}, map[string]map[string]any{
			"apgd-ce":  {"eot_iter": 20, "restarts": 1},
			"apgd-dlr": {"eot_iter": 20, "restarts": 1},
		}},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			st, err := mustNew(t, tc.spec).(*AutoAttack).Stages()
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, s := range st {
				names = append(names, s.Name())
				for k, want := range tc.check[s.Name()] {
					if got := s.Params()[k]; !reflect.DeepEqual(got, want) {
						t.Errorf("%s: %s = %v (%T), want %v", s.Name(), k, got, got, want)
					}
				}
			}
			if !reflect.DeepEqual(names, tc.stages) {
				t.Errorf("stages %v, want %v", names, tc.stages)
			}
		})
	}
	if _, err := newFromSpec("autoattack:version=plus,norm=l1,eps=5"); err == nil {
		t.Error("version=plus accepted norm=l1")
	}
	if _, err := newFromSpec("autoattack:version=fast"); err == nil {
		t.Error("unknown version accepted")
	}
}

// TestAutoAttackAtLeastEachStage checks on trained MLPs that the standard
// ensemble fools at least as many samples as each of its attacks run
// alone with the same settings (one sample of slack per attack: the
// stages draw their random starts from a shared generator).
func TestAutoAttackAtLeastEachStage(t *testing.T) {
	for _, tc := range []struct {
		seed uint64
		ball string
	}{{31, "norm=linf,eps=0.12"}, {32, "norm=l2,eps=0.35"}} {
		toy := newToyMLP(tc.seed, 20, 32, 5, 60)
		aa := run(t, mustNew(t, "autoattack:steps=30,"+tc.ball), toy.clf, toy.b, 1)
		srAA, n := aa.SuccessRate()
		st, err := mustNew(t, "autoattack:steps=30,"+tc.ball).(*AutoAttack).Stages()
		if err != nil {
			t.Fatal(err)
		}
		best := 0.0
		for _, s := range st {
			sr, _ := run(t, s, toy.clf, toy.b, 1).SuccessRate()
			t.Logf("%s %s: SR %.3f", tc.ball, s.Name(), sr)
			best = max(best, sr)
			if srAA < sr-1/float64(n) {
				t.Errorf("%s: AutoAttack SR %.3f below %s alone %.3f", tc.ball, srAA, s.Name(), sr)
			}
		}
		t.Logf("%s: AutoAttack SR %.3f, best single %.3f (n=%d)", tc.ball, srAA, best, n)
		if best == 1 || best == 0 {
			t.Errorf("%s: degenerate comparison (best single SR %.3f)", tc.ball, best)
		}
	}
}
