package defend

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/advtest/advtest/internal/attacktest"
	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/tensor"
)

// TestEOTAveragesDraws checks EOT against a hand-rolled average: with the
// same seed, its logits and gradient are the means over K noisy copies;
// with σ = 0 it equals the plain model; and PGD through EOT still fools
// the CNN under inference-time noise.
func TestEOTAveragesDraws(t *testing.T) {
	m := needModel(t, "mnist_cnn.onnx")
	set := needMNIST(t, 20)
	ctx := context.Background()
	ce := func(y []int) func(*tensor.Tensor) (*tensor.Tensor, error) {
		return func(l *tensor.Tensor) (*tensor.Tensor, error) {
			g := tensor.New(l.Shape...)
			attack.CrossEntropy(g.F, nil, l, y)
			return g, nil
		}
	}
	x := set.X
	sample := GaussianNoise(0.1, 0, 1)
	e, err := NewEOT(m, sample, 4, 42)
	if err != nil {
		t.Fatal(err)
	}
	l, g, err := e.InputGradient(ctx, x, ce(set.Y))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(42, 0x656f74))
	wl, wg := tensor.New(l.Shape...), tensor.New(x.Shape...)
	for k := 0; k < 4; k++ {
		tr := sample(rng)
		lk, gk, err := m.InputGradient(ctx, tr.Apply(x), ce(set.Y))
		if err != nil {
			t.Fatal(err)
		}
		for i := range lk.F {
			wl.F[i] += lk.F[i] / 4
		}
		for i := range gk.F {
			wg.F[i] += gk.F[i] / 4
		}
	}
	for i := range wl.F {
		if math.Abs(float64(wl.F[i]-l.F[i])) > 1e-4 {
			t.Fatalf("logit %d: EOT %g, mean of draws %g", i, l.F[i], wl.F[i])
		}
	}
	for i := range wg.F {
		if math.Abs(float64(wg.F[i]-g.F[i])) > 1e-5 {
			t.Fatalf("gradient %d: EOT %g, mean of draws %g", i, g.F[i], wg.F[i])
		}
	}
	zero, _ := NewEOT(m, GaussianNoise(0, 0, 1), 2, 1)
	lz, _ := zero.Logits(ctx, x)
	lm, _ := m.Logits(ctx, x)
	for i := range lz.F {
		if math.Abs(float64(lz.F[i]-lm.F[i])) > 1e-5 {
			t.Fatalf("σ=0: EOT logit %g, model %g", lz.F[i], lm.F[i])
		}
	}
	atk, _ := attacktest.New("pgd:norm=linf,eps=0.3,steps=10")
	o, err := atk.Run(ctx, e, attack.Batch{X: x, Y: set.Y}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sr, n := o.SuccessRate()
	t.Logf("PGD through EOT (k=4, σ=0.1): SR %.2f over %d", sr, n)
	if sr < 0.5 {
		t.Errorf("PGD through EOT: SR %.2f, want ≥ 0.5", sr)
	}
	if _, err := NewEOT(m, sample, 0, 1); err == nil {
		t.Error("k=0: no error")
	}
}
