package attack

import (
	"context"
	"math"
	"math/rand/v2"

	"github.com/advtest/advtest/pkg/tensor"
)

// EAD is the elastic-net attack of Chen, Sharma, Zhang, Yi & Hsieh, "EAD:
// Elastic-Net Attacks to Deep Neural Networks via Adversarial Examples"
// (AAAI 2018, Sec. 3, Algorithm 1). It minimises
//
//	c·f(x') + ‖x' − x‖₂² + β‖x' − x‖₁,  f the C&W margin loss (max(z_y − max_{j≠y} z_j, −κ))
//
// over the clip range with FISTA: with g = c·f + ‖· − x‖₂²,
//
//	x⁽ᵏ⁺¹⁾ = S_β(y⁽ᵏ⁾ − αₖ∇g(y⁽ᵏ⁾))                       (projected shrinkage-thresholding)
//	y⁽ᵏ⁺¹⁾ = Π(x⁽ᵏ⁺¹⁾ + k/(k+3)·(x⁽ᵏ⁺¹⁾ − x⁽ᵏ⁾))
//
// where S_β moves each element of z towards x by β (to x when within β)
// and clips it into the box, and αₖ = lr·√(1 − k/max_iter) (the
// reference's square-root decay). c is binary-searched per sample as in
// C&W (halved towards the last failure after a success, else ×10 until an
// upper bound is known). Among the successful iterates x⁽ᵏ⁾ the attack
// keeps the one with the smallest elastic-net distance
// ‖δ‖₂² + β‖δ‖₁ (decision_rule=en) or L1 distance (decision_rule=l1).
// Samples never fooled keep the clean sample. Targeted batches use the
// targeted margin max(max_{j≠t} z_j − z_t, −κ).
//
// Defaults (ART's ElasticNet, which follows the paper): beta=1e-3,
// lr=0.01, binary_steps=9, max_iter=100, initial_const=1e-3,
// confidence κ=0, decision_rule=en (foolbox's EADAttack uses the same
// except regularization 0.01 and 10000 steps with early abort); eps=0
// (unbounded; a positive eps projects the result onto the L1 ball of that
// radius, as C&W's eps does for L2); clip range [0, 1].
type EAD struct {
	ball
	cwSearch
	beta float64
	rule string
}

func (a *EAD) bind() *binder {
	b := newBinder("ead")
	b.float("beta", &a.beta, 1e-3, "", "L1 weight β of the elastic-net distance (shrinkage threshold)")
	b.float("lr", &a.lr, 0.01, "", "initial ISTA step, decayed as lr·√(1 − k/max_iter)")
	b.int("binary_steps", &a.binarySteps, 9, "", "binary search steps over the constant c")
	b.int("max_iter", &a.steps, 100, "", "FISTA iterations per binary search step")
	b.float("initial_const", &a.initialConst, 1e-3, "", "initial trade-off constant c")
	b.float("confidence", &a.confidence, 0, "", "margin κ by which the goal must be reached")
	b.enum("decision_rule", &a.rule, "en", []string{"en", "l1"}, "which successful iterate to keep: smallest elastic-net or L1 distance")
	b.float("eps", &a.eps, 0, "0 (unbounded)", "if positive, project the result onto the L1 ball of this radius")
	b.bounds(&a.bounds)
	return b
}

func (a *EAD) validate() error {
	a.norm = L1
	if err := a.ball.validate("ead", false); err != nil {
		return err
	}
	if !(a.beta >= 0) || math.IsInf(a.beta, 0) {
		return paramErr("ead", "beta", a.beta, "a non-negative number")
	}
	return a.cwSearch.validate("ead")
}

// Name returns "ead".
func (a *EAD) Name() string { return "ead" }

// Norm returns L1 when eps bounds the result, else NormNone.
func (a *EAD) Norm() Norm { return a.boundedNorm() }

// Params returns the resolved parameters.
func (a *EAD) Params() map[string]any { return a.bind().values() }

