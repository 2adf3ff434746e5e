package onnxmodel

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/tensor"
)

func loadShipped(t *testing.T, name string) *Model {
	t.Helper()
	p := filepath.Join(modelsDir, name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s is absent", p)
	}
	m, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func randomImages(n int, seed uint64) *tensor.Tensor {
	rng := rand.New(rand.NewPCG(seed, 1))
	x := tensor.New(n, 1, 28, 28)
	for i := range x.F {
		x.F[i] = rng.Float32()
	}
	return x
}

// TestCombineMatchesMembers checks that each aggregation of the shipped MLP,
// CNN and MLP again equals the aggregate of the members' own logits,
// computed in Go, and that the ensemble survives a save and reload.
func TestCombineMatchesMembers(t *testing.T) {
	mlp, cnn := loadShipped(t, "mnist_mlp.onnx"), loadShipped(t, "mnist_cnn.onnx")
	members := []*Model{mlp, cnn, mlp}
	ctx := context.Background()
	x := randomImages(6, 7)
	var ls []*tensor.Tensor
	for _, m := range members {
		l, err := m.Logits(ctx, x)
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	n, c := 6, 10
	want := map[Aggregate][]float64{}
	ml, mp, vote := make([]float64, n*c), make([]float64, n*c), make([]float64, n*c)
	for _, l := range ls {
		p := tensor.SoftmaxFloat64(l)
		for i := 0; i < n; i++ {
			best := 0
			for j := 0; j < c; j++ {
				k := i*c + j
				ml[k] += float64(l.F[k]) / 3
				mp[k] += p[k] / 3
				if l.F[k] > l.F[i*c+best] {
					best = j
				}
			}
			vote[i*c+best]++
		}
	}
	want[MeanLogits] = ml
	lp := make([]float64, n*c)
	for k := range mp {
		lp[k] = math.Log(math.Max(mp[k], 1e-30))
		vote[k] += 0.5 * mp[k]
	}
	want[MeanProbs] = lp
	want[Vote] = vote
	for _, how := range []Aggregate{MeanLogits, MeanProbs, Vote} {
		t.Run(how.String(), func(t *testing.T) {
			e, err := Combine(members, how)
			if err != nil {
				t.Fatal(err)
			}
			if e.NumClasses() != 10 || e.LogitsName != EnsembleOutput {
				t.Fatalf("classes %d, logits %q", e.NumClasses(), e.LogitsName)
			}
			path := filepath.Join(t.TempDir(), "ens.onnx")
			if err := e.Save(path); err != nil {
				t.Fatal(err)
			}
			r, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range []*Model{e, r} {
				got, err := m.Logits(ctx, x)
				if err != nil {
					t.Fatal(err)
				}
				for k, w := range want[how] {
					if d := math.Abs(float64(got.F[k]) - w); d > 1e-4*math.Max(1, math.Abs(w)) {
						t.Fatalf("element %d: ensemble %g, members %g", k, got.F[k], w)
					}
				}
			}
			// Attacks get a gradient through every aggregation (the vote's
			// through its mean-probability tie-breaker).
			_, g, err := e.InputGradient(ctx, x, func(l *tensor.Tensor) (*tensor.Tensor, error) {
				s := tensor.New(l.Shape...)
				for i := 0; i < n; i++ {
					s.F[i*c] = 1
				}
				return s, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			nz := 0
			for _, v := range g.F {
				if v != 0 {
					nz++
				}
			}
			if nz < len(g.F)/2 {
				t.Errorf("only %d of %d gradient elements are non-zero", nz, len(g.F))
			}
		})
	}
}

// TestCombineRefusesMixedOpsets checks the opset rule and the empty case.
func TestCombineRefusesMixedOpsets(t *testing.T) {
	mlp, old := loadShipped(t, "mnist_mlp.onnx"), loadShipped(t, "resnet_bn_dyn_op9.onnx")
	if _, err := Combine([]*Model{mlp, old}, MeanLogits); err == nil || !strings.Contains(err.Error(), "opset") {
		t.Errorf("mixed opsets: err %v, want an opset error", err)
	}
	if _, err := Combine(nil, MeanLogits); err == nil {
		t.Error("no members: no error")
	}
	if _, err := ParseAggregate("median"); err == nil {
		t.Error("ParseAggregate(median): no error")
	}
}

// TestSplitAndWithOutputs cuts the CNN after its normalisation and checks
// that post(pre(x)) equals the whole model, and that WithOutputs exposes
// the cut value with the same numbers.
func TestSplitAndWithOutputs(t *testing.T) {
	m := loadShipped(t, "mnist_cnn.onnx")
	relus := m.NodesOfType("Relu")
	if len(relus) == 0 {
		t.Fatal("no Relu in the CNN")
	}
	cut := relus[0].GetInput()[0] // the first conv's output
	ctx := context.Background()
	x := randomImages(3, 9)
	pre, post, err := m.Split(cut)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := m.InputName()
	mid, err := pre.Run(ctx, map[string]*tensor.Tensor{in: x})
	if err != nil {
		t.Fatal(err)
	}
	got, err := post.Logits(ctx, mid[cut])
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.Logits(ctx, x)
	if err != nil {
		t.Fatal(err)
	}
	for k := range want.F {
		if math.Abs(float64(got.F[k]-want.F[k])) > 1e-4 {
			t.Fatalf("logit %d: split %g, whole %g", k, got.F[k], want.F[k])
		}
	}
	wo, err := m.WithOutputs(cut)
	if err != nil {
		t.Fatal(err)
	}
	res, err := wo.Run(ctx, map[string]*tensor.Tensor{in: x})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range mid[cut].F {
		if res[cut].F[k] != v {
			t.Fatalf("exposed value %d: %g, split %g", k, res[cut].F[k], v)
		}
	}
	if _, err := m.WithOutputs("no-such-value"); err == nil {
		t.Error("WithOutputs(unknown): no error")
	}
	if _, _, err := m.Split("no-such-value"); err == nil {
		t.Error("Split(unknown): no error")
	}
}
