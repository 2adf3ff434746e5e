package defend

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/advtest/advtest/internal/attacktest"
	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/dataset"
	"github.com/advtest/advtest/pkg/onnxmodel"
)

// pgdSR returns PGD's success rate (over clean-correct samples) and the
// clean accuracy of m on set.
func pgdSR(t testing.TB, m *onnxmodel.Model, set *dataset.Set, spec string) (sr, acc float64) {
	t.Helper()
	a, err := attacktest.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	out, err := a.Run(context.Background(), m, attack.Batch{X: set.X, Y: set.Y}, seeded(11))
	if err != nil {
		t.Fatal(err)
	}
	sr, _ = out.SuccessRate()
	acc, err = Accuracy(context.Background(), m, set, 256)
	if err != nil {
		t.Fatal(err)
	}
	return sr, acc
}

// TestAdversarialTrainingLowersSR fine-tunes the tabular MLP (features of
// unit scale) with each adversarial trainer at eps 0.5 in feature units
// and checks that PGD's success rate on the held-out set drops clearly
// below the naturally trained model's, at a bounded cost in clean accuracy.
func TestAdversarialTrainingLowersSR(t *testing.T) {
	const spec = "pgd:eps=0.5,steps=20,min=-20,max=20"
	m := loadModel(t, "tabular_mlp.onnx")
	train, test := loadTabular(t, true), loadTabular(t, false)
	base, baseAcc := pgdSR(t, m, test, spec)
	ball := map[string]string{"eps": "0.5", "min": "-20", "max": "20", "epochs": "20", "batch_size": "32"}
	cases := []struct {
		name   string
		params map[string]string
	}{
		{"pgd-at", map[string]string{"steps": "7"}},
		{"pgd-at", map[string]string{"attack": "pgd:eps=0.5,steps=7,min=-20,max=20"}},
		{"fast-at", map[string]string{"lr": "0.01"}},
		{"trades", map[string]string{"steps": "5", "beta": "3"}},
	}
	for _, c := range cases {
		p := map[string]string{}
		for k, v := range ball {
			p[k] = v
		}
		for k, v := range c.params {
			p[k] = v
		}
		d, err := New(c.name, p)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		hm, err := d.Apply(context.Background(), m, TrainData{Train: train}, seeded(1))
		if err != nil {
			t.Fatal(err)
		}
		sr, acc := pgdSR(t, hm, test, spec)
		t.Logf("%s %v: PGD SR %.3f -> %.3f, clean accuracy %.3f -> %.3f (%v)", c.name, c.params, base, sr, baseAcc, acc, time.Since(start).Round(time.Millisecond))
		if !(sr < 0.75*base) {
			t.Errorf("%s %v: SR %.3f, want < 0.75 × baseline %.3f", c.name, c.params, sr, base)
		}
		if acc < baseAcc-0.1 {
			t.Errorf("%s %v: clean accuracy %.3f, baseline %.3f", c.name, c.params, acc, baseAcc)
		}
	}
}

// TestPGDExamplesInBall checks the built-in generator: every example lies
// in the eps-ball and the clip range, and PGD-AT's hook replaces exactly
// ratio·N rows.
func TestPGDExamplesInBall(t *testing.T) {
	m := loadModel(t, "mnist_mlp.onnx")
	set := loadMNIST(t, 32)
	for _, norm := range []string{"linf", "l2"} {
		d, err := New("adversarial-training", map[string]string{"norm": norm, "eps": "0.3", "steps": "3"})
		if err != nil {
			t.Fatal(err)
		}
		x := set.X.Clone()
		b := &TrainBatch{X: x, Y: set.Y}
		if err := d.(*PGDTraining).hook(context.Background(), m, b, seeded(2)); err != nil {
			t.Fatal(err)
		}
		per := x.Len() / 32
		changed := 0
		for i := 0; i < 32; i++ {
			xi, x0 := b.X.F[i*per:(i+1)*per], set.X.F[i*per:(i+1)*per]
			var l2, linf float64
			diff := false
			for k := range xi {
				if xi[k] < 0 || xi[k] > 1 {
					t.Fatalf("%s: value %g outside [0, 1]", norm, xi[k])
				}
				e := float64(xi[k] - x0[k])
				l2 += e * e
				linf = max(linf, abs(e))
				diff = diff || e != 0
			}
			if diff {
				changed++
			}
			if norm == "linf" && linf > 0.3+1e-6 || norm == "l2" && l2 > 0.09*(1+1e-5) {
				t.Fatalf("%s: sample %d outside the ball (linf %g, l2² %g)", norm, i, linf, l2)
			}
		}
		if changed != 16 {
			t.Errorf("%s: %d rows replaced, want 16 (ratio 0.5)", norm, changed)
		}
	}
}

