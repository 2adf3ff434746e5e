package attack

import (
	"context"
	"math"
	"math/rand/v2"
)

// HopSkipJump is the decision-based attack of Chen, Jordan & Wainwright,
// "HopSkipJumpAttack: A Query-Efficient Decision-Based Attack" (IEEE S&P
// 2020, Alg. 1–2, as in the authors' code and ART). From an adversarial
// starting point it repeats:
//
//  1. binary search along the line to x (L2: blends (1−α)x + αx̃; Linf:
//     clips to the α-box around x) down to threshold θ = γ/d^{3/2} (L2) or
//     γ/d² (Linf) (Sec. 3.2);
//  2. gradient-direction estimation at the boundary point from B_t =
//     min(B_0·√t, B_max) random unit directions (L2: Gaussian, Linf:
//     uniform) at radius δ_t (0.1·(max−min) at t = 1, then √d·θ·dist (L2)
//     or d·θ·dist (Linf)), with the baseline-corrected estimator of eq. 16;
//  3. a geometric step-size search: ξ = dist/√t, halved until x̃ + ξ·v is
//     adversarial (v the estimate, sign(v) for Linf).
//
// It starts from uniform noise that reaches the goal, found within
// init_size queries (init=noise, as ART), or, with init=batch, from the
// nearest batch sample whose clean label already reaches the goal (a
// sample of another class, or of the target class, at no query cost),
// else noise. init=batch is cheaper and helps targeted runs, but a
// sample's outcome then depends on the other samples of its batch, so it
// changes with the batch size and with sharding; init=noise draws from the
// sample's own generator and does not. Every query is charged to its sample's budget; the
// search stops when the budget cannot pay another iteration.
//
// It is a minimal-perturbation attack: XAdv is the closest adversarial
// point found (Norm none, Eps 0). With eps > 0, success means that point
// lies within eps of x in norm; one query is kept back to check the point
// projected onto the ball when it does not.
//
// Defaults: norm=l2, gamma=1, init_evals=100, max_evals=10000, max_iter=50
// and init_size=100 (ART's defaults), max_queries=1000 (short enough for a
// CI run; the perturbation keeps shrinking with more), init=noise, eps=0,
// clip range [0, 1].
type HopSkipJump struct {
	ball
	maxQueries int
	maxIter    int
	gamma      float64
	initEvals  int
	maxEvals   int
	initSize   int
	init       string
}

func (a *HopSkipJump) bind() *binder {
	b := newBinder("hsja")
	b.norm("norm", &a.norm, L2, []Norm{L2, Linf}, "norm the perturbation is minimised in")
	b.float("eps", &a.eps, 0, "0 (unbounded)", "if positive, success means within eps of x")
	b.int("max_queries", &a.maxQueries, 1000, "", "queries per sample, the clean check included")
	b.int("max_iter", &a.maxIter, 50, "", "most iterations (estimate, step, binary search)")
	b.float("gamma", &a.gamma, 1, "", "binary-search threshold factor θ = γ/d^{3/2} (L2) or γ/d² (Linf)")
	b.int("init_evals", &a.initEvals, 100, "", "directions of the first gradient estimate (B_0)")
	b.int("max_evals", &a.maxEvals, 10000, "", "most directions of one gradient estimate")
	b.int("init_size", &a.initSize, 100, "", "random-noise queries spent looking for a starting point")
	b.enum("init", &a.init, "noise", []string{"noise", "batch"}, "starting point: uniform noise reaching the goal; or the nearest batch sample reaching it, else noise (depends on the batch)")
	b.bounds(&a.bounds)
	return b
}

func (a *HopSkipJump) validate() error {
	if err := a.ball.validate("hsja", false); err != nil {
		return err
	}
	if !(a.gamma > 0) {
		return paramErr("hsja", "gamma", a.gamma, "a positive number")
	}
	for _, p := range []struct {
		k string
		v int
	}{{"max_iter", a.maxIter}, {"init_evals", a.initEvals}, {"max_evals", a.maxEvals}, {"init_size", a.initSize}} {
		if err := positiveInt("hsja", p.k, p.v); err != nil {
			return err
		}
	}
	return checkMaxQueries("hsja", a.maxQueries)
}

// Name returns "hsja".
func (a *HopSkipJump) Name() string { return "hsja" }

// Params returns the resolved parameters.
func (a *HopSkipJump) Params() map[string]any { return a.bind().values() }

