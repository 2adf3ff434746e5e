package attack

import (
	"context"
	"math"
	"math/rand/v2"

	"github.com/advtest/advtest/pkg/tensor"
)

// CWL2 is the L2 attack of Carlini & Wagner, "Towards Evaluating the
// Robustness of Neural Networks" (IEEE S&P 2017, Sec. V-A), following the
// authors' reference code (nn_robust_attacks/l2_attack.py). With the change
// of variables x' = mid + half·tanh(w) (so x' always lies in the clip
// range), it minimises with Adam
//
//	‖x' − x‖₂² + c·f(x'),  f = max(z_y − max_{j≠y} z_j, −κ)   (untargeted)
//	                       f = max(max_{j≠t} z_j − z_t, −κ)   (targeted)
//
// and binary-searches c per sample: after each run, c is halved towards
// the last failure if the run succeeded, else multiplied by 10 until an
// upper bound is known and then bisected. The smallest successful x' over
// all runs is kept; samples never fooled keep the clean sample. A run stops
// early (abort_early) when the sample's objective has not fallen by 0.01%
// over the last max_iter/10 iterations.
//
// Defaults (the reference code's): binary_steps=9, lr=0.01,
// initial_const=1e-3, confidence κ=0, abort_early=true; max_iter=1000
// (the reference uses 10000; early abort makes most runs much shorter
// anyway); eps=0 (unbounded; a positive eps projects the result onto the
// L2 ball); clip range [0, 1].
type CWL2 struct {
	ball
	cwSearch
	abortEarly bool
}

// cwSearch holds the optimisation parameters that C&W (Carlini & Wagner
// 2017, section V) and EAD (Chen et al. 2018, section 3) share: a margin κ,
// a step size, and a binary search over the constant c that weighs the
// misclassification loss against the distance.
type cwSearch struct {
	confidence   float64
	lr           float64
	binarySteps  int
	steps        int
	initialConst float64
}

// searchConst is one step of the binary search over sample i's constant
// c = cst[i] (Carlini & Wagner 2017, section VI): after a run that reached
// the goal, c is an upper bound and the next c is the bounds' midpoint;
// after a failure, c is a lower bound, and c grows tenfold until some run
// succeeds (upper is still at its initial 1e10), then bisects.
func searchConst(i int, ok bool, cst, lower, upper []float64) {
	if ok {
		upper[i] = math.Min(upper[i], cst[i])
		if upper[i] < 1e9 {
			cst[i] = (lower[i] + upper[i]) / 2
		}
		return
	}
	lower[i] = math.Max(lower[i], cst[i])
	if upper[i] < 1e9 {
		cst[i] = (lower[i] + upper[i]) / 2
	} else {
		cst[i] *= 10
	}
}

// weightedLoss is the objective of one C&W or EAD gradient call: the C&W
// loss with margin κ (CWLoss), each sample's gradient scaled by its
// constant, cst[i] for the sample i at row j of (*sub)[j] (the samples of
// the call, set before it); classes is the logits' row length.
func (p *cwSearch) weightedLoss(classes int, cst []float64, sub *[]int) objective {
	return func(grad, loss []float32, logits *tensor.Tensor, labels, targets []int) {
		CWLoss(grad, loss, logits, labels, targets, p.confidence)
		for j, i := range *sub {
			g := grad[j*classes : (j+1)*classes]
			for k := range g {
				g[k] *= float32(cst[i])
			}
		}
	}
}

// validate checks the shared parameters; name is the attack's name for
// error messages. Infinite or NaN values are refused.
func (c *cwSearch) validate(name string) error {
	if !(c.lr > 0) || math.IsInf(c.lr, 0) {
		return paramErr(name, "lr", c.lr, "a positive number")
	}
	if !(c.initialConst > 0) || math.IsInf(c.initialConst, 0) {
		return paramErr(name, "initial_const", c.initialConst, "a positive number")
	}
	if !(c.confidence >= 0) || math.IsInf(c.confidence, 0) {
		return paramErr(name, "confidence", c.confidence, "a non-negative number")
	}
	if err := positiveInt(name, "binary_steps", c.binarySteps); err != nil {
		return err
	}
	return positiveInt(name, "max_iter", c.steps)
}

func (a *CWL2) bind() *binder {
	b := newBinder("cw")
	b.float("confidence", &a.confidence, 0, "", "margin κ by which the goal must be reached")
	b.float("lr", &a.lr, 0.01, "", "Adam learning rate")
	b.int("binary_steps", &a.binarySteps, 9, "", "binary search steps over the constant c")
	b.int("max_iter", &a.steps, 1000, "", "Adam iterations per binary search step")
	b.float("initial_const", &a.initialConst, 1e-3, "", "initial trade-off constant c")
	b.bool("abort_early", &a.abortEarly, true, "stop a run when the objective stalls")
	b.float("eps", &a.eps, 0, "0 (unbounded)", "if positive, project the result onto the L2 ball of this radius")
	b.bounds(&a.bounds)
	return b
}

func (a *CWL2) validate() error {
	a.norm = L2
	if err := a.ball.validate("cw", false); err != nil {
		return err
	}
	return a.cwSearch.validate("cw")
}

