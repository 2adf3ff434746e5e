package attack

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/advtest/advtest/pkg/tensor"
)

// FMN is the Fast Minimum-Norm attack of Pintor, Roli, Brendel & Biggio,
// "Fast Minimum-norm Adversarial Attacks through Adaptive Norm
// Constraints" (NeurIPS 2021, Sec. 2, Algorithm 1), as in the authors'
// reference code (fmn in adversarial-library, also in foolbox). From
// δ = 0, with ε the adaptive radius (initially +Inf; 1 for L0), each step
//
//   - evaluates the logit difference L = z_y − max_{j≠y} z_j (targeted:
//     max_{j≠t} z_j − z_t) and its gradient g at x + δ, and records x + δ
//     when it is adversarial and the smallest so far;
//   - adapts ε: adversarial → ε = min(ε(1−γ), best norm); not adversarial
//     → ε(1+γ) once any adversarial point was found, else the linearised
//     distance to the boundary ‖δ‖ + |L|/‖g‖_dual (L0: ε ∓ max(1, ⌊εγ⌋));
//     never above the largest norm the box allows;
//   - steps δ ← δ − α·g/‖g‖₂ (towards the boundary), projects δ onto the
//     ε-ball of the norm (L0: keep the ε largest elements; L1: Euclidean
//     projection onto the ball; L2: rescale; Linf: clip) and clips x + δ
//     into the box,
//
// with α and γ annealed by a cosine from alpha_init to alpha_final and
// from gamma_init to gamma_final over the steps.
//
// Defaults (the reference's): norm=l2, steps=10, alpha_init=1,
// alpha_final=alpha_init/100, gamma_init=0.05, gamma_final=0.001; eps=0
// (unbounded; a positive eps makes it a bounded attack: a sample counts
// as fooled only if its smallest adversarial point lies within eps, as
// FAB in AutoAttack); clip range [0, 1]. The paper's experiments run more
// steps (e.g. steps=100 or 1000).
//
// On piecewise-linear models (ReLU MLPs) the L2 version often stalls: the
// first step lands on the exactly linearised boundary, and while no
// adversarial point has been found the radius only grows by the
// remaining gap |L|/‖g‖, below float32 resolution. The plain-PyTorch
// version of the reference update does the same (SR 0.08 on the shipped
// MLP, testdata/reference/attacks_minnorm.json); use FAB or DeepFool for
// L2 minimal norms there.
type FMN struct {
	ball
	fnorm      Norm
	steps      int
	alphaInit  float64
	alphaFinal float64
	gammaInit  float64
	gammaFinal float64
}

func (a *FMN) bind() *binder {
	b := newBinder("fmn")
	b.norm("norm", &a.fnorm, L2, []Norm{L0, L1, L2, Linf}, "norm whose perturbation size is minimised")
	b.int("steps", &a.steps, 10, "", "iterations")
	b.float("alpha_init", &a.alphaInit, 1, "", "initial step size α (cosine-annealed)")
	b.autoFloat("alpha_final", &a.alphaFinal, "alpha_init/100", "final step size")
	b.float("gamma_init", &a.gammaInit, 0.05, "", "initial relative change γ of the radius ε (cosine-annealed)")
	b.float("gamma_final", &a.gammaFinal, 0.001, "", "final relative change of ε")
	b.float("eps", &a.eps, 0, "0 (unbounded)", "if positive, the radius within which a result counts as a success")
	b.bounds(&a.bounds)
	return b
}

func (a *FMN) validate() error {
	if err := a.ball.validate("fmn", false); err != nil {
		return err
	}
	a.norm = a.fnorm
	if err := positiveInt("fmn", "steps", a.steps); err != nil {
		return err
	}
	if !(a.alphaInit > 0) || math.IsInf(a.alphaInit, 0) {
		return paramErr("fmn", "alpha_init", a.alphaInit, "a positive number")
	}
	if a.alphaFinal == 0 {
		a.alphaFinal = a.alphaInit / 100
	}
	if !(a.alphaFinal > 0) || math.IsInf(a.alphaFinal, 0) {
		return paramErr("fmn", "alpha_final", a.alphaFinal, "a positive number")
	}
	for _, g := range []struct {
		key string
		v   float64
	}{{"gamma_init", a.gammaInit}, {"gamma_final", a.gammaFinal}} {
		if !(g.v > 0 && g.v < 1) {
			return paramErr("fmn", g.key, g.v, "a number in (0, 1)")
		}
	}
	return nil
}

