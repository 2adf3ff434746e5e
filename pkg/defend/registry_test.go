package defend

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/onnxmodel"
)

var trainerNames = []string{"pgd-at", "adversarial-training", "fast-at", "trades", "gaussian-augmentation", "label-smoothing"}

func TestRegistryTrainers(t *testing.T) {
	for _, name := range trainerNames {
		f, ok := Lookup(name)
		if !ok {
			t.Fatalf("%s not registered", name)
		}
		if f.Kind != Trainer || f.Summary == "" || len(f.Params) == 0 {
			t.Errorf("%s: kind %v, summary %q, %d params", name, f.Kind, f.Summary, len(f.Params))
		}
		d, err := New(name, nil)
		if err != nil {
			t.Fatalf("%s with defaults: %v", name, err)
		}
		if d.Name() != name || d.Kind() != Trainer {
			t.Errorf("%s: Name %q, Kind %v", name, d.Name(), d.Kind())
		}
		p := d.Params()
		for _, doc := range f.Params {
			if doc.Doc == "" || doc.Default == "" && doc.Type != "string" {
				t.Errorf("%s: parameter %s undocumented: %+v", name, doc.Name, doc)
			}
			if _, ok := p[doc.Name]; !ok {
				t.Errorf("%s: Params() lacks %s", name, doc.Name)
			}
		}
		if _, err := New(name, map[string]string{"no_such_key": "1"}); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: unknown key: %v", name, err)
		}
		for _, bad := range []map[string]string{{"lr": "-1"}, {"epochs": "0"}, {"batch_size": "x"}, {"optimiser": "rmsprop"}} {
			if _, err := New(name, bad); err == nil {
				t.Errorf("%s: %v accepted", name, bad)
			}
		}
	}
	if _, err := New("no-such-defence", nil); err == nil {
		t.Error("unknown defence accepted")
	}
	if err := Register("pgd-at", Factory{New: func(map[string]string) (Defence, error) { return nil, nil }}); err == nil {
		t.Error("duplicate name accepted")
	}
	if err := Register("Bad Name", Factory{}); err == nil {
		t.Error("malformed name accepted")
	}
}

func TestDefaults(t *testing.T) {
	cases := []struct {
		name string
		key  string
		want any
	}{
		{"pgd-at", "ratio", 1.0},
		{"adversarial-training", "ratio", 0.5},
		{"pgd-at", "eps", 0.3},
		{"pgd-at", "step", 2.5 * 0.3 / 10},
		{"fast-at", "step", 1.25 * 0.3},
		{"fast-at", "schedule", "cyclic"},
		{"trades", "beta", 6.0},
		{"label-smoothing", "max_value", 0.9},
		{"gaussian-augmentation", "sigma", 0.1},
		{"gaussian-augmentation", "ratio", 1.0},
		{"gaussian-augmentation", "inference_noise", false},
		{"label-smoothing", "epochs", 10},
		{"label-smoothing", "optimiser", "adam"},
	}
	for _, c := range cases {
		d, err := New(c.name, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Params()[c.key]; got != c.want {
			t.Errorf("%s %s = %v, want %v", c.name, c.key, got, c.want)
		}
	}
	if _, err := New("pgd-at", map[string]string{"attack": "nosuch:eps=1"}); err == nil {
		t.Error("bad attack spec accepted")
	}
}

// TestApplyTrainers runs every trainer defence briefly on the tabular MLP:
// the input model is left unchanged, the result differs from it, and it
// saves and reloads with the same logits.
func TestApplyTrainers(t *testing.T) {
	m := loadModel(t, "tabular_mlp.onnx")
	data := loadTabular(t, true)
	x, _ := loadTabular(t, false).Batch(0, 64)
	orig := cloneParams(m)
	ball := map[string]string{"eps": "0.2", "min": "-10", "max": "10"}
	extra := map[string]map[string]string{
		"pgd-at": ball, "adversarial-training": ball, "fast-at": ball, "trades": ball,
	}
	for _, name := range trainerNames {
		t.Run(name, func(t *testing.T) {
			p := map[string]string{"iterations": "5", "batch_size": "32"}
			for k, v := range extra[name] {
				p[k] = v
			}
			d, err := New(name, p)
			if err != nil {
				t.Fatal(err)
			}
			out, err := d.Apply(context.Background(), m, TrainData{Train: data}, rand.New(rand.NewPCG(1, 2)))
			if err != nil {
				t.Fatal(err)
			}
			for n, v := range orig {
				for k := range v {
					if m.Params[n].F[k] != v[k] {
						t.Fatalf("Apply changed the input model's %s", n)
					}
				}
			}
			differs := false
			for n, v := range orig {
				for k := range v {
					differs = differs || out.Params[n].F[k] != v[k]
				}
			}
			if !differs {
				t.Error("the hardened model equals the input")
			}
			b, err := out.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			re, err := onnxmodel.Decode(b, "")
			if err != nil {
				t.Fatal(err)
			}
			l1, err := out.Logits(context.Background(), x)
			if err != nil {
				t.Fatal(err)
			}
			l2, err := re.Logits(context.Background(), x)
			if err != nil {
				t.Fatal(err)
			}
			for k := range l1.F {
				if l1.F[k] != l2.F[k] {
					t.Fatalf("reloaded logit %d: %g vs %g", k, l2.F[k], l1.F[k])
				}
			}
			if _, err := d.Apply(context.Background(), m, TrainData{}, nil); err == nil {
				t.Error("Apply without training data succeeded")
			}
		})
	}
}
