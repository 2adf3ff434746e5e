package attack

import (
	"context"
	"math"
	"math/rand/v2"

	"github.com/advtest/advtest/pkg/tensor"
)

// LBFGS is the box-constrained L-BFGS attack of Szegedy, Zaremba,
// Sutskever, Bruna, Erhan, Goodfellow & Fergus, "Intriguing properties of
// neural networks" (ICLR 2014, Sec. 4.1): for a target class t it
// minimises
//
//	c·‖r‖₂² + CE(x + r, t)   subject to x + r in the clip range
//
// with a projected L-BFGS (memory 10, backtracking Armijo line search on
// the projected path, gradients zeroed on active bounds), and searches c
// per sample for the largest value whose minimiser still reaches the goal
// (the paper's "line-search over c": the heavier the distance term, the
// smaller r): c grows ×10 while runs succeed, then is bisected. Every
// evaluated point that reaches the goal is a candidate; the one closest to
// x in L2 is kept.
//
// Untargeted (no batch targets), t is the class with the second-largest
// clean logit and any misclassification succeeds.
//
// Defaults: initial_const=0.01, search_steps=10, max_iter=100 L-BFGS
// iterations per c, memory 10, eps=0 (unbounded; a positive eps projects
// the result onto the L2 ball), clip range [0, 1].
type LBFGS struct {
	ball
	initialConst float64
	searchSteps  int
	steps        int
}

// lbfgsMemory is the number of correction pairs L-BFGS keeps.
const lbfgsMemory = 10

func (a *LBFGS) bind() *binder {
	b := newBinder("lbfgs")
	b.float("initial_const", &a.initialConst, 0.01, "", "initial weight c of the distance term")
	b.int("search_steps", &a.searchSteps, 10, "", "runs of the search over c")
	b.int("max_iter", &a.steps, 100, "", "L-BFGS iterations per value of c")
	b.float("eps", &a.eps, 0, "0 (unbounded)", "if positive, project the result onto the L2 ball of this radius")
	b.bounds(&a.bounds)
	return b
}

func (a *LBFGS) validate() error {
	a.norm = L2
	if err := a.ball.validate("lbfgs", false); err != nil {
		return err
	}
	if !(a.initialConst > 0) {
		return paramErr("lbfgs", "initial_const", a.initialConst, "a positive number")
	}
	if err := positiveInt("lbfgs", "search_steps", a.searchSteps); err != nil {
		return err
	}
	return positiveInt("lbfgs", "max_iter", a.steps)
}

// Name returns "lbfgs".
func (a *LBFGS) Name() string { return "lbfgs" }

// Norm returns L2 when eps bounds the result, else NormNone.
func (a *LBFGS) Norm() Norm { return a.boundedNorm() }

// Params returns the resolved parameters.
func (a *LBFGS) Params() map[string]any { return a.bind().values() }

// lbfgsState is the per-sample state of the batched projected L-BFGS.
type lbfgsState struct {
	x, g, trial, dir []float32 // current point, its gradient, trial point, direction (n*d)
	f                []float64 // objective at x
	alpha            []float64 // current line-search step
	tries            []int     // line-search halvings so far
	iters            []int     // accepted iterations
	sHist, yHist     []float32 // n*m*d correction pairs
	rho              []float64 // n*m
	hLen, hPos       []int
	done             []bool
	fresh            []bool // x not yet evaluated (start of a run)
}

