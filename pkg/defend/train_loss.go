package defend

import (
	"math"

	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/tensor"
)

// A LossFunc computes a batch's training loss from its [N, C] logits: it
// returns the loss (a mean over the batch, as PyTorch's default reduction)
// and fills grad (len N·C) with dLoss/dLogits. The trainer calls it once
// per batch, from Model.Backprop's callback.
type LossFunc func(grad []float32, logits *tensor.Tensor) float64

// HardCE returns the mean softmax cross-entropy with hard labels:
// loss = (1/N) Σ_i (log Σ_j exp z_ij − z_iy), grad = (softmax(z) − onehot(y))/N.
// It uses pkg/attack's CrossEntropy for the per-sample terms.
func HardCE(labels []int) LossFunc {
	return func(grad []float32, logits *tensor.Tensor) float64 {
		n := logits.Shape[0]
		loss := make([]float32, n)
		attack.CrossEntropy(grad, loss, logits, labels)
		return meanAndScale(grad, loss, n)
	}
}

// meanAndScale divides grad by n and returns the mean of loss.
func meanAndScale(grad, loss []float32, n int) float64 {
	if n == 0 {
		return 0
	}
	inv := float32(1 / float64(n))
	for k := range grad {
		grad[k] *= inv
	}
	s := 0.0
	for _, v := range loss {
		s += float64(v)
	}
	return s / float64(n)
}

// SoftCrossEntropy computes, per row i, the cross-entropy of softmax(z_i)
// against the target distribution t_i (rows of targets, [N, C], each
// summing to 1): loss_i = −Σ_j t_ij log softmax(z_i)_j, and grad row i =
// softmax(z_i) − t_i. Either destination may be nil. With one-hot targets
// it equals attack.CrossEntropy.
func SoftCrossEntropy(grad, loss []float32, logits, targets *tensor.Tensor) {
	n := logits.Shape[0]
	if n == 0 {
		return
	}
	c := len(logits.F) / n
	ls := make([]float32, c)
	for i := 0; i < n; i++ {
		z := logits.F[i*c : (i+1)*c]
		t := targets.F[i*c : (i+1)*c]
		tensor.LogSoftmaxRow(ls, z)
		if loss != nil {
			s := 0.0
			for j := range ls {
				s -= float64(t[j]) * float64(ls[j])
			}
			loss[i] = float32(s)
		}
		if grad != nil {
			g := grad[i*c : (i+1)*c]
			for j := range g {
				g[j] = float32(math.Exp(float64(ls[j]))) - t[j]
			}
		}
	}
}

// SoftCE returns the mean SoftCrossEntropy against targets ([N, C]).
func SoftCE(targets *tensor.Tensor) LossFunc {
	return func(grad []float32, logits *tensor.Tensor) float64 {
		n := logits.Shape[0]
		loss := make([]float32, n)
		SoftCrossEntropy(grad, loss, logits, targets)
		return meanAndScale(grad, loss, n)
	}
}

// KLDivergence computes, per row i, KL(p_i ‖ q_i) with p = softmax(p
// logits) and q = softmax(q logits) (both [N, C]): loss_i = Σ_j p_ij (log
// p_ij − log q_ij). It fills gradP (dKL/dzp: p_k·(log p_k − log q_k − KL))
// and gradQ (dKL/dzq: q − p); any destination may be nil.
func KLDivergence(gradP, gradQ, loss []float32, pLogits, qLogits *tensor.Tensor) {
	n := pLogits.Shape[0]
	if n == 0 {
		return
	}
	c := len(pLogits.F) / n
	lp, lq := make([]float32, c), make([]float32, c)
	for i := 0; i < n; i++ {
		tensor.LogSoftmaxRow(lp, pLogits.F[i*c:(i+1)*c])
		tensor.LogSoftmaxRow(lq, qLogits.F[i*c:(i+1)*c])
		kl := 0.0
		for j := range lp {
			kl += math.Exp(float64(lp[j])) * (float64(lp[j]) - float64(lq[j]))
		}
		if loss != nil {
			loss[i] = float32(kl)
		}
		if gradP != nil {
			g := gradP[i*c : (i+1)*c]
			for j := range g {
				p := math.Exp(float64(lp[j]))
				g[j] = float32(p * (float64(lp[j]) - float64(lq[j]) - kl))
			}
		}
		if gradQ != nil {
			g := gradQ[i*c : (i+1)*c]
			for j := range g {
				g[j] = float32(math.Exp(float64(lq[j])) - math.Exp(float64(lp[j])))
			}
		}
	}
}

// TRADESLoss returns the TRADES objective of Zhang et al. (2019, eq. 5) for
// a batch laid out as [x; x_adv] (2N rows: the N natural samples, then
// their N adversarial counterparts):
//
//	L = (1/N) Σ_i CE(f(x_i), y_i) + β·(1/N) Σ_i KL(f(x_i) ‖ f(x_adv,i))
//
// as the authors' code computes it (KLDivLoss summed, divided by the batch
// size). The gradient flows through both the natural and the adversarial
// logits.
func TRADESLoss(labels []int, beta float64) LossFunc {
	return func(grad []float32, logits *tensor.Tensor) float64 {
		n2 := logits.Shape[0]
		n := n2 / 2
		c := len(logits.F) / max(n2, 1)
		nat := tensor.FromFloat32(logits.F[:n*c], n, c)
		adv := tensor.FromFloat32(logits.F[n*c:], n, c)
		ce := make([]float32, n)
		gNat, gAdv := grad[:n*c], grad[n*c:]
		attack.CrossEntropy(gNat, ce, nat, labels)
		kl := make([]float32, n)
		gp := make([]float32, n*c)
		KLDivergence(gp, gAdv, kl, nat, adv)
		inv := 1 / float64(n)
		total := 0.0
		for i := 0; i < n; i++ {
			total += float64(ce[i]) + beta*float64(kl[i])
		}
		for k := range gNat {
			gNat[k] = float32((float64(gNat[k]) + beta*float64(gp[k])) * inv)
			gAdv[k] = float32(beta * float64(gAdv[k]) * inv)
		}
		return total * inv
	}
}

// SmoothLabels returns ART's LabelSmoothing targets ([N, C]): maxValue on
// each sample's class and (1 − maxValue)/(C − 1) on every other class.
func SmoothLabels(labels []int, c int, maxValue float64) *tensor.Tensor {
	t := tensor.New(len(labels), c)
	other := float32((1 - maxValue) / float64(max(c-1, 1)))
	for i, y := range labels {
		row := t.F[i*c : (i+1)*c]
		for j := range row {
			row[j] = other
		}
		row[y] = float32(maxValue)
	}
	return t
}
