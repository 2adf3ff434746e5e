package attack

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

// newFromSpec is internal/attacktest.New for this package's own tests,
// which cannot import it (it imports this package).
func newFromSpec(s string) (Attack, error) {
	sp, err := ParseSpec(s)
	if err != nil {
		return nil, err
	}
	return New(sp.Name, sp.Params)
}

func TestParseSpec(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Spec
		err  string
	}{
		{"pgd", Spec{"pgd", map[string]string{}}, ""},
		{"PGD:norm=linf, eps=0.3", Spec{"pgd", map[string]string{"norm": "linf", "eps": "0.3"}}, ""},
		{"pgd:", Spec{"pgd", map[string]string{}}, ""},
		{":eps=1", Spec{}, "empty attack name"},
		{"pgd:eps", Spec{}, "not key=value"},
		{"pgd:eps=1,eps=2", Spec{}, "given twice"},
	} {
		got, err := ParseSpec(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	if s := (Spec{"pgd", map[string]string{"steps": "10", "eps": "0.1"}}).String(); s != "pgd:eps=0.1,steps=10" {
		t.Errorf("Spec.String: %s", s)
	}
}

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want []string
	}{
		{"nosuch", []string{"unknown attack", "nosuch"}},
		{"pgd:epsilon=1", []string{"pgd", "epsilon", "unknown parameter"}},
		{"pgd:eps=abc", []string{"pgd", "eps", "number"}},
		{"pgd:eps=-1", []string{"pgd", "eps", "positive"}},
		{"pgd:norm=l1", []string{"pgd", "norm", "linf|l2"}},
		{"pgd:steps=2.5", []string{"pgd", "steps", "integer"}},
		{"pgd:random_start=maybe", []string{"pgd", "random_start", "true or false"}},
		{"pgd:loss=mse", []string{"pgd", "loss", "ce|cw|dlr"}},
		{"pgd:min=1,max=0", []string{"pgd", "min < max"}},
		{"cw:binary_steps=0", []string{"cw", "binary_steps", "positive"}},
		{"jsma:gamma=2", []string{"jsma", "gamma"}},
		{"deepfool:nb_grads=1", []string{"deepfool", "nb_grads"}},
		{"apgd-t:n_targets=0", []string{"apgd-t", "n_targets"}},
		{"apgd-ce:loss=dlr", []string{"apgd-ce", "unknown parameter", "loss"}},
	} {
		_, err := newFromSpec(tc.spec)
		if err == nil {
			t.Errorf("%s: no error", tc.spec)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", tc.spec, err, w)
			}
		}
	}
}

// TestFactoriesDocumentDefaults checks every registered attack: it builds
// with no parameters, documents each parameter, and Params reports every
// documented key; documented literal defaults parse back to the same value.
func TestFactoriesDocumentDefaults(t *testing.T) {
	names := Names()
	if len(names) < 12 {
		t.Fatalf("only %d attacks registered: %v", len(names), names)
	}
	for _, name := range names {
		f, _ := Lookup(name)
		if f.Summary == "" || len(f.Params) == 0 {
			t.Errorf("%s: missing summary or parameter docs", name)
		}
		a, err := New(name, requiredParams(name, nil))
		if err != nil {
			t.Errorf("%s with defaults: %v", name, err)
			continue
		}
		if a.Name() != name {
			t.Errorf("New(%q).Name() = %q", name, a.Name())
		}
		p := a.Params()
		for _, d := range f.Params {
			if d.Name == "" || d.Type == "" || d.Default == "" || d.Doc == "" {
				t.Errorf("%s: incomplete doc %+v", name, d)
			}
			if _, ok := p[d.Name]; !ok {
				t.Errorf("%s: Params lacks %q", name, d.Name)
			}
			if strings.ContainsAny(d.Default, "*/( ") {
				continue // a derived default
			}
			b, err := New(name, requiredParams(name, map[string]string{d.Name: d.Default}))
			if err != nil {
				t.Errorf("%s: documented default %s=%s rejected: %v", name, d.Name, d.Default, err)
				continue
			}
			if !reflect.DeepEqual(b.Params()[d.Name], p[d.Name]) {
				t.Errorf("%s: %s=%s gives %v, default is %v", name, d.Name, d.Default, b.Params()[d.Name], p[d.Name])
			}
		}
	}
}