// Name returns "fmn".
func (a *FMN) Name() string { return "fmn" }

// Norm returns the minimised norm when eps bounds the result, else
// NormNone.
func (a *FMN) Norm() Norm { return a.boundedNorm() }

// Params returns the resolved parameters.
func (a *FMN) Params() map[string]any { return a.bind().values() }

// fmnObjective is FMN's loss to descend: the logit difference
// z_y − max_{j≠y} z_j (targeted: max_{j≠t} z_j − z_t), ≤ 0 at the goal.
func fmnObjective(grad, loss []float32, logits *tensor.Tensor, labels, targets []int) {
	n, c := rows(logits)
	for i := 0; i < n; i++ {
		z := logits.F[i*c : (i+1)*c]
		g := grad[i*c : (i+1)*c]
		clear(g)
		if targets != nil {
			t := targets[i]
			o := bestOther(z, t)
			loss[i] = z[o] - z[t]
			g[o], g[t] = 1, -1
			continue
		}
		y := labels[i]
		o := bestOther(z, y)
		loss[i] = z[y] - z[o]
		g[y], g[o] = 1, -1
	}
}

// fmnNorm returns ‖v‖ in FMN's norm (L0 counts non-zero elements).
func fmnNorm(norm Norm, v []float64) float64 {
	if norm == L0 {
		k := 0
		for _, e := range v {
			if e != 0 {
				k++
			}
		}
		return float64(k)
	}
	return norm64(norm, v)
}

// fmnDual returns the dual norm used for the distance to the boundary.
func fmnDual(norm Norm, g []float32) float64 {
	switch norm {
	case Linf:
		return dualNorm(Linf, g) // L1
	case L1:
		return dualNorm(L1, g) // Linf
	}
	return dualNorm(L2, g)
}

// project puts δ (float64, one sample) into the ε-ball of the norm; L0
// keeps the ⌊ε⌋ largest-magnitude elements.
func (a *FMN) projectDelta(delta []float64, eps float64, order []int) {
	if math.IsInf(eps, 1) {
		return
	}
	switch a.fnorm {
	case Linf:
		for q, v := range delta {
			delta[q] = math.Min(math.Max(v, -eps), eps)
		}
	case L2:
		if n := norm64(L2, delta); n > eps {
			f := eps / n
			for q := range delta {
				delta[q] *= f
			}
		}
	case L1:
		if norm64(L1, delta) <= eps {
			return
		}
		// Euclidean projection onto the L1 ball: soft-threshold by λ with
		// Σ max(|δ| − λ, 0) = eps.
		abs := make([]float64, 0, len(delta))
		for _, v := range delta {
			if v != 0 {
				abs = append(abs, math.Abs(v))
			}
		}
		slices.Sort(abs)
		slices.Reverse(abs)
		lam, s := 0.0, 0.0
		for k, v := range abs {
			s += v
			next := 0.0
			if k+1 < len(abs) {
				next = abs[k+1]
			}
			if s-float64(k+1)*next >= eps {
				lam = (s - eps) / float64(k+1)
				break
			}
		}
		for q, v := range delta {
			m := math.Max(math.Abs(v)-lam, 0)
			delta[q] = math.Copysign(m, v)
		}
	case L0:
		k := int(math.Max(eps, 0))
		if k >= len(delta) {
			return
		}
		order = order[:len(delta)]
		for q := range order {
			order[q] = q
		}
		slices.SortStableFunc(order, func(p, q int) int {
			ap, aq := math.Abs(delta[p]), math.Abs(delta[q])
			switch {
			case ap > aq:
				return -1
			case ap < aq:
				return 1
			}
			return 0
		})
		for _, q := range order[k:] {
			delta[q] = 0
		}
	}
}

