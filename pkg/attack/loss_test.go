package attack

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/advtest/advtest/pkg/tensor"
)

// TestLossGradients checks every loss helper's dLoss/dLogits against
// central finite differences (float64 steps on float32 logits, so a 2e-3
// tolerance).
func TestLossGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n, c = 6, 7
	logits := tensor.New(n, c)
	for i := range logits.F {
		logits.F[i] = float32(3 * rng.NormFloat64())
	}
	labels := make([]int, n)
	targets := make([]int, n)
	for i := range labels {
		labels[i] = rng.IntN(c)
		targets[i] = (labels[i] + 1 + rng.IntN(c-1)) % c
	}
	losses := map[string]func(grad, loss []float32, z *tensor.Tensor){
		"ce":           func(g, l []float32, z *tensor.Tensor) { CrossEntropy(g, l, z, labels) },
		"cw":           func(g, l []float32, z *tensor.Tensor) { CWLoss(g, l, z, labels, nil, 100) },
		"cw-targeted":  func(g, l []float32, z *tensor.Tensor) { CWLoss(g, l, z, labels, targets, 100) },
		"dlr":          func(g, l []float32, z *tensor.Tensor) { DLR(g, l, z, labels) },
		"dlr-targeted": func(g, l []float32, z *tensor.Tensor) { TargetedDLR(g, l, z, labels, targets) },
	}
	for name, f := range losses {
		grad := make([]float32, n*c)
		loss := make([]float32, n)
		f(grad, loss, logits)
		lp, lm := make([]float32, n), make([]float32, n)
		for k := range logits.F {
			const h = 1e-2
			v := logits.F[k]
			logits.F[k] = v + h
			f(nil, lp, logits)
			logits.F[k] = v - h
			f(nil, lm, logits)
			logits.F[k] = v
			i := k / c
			fd := (float64(lp[i]) - float64(lm[i])) / (2 * h)
			if math.Abs(fd-float64(grad[k])) > 2e-3*math.Max(1, math.Abs(fd)) {
				t.Errorf("%s: dL/dz[%d] = %g, finite difference %g", name, k, grad[k], fd)
			}
		}
	}
}

// TestLossValues checks the losses on a hand-computed row.
func TestLossValues(t *testing.T) {
	z := tensor.FromFloat32([]float32{4, 1, 3, 0}, 1, 4)
	loss := make([]float32, 1)
	CWLoss(nil, loss, z, []int{0}, nil, 0)
	if loss[0] != 1 { // z_y − max_{j≠y} z_j = 4 − 3
		t.Errorf("CW untargeted: %g, want 1", loss[0])
	}
	CWLoss(nil, loss, z, []int{0}, []int{1}, 0.5)
	if loss[0] != 3 { // max_{j≠t} z_j − z_t = 4 − 1
		t.Errorf("CW targeted: %g, want 3", loss[0])
	}
	CWLoss(nil, loss, z, []int{2}, nil, 0.5)
	if loss[0] != -0.5 { // 3 − 4 = −1 clamped at −κ
		t.Errorf("CW clamped: %g, want -0.5", loss[0])
	}
	DLR(nil, loss, z, []int{0})
	if want := float32(-(4.0 - 3) / (4 - 1 + 1e-12)); loss[0] != want {
		t.Errorf("DLR: %g, want %g", loss[0], want)
	}
	TargetedDLR(nil, loss, z, []int{0}, []int{3})
	if want := float32(-(4.0 - 0) / (4 - 0.5*(1+0) + 1e-12)); loss[0] != want {
		t.Errorf("targeted DLR: %g, want %g", loss[0], want)
	}
	CrossEntropy(nil, loss, z, []int{0})
	want := math.Log(math.Exp(4)+math.Exp(1)+math.Exp(3)+1) - 4
	if math.Abs(float64(loss[0])-want) > 1e-6 {
		t.Errorf("CE: %g, want %g", loss[0], want)
	}
}