func TestResolvedParams(t *testing.T) {
	p := mustNew(t, "pgd:eps=0.4,steps=20").Params()
	if p["step"] != 0.4/2 || p["step_schedule"] != "mixed" || p["norm"] != "linf" || p["restarts"] != 5 || p["random_start"] != true {
		t.Errorf("pgd params: %v", p)
	}
	for spec, want := range map[string][2]any{
		"pgd:eps=0.4,step_schedule=constant":         {0.4 / 4, "constant"},
		"pgd:eps=0.4,step=0.01":                      {0.01, "constant"},
		"pgd:eps=0.4,step=0.01,step_schedule=cosine": {0.01, "cosine"},
		"pgd:eps=0.4,step_schedule=cosine":           {0.4 / 2, "cosine"},
		"pgd:eps=0.4,step=0.1,step_schedule=mixed":   {0.1, "mixed"},
	} {
		if p := mustNew(t, spec).Params(); p["step"] != want[0] || p["step_schedule"] != want[1] {
			t.Errorf("%s: step %v step_schedule %v, want %v", spec, p["step"], p["step_schedule"], want)
		}
	}
	b := mustNew(t, "bim:eps=0.3").Params()
	if b["steps"] != 80 || b["step"] != 0.3/4 { // ⌊min(76.5+4, 1.25·76.5)⌋
		t.Errorf("bim params: steps %v step %v", b["steps"], b["step"])
	}
	if m := mustNew(t, "mifgsm:eps=0.3").Params(); m["step"] != 0.3/4 || m["steps"] != 10 {
		t.Errorf("mifgsm params: steps %v step %v", m["steps"], m["step"])
	}
	if a := mustNew(t, "deepfool"); a.Norm() != NormNone || a.Eps() != 0 {
		t.Errorf("deepfool: norm %s eps %g", a.Norm(), a.Eps())
	}
	if a := mustNew(t, "cw:eps=1.5"); a.Norm() != L2 || a.Eps() != 1.5 {
		t.Errorf("cw with eps: norm %s eps %g", a.Norm(), a.Eps())
	}
	aa := mustNew(t, "autoattack").Params()
	if !reflect.DeepEqual(aa["stages"], []string{"apgd-ce", "apgd-t", "fab-t", "square"}) { // standard version
		t.Errorf("autoattack stages %v", aa["stages"])
	}
	if err := Register("pgd", Factory{New: func(map[string]string) (Attack, error) { return nil, nil }}); err == nil {
		t.Error("duplicate registration accepted")
	}
}

// requiredParams adds the parameters an attack cannot do without (those
// documented without a default) to p.
func requiredParams(name string, p map[string]string) map[string]string {
	req := map[string]map[string]string{
		"transfer": {"surrogate": "../../testdata/models/mnist_surrogate.onnx"},
	}[name]
	if len(req) == 0 {
		return p
	}
	out := map[string]string{}
	for k, v := range req {
		out[k] = v
	}
	for k, v := range p {
		out[k] = v
	}
	return out
}

// TestStepSchedules pins the step of iteration it of restart r under each
// schedule: the cosine decays from step to 0 over steps; mixed is that
// cosine on even restarts and a constant step/4 on odd ones.
func TestStepSchedules(t *testing.T) {
	const step, steps = 0.2, 40
	cosAt := func(it int) float64 { return step * 0.5 * (1 + math.Cos(math.Pi*float64(it)/steps)) }
	cases := []struct {
		schedule string
		r, it    int
		want     float64
	}{
		{"constant", 0, 0, step},
		{"constant", 3, 39, step},
		{"cosine", 0, 0, step},
		{"cosine", 2, 20, step / 2},
		{"cosine", 1, 39, cosAt(39)},
		{"mixed", 0, 0, step},
		{"mixed", 0, 20, step / 2},
		{"mixed", 1, 0, step / 4},
		{"mixed", 1, 39, step / 4},
		{"mixed", 2, 10, cosAt(10)},
		{"mixed", 3, 5, step / 4},
	}
	for _, tc := range cases {
		sp := iterSpec{step: step, steps: steps, schedule: tc.schedule}
		if got := sp.stepAt(tc.r, tc.it); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s restart %d iteration %d: step %v, want %v", tc.schedule, tc.r, tc.it, got, tc.want)
		}
	}
}
