package defend

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/tensor"
)

func randLogits(rng *rand.Rand, n, c int) *tensor.Tensor {
	t := tensor.New(n, c)
	for k := range t.F {
		t.F[k] = float32(2 * rng.NormFloat64())
	}
	return t
}

// checkGrad compares f's analytic gradient with central differences in
// float64-evaluated losses (f is evaluated on float32 logits, so the step
// is 1e-2 and the tolerance 2e-3 relative).
func checkGrad(t *testing.T, name string, f LossFunc, logits *tensor.Tensor) {
	t.Helper()
	g := make([]float32, logits.Len())
	f(g, logits)
	scratch := make([]float32, logits.Len())
	const h = 1e-2
	for k := range logits.F {
		v := logits.F[k]
		logits.F[k] = v + h
		lp := f(scratch, logits)
		logits.F[k] = v - h
		lm := f(scratch, logits)
		logits.F[k] = v
		fd := (lp - lm) / (2 * h)
		if math.Abs(fd-float64(g[k])) > 2e-3*(1+math.Abs(fd)) {
			t.Errorf("%s: d/dz[%d] = %g, finite difference %g", name, k, g[k], fd)
		}
	}
}

func TestLossGradients(t *testing.T) {
	rng := seeded(5)
	const n, c = 4, 5
	y := []int{0, 3, 4, 1}
	soft := SmoothLabels(y, c, 0.7)
	checkGrad(t, "HardCE", HardCE(y), randLogits(rng, n, c))
	checkGrad(t, "SoftCE", SoftCE(soft), randLogits(rng, n, c))
	checkGrad(t, "TRADES", TRADESLoss(y, 6), randLogits(rng, 2*n, c))
	// KL(p‖q) through both arguments.
	kl := func(g []float32, z *tensor.Tensor) float64 {
		p := tensor.FromFloat32(z.F[:n*c], n, c)
		q := tensor.FromFloat32(z.F[n*c:], n, c)
		loss := make([]float32, n)
		KLDivergence(g[:n*c], g[n*c:], loss, p, q)
		s := 0.0
		for _, v := range loss {
			s += float64(v)
		}
		return s
	}
	checkGrad(t, "KL", kl, randLogits(rng, 2*n, c))
}

func TestSoftCEMatchesHardCE(t *testing.T) {
	logits := randLogits(seeded(2), 3, 4)
	y := []int{2, 0, 3}
	gh, lh := make([]float32, 12), make([]float32, 3)
	gs, ls := make([]float32, 12), make([]float32, 3)
	attack.CrossEntropy(gh, lh, logits, y)
	SoftCrossEntropy(gs, ls, logits, SmoothLabels(y, 4, 1))
	for k := range gh {
		if math.Abs(float64(gh[k]-gs[k])) > 1e-6 {
			t.Fatalf("grad[%d]: hard %g, one-hot soft %g", k, gh[k], gs[k])
		}
	}
	for i := range lh {
		if math.Abs(float64(lh[i]-ls[i])) > 1e-5 {
			t.Fatalf("loss[%d]: hard %g, one-hot soft %g", i, lh[i], ls[i])
		}
	}
	// KL of a distribution with itself is 0.
	kl := make([]float32, 3)
	KLDivergence(nil, nil, kl, logits, logits)
	for i, v := range kl {
		if math.Abs(float64(v)) > 1e-6 {
			t.Errorf("KL(p‖p)[%d] = %g", i, v)
		}
	}
}