// Name returns "cw".
func (a *CWL2) Name() string { return "cw" }

// Norm returns L2 when eps bounds the result, else NormNone.
func (a *CWL2) Norm() Norm { return a.boundedNorm() }

// Params returns the resolved parameters.
func (a *CWL2) Params() map[string]any { return a.bind().values() }

// Run attacks a batch (untargeted or targeted).
func (a *CWL2) Run(ctx context.Context, clf Classifier, b Batch, rng *rand.Rand) (*Outcome, error) {
	s, err := begin(ctx, clf, "cw", b, true, a.bounds)
	if err != nil {
		return nil, err
	}
	n, d, c := s.n, s.d, s.c
	half := (float64(s.bounds.Max) - float64(s.bounds.Min)) / 2
	mid := (float64(s.bounds.Max) + float64(s.bounds.Min)) / 2
	w0 := make([]float64, n*d)
	for k, v := range s.x {
		w0[k] = math.Atanh((float64(v) - mid) / half * 0.999999)
	}
	const (
		beta1, beta2, adamEps = 0.9, 0.999, 1e-8
	)
	mod := make([]float64, n*d)
	m1 := make([]float64, n*d)
	m2 := make([]float64, n*d)
	th := make([]float64, n*d) // tanh(w0 + mod)
	xn := make([]float32, n*d)
	best := append([]float32(nil), s.x...)
	bestL2 := make([]float64, n)
	cst := make([]float64, n)
	lower := make([]float64, n)
	upper := make([]float64, n)
	runOK := make([]bool, n)
	prev := make([]float64, n)
	l2 := make([]float64, n)
	done := make([]bool, n)
	for i := range cst {
		cst[i], upper[i], bestL2[i] = a.initialConst, 1e10, math.Inf(1)
	}
	var sub []int // samples of the current gradient call, for obj
	obj := a.weightedLoss(c, cst, &sub)
	check := max(a.steps/10, 1)
	for bs := 0; bs < a.binarySteps; bs++ {
		idx := s.attackable()
		if a.binarySteps >= 10 && bs == a.binarySteps-1 {
			for _, i := range idx {
				if upper[i] < 1e9 {
					cst[i] = upper[i]
				}
			}
		}
		for _, i := range idx {
			clear(mod[i*d : (i+1)*d])
			clear(m1[i*d : (i+1)*d])
			clear(m2[i*d : (i+1)*d])
			runOK[i], done[i], prev[i] = false, false, math.Inf(1)
		}
		for it := 0; it < a.steps; it++ {
			idx = filter(idx, func(i int) bool { return !done[i] })
			if len(idx) == 0 {
				break
			}
			tensor.ParallelFor(len(idx), parallelChunk(d), func(lo, hi int) {
				for _, i := range idx[lo:hi] {
					sq := 0.0
					for k := i * d; k < (i+1)*d; k++ {
						t := math.Tanh(w0[k] + mod[k])
						th[k] = t
						xn[k] = float32(mid + half*t)
						if xn[k] < s.bounds.Min {
							xn[k] = s.bounds.Min
						} else if xn[k] > s.bounds.Max {
							xn[k] = s.bounds.Max
						}
						df := float64(xn[k]) - float64(s.x[k])
						sq += df * df
					}
					l2[i] = sq
				}
			})
			sub = idx
			lg, g, loss, err := s.gradient(idx, s.gather(xn, idx), obj)
			if err != nil {
				return nil, err
			}
			for j, i := range idx {
				f := float64(loss[j])
				ok := f <= -a.confidence && s.succeeded(lg.F[j*c:(j+1)*c], i)
				if ok {
					runOK[i] = true
					if l2[i] < bestL2[i] {
						bestL2[i] = l2[i]
						copy(s.row(best, i), s.row(xn, i))
					}
				}
				if a.abortEarly && it%check == 0 {
					total := l2[i] + cst[i]*f
					if total > prev[i]*0.9999 {
						done[i] = true
					}
					prev[i] = total
				}
			}
			t := float64(it + 1)
			bc1, bc2 := 1-math.Pow(beta1, t), 1-math.Pow(beta2, t)
			tensor.ParallelFor(len(idx), parallelChunk(d), func(lo, hi int) {
				for j := lo; j < hi; j++ {
					i := idx[j]
					gj := g[j*d : (j+1)*d]
					for q := 0; q < d; q++ {
						k := i*d + q
						gx := 2*(float64(xn[k])-float64(s.x[k])) + float64(gj[q])
						gw := gx * (1 - th[k]*th[k]) * half
						m1[k] = beta1*m1[k] + (1-beta1)*gw
						m2[k] = beta2*m2[k] + (1-beta2)*gw*gw
						mod[k] -= a.lr * (m1[k] / bc1) / (math.Sqrt(m2[k]/bc2) + adamEps)
					}
				}
			})
		}
		for _, i := range s.attackable() {
			searchConst(i, runOK[i], cst, lower, upper)
		}
	}
	return s.finish(best, a.Norm(), a.eps)
}

func init() {
	mustRegister("cw", factoryFor("Carlini & Wagner L2 attack with binary search over c (Carlini & Wagner 2017)", func() configurable { return &CWL2{} }))
}
