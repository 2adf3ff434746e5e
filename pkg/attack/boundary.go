package attack

import (
	"context"
	"math"
	"math/rand/v2"
)

// Boundary is the Boundary Attack of Brendel, Rauber & Bethge,
// "Decision-Based Adversarial Attacks: Reliable Attacks Against Black-Box
// Machine Learning Models" (ICLR 2018, Sec. 3, Alg. 1), as ART implements
// it. From an adversarial starting point x̃ it alternates
//
//   - an orthogonal (spherical) step: sample_size candidates x̃ + η, η a
//     Gaussian direction of length δ·‖x − x̃‖₂ made orthogonal to x − x̃
//     and projected back onto the sphere around x (Sec. 3.2 (i)–(ii));
//   - a step toward x: each adversarial candidate moves by the fraction ε
//     of its distance to x (Sec. 3.2 (iii)); the closest adversarial one
//     becomes x̃.
//
// Step sizes adapt as in Sec. 3.3: when fewer than 20% of a trial's
// candidates are adversarial the step shrinks by step_adapt, when more
// than 50% are it grows by 1/step_adapt (δ from the orthogonal trials, ε
// from the toward trials). A sample stops after num_trial failed trials in
// a row, or when its budget cannot pay another trial. Starting points are
// found as HopSkipJump's (init=noise: uniform noise reaching the goal;
// init=batch: the nearest batch sample reaching it, else noise, which makes
// a sample's outcome depend on its batch).
//
// It is a minimal-perturbation attack in L2: XAdv is the closest
// adversarial point found (Norm none, Eps 0); with eps > 0, success means
// within eps (one query is kept back to check the point projected onto the
// ball when it is not).
//
// Defaults (ART's): delta=0.01, step=0.01, step_adapt=0.667, num_trial=25,
// sample_size=20, init_size=100; max_queries=1000 (short enough for a CI
// run; the attack converges over tens of thousands), init=noise, eps=0,
// clip range [0, 1].
type Boundary struct {
	ball
	maxQueries int
	delta      float64
	step       float64
	stepAdapt  float64
	numTrial   int
	sampleSize int
	initSize   int
	init       string
}

func (a *Boundary) bind() *binder {
	b := newBinder("boundary")
	b.float("delta", &a.delta, 0.01, "", "initial orthogonal step, relative to the distance to x")
	b.float("step", &a.step, 0.01, "", "initial step toward x, as a fraction of the distance")
	b.float("step_adapt", &a.stepAdapt, 0.667, "", "factor by which step sizes shrink (or 1/factor grow)")
	b.int("num_trial", &a.numTrial, 25, "", "failed trials in a row before a sample stops")
	b.int("sample_size", &a.sampleSize, 20, "", "candidates (queries) per orthogonal trial")
	b.int("max_queries", &a.maxQueries, 1000, "", "queries per sample, the clean check included")
	b.int("init_size", &a.initSize, 100, "", "random-noise queries spent looking for a starting point")
	b.enum("init", &a.init, "noise", []string{"noise", "batch"}, "starting point: uniform noise reaching the goal; or the nearest batch sample reaching it, else noise (depends on the batch)")
	b.float("eps", &a.eps, 0, "0 (unbounded)", "if positive, success means within eps (L2) of x")
	b.bounds(&a.bounds)
	return b
}

func (a *Boundary) validate() error {
	a.norm = L2
	if err := a.ball.validate("boundary", false); err != nil {
		return err
	}
	if !(a.delta > 0) {
		return paramErr("boundary", "delta", a.delta, "a positive number")
	}
	if !(a.step > 0 && a.step < 1) {
		return paramErr("boundary", "step", a.step, "a number in (0, 1)")
	}
	if !(a.stepAdapt > 0 && a.stepAdapt < 1) {
		return paramErr("boundary", "step_adapt", a.stepAdapt, "a number in (0, 1)")
	}
	for _, p := range []struct {
		k string
		v int
	}{{"num_trial", a.numTrial}, {"sample_size", a.sampleSize}, {"init_size", a.initSize}} {
		if err := positiveInt("boundary", p.k, p.v); err != nil {
			return err
		}
	}
	return checkMaxQueries("boundary", a.maxQueries)
}

// Name returns "boundary".
func (a *Boundary) Name() string { return "boundary" }

// Params returns the resolved parameters.
func (a *Boundary) Params() map[string]any { return a.bind().values() }

// Norm returns L2 when eps is set, NormNone otherwise.
func (a *Boundary) Norm() Norm { return a.boundedNorm() }

// DecisionBased returns true: the Boundary Attack needs top labels only.
func (a *Boundary) DecisionBased() bool { return true }

// MaxQueries returns the per-sample query budget.
func (a *Boundary) MaxQueries() int { return a.maxQueries }

// Run attacks a batch through a label oracle over clf.
func (a *Boundary) Run(ctx context.Context, clf Classifier, b Batch, rng *rand.Rand) (*Outcome, error) {
	return a.RunOracle(ctx, NewLabelOracle(clf, a.maxQueries), b, rng)
}