// TestEpsRamp checks eps_ramp in every trainer that perturbs: the first
// iteration trains clean, and iteration t of T perturbs by at most
// eps·min(1, t/(ramp·T)) and by more than the previous stage's radius
// (so the ramp is neither skipped nor stuck).
func TestEpsRamp(t *testing.T) {
	m := loadModel(t, "mnist_mlp.onnx")
	set := loadMNIST(t, 16)
	const eps, iters = 0.3, 10
	cases := []struct {
		name   string
		params map[string]string
	}{
		{"pgd-at", map[string]string{"steps": "3"}},
		{"pgd-at", map[string]string{"attack": "pgd:eps=0.3,steps=3,step=0.1"}},
		{"fast-at", nil},
		{"trades", map[string]string{"steps": "3"}},
	}
	for _, c := range cases {
		p := map[string]string{"eps_ramp": "0.5"}
		for k, v := range c.params {
			p[k] = v
		}
		d, err := New(c.name, p)
		if err != nil {
			t.Fatal(err)
		}
		hook := d.(interface{ Config() TrainConfig }).Config().Hook
		prev := -1.0
		for _, it := range []int{0, 2, 4, 6} {
			want := eps * min(1, float64(it)/(0.5*iters))
			b := &TrainBatch{X: set.X.Clone(), Y: set.Y, Iter: it, Iters: iters}
			if err := hook(context.Background(), m, b, seeded(3)); err != nil {
				t.Fatalf("%s %v: %v", c.name, c.params, err)
			}
			adv := b.X.F[b.X.Len()-set.X.Len():] // TRADES appends x' after x
			linf := 0.0
			for k, v := range adv {
				linf = max(linf, abs(float64(v-set.X.F[k])))
			}
			if linf > want+1e-6 || (want > 0 && linf <= prev+1e-6) {
				t.Errorf("%s %v: iteration %d of %d perturbs by %.4f, want <= %.4f and > %.4f", c.name, c.params, it, iters, linf, want, prev)
			}
			if it == 0 && (b.X.Shape[0] != 16 || b.Loss != nil) {
				t.Errorf("%s %v: iteration 0 changed the batch (rows %d, loss set %v), want it clean", c.name, c.params, b.X.Shape[0], b.Loss != nil)
			}
			prev = linf
		}
	}
	if _, err := New("pgd-at", map[string]string{"eps_ramp": "1.5"}); err == nil {
		t.Error("eps_ramp 1.5 accepted, want an error")
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// TestPGDTrainingMNIST adversarially trains the MNIST MLP for a short run
// on 500 samples and checks PGD's success rate drops on 200 others
// (about a second).
func TestPGDTrainingMNIST(t *testing.T) {
	all := loadMNIST(t, 700)
	idx := func(lo, hi int) []int {
		out := make([]int, 0, hi-lo)
		for i := lo; i < hi; i++ {
			out = append(out, i)
		}
		return out
	}
	train, _ := all.Subset(idx(0, 500))
	test, _ := all.Subset(idx(500, 700))
	m := loadModel(t, "mnist_mlp.onnx")
	const spec = "pgd:eps=0.1,steps=10"
	base, baseAcc := pgdSR(t, m, test, spec)
	d, err := New("pgd-at", map[string]string{"eps": "0.1", "steps": "5", "epochs": "3", "batch_size": "50", "lr": "5e-4"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	hm, err := d.Apply(context.Background(), m, TrainData{Train: train}, seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	sr, acc := pgdSR(t, hm, test, spec)
	t.Logf("PGD-AT (3 epochs × 500): PGD SR %.3f -> %.3f, clean %.3f -> %.3f (%v)", base, sr, baseAcc, acc, time.Since(start).Round(time.Millisecond))
	if !(sr < 0.75*base) || acc < baseAcc-0.1 {
		t.Errorf("SR %.3f (baseline %.3f), accuracy %.3f (baseline %.3f)", sr, base, acc, baseAcc)
	}
}

func TestApplyDeterministic(t *testing.T) {
	m := loadModel(t, "tabular_mlp.onnx")
	data := TrainData{Train: loadTabular(t, true)}
	d, err := New("pgd-at", map[string]string{"eps": "0.3", "min": "-20", "max": "20", "iterations": "10", "batch_size": "32", "ratio": "0.5"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := d.Apply(context.Background(), m, data, seeded(8))
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.Apply(context.Background(), m, data, seeded(8))
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.Apply(context.Background(), m, data, seeded(9))
	if err != nil {
		t.Fatal(err)
	}
	same, other := true, true
	for n := range a.Params {
		for k := range a.Params[n].F {
			same = same && a.Params[n].F[k] == b.Params[n].F[k]
			other = other && a.Params[n].F[k] == c.Params[n].F[k]
		}
	}
	if !same {
		t.Error("same seed, different weights")
	}
	if other {
		t.Error("different seeds, identical weights")
	}
}

// BenchmarkPGDATBatchCNN times one PGD-AT training batch (defaults: 10
// Linf steps, eps 0.3) of 128 MNIST samples on the MNIST CNN; an epoch of
// N samples costs N/128 of these.
// BenchmarkPGDATBatchCNN times one adversarial-training batch (of 128
// unless named) on the MNIST CNN for the trainers, inner-step counts and
// batch sizes a harden recipe chooses between (the cost of a recipe is its
// batches times these).
func BenchmarkPGDATBatchCNN(b *testing.B) {
	m := loadModel(b, "mnist_cnn.onnx")
	data := loadMNIST(b, 128)
	cases := []struct {
		name    string
		defence string
		steps   string
		batch   string
	}{
		{"pgd-at/steps=10", "pgd-at", "10", "128"},
		{"pgd-at/steps=5", "pgd-at", "5", "128"},
		{"pgd-at/steps=3", "pgd-at", "3", "128"},
		{"trades/steps=10", "trades", "10", "128"},
		{"trades/steps=5", "trades", "5", "128"},
		{"trades/steps=5/batch=64", "trades", "5", "64"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			d, err := New(c.defence, map[string]string{"iterations": "1", "steps": c.steps, "batch_size": c.batch})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := d.Apply(context.Background(), m, TrainData{Train: data}, seeded(1)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestAdversarialTrainersRefuseMaskedModels: a model that already carries
// a squeezer or inference noise is refused by every adversarial trainer,
// with an error that says what to do, rather than trained on examples
// from a masked gradient.
func TestAdversarialTrainersRefuseMaskedModels(t *testing.T) {
	m := loadModel(t, "mnist_mlp.onnx")
	sq, err := WithSqueezer(m, Squeezer{Bits: 2})
	if err != nil {
		t.Fatal(err)
	}
	noisy, err := WithNoise(m, Noise{Sigma: 0.1, Clip: true, Min: 0, Max: 1})
	if err != nil {
		t.Fatal(err)
	}
	data := TrainData{Train: loadMNIST(t, 16)}
	for _, name := range []string{"pgd-at", "adversarial-training", "fast-at", "trades"} {
		for _, masked := range []*onnxmodel.Model{sq, noisy} {
			d, err := New(name, map[string]string{"iterations": "1"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := d.Apply(context.Background(), masked, data, seeded(1)); err == nil || !strings.Contains(err.Error(), "after the adversarial trainers") {
				t.Errorf("%s on a masked model: error %v, want a refusal that says to reorder the schedule", name, err)
			}
		}
	}
}
