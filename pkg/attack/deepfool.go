package attack

import (
	"context"
	"math"
	"math/rand/v2"

	"github.com/advtest/advtest/pkg/tensor"
)

// DeepFool is the minimal-perturbation attack of Moosavi-Dezfooli, Fawzi &
// Frossard, "DeepFool: a simple and accurate method to fool deep neural
// networks" (CVPR 2016, Algorithm 2 for L2 and Sec. 3.3 for Lp), as in the
// authors' reference code: at each step the classifier is linearised
// around xᵢ and the nearest class boundary is crossed,
//
//	w'ₖ = ∇zₖ(xᵢ) − ∇z_y(xᵢ),  f'ₖ = zₖ(xᵢ) − z_y(xᵢ)
//	l = argminₖ |f'ₖ| / ‖w'ₖ‖_q            (q = 2 for L2, q = 1 for Linf)
//	rᵢ = (|f'ₗ|/‖w'ₗ‖₂ + 1e-4)·w'ₗ/‖w'ₗ‖₂    (Linf: (|f'ₗ|/‖w'ₗ‖₁ + 1e-4)·sign(w'ₗ))
//	xᵢ₊₁ = clip(x + (1 + overshoot)·Σ rᵢ)
//
// until the label changes or max_iter steps. Each w'ₖ is one gradient
// evaluation (a one-hot difference as dLoss/dLogits), so a step counts one
// evaluation per candidate class; a MultiGradientClassifier computes them
// all from one forward pass (one forward and K backward passes a step, the
// batched Jacobian of the reference code). It is untargeted only.
//
// Defaults (the reference code's and Foolbox's): norm=l2, max_iter=50,
// overshoot=0.02, nb_grads=0 (all classes; k > 0 uses the k classes with
// the largest clean logits, the true one included), eps=0 (unbounded; a
// positive eps projects the result onto that ball), clip range [0, 1].
type DeepFool struct {
	ball
	steps      int
	overshoot  float64
	candidates int
}

func (a *DeepFool) bind() *binder {
	b := newBinder("deepfool")
	b.norm("norm", &a.norm, L2, []Norm{L2, Linf}, "norm of the linearised problem")
	b.int("max_iter", &a.steps, 50, "", "maximum number of linearisation steps")
	b.float("overshoot", &a.overshoot, 0.02, "", "relative overshoot of the total perturbation")
	b.int("nb_grads", &a.candidates, 0, "0 (all)", "classes whose gradients are computed, by clean logit rank, the true one included (0: all)")
	b.float("eps", &a.eps, 0, "0 (unbounded)", "if positive, project the result onto the eps-ball")
	b.bounds(&a.bounds)
	return b
}

func (a *DeepFool) validate() error {
	if err := a.ball.validate("deepfool", false); err != nil {
		return err
	}
	if err := positiveInt("deepfool", "max_iter", a.steps); err != nil {
		return err
	}
	if a.overshoot < 0 {
		return paramErr("deepfool", "overshoot", a.overshoot, "a non-negative number")
	}
	if a.candidates < 0 || a.candidates == 1 {
		return paramErr("deepfool", "nb_grads", a.candidates, "0 (all) or at least 2")
	}
	return nil
}

// Name returns "deepfool".
func (a *DeepFool) Name() string { return "deepfool" }

// Norm returns the norm when eps bounds the result, else NormNone.
func (a *DeepFool) Norm() Norm { return a.boundedNorm() }

// Params returns the resolved parameters.
func (a *DeepFool) Params() map[string]any { return a.bind().values() }