// Norm returns the norm when eps is set, NormNone otherwise.
func (a *HopSkipJump) Norm() Norm { return a.boundedNorm() }

// DecisionBased returns true: HopSkipJump needs top labels only.
func (a *HopSkipJump) DecisionBased() bool { return true }

// MaxQueries returns the per-sample query budget.
func (a *HopSkipJump) MaxQueries() int { return a.maxQueries }

// Run attacks a batch through a label oracle over clf.
func (a *HopSkipJump) Run(ctx context.Context, clf Classifier, b Batch, rng *rand.Rand) (*Outcome, error) {
	return a.RunOracle(ctx, NewLabelOracle(clf, a.maxQueries), b, rng)
}

// dist returns ‖a − b‖ in the attack's norm.
func (a *HopSkipJump) dist(p, q []float32) float64 {
	if a.norm == Linf {
		return LinfDist(p, q)
	}
	return L2Dist(p, q)
}

// RunOracle attacks a batch through a label oracle.
func (a *HopSkipJump) RunOracle(ctx context.Context, o LabelOracle, b Batch, rng *rand.Rand) (*Outcome, error) {
	s, err := beginBB(ctx, o, "hsja", b, false, a.maxQueries, a.bounds)
	if err != nil {
		return nil, err
	}
	st := &hsjaState{a: a, s: s, rs: newStreams(rng, b)}
	if err := st.run(); err != nil {
		return nil, err
	}
	return s.finish(a.Norm(), a.eps)
}

// hsjaState is one run's per-sample state.
type hsjaState struct {
	a  *HopSkipJump
	s  *bbSession
	rs *streams

	pt       []float32 // current boundary point per sample, n*d
	dist     []float64 // its distance to x
	bestDist []float64
	reserve  int
	theta    float64
	ok       []bool
	upd      []float64 // update direction per sample, n*d
}

// avail returns the queries sample i may spend on the search.
func (h *hsjaState) avail(i int) int { return h.s.left(i) - h.reserve }

func (h *hsjaState) run() error {
	a, s := h.a, h.s
	n, d := s.n, s.d
	h.pt = append([]float32(nil), s.x...)
	h.dist = make([]float64, n)
	h.bestDist = make([]float64, n)
	h.upd = make([]float64, n*d)
	h.ok = make([]bool, max(n, maxQueryRows(d)))
	if a.eps > 0 {
		h.reserve = 1
	}
	fd := float64(d)
	if a.norm == Linf {
		h.theta = a.gamma / (fd * fd)
	} else {
		h.theta = a.gamma / (fd * math.Sqrt(fd))
	}
	for i := range h.bestDist {
		h.bestDist[i] = math.Inf(1)
	}
	idx, err := startPoints(s, h.rs, a.init, a.initSize, h.reserve, a.norm, h.pt, h.ok)
	if err != nil {
		return err
	}
	if err := h.binarySearch(idx); err != nil {
		return err
	}
	h.record(idx)
	bsSteps := int(math.Ceil(math.Log2(math.Max(1, float64(s.bounds.Max-s.bounds.Min))/h.theta))) + 2
	for t := 1; t <= a.maxIter; t++ {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		evals := make(map[int]int, len(idx))
		idx = filter(idx, func(i int) bool {
			e := min(int(float64(a.initEvals)*math.Sqrt(float64(t))), a.maxEvals, h.avail(i)-bsSteps-1)
			evals[i] = e
			return e >= 1
		})
		if len(idx) == 0 {
			break
		}
		if err := h.estimate(idx, t, evals); err != nil {
			return err
		}
		if err := h.stepSearch(idx, t); err != nil {
			return err
		}
		if err := h.binarySearch(idx); err != nil {
			return err
		}
		h.record(idx)
	}
	return nil
}

// record keeps each sample's boundary point when it is the closest yet.
func (h *hsjaState) record(idx []int) {
	s := h.s
	for _, i := range idx {
		if h.dist[i] < h.bestDist[i] {
			h.bestDist[i] = h.dist[i]
			copy(s.row(s.best, i), s.row(h.pt, i))
			s.fooled[i] = true
		}
	}
}

