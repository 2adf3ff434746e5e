package attack

import (
	"math"

	"github.com/advtest/advtest/pkg/tensor"
)

// The loss helpers below take logits of shape [N, C] and fill, per sample
// i, loss[i] and row i of grad with dLoss_i/dLogits (the form
// Classifier.InputGradient asks of its callback). Either destination may be
// nil. They do not allocate. Each one documents whether attacks maximise or
// minimise it.

// rows returns N and C of a [N, C] logits tensor.
func rows(logits *tensor.Tensor) (n, c int) {
	n = logits.Shape[0]
	if n == 0 {
		return 0, 0
	}
	return n, len(logits.F) / n
}

// CrossEntropy computes the softmax cross-entropy of each row with respect
// to labels: loss = log Σ_j exp(z_j) − z_label, grad = softmax(z) −
// onehot(label). Untargeted attacks maximise it; targeted attacks minimise
// it with the target as label.
func CrossEntropy(grad, loss []float32, logits *tensor.Tensor, labels []int) {
	n, c := rows(logits)
	for i := 0; i < n; i++ {
		z := logits.F[i*c : (i+1)*c]
		y := labels[i]
		lse := tensor.LogSumExp(z)
		if loss != nil {
			loss[i] = float32(lse - float64(z[y]))
		}
		if grad != nil {
			g := grad[i*c : (i+1)*c]
			for j, v := range z {
				g[j] = float32(math.Exp(float64(v) - lse))
			}
			g[y]--
		}
	}
}

// bestOther returns the index of the largest entry of z other than skip.
func bestOther(z []float32, skip int) int {
	best := -1
	for j, v := range z {
		if j == skip {
			continue
		}
		if best < 0 || v > z[best] {
			best = j
		}
	}
	return best
}

// CWLoss computes Carlini & Wagner's objective f6 (2017, Sec. V.A), which
// attacks minimise:
//
//	untargeted (targets nil): f = max(z_y − max_{j≠y} z_j, −κ)
//	targeted:                 f = max(max_{j≠t} z_j − z_t, −κ)
//
// f ≤ 0 means the goal is reached; κ (kappa) ≥ 0 asks for that much margin.
// The gradient is 0 where f is clamped at −κ. kappa = +Inf gives the plain
// logit margin (never clamped), whose negation PGD's "cw" loss maximises.
// It needs C ≥ 2.
func CWLoss(grad, loss []float32, logits *tensor.Tensor, labels, targets []int, kappa float64) {
	n, c := rows(logits)
	for i := 0; i < n; i++ {
		z := logits.F[i*c : (i+1)*c]
		var pos, neg int // f = z[pos] − z[neg]
		if targets == nil {
			pos = labels[i]
			neg = bestOther(z, pos)
		} else {
			neg = targets[i]
			pos = bestOther(z, neg)
		}
		f := float64(z[pos]) - float64(z[neg])
		clamped := f <= -kappa
		if clamped {
			f = -kappa
		}
		if loss != nil {
			loss[i] = float32(f)
		}
		if grad != nil {
			g := grad[i*c : (i+1)*c]
			for j := range g {
				g[j] = 0
			}
			if !clamped {
				g[pos] = 1
				g[neg] = -1
			}
		}
	}
}

// top4 returns the indices of the four largest entries of z in decreasing
// order (−1 where C < 4).
func top4(z []float32) (r [4]int) {
	r = [4]int{-1, -1, -1, -1}
	for j, v := range z {
		for k := 0; k < 4; k++ {
			if r[k] < 0 || v > z[r[k]] {
				copy(r[k+1:], r[k:3])
				r[k] = j
				break
			}
		}
	}
	return r
}

// dlrEps is the constant AutoAttack adds to DLR's denominator.
const dlrEps = 1e-12