// RunOracle attacks a batch through a label oracle.
func (a *Boundary) RunOracle(ctx context.Context, o LabelOracle, b Batch, rng *rand.Rand) (*Outcome, error) {
	s, err := beginBB(ctx, o, "boundary", b, false, a.maxQueries, a.bounds)
	if err != nil {
		return nil, err
	}
	rs := newStreams(rng, b)
	n, d := s.n, s.d
	reserve := 0
	if a.eps > 0 {
		reserve = 1
	}
	avail := func(i int) int { return s.left(i) - reserve }
	rows := maxQueryRows(d)
	k := min(a.sampleSize, rows)
	ok := make([]bool, max(n, rows))
	cur := append([]float32(nil), s.x...)
	idx, err := startPoints(s, rs, a.init, a.initSize, reserve, L2, cur, ok)
	if err != nil {
		return nil, err
	}
	bestDist := make([]float64, n)
	for i := range bestDist {
		bestDist[i] = math.Inf(1)
	}
	record := func(i int) {
		if dd := L2Dist(s.row(cur, i), s.row(s.x, i)); dd < bestDist[i] {
			bestDist[i] = dd
			copy(s.row(s.best, i), s.row(cur, i))
			s.fooled[i] = true
		}
	}
	for _, i := range idx {
		record(i)
	}
	sdelta, sstep := make([]float64, n), make([]float64, n)
	trial := make([]int, n)
	toward := make([]bool, n)
	nAdv := make([]int, n)
	advs := make([]float32, n*k*d) // adversarial orthogonal candidates per sample
	for _, i := range idx {
		sdelta[i], sstep[i] = a.delta, a.step
	}
	eta := make([]float64, d)
	hyp := func(i int) float64 { return math.Sqrt(1 + sdelta[i]*sdelta[i]) }
	adapt := func(v *float64, succ, tot int) {
		r := float64(succ) / float64(tot)
		if r < 0.2 {
			*v *= a.stepAdapt
		} else if r > 0.5 {
			*v /= a.stepAdapt
		}
	}
	for {
		if err := s.ctx.Err(); err != nil {
			return nil, err
		}
		idx = filter(idx, func(i int) bool { return trial[i] < a.numTrial && avail(i) >= 1 })
		if len(idx) == 0 {
			break
		}
		// One trial per sample, in groups of at most rows candidates.
		for g0 := 0; g0 < len(idx); {
			var ids []int
			g1 := g0
			for ; g1 < len(idx); g1++ {
				i := idx[g1]
				m := min(k, avail(i))
				if toward[i] {
					m = min(nAdv[i], avail(i))
				}
				if len(ids)+m > rows {
					break
				}
				for e := 0; e < m; e++ {
					ids = append(ids, i)
				}
			}
			xs := s.rows(len(ids))
			for r := 0; r < len(ids); {
				i := ids[r]
				xi, ci := s.row(s.x, i), s.row(cur, i)
				for e := 0; r < len(ids) && ids[r] == i; e, r = e+1, r+1 {
					row := xs[r*d : (r+1)*d]
					if toward[i] {
						adv := advs[(i*k+e)*d : (i*k+e+1)*d]
						for q, v := range adv {
							row[q] = v + float32(sstep[i])*(xi[q]-v)
						}
						Clip(row, s.bounds)
						continue
					}
					// Orthogonal step on the sphere around x.
					dist := L2Dist(ci, xi)
					gn := 0.0
					for q := range eta {
						eta[q] = rs.at(i).NormFloat64()
						gn += eta[q] * eta[q]
					}
					f := sdelta[i] * dist / math.Max(math.Sqrt(gn), 1e-30)
					dot := 0.0
					for q := range eta {
						eta[q] *= f
						dot += eta[q] * (float64(xi[q]) - float64(ci[q])) / math.Max(dist, 1e-30)
					}
					h := hyp(i)
					for q := range eta {
						dir := (float64(xi[q]) - float64(ci[q])) / math.Max(dist, 1e-30)
						p := eta[q] - dot*dir
						row[q] = float32(float64(ci[q]) + ((1-h)*(float64(ci[q])-float64(xi[q]))+p)/h)
					}
					Clip(row, s.bounds)
				}
			}
			if err := s.decide(ids, xs, ok); err != nil {
				return nil, err
			}
			for r := 0; r < len(ids); {
				i := ids[r]
				r0 := r
				for r < len(ids) && ids[r] == i {
					r++
				}
				succ := 0
				for q := r0; q < r; q++ {
					if ok[q] {
						succ++
					}
				}
				if !toward[i] {
					adapt(&sdelta[i], succ, r-r0)
					if succ == 0 {
						trial[i]++
						continue
					}
					nAdv[i] = 0
					for q := r0; q < r; q++ {
						if ok[q] {
							copy(advs[(i*k+nAdv[i])*d:(i*k+nAdv[i]+1)*d], xs[q*d:(q+1)*d])
							nAdv[i]++
						}
					}
					toward[i], trial[i] = true, 0
					continue
				}
				adapt(&sstep[i], succ, r-r0)
				var pick []float32
				if succ == 0 {
					trial[i]++
					if trial[i] < a.numTrial {
						continue
					}
					pick = nearest(advs[i*k*d:(i*k+nAdv[i])*d], s.row(s.x, i), nil, d)
				} else {
					pick = nearest(xs[r0*d:r*d], s.row(s.x, i), ok[r0:r], d)
					toward[i], trial[i] = false, 0
				}
				copy(s.row(cur, i), pick)
				record(i)
			}
			g0 = g1
			if len(ids) == 0 {
				break
			}
		}
	}
	return s.finish(a.Norm(), a.eps)
}

// nearest returns the row of rows (each d long) closest to x in L2 among
// those with keep true (all when keep is nil).
func nearest(rows, x []float32, keep []bool, d int) []float32 {
	var best []float32
	bd := math.Inf(1)
	for j := 0; j*d < len(rows); j++ {
		if keep != nil && !keep[j] {
			continue
		}
		r := rows[j*d : (j+1)*d]
		if dd := L2Dist(r, x); dd < bd {
			best, bd = r, dd
		}
	}
	return best
}

func init() {
	mustRegister("boundary", factoryFor("Boundary Attack: decision-based random walk along the boundary (Brendel et al. 2018)", func() configurable { return &Boundary{} }))
}