// Run attacks a batch (targeted, or untargeted via the runner-up class).
func (a *LBFGS) Run(ctx context.Context, clf Classifier, b Batch, rng *rand.Rand) (*Outcome, error) {
	s, err := begin(ctx, clf, "lbfgs", b, true, a.bounds)
	if err != nil {
		return nil, err
	}
	n, d, c, m := s.n, s.d, s.c, lbfgsMemory
	tg := targetsOrRunnerUp(s)
	st := &lbfgsState{
		x: make([]float32, n*d), g: make([]float32, n*d), trial: make([]float32, n*d), dir: make([]float32, n*d),
		f: make([]float64, n), alpha: make([]float64, n), tries: make([]int, n), iters: make([]int, n),
		sHist: make([]float32, n*m*d), yHist: make([]float32, n*m*d), rho: make([]float64, n*m),
		hLen: make([]int, n), hPos: make([]int, n), done: make([]bool, n), fresh: make([]bool, n),
	}
	best := append([]float32(nil), s.x...)
	bestL2 := make([]float64, n)
	cst := make([]float64, n)
	lower := make([]float64, n)
	upper := make([]float64, n)
	runOK := make([]bool, n)
	for i := range cst {
		cst[i], upper[i], bestL2[i] = a.initialConst, math.Inf(1), math.Inf(1)
	}
	obj := func(grad, loss []float32, logits *tensor.Tensor, labels, targets []int) {
		CrossEntropy(grad, loss, logits, targets)
	}
	alpha := make([]float64, m)
	for step := 0; step < a.searchSteps; step++ {
		idx := s.attackable()
		for _, i := range idx {
			copy(s.row(st.trial, i), s.row(s.x, i))
			st.hLen[i], st.hPos[i], st.iters[i], st.tries[i] = 0, 0, 0, 0
			st.done[i], st.fresh[i], runOK[i] = false, true, false
		}
		for round := 0; ; round++ {
			idx = filter(idx, func(i int) bool { return !st.done[i] })
			if len(idx) == 0 {
				break
			}
			lg, g, loss, err := s.gradientWith(idx, s.gather(st.trial, idx), obj, tg)
			if err != nil {
				return nil, err
			}
			for j, i := range idx {
				ti, xi := s.row(st.trial, i), s.row(s.x, i)
				gj := g[j*d : (j+1)*d]
				r2 := 0.0
				for k, v := range ti {
					dv := float64(v) - float64(xi[k])
					r2 += dv * dv
					gj[k] += float32(2 * cst[i] * dv)
				}
				f := cst[i]*r2 + float64(loss[j])
				if s.succeeded(lg.F[j*c:(j+1)*c], i) {
					runOK[i] = true
					if r2 < bestL2[i] {
						bestL2[i] = r2
						copy(s.row(best, i), ti)
					}
				}
				a.advance(s, st, i, gj, f, alpha)
			}
		}
		for _, i := range s.attackable() {
			// Success: the distance weight can grow; failure: shrink it.
			if runOK[i] {
				lower[i] = cst[i]
				if math.IsInf(upper[i], 1) {
					cst[i] *= 10
				} else {
					cst[i] = (lower[i] + upper[i]) / 2
				}
			} else {
				upper[i] = cst[i]
				cst[i] = (lower[i] + upper[i]) / 2
			}
		}
	}
	return s.finish(best, a.Norm(), a.eps)
}