// startPoints writes into pt (n*d) an adversarial starting point for each
// attackable sample: with mode "batch" the nearest batch sample (in norm)
// whose clean label reaches the sample's goal, at no query cost; else
// uniform noise in the clip range, up to initSize queries per sample,
// leaving reserve+1 queries. It returns the samples that have one; ok is
// scratch of at least n entries.
func startPoints(s *bbSession, rs *streams, mode string, initSize, reserve int, norm Norm, pt []float32, ok []bool) ([]int, error) {
	d := s.d
	idx := s.attackable()
	has := make([]bool, s.n)
	if mode == "batch" {
		for _, i := range idx {
			bj, bd := -1, math.Inf(1)
			for j := 0; j < s.n; j++ {
				if j == i || !s.goal(s.pred[j], i) {
					continue
				}
				if dd := Dist(norm, s.row(s.x, j), s.row(s.x, i)); dd < bd {
					bj, bd = j, dd
				}
			}
			if bj >= 0 {
				copy(s.row(pt, i), s.row(s.x, bj))
				has[i] = true
			}
		}
	}
	lo, span := float64(s.bounds.Min), float64(s.bounds.Max-s.bounds.Min)
	for try := 0; try < initSize; try++ {
		if err := s.ctx.Err(); err != nil {
			return nil, err
		}
		todo := filter(append([]int(nil), idx...), func(i int) bool { return !has[i] && s.left(i)-reserve >= 2 })
		if len(todo) == 0 {
			break
		}
		xs := s.rows(len(todo))
		for j, i := range todo {
			r, rng := xs[j*d:(j+1)*d], rs.at(i)
			for k := range r {
				r[k] = float32(lo + span*rng.Float64())
			}
			Clip(r, s.bounds)
		}
		if err := s.decide(todo, xs, ok); err != nil {
			return nil, err
		}
		for j, i := range todo {
			if ok[j] {
				copy(s.row(pt, i), xs[j*d:(j+1)*d])
				has[i] = true
			}
		}
	}
	return filter(idx, func(i int) bool { return has[i] }), nil
}

// project writes into dst the point at parameter α between x and p: L2
// (1−α)x + αp, Linf p clipped to the α-box around x.
func (h *hsjaState) project(dst, x, p []float32, alpha float64) {
	if h.a.norm == Linf {
		for k, v := range p {
			xv := float64(x[k])
			dst[k] = float32(math.Min(math.Max(float64(v), xv-alpha), xv+alpha))
		}
		return
	}
	for k, v := range p {
		dst[k] = float32((1-alpha)*float64(x[k]) + alpha*float64(v))
	}
	Clip(dst, h.s.bounds)
}

// binarySearch moves each sample's point to the boundary along the line to
// x, keeping the adversarial side, and updates its distance.
func (h *hsjaState) binarySearch(idx []int) error {
	s := h.s
	d := s.d
	low := make([]float64, s.n)
	high := make([]float64, s.n)
	thr := make([]float64, s.n)
	for _, i := range idx {
		high[i] = 1
		thr[i] = h.theta
		if h.a.norm == Linf {
			high[i] = LinfDist(s.row(h.pt, i), s.row(s.x, i))
			thr[i] = math.Min(high[i]*h.theta, h.theta)
		}
	}
	act := append([]int(nil), idx...)
	for {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		act = filter(act, func(i int) bool { return (high[i]-low[i]) > thr[i] && h.avail(i) >= 1 })
		if len(act) == 0 {
			break
		}
		xs := s.rows(len(act))
		for j, i := range act {
			h.project(xs[j*d:(j+1)*d], s.row(s.x, i), s.row(h.pt, i), (low[i]+high[i])/2)
		}
		if err := s.decide(act, xs, h.ok); err != nil {
			return err
		}
		for j, i := range act {
			if h.ok[j] {
				high[i] = (low[i] + high[i]) / 2
			} else {
				low[i] = (low[i] + high[i]) / 2
			}
		}
	}
	tmp := make([]float32, d)
	for _, i := range idx {
		full := 1.0
		if h.a.norm == Linf {
			full = LinfDist(s.row(h.pt, i), s.row(s.x, i))
		}
		if high[i] != full {
			h.project(tmp, s.row(s.x, i), s.row(h.pt, i), high[i])
			copy(s.row(h.pt, i), tmp)
		}
		h.dist[i] = h.a.dist(s.row(h.pt, i), s.row(s.x, i))
	}
	return nil
}

