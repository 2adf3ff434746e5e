package attack

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/advtest/advtest/pkg/dataset"
	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/tensor"
)

const (
	surrogatePath = "../../testdata/models/mnist_surrogate.onnx"
	shippedMLP    = "../../testdata/models/mnist_mlp.onnx"
)

var mnistOnce struct {
	sync.Once
	model *onnxmodel.Model
	b     Batch
	err   error
}

// mnistBatch returns the shipped MNIST MLP and the first n of the 1000
// shipped test samples (n ≤ 200) that it classifies correctly.
func mnistBatch(t *testing.T, n int) (*onnxmodel.Model, Batch) {
	t.Helper()
	mnistOnce.Do(func() {
		m, err := onnxmodel.Load(shippedMLP)
		if err != nil {
			mnistOnce.err = err
			return
		}
		set, err := dataset.Load("../../testdata/mnist/test-1000-images.npy", "../../testdata/mnist/test-1000-labels.npy", dataset.Options{Limit: 220})
		if err != nil {
			mnistOnce.err = err
			return
		}
		lg, err := m.Logits(context.Background(), set.X)
		if err != nil {
			mnistOnce.err = err
			return
		}
		d, c := set.X.Len()/set.Len(), m.NumClasses()
		var xs []float32
		var ys []int
		for i := 0; i < set.Len() && len(ys) < 200; i++ {
			if argmax(lg.F[i*c:(i+1)*c]) == set.Y[i] {
				xs = append(xs, set.X.F[i*d:(i+1)*d]...)
				ys = append(ys, set.Y[i])
			}
		}
		mnistOnce.model = m
		mnistOnce.b = Batch{X: tensor.FromFloat32(xs, append([]int{len(ys)}, set.X.Shape[1:]...)...), Y: ys}
	})
	if mnistOnce.err != nil {
		t.Fatal(mnistOnce.err)
	}
	b := mnistOnce.b
	d := b.X.Len() / b.Len()
	return mnistOnce.model, Batch{X: tensor.FromFloat32(b.X.F[:n*d], append([]int{n}, b.X.Shape[1:]...)...), Y: b.Y[:n]}
}

// TestTransferFoolsShippedModel: PGD crafted on the independently trained
// surrogate (testdata/gen/make_surrogate.py: another architecture, seed and
// half of the training data) and judged on the shipped MNIST MLP fools it
// far more often than uniform-sign noise of the same Linf norm — the
// transfer, not the size of the perturbation, does the work. Each sample
// costs the model under test two label queries and no gradients; every
// example stays in the clip range and the eps-ball.
func TestTransferFoolsShippedModel(t *testing.T) {
	const eps = 0.2
	m, b := mnistBatch(t, 150)
	a := mustNew(t, "transfer:surrogate="+surrogatePath+",attack=pgd,eps=0.2,steps=20")
	o := run(t, a, m, b, 1)
	checkTransferOutcome(t, o, b, eps)
	for i := range o.Queries {
		if !o.Skipped[i] && (o.Queries[i] != 2 || o.GradEvals[i] != 0) {
			t.Fatalf("sample %d: %d queries and %d gradient evaluations, want 2 and 0", i, o.Queries[i], o.GradEvals[i])
		}
	}
	sr, n := o.SuccessRate()

	// Uniform-sign noise at the same eps: x + eps·s, s ∈ {−1, +1}^d.
	rng := rand.New(rand.NewPCG(5, 6))
	noisy := tensor.New(b.X.Shape...)
	for k, v := range b.X.F {
		s := float32(eps)
		if rng.IntN(2) == 0 {
			s = -s
		}
		noisy.F[k] = clamp32(v+s, 0, 1)
	}
	lg, err := m.Logits(context.Background(), noisy)
	if err != nil {
		t.Fatal(err)
	}
	c, noise := m.NumClasses(), 0
	for i, y := range b.Y {
		if argmax(lg.F[i*c:(i+1)*c]) != y {
			noise++
		}
	}
	noiseSR := float64(noise) / float64(b.Len())
	t.Logf("transfer SR %.3f over %d, uniform-sign noise SR %.3f over %d (eps %.2f)", sr, n, noiseSR, b.Len(), eps)
	if n < 140 || sr < 0.3 || sr < noiseSR+0.2 {
		t.Errorf("transfer SR %.3f over %d, noise %.3f: want ≥ 0.3 and 0.2 above noise", sr, n, noiseSR)
	}
	p := a.Params()
	if p["surrogate"] != surrogatePath || len(p["surrogate_sha256"].(string)) != 64 || p["attack"] != "pgd" || p["eps"] != 0.2 || p["steps"] != 20 || p["early_stop"] != false {
		t.Errorf("params %v", p)
	}
}