// margin returns the C&W loss f of logits row z for sample i: ≤ −κ means
// the goal is reached with confidence κ.
func (a *EAD) margin(s *session, z []float32, i int) float64 {
	if s.tgt != nil {
		t := s.tgt[i]
		return float64(z[bestOther(z, t)]) - float64(z[t])
	}
	y := s.y[i]
	return float64(z[y]) - float64(z[bestOther(z, y)])
}

// Run attacks a batch (untargeted or targeted).
func (a *EAD) Run(ctx context.Context, clf Classifier, b Batch, rng *rand.Rand) (*Outcome, error) {
	s, err := begin(ctx, clf, "ead", b, true, a.bounds)
	if err != nil {
		return nil, err
	}
	n, d, c := s.n, s.d, s.c
	xk := make([]float32, n*d) // ISTA iterate x⁽ᵏ⁾
	yk := make([]float32, n*d) // FISTA slack y⁽ᵏ⁾
	best := append([]float32(nil), s.x...)
	bestDist := make([]float64, n)
	cst := make([]float64, n)
	lower := make([]float64, n)
	upper := make([]float64, n)
	runOK := make([]bool, n)
	for i := range cst {
		cst[i], upper[i], bestDist[i] = a.initialConst, 1e10, math.Inf(1)
	}
	var sub []int // samples of the current gradient call, for obj
	obj := a.weightedLoss(c, cst, &sub)
	lo, hi := float64(s.bounds.Min), float64(s.bounds.Max)
	for bs := 0; bs < a.binarySteps; bs++ {
		idx := s.attackable()
		for _, i := range idx {
			copy(s.row(xk, i), s.row(s.x, i))
			copy(s.row(yk, i), s.row(s.x, i))
			runOK[i] = false
		}
		for it := 0; it < a.steps && len(idx) > 0; it++ {
			lr := a.lr * math.Sqrt(1-float64(it)/float64(a.steps))
			mom := float64(it) / float64(it+3)
			sub = idx
			_, g, _, err := s.gradient(idx, s.gather(yk, idx), obj)
			if err != nil {
				return nil, err
			}
			tensor.ParallelFor(len(idx), parallelChunk(d), func(l, h int) {
				for j := l; j < h; j++ {
					i := idx[j]
					gj := g[j*d : (j+1)*d]
					x0, xi, yi := s.row(s.x, i), s.row(xk, i), s.row(yk, i)
					for q := range xi {
						o := float64(x0[q])
						yv := float64(yi[q])
						z := yv - lr*(float64(gj[q])+2*(yv-o))
						var nx float64
						switch {
						case z-o > a.beta:
							nx = math.Min(z-a.beta, hi)
						case z-o < -a.beta:
							nx = math.Max(z+a.beta, lo)
						default:
							nx = o
						}
						ny := nx + mom*(nx-float64(xi[q]))
						xi[q] = float32(nx)
						yi[q] = float32(math.Min(math.Max(ny, lo), hi))
					}
					Clip(xi, s.bounds)
				}
			})
			lg, err := s.logits(idx, s.gather(xk, idx))
			if err != nil {
				return nil, err
			}
			for j, i := range idx {
				z := lg.F[j*c : (j+1)*c]
				if !(a.margin(s, z, i) <= -a.confidence && s.succeeded(z, i)) {
					continue
				}
				runOK[i] = true
				xi, x0 := s.row(xk, i), s.row(s.x, i)
				l1 := L1Dist(xi, x0)
				dist := l1
				if a.rule == "en" {
					l2 := L2Dist(xi, x0)
					dist = l2*l2 + a.beta*l1
				}
				if dist < bestDist[i] {
					bestDist[i] = dist
					copy(s.row(best, i), xi)
				}
			}
		}
		for _, i := range s.attackable() {
			searchConst(i, runOK[i], cst, lower, upper)
		}
	}
	return s.finish(best, a.Norm(), a.eps)
}

func init() {
	mustRegister("ead", factoryFor("EAD elastic-net attack, FISTA with binary search over c (Chen et al. 2018)", func() configurable { return &EAD{} }))
}