// estimate fills h.upd with each sample's estimated gradient direction at
// its boundary point from evals[i] random directions at radius δ_t
// (normalised in L2; sign for Linf).
func (h *hsjaState) estimate(idx []int, t int, evals map[int]int) error {
	s, a := h.s, h.a
	d := s.d
	sumF := make([]float64, s.n*d) // Σ f·u
	sumU := make([]float64, s.n*d) // Σ u
	succ := make([]int, s.n)
	delta := make([]float64, s.n)
	for _, i := range idx {
		switch {
		case t == 1:
			delta[i] = 0.1 * float64(s.bounds.Max-s.bounds.Min)
		case a.norm == Linf:
			delta[i] = float64(d) * h.theta * h.dist[i]
		default:
			delta[i] = math.Sqrt(float64(d)) * h.theta * h.dist[i]
		}
		delta[i] = math.Max(delta[i], 1e-12)
	}
	rows := maxQueryRows(d)
	ids := make([]int, 0, rows)
	xs := s.rows(rows)
	flush := func() error {
		if len(ids) == 0 {
			return nil
		}
		if err := s.decide(ids, xs[:len(ids)*d], h.ok); err != nil {
			return err
		}
		for j, i := range ids {
			f := -1.0
			if h.ok[j] {
				f = 1
				succ[i]++
			}
			r, p := xs[j*d:(j+1)*d], s.row(h.pt, i)
			sf, su := sumF[i*d:(i+1)*d], sumU[i*d:(i+1)*d]
			inv := 1 / delta[i]
			for k, v := range r {
				u := (float64(v) - float64(p[k])) * inv
				sf[k] += f * u
				su[k] += u
			}
		}
		ids = ids[:0]
		return nil
	}
	for _, i := range idx {
		p := s.row(h.pt, i)
		for e := 0; e < evals[i]; e++ {
			if len(ids) == rows {
				if err := flush(); err != nil {
					return err
				}
			}
			r, rng := xs[len(ids)*d:(len(ids)+1)*d], h.rs.at(i)
			nrm := 0.0
			for k := range r {
				var v float64
				if a.norm == Linf {
					v = 2*rng.Float64() - 1
				} else {
					v = rng.NormFloat64()
				}
				r[k] = float32(v)
				nrm += v * v
			}
			f := delta[i] / math.Max(math.Sqrt(nrm), 1e-30)
			for k, v := range r {
				r[k] = float32(float64(p[k]) + f*float64(v))
			}
			Clip(r, s.bounds)
			ids = append(ids, i)
		}
	}
	if err := flush(); err != nil {
		return err
	}
	for _, i := range idx {
		m := float64(evals[i])
		g, sf, su := h.upd[i*d:(i+1)*d], sumF[i*d:(i+1)*d], sumU[i*d:(i+1)*d]
		mean := 2*float64(succ[i])/m - 1
		for k := range g {
			switch succ[i] {
			case evals[i]:
				g[k] = su[k] / m
			case 0:
				g[k] = -su[k] / m
			default:
				g[k] = (sf[k] - mean*su[k]) / m
			}
		}
		if a.norm == Linf {
			for k, v := range g {
				g[k] = float64(signf(float32(v)))
			}
		} else {
			normalize64(g)
		}
	}
	return nil
}

// stepSearch takes the geometric-progression step along each sample's
// update: ξ = dist/√t, halved until the point is adversarial.
func (h *hsjaState) stepSearch(idx []int, t int) error {
	s := h.s
	d := s.d
	xi := make([]float64, s.n)
	for _, i := range idx {
		xi[i] = h.dist[i] / math.Sqrt(float64(t))
	}
	act := append([]int(nil), idx...)
	for try := 0; try < 30 && len(act) > 0; try++ {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		act = filter(act, func(i int) bool { return h.avail(i) >= 1 })
		if len(act) == 0 {
			break
		}
		xs := s.rows(len(act))
		for j, i := range act {
			r, p, g := xs[j*d:(j+1)*d], s.row(h.pt, i), h.upd[i*d:(i+1)*d]
			for k, v := range p {
				r[k] = float32(float64(v) + xi[i]*g[k])
			}
			Clip(r, s.bounds)
		}
		if err := s.decide(act, xs, h.ok); err != nil {
			return err
		}
		k := 0
		for j, i := range act {
			if h.ok[j] {
				copy(s.row(h.pt, i), xs[j*d:(j+1)*d])
				continue
			}
			xi[i] /= 2
			act[k] = i
			k++
		}
		act = act[:k]
	}
	return nil
}

func init() {
	mustRegister("hsja", factoryFor("HopSkipJump: decision-based boundary search with gradient-direction estimates (Chen et al. 2020)", func() configurable { return &HopSkipJump{} }))
}