// checkTransferOutcome checks the bounds and ball of a transfer outcome
// and that Fooled and Misclassified are what the model says.
func checkTransferOutcome(t *testing.T, o *Outcome, b Batch, eps float64) {
	t.Helper()
	d := b.X.Len() / b.Len()
	for i := 0; i < b.Len(); i++ {
		xi, ai := b.X.F[i*d:(i+1)*d], o.XAdv.F[i*d:(i+1)*d]
		if dist := LinfDist(xi, ai); dist > eps+1e-6 {
			t.Fatalf("sample %d: Linf %g outside the ball %g", i, dist, eps)
		}
		for _, v := range ai {
			if v < 0 || v > 1 {
				t.Fatalf("sample %d: value %g outside [0, 1]", i, v)
			}
		}
	}
}

// TestTransferDeterministicAcrossChunks: the transferred examples and
// verdicts of a sample do not depend on its batch (random start on the
// surrogate from the sample's own generator).
func TestTransferDeterministicAcrossChunks(t *testing.T) {
	m, b := mnistBatch(t, 14)
	a := mustNew(t, "transfer:surrogate="+surrogatePath+",attack=pgd,eps=0.2,steps=5,restarts=2")
	all := make(chunk, b.Len())
	for i := range all {
		all[i] = i
	}
	one := runChunks(t, a, m, b, []chunk{all})
	d := b.X.Len() / b.Len()
	sameOutcome(t, "transfer in 3 chunks", one, runChunks(t, a, m, b, []chunk{{0, 1, 2, 3, 4}, {13, 5}, {6, 7, 8, 9, 10, 11, 12}}), d)
	// Targeted: the inner attack aims at each sample's target; success is
	// the model under test predicting it.
	ta := mustNew(t, "transfer:surrogate="+surrogatePath+",attack=pgd,eps=0.3,steps=10,targeted=true,target=random")
	o := run(t, ta, m, b, 2)
	if o.Targets == nil {
		t.Fatal("targeted transfer reports no targets")
	}
	lg, _ := m.Logits(context.Background(), o.XAdv)
	c := m.NumClasses()
	for i := range o.Fooled {
		p := argmax(lg.F[i*c : (i+1)*c])
		if !o.Skipped[i] && (o.Fooled[i] != (p == o.Targets[i]) || o.Misclassified[i] != (p != b.Y[i])) {
			t.Errorf("sample %d: fooled %v misclassified %v, model predicts %d (label %d, target %d)", i, o.Fooled[i], o.Misclassified[i], p, b.Y[i], o.Targets[i])
		}
	}
}

// TestTransferErrors: bad specs name the key or file and what was expected.
func TestTransferErrors(t *testing.T) {
	for _, c := range []struct{ spec, want string }{
		{"transfer", "surrogate"},
		{"transfer:surrogate=/nonexistent/s.onnx", "/nonexistent/s.onnx"},
		{"transfer:surrogate=" + surrogatePath + ",attack=square", "white-box"},
		{"transfer:surrogate=" + surrogatePath + ",attack=transfer", "not transfer itself"},
		{"transfer:surrogate=" + surrogatePath + ",attack=nosuch", "nosuch"},
		{"transfer:surrogate=" + surrogatePath + ",attack=pgd,eps=-1", "eps"},
		{"transfer:surrogate=" + surrogatePath + ",attack=deepfool,targeted=true", "no targeted form"},
		{"transfer:surrogate=" + surrogatePath + ",surrogate_sha256=" + strings.Repeat("0", 64), "surrogate_sha256: " + surrogatePath},
	} {
		_, err := newFromSpec(c.spec)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %q", c.spec, err, c.want)
		}
	}
	// A surrogate with other inputs than the model under test.
	a := mustNew(t, "transfer:surrogate="+surrogatePath+",attack=fgsm")
	toy := newToyMLP(1, 6, 8, 3, 5)
	if _, err := a.Run(context.Background(), toy.clf, toy.b, nil); err == nil {
		t.Error("a surrogate of another input shape was accepted")
	}
}

// TestTransferParamsRebuild: the resolved params (what a report records,
// surrogate_sha256 included) rebuild the same attack, as the gate's
// baseline matching and the sanity checks' reruns do; the recorded
// SHA-256 is checked against the file.
func TestTransferParamsRebuild(t *testing.T) {
	a := mustNew(t, "transfer:surrogate="+surrogatePath+",attack=pgd,eps=0.2,steps=5")
	params := map[string]string{}
	for k, v := range a.Params() {
		params[k] = fmt.Sprint(v)
	}
	if len(params["surrogate_sha256"]) != 64 {
		t.Fatalf("params %v: no surrogate_sha256", params)
	}
	b, err := New("transfer", params)
	if err != nil {
		t.Fatalf("rebuilding from the resolved params: %v", err)
	}
	if !reflect.DeepEqual(a.Params(), b.Params()) {
		t.Errorf("rebuilt params %v, want %v", b.Params(), a.Params())
	}
}