// Run attacks a batch (untargeted only).
func (a *DeepFool) Run(ctx context.Context, clf Classifier, b Batch, rng *rand.Rand) (*Outcome, error) {
	s, err := begin(ctx, clf, "deepfool", b, false, a.bounds)
	if err != nil {
		return nil, err
	}
	n, d, c := s.n, s.d, s.c
	// Candidate classes per sample, the true class excluded.
	K := c - 1
	if a.candidates > 0 && a.candidates-1 < K {
		K = a.candidates - 1
	}
	cand := make([]int, n*K)
	rank := classRanks(s)
	for i := 0; i < n; i++ {
		q := 0
		for _, k := range rank[i*c : (i+1)*c] {
			if k != s.y[i] && q < K {
				cand[i*K+q] = k
				q++
			}
		}
	}
	tr := newTracker(s, true)
	cur := append([]float32(nil), s.x...)
	rtot := make([]float64, n*d)
	bestW := make([]float32, n*d)
	bestDist := make([]float64, n)
	stuck := make([]bool, n)
	tg := make([]int, n)
	// obj gives dLoss/dLogits = e_k − e_y with loss z_k − z_y, k = target.
	obj := func(grad, loss []float32, logits *tensor.Tensor, labels, targets []int) {
		for j := range labels {
			z := logits.F[j*c : (j+1)*c]
			g := grad[j*c : (j+1)*c]
			clear(g)
			g[targets[j]] = 1
			g[labels[j]] = -1
			loss[j] = z[targets[j]] - z[labels[j]]
		}
	}
	// With a MultiGradientClassifier a step is a forward pass that checks
	// the label, then one forward and K backward passes for the samples
	// still correct; otherwise K gradient evaluations, the first of which
	// checks the label.
	mc, _ := clf.(MultiGradientClassifier)
	idx := s.attackable()
	for it := 0; ; it++ {
		idx = filter(idx, func(i int) bool { return !tr.fooled[i] && !stuck[i] })
		if len(idx) == 0 {
			break
		}
		// The Jacobian path checks the label with a forward pass before
		// the step (not at x, which every attackable sample passes), so
		// that no backward pass is spent on a sample already fooled.
		if it == a.steps || (mc != nil && it > 0) {
			lg, err := s.logits(idx, s.gather(cur, idx))
			if err != nil {
				return nil, err
			}
			for j, i := range idx {
				tr.offer(s, i, s.row(cur, i), s.succeeded(lg.F[j*c:(j+1)*c], i), 0)
			}
			idx = filter(idx, func(i int) bool { return !tr.fooled[i] })
			if it == a.steps || len(idx) == 0 {
				break
			}
		} else if mc != nil {
			// x itself, which begin found correctly classified, is the
			// point kept for a sample that is never fooled.
			for _, i := range idx {
				tr.offer(s, i, s.row(cur, i), false, 0)
			}
		}
		for _, i := range idx {
			bestDist[i] = math.Inf(1)
		}
		// consider offers w'ₖ = w with f'ₖ = f for sample i.
		consider := func(i int, w []float32, f float32) {
			wn := 0.0
			for _, v := range w {
				if a.norm == Linf {
					wn += math.Abs(float64(v))
				} else {
					wn += float64(v) * float64(v)
				}
			}
			if a.norm != Linf {
				wn = math.Sqrt(wn)
			}
			if wn == 0 {
				return
			}
			if dist := math.Abs(float64(f)) / wn; dist < bestDist[i] {
				bestDist[i] = dist
				copy(s.row(bestW, i), w)
			}
		}
		if mc != nil {
			// All K rows of the Jacobian from one forward pass.
			lg, gs, err := s.gradients(mc, idx, s.gather(cur, idx), K, func(q int, logits *tensor.Tensor, dl []float32) {
				for j, i := range idx {
					g := dl[j*c : (j+1)*c]
					g[cand[i*K+q]] = 1
					g[s.y[i]] = -1
				}
			})
			if err != nil {
				return nil, err
			}
			for q := 0; q < K; q++ {
				for j, i := range idx {
					z := lg.F[j*c : (j+1)*c]
					consider(i, gs[q][j*d:(j+1)*d], z[cand[i*K+q]]-z[s.y[i]])
				}
			}
		}
		for q := 0; q < K && mc == nil; q++ {
			for _, i := range idx {
				tg[i] = cand[i*K+q]
			}
			lg, g, loss, err := s.gradientWith(idx, s.gather(cur, idx), obj, tg)
			if err != nil {
				return nil, err
			}
			if q == 0 {
				for j, i := range idx {
					tr.offer(s, i, s.row(cur, i), s.succeeded(lg.F[j*c:(j+1)*c], i), 0)
				}
			}
			for j, i := range idx {
				if !tr.fooled[i] {
					consider(i, g[j*d:(j+1)*d], loss[j])
				}
			}
			if q == 0 {
				idx = filter(idx, func(i int) bool { return !tr.fooled[i] })
				if len(idx) == 0 {
					break
				}
			}
		}
		for _, i := range idx {
			if math.IsInf(bestDist[i], 1) {
				stuck[i] = true // zero gradients: no direction to follow
			}
		}
		tensor.ParallelFor(len(idx), parallelChunk(d), func(lo, hi int) {
			for _, i := range idx[lo:hi] {
				if stuck[i] {
					continue
				}
				w, r, ci, x0 := s.row(bestW, i), rtot[i*d:(i+1)*d], s.row(cur, i), s.row(s.x, i)
				var f float64
				if a.norm == Linf {
					f = bestDist[i] + 1e-4
				} else {
					wn := 0.0
					for _, v := range w {
						wn += float64(v) * float64(v)
					}
					wn = math.Sqrt(wn)
					f = (bestDist[i] + 1e-4) / wn
				}
				for k, v := range w {
					if a.norm == Linf {
						r[k] += f * float64(signf(v))
					} else {
						r[k] += f * float64(v)
					}
					ci[k] = float32(float64(x0[k]) + (1+a.overshoot)*r[k])
				}
				Clip(ci, s.bounds)
			}
		})
	}
	return s.finish(tr.best, a.Norm(), a.eps)
}

func init() {
	mustRegister("deepfool", factoryFor("DeepFool minimal perturbation, L2 or Linf (Moosavi-Dezfooli et al. 2016)", func() configurable { return &DeepFool{} }))
}