// advance consumes the evaluation (f, g) of sample i's trial point: it
// accepts or shrinks the line search step, and on acceptance updates the
// L-BFGS memory and computes the next trial point.
func (a *LBFGS) advance(s *session, st *lbfgsState, i int, g []float32, f float64, alpha []float64) {
	d, m := s.d, lbfgsMemory
	xi, gi, ti, di := s.row(st.x, i), s.row(st.g, i), s.row(st.trial, i), s.row(st.dir, i)
	if !st.fresh[i] {
		// Armijo test on the projected step.
		dec := 0.0
		for k := range xi {
			dec += float64(gi[k]) * (float64(ti[k]) - float64(xi[k]))
		}
		if !(f <= st.f[i]+1e-4*dec) {
			st.tries[i]++
			if st.tries[i] > 20 {
				st.done[i] = true
				return
			}
			st.alpha[i] /= 2
			a.trialPoint(s, st, i)
			return
		}
		// Accept: store the correction pair.
		p := st.hPos[i]
		sv := st.sHist[(i*m+p)*d : (i*m+p+1)*d]
		yv := st.yHist[(i*m+p)*d : (i*m+p+1)*d]
		sy, step := 0.0, 0.0
		for k := range xi {
			sv[k] = ti[k] - xi[k]
			yv[k] = g[k] - gi[k]
			sy += float64(sv[k]) * float64(yv[k])
			step = math.Max(step, math.Abs(float64(sv[k])))
		}
		if sy > 1e-10 {
			st.rho[i*m+p] = 1 / sy
			st.hPos[i] = (p + 1) % m
			st.hLen[i] = min(st.hLen[i]+1, m)
		}
		st.iters[i]++
		conv := step < 1e-7 || math.Abs(st.f[i]-f) <= 1e-10*(1+math.Abs(f))
		if st.iters[i] >= a.steps || conv {
			st.done[i] = true
			return
		}
	}
	st.fresh[i] = false
	copy(xi, ti)
	copy(gi, g)
	st.f[i] = f
	// Projected gradient: components blocked by an active bound are zero.
	lo, hi := s.bounds.Min, s.bounds.Max
	for k := range di {
		v := gi[k]
		if (xi[k] <= lo && v > 0) || (xi[k] >= hi && v < 0) {
			v = 0
		}
		di[k] = v
	}
	// Two-loop recursion: di = H·pg.
	hl := st.hLen[i]
	for q := 0; q < hl; q++ {
		p := (st.hPos[i] - 1 - q + 2*m) % m
		sv := st.sHist[(i*m+p)*d : (i*m+p+1)*d]
		yv := st.yHist[(i*m+p)*d : (i*m+p+1)*d]
		dot := 0.0
		for k := range di {
			dot += float64(sv[k]) * float64(di[k])
		}
		alpha[q] = st.rho[i*m+p] * dot
		for k := range di {
			di[k] -= float32(alpha[q]) * yv[k]
		}
	}
	if hl > 0 {
		p := (st.hPos[i] - 1 + m) % m
		yv := st.yHist[(i*m+p)*d : (i*m+p+1)*d]
		yy := 0.0
		for k := range yv {
			yy += float64(yv[k]) * float64(yv[k])
		}
		gam := 1 / (st.rho[i*m+p] * yy)
		for k := range di {
			di[k] *= float32(gam)
		}
	}
	for q := hl - 1; q >= 0; q-- {
		p := (st.hPos[i] - 1 - q + 2*m) % m
		sv := st.sHist[(i*m+p)*d : (i*m+p+1)*d]
		yv := st.yHist[(i*m+p)*d : (i*m+p+1)*d]
		dot := 0.0
		for k := range di {
			dot += float64(yv[k]) * float64(di[k])
		}
		beta := st.rho[i*m+p] * dot
		for k := range di {
			di[k] += float32(alpha[q]-beta) * sv[k]
		}
	}
	// Descent direction −di, with blocked components removed; fall back to
	// steepest descent when it is not a descent direction.
	dd, gn := 0.0, 0.0
	for k := range di {
		v := -di[k]
		if (xi[k] <= lo && v < 0) || (xi[k] >= hi && v > 0) {
			v = 0
		}
		di[k] = v
		dd += float64(v) * float64(gi[k])
		gn += float64(gi[k]) * float64(gi[k])
	}
	if !(dd < 0) {
		st.hLen[i], st.hPos[i] = 0, 0
		for k := range di {
			v := -gi[k]
			if (xi[k] <= lo && v < 0) || (xi[k] >= hi && v > 0) {
				v = 0
			}
			di[k] = v
		}
		hl = 0
	}
	st.alpha[i] = 1
	if hl == 0 && gn > 0 {
		st.alpha[i] = math.Min(1, 0.1/math.Sqrt(gn))
	}
	st.tries[i] = 0
	a.trialPoint(s, st, i)
}

// trialPoint sets trial = clip(x + alpha·dir).
func (a *LBFGS) trialPoint(s *session, st *lbfgsState, i int) {
	xi, ti, di := s.row(st.x, i), s.row(st.trial, i), s.row(st.dir, i)
	al := st.alpha[i]
	for k := range ti {
		ti[k] = float32(float64(xi[k]) + al*float64(di[k]))
	}
	Clip(ti, s.bounds)
}

func init() {
	mustRegister("lbfgs", factoryFor("Box-constrained L-BFGS attack with a search over c (Szegedy et al. 2014)", func() configurable { return &LBFGS{} }))
}