// DLR computes the Difference of Logits Ratio loss of Croce & Hein (2020,
// eq. 5), which untargeted attacks maximise:
//
//	DLR = −(z_y − max_{j≠y} z_j) / (z_π1 − z_π3 + 1e-12)
//
// where π orders the logits decreasingly. The gradient flows through the
// denominator as well, as in AutoAttack's autograd implementation. With
// fewer than 3 classes the denominator is 1 (the plain margin).
func DLR(grad, loss []float32, logits *tensor.Tensor, labels []int) {
	n, c := rows(logits)
	for i := 0; i < n; i++ {
		z := logits.F[i*c : (i+1)*c]
		y := labels[i]
		o := bestOther(z, y)
		num := float64(z[y]) - float64(z[o])
		p := top4(z)
		den, hasDen := 1.0, c >= 3
		if hasDen {
			den = float64(z[p[0]]) - float64(z[p[2]]) + dlrEps
		}
		if loss != nil {
			loss[i] = float32(-num / den)
		}
		if grad != nil {
			g := grad[i*c : (i+1)*c]
			for j := range g {
				g[j] = 0
			}
			g[y] -= float32(1 / den)
			g[o] += float32(1 / den)
			if hasDen {
				d := num / (den * den)
				g[p[0]] += float32(d)
				g[p[2]] -= float32(d)
			}
		}
	}
}

// TargetedDLR computes the targeted DLR loss of Croce & Hein (2020, eq. 6),
// which targeted attacks maximise:
//
//	DLR_t = −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2 + 1e-12)
//
// With fewer than 4 classes the denominator is 1.
func TargetedDLR(grad, loss []float32, logits *tensor.Tensor, labels, targets []int) {
	n, c := rows(logits)
	for i := 0; i < n; i++ {
		z := logits.F[i*c : (i+1)*c]
		y, t := labels[i], targets[i]
		num := float64(z[y]) - float64(z[t])
		p := top4(z)
		den, hasDen := 1.0, c >= 4
		if hasDen {
			den = float64(z[p[0]]) - 0.5*(float64(z[p[2]])+float64(z[p[3]])) + dlrEps
		}
		if loss != nil {
			loss[i] = float32(-num / den)
		}
		if grad != nil {
			g := grad[i*c : (i+1)*c]
			for j := range g {
				g[j] = 0
			}
			g[y] -= float32(1 / den)
			g[t] += float32(1 / den)
			if hasDen {
				d := num / (den * den)
				g[p[0]] += float32(d)
				g[p[2]] -= float32(0.5 * d)
				g[p[3]] -= float32(0.5 * d)
			}
		}
	}
}

// objective is a per-sample quantity an attack maximises, with its
// gradient with respect to the logits; labels and targets are those of the
// sub-batch (targets nil when untargeted).
type objective func(grad, loss []float32, logits *tensor.Tensor, labels, targets []int)

// lossNames are the losses iterative attacks accept.
var lossNames = []string{"ce", "cw", "dlr"}

// makeObjective returns the objective to maximise for a loss name:
// "ce" (untargeted CE(y), targeted −CE(t)), "cw" (the logit margin
// −CWLoss with κ = ∞) and "dlr" (DLR, or targeted DLR).
func makeObjective(name string, targeted bool) objective {
	negate := func(grad, loss []float32) {
		for i := range grad {
			grad[i] = -grad[i]
		}
		for i := range loss {
			loss[i] = -loss[i]
		}
	}
	switch name {
	case "cw":
		return func(grad, loss []float32, logits *tensor.Tensor, labels, targets []int) {
			CWLoss(grad, loss, logits, labels, targets, math.Inf(1))
			negate(grad, loss)
		}
	case "dlr":
		if targeted {
			return TargetedDLR
		}
		return func(grad, loss []float32, logits *tensor.Tensor, labels, _ []int) {
			DLR(grad, loss, logits, labels)
		}
	}
	if targeted {
		return func(grad, loss []float32, logits *tensor.Tensor, labels, targets []int) {
			CrossEntropy(grad, loss, logits, targets)
			negate(grad, loss)
		}
	}
	return func(grad, loss []float32, logits *tensor.Tensor, labels, _ []int) {
		CrossEntropy(grad, loss, logits, labels)
	}
}
