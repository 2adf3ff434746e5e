package attack_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/advtest/advtest/internal/attacktest"
	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/config"
	"github.com/advtest/advtest/pkg/dataset"
	"github.com/advtest/advtest/pkg/onnxmodel"
)

// strengthSamples is how many of the shipped MNIST test samples the PGD
// step test attacks: all 1000, since the adversarially trained CNN is
// robust enough (PGD fools ~8%) that fewer do not tell eps/16 from eps/4
// (on the first 200: 10 against 11 fooled). poolSamples is the starter
// pool test's, whose APGD-T costs up to 900 gradient evaluations per
// robust sample.
const (
	strengthSamples = 1000
	poolSamples     = 200
)

// loadATModel loads testdata/models/mnist_cnn_at.onnx (the adversarially
// trained MNIST CNN of testdata/gen/pgd_step_sweep_model.py) and the first
// n shipped test samples as one batch.
func loadATModel(t *testing.T, n int) (*onnxmodel.Model, attack.Batch) {
	t.Helper()
	m, err := onnxmodel.Load("../../testdata/models/mnist_cnn_at.onnx")
	if err != nil {
		t.Fatal(err)
	}
	set, err := dataset.Load("../../testdata/mnist/test-1000-images.npy", "../../testdata/mnist/test-1000-labels.npy",
		dataset.Options{Limit: n})
	if err != nil {
		t.Fatal(err)
	}
	return m, attack.Batch{X: set.X, Y: set.Y}
}

// fooledBy runs spec with a fixed seed and returns its Outcome.
func fooledBy(t *testing.T, spec string, clf attack.Classifier, b attack.Batch, seed uint64) *attack.Outcome {
	t.Helper()
	a, err := attacktest.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	o, err := a.Run(context.Background(), clf, b, rand.New(rand.NewPCG(seed, 7)))
	if err != nil {
		t.Fatalf("%s: %v", spec, err)
	}
	return o
}

func count(v []bool) int {
	n := 0
	for _, f := range v {
		if f {
			n++
		}
	}
	return n
}

// TestPGDDefaultStepStrength pins that `pgd:eps=0.3` with its default
// step and schedule (mixed from eps/2, 5 restarts) is no weaker than PGD with step eps/4
// (torchattacks' alpha) on the adversarially trained CNN, within one
// sample per 500, and that the old
// default (2.5·eps/steps = eps/16 at 40 steps) is measurably weaker, so
// the comparison can fail. testdata/reference/pgd_step_sweep.md has the
// full sweep the default was chosen from.
func TestPGDDefaultStepStrength(t *testing.T) {
	if testing.Short() {
		t.Skip("runs PGD-40 three times on 1000 samples of a CNN")
	}
	m, b := loadATModel(t, strengthSamples)
	tol := max(1, (b.Len()+499)/500)
	def := fooledBy(t, "pgd:eps=0.3", m, b, 1)
	quarter := fooledBy(t, "pgd:eps=0.3,step=0.075,restarts=1", m, b, 1)
	old := fooledBy(t, "pgd:eps=0.3,step=0.01875,restarts=1", m, b, 1)
	_, n := def.SuccessRate()
	nd, nq, no := count(def.Fooled), count(quarter.Fooled), count(old.Fooled)
	t.Logf("%d clean-correct of %d; fooled: default %d, step eps/4 %d, step eps/16 (old default) %d", n, b.Len(), nd, nq, no)
	if nd < nq-tol {
		t.Errorf("pgd:eps=0.3 with default step fools %d of %d, step eps/4 fools %d: the default is weaker by more than %d sample(s)", nd, n, nq, tol)
	}
	if no >= nq-tol {
		t.Errorf("step eps/16 fools %d, step eps/4 %d: the model no longer tells step sizes apart, so this test cannot fail", no, nq)
	}
}

// TestStarterPoolWorstCase pins that the attack pool of `advtest init`'s
// starter config, at the MNIST threat model (Linf 0.3), has a worst case
// (a sample counts when any bounded attack of the pool fools it) at least
// as high as APGD-CE's on its own, run from another seed, and higher than
// PGD's alone: the starter config must carry an AutoAttack-grade pool.
func TestStarterPoolWorstCase(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the starter pool (APGD-T included) on 200 samples of a CNN")
	}
	v := config.NewViper()
	if err := config.ReadYAML(v, "advtest init's starter config", []byte(config.StarterConfig())); err != nil {
		t.Fatal(err)
	}
	plan, err := config.FromViper(v)
	if err != nil {
		t.Fatal(err)
	}
	m, b := loadATModel(t, poolSamples)
	worst := make([]bool, b.Len())
	names := map[string]bool{}
	var pgdFooled int
	for i, pa := range plan.Attacks {
		params := map[string]string{}
		for k, v := range pa.Params {
			params[k] = v
		}
		if _, ok := params["eps"]; ok {
			params["eps"] = "0.3"
		}
		a, err := attack.New(pa.Name, params)
		if err != nil {
			t.Fatalf("starter attacks[%d] %s: %v", i, pa.Name, err)
		}
		if a.Eps() == 0 {
			continue // unbounded (DeepFool): not part of a bounded worst case
		}
		names[pa.Name] = true
		o, err := a.Run(context.Background(), m, b, rand.New(rand.NewPCG(1, uint64(i))))
		if err != nil {
			t.Fatalf("%s: %v", pa.Name, err)
		}
		if pa.Name == "pgd" {
			pgdFooled = count(o.Fooled)
		}
		for j, f := range o.Fooled {
			worst[j] = worst[j] || f
		}
		t.Logf("starter %s %v: fooled %d", pa.Name, params, count(o.Fooled))
	}
	for _, want := range []string{"pgd", "apgd-ce", "apgd-t"} {
		if !names[want] {
			t.Errorf("the starter pool has no bounded %s", want)
		}
	}
	apgd := fooledBy(t, "apgd-ce:eps=0.3", m, b, 99)
	nw, na := count(worst), count(apgd.Fooled)
	_, n := apgd.SuccessRate()
	t.Logf("%d clean-correct; worst case of the starter pool %d, APGD-CE alone (seed 99) %d, PGD %d", n, nw, na, pgdFooled)
	if nw < na {
		t.Errorf("starter pool worst case fools %d of %d, APGD-CE alone %d", nw, n, na)
	}
	if nw <= pgdFooled {
		t.Errorf("starter pool worst case %d is no higher than its PGD's %d: the APGD attacks add nothing", nw, pgdFooled)
	}
}