// Run attacks a batch (untargeted or targeted).
func (a *FMN) Run(ctx context.Context, clf Classifier, b Batch, rng *rand.Rand) (*Outcome, error) {
	s, err := begin(ctx, clf, "fmn", b, true, a.bounds)
	if err != nil {
		return nil, err
	}
	n, d := s.n, s.d
	cur := append([]float32(nil), s.x...) // x + δ
	best := append([]float32(nil), s.x...)
	bestNorm := make([]float64, n)
	worst := make([]float64, n)
	eps := make([]float64, n)
	found := make([]bool, n)
	idx := s.attackable()
	for _, i := range idx {
		w := make([]float64, d)
		for q, v := range s.row(s.x, i) {
			w[q] = math.Max(float64(v)-float64(s.bounds.Min), float64(s.bounds.Max)-float64(v))
		}
		worst[i] = fmnNorm(a.fnorm, w)
		bestNorm[i] = worst[i]
		eps[i] = math.Inf(1)
		if a.fnorm == L0 {
			eps[i] = 1
		}
	}
	for it := 0; it < a.steps && len(idx) > 0; it++ {
		cos := (1 + math.Cos(math.Pi*float64(it)/float64(a.steps))) / 2
		alpha := a.alphaFinal + (a.alphaInit-a.alphaFinal)*cos
		gamma := a.gammaFinal + (a.gammaInit-a.gammaFinal)*cos
		lg, g, loss, err := s.gradient(idx, s.gather(cur, idx), fmnObjective)
		if err != nil {
			return nil, err
		}
		tensor.ParallelFor(len(idx), parallelChunk(4*d), func(l, h int) {
			delta := make([]float64, d)
			order := make([]int, d)
			for j := l; j < h; j++ {
				i := idx[j]
				ci, x0, gj := s.row(cur, i), s.row(s.x, i), g[j*d:(j+1)*d]
				for q, v := range ci {
					delta[q] = float64(v) - float64(x0[q])
				}
				dn := fmnNorm(a.fnorm, delta)
				adv := s.succeeded(lg.F[j*s.c:(j+1)*s.c], i)
				if adv && dn < bestNorm[i] {
					bestNorm[i] = dn
					copy(s.row(best, i), ci)
				}
				found[i] = found[i] || adv
				e := eps[i]
				if a.fnorm == L0 {
					if adv {
						e = math.Min(math.Min(e-1, math.Floor(e*(1-gamma))), bestNorm[i])
					} else {
						e = math.Max(e+1, math.Floor(e*(1+gamma)))
					}
					e = math.Max(e, 0)
				} else {
					switch {
					case adv:
						e = math.Min(e*(1-gamma), bestNorm[i])
					case found[i]:
						e *= 1 + gamma
					default:
						e = dn + math.Abs(float64(loss[j]))/math.Max(fmnDual(a.fnorm, gj), 1e-12)
					}
				}
				eps[i] = math.Min(e, worst[i])
				gn := math.Max(dualNorm(L2, gj), 1e-12)
				for q, v := range gj {
					delta[q] -= alpha * float64(v) / gn
				}
				a.projectDelta(delta, eps[i], order)
				for q := range ci {
					ci[q] = float32(float64(x0[q]) + delta[q])
				}
				Clip(ci, s.bounds)
			}
		})
	}
	// Bounded: only points within eps count.
	if a.eps > 0 {
		for _, i := range s.attackable() {
			if !(Dist(a.fnorm, s.row(best, i), s.row(s.x, i)) <= a.eps) {
				copy(s.row(best, i), s.row(s.x, i))
			}
		}
	}
	return s.finish(best, a.Norm(), a.eps)
}

func init() {
	mustRegister("fmn", factoryFor("Fast Minimum-Norm attack, L0/L1/L2/Linf (Pintor et al. 2021, Alg. 1)", func() configurable { return &FMN{} }))
}
