package attack

import (
	"context"
	"math"
	"math/rand/v2"

	"github.com/advtest/advtest/pkg/tensor"
)

// FAB is the Fast Adaptive Boundary attack of Croce & Hein, "Minimally
// distorted adversarial examples with a fast adaptive boundary attack"
// (ICML 2020, Sec. 3, Algorithm 1), as implemented in the AutoAttack
// repository (fab_base.py). From x⁽⁰⁾ (the clean point, or a random point
// at distance min(‖best‖, eps)/2 on restarts) each iteration
//
//   - linearises the classifier at x⁽ᵏ⁾ and picks the class s whose
//     linearised decision hyperplane πₛ = {z : fₛ(x⁽ᵏ⁾) − f_y(x⁽ᵏ⁾) +
//     ⟨∇fₛ − ∇f_y, z − x⁽ᵏ⁾⟩ = 0} is nearest in the dual norm (untargeted;
//     FAB-T uses the target class);
//   - projects both x⁽ᵏ⁾ and the clean x onto πₛ inside the box (the
//     minimal-norm projection of Sec. 3.1, exact per norm: Linf, L2, L1),
//     giving steps δᵏ and δᵒʳⁱᵍ;
//   - moves to clip((1−α)(x⁽ᵏ⁾ + η·δᵏ) + α(x + η·δᵒʳⁱᵍ)), with
//     α = min(‖δᵏ‖/(‖δᵏ‖+‖δᵒʳⁱᵍ‖), α_max) biasing towards the clean point;
//   - if the new point is adversarial, records it when it is the closest
//     so far and backtracks: x⁽ᵏ⁺¹⁾ = x + β(x⁽ᵏ⁺¹⁾ − x).
//
// FAB minimises the norm of the perturbation; as in AutoAttack, a sample
// counts as fooled only if the closest adversarial point found lies within
// eps (its XAdv), and otherwise keeps the clean sample. The first run
// starts from x, each further restart from a random start, on the samples
// not yet fooled.
//
// Variants, by registry name:
//   - fab: untargeted; the class s is chosen among all classes, which
//     costs one gradient evaluation per class and iteration.
//   - fab-t: FAB-T, AutoAttack's targeted version: runs once per target
//     class, the classes ranked 2nd, 3rd, … by the clean logits
//     (n_targets of them), each on the samples not yet fooled; success is
//     any misclassification. One gradient evaluation per iteration.
//
// With batch targets both attack those targets (success = target reached).
//
// Defaults (the reference's FABAttack_PT and AutoAttack's standard
// version): steps (n_iter) = 100, restarts (n_restarts) = 1, alpha_max =
// 0.1, eta = 1.05, beta = 0.9, n_targets = 9 (fab-t); norm=linf, eps=0.3
// (used for success and as the random-restart radius), early_stop=true
// (stop refining a sample once a point within eps is found: the success
// rate is the same; set false to measure minimal norms), clip range [0, 1].
type FAB struct {
	ball
	name      string
	targetedT bool
	steps     int
	restarts  int
	nTargets  int
	alphaMax  float64
	eta       float64
	beta      float64
	earlyStop bool
}

func (a *FAB) bind() *binder {
	b := newBinder(a.name)
	b.norm("norm", &a.norm, Linf, []Norm{Linf, L2, L1}, "norm of the ball (and of the minimised perturbation)")
	b.float("eps", &a.eps, 0.3, "", "radius within which a found point counts as a success; random-restart radius")
	b.int("steps", &a.steps, 100, "", "iterations per run (n_iter)")
	b.int("restarts", &a.restarts, 1, "", "runs per sample (per target for fab-t); runs after the first start at random")
	bindRankedTargets(b, a.targetedT, &a.nTargets)
	b.float("alpha_max", &a.alphaMax, 0.1, "", "largest weight α of the step from the clean point")
	b.float("eta", &a.eta, 1.05, "", "overshoot η of the projection steps")
	b.float("beta", &a.beta, 0.9, "", "backtracking factor β towards the clean point after a success")
	b.bool("early_stop", &a.earlyStop, true, "stop refining a sample once a point within eps fools it")
	b.bounds(&a.bounds)
	return b
}

func (a *FAB) validate() error {
	if err := a.ball.validate(a.name, true); err != nil {
		return err
	}
	if err := positiveInt(a.name, "steps", a.steps); err != nil {
		return err
	}
	if err := positiveInt(a.name, "restarts", a.restarts); err != nil {
		return err
	}
	if err := validateRankedTargets(a.name, a.targetedT, a.nTargets); err != nil {
		return err
	}
	if !(a.alphaMax >= 0 && a.alphaMax <= 1) {
		return paramErr(a.name, "alpha_max", a.alphaMax, "a number in [0, 1]")
	}
	if !(a.eta >= 1) || math.IsInf(a.eta, 0) {
		return paramErr(a.name, "eta", a.eta, "a finite number ≥ 1")
	}
	if !(a.beta > 0 && a.beta <= 1) {
		return paramErr(a.name, "beta", a.beta, "a number in (0, 1]")
	}
	return nil
}

// Name returns the registry name: fab or fab-t.
func (a *FAB) Name() string { return a.name }

// Params returns the resolved parameters.
func (a *FAB) Params() map[string]any { return a.bind().values() }

// fabState holds the per-sample buffers of FAB runs.
type fabState struct {
	cur  []float32 // x⁽ᵏ⁾, n*d
	best []float32 // closest adversarial point of the current run
	res  []float64 // its distance (+Inf: none)
	w    []float64 // ∇fₛ − ∇f_y of the chosen class, n*d
	df   []float64 // fₛ − f_y of the chosen class
	dist []float64 // its linearised distance
}

// Run attacks a batch.
func (a *FAB) Run(ctx context.Context, clf Classifier, b Batch, rng *rand.Rand) (*Outcome, error) {
	s, err := begin(ctx, clf, a.name, b, true, a.bounds)
	if err != nil {
		return nil, err
	}
	rs := newStreams(rng, b)
	n, d := s.n, s.d
	st := &fabState{
		cur: make([]float32, n*d), best: make([]float32, n*d), res: make([]float64, n),
		w: make([]float64, n*d), df: make([]float64, n), dist: make([]float64, n),
	}
	xadv := append([]float32(nil), s.x...)
	fooled := make([]bool, n)
	todo := func() []int { return filter(s.attackable(), func(i int) bool { return !fooled[i] }) }
	runs := func(tg []int) error {
		for k := 0; k < a.restarts; k++ {
			if err := a.single(s, st, todo(), tg, k > 0, rs, xadv, fooled); err != nil {
				return err
			}
		}
		return nil
	}
	switch {
	case s.tgt != nil:
		err = runs(s.tgt)
	case a.targetedT:
		err = forRankedTargets(s, a.nTargets, runs)
	default:
		err = runs(nil)
	}
	if err != nil {
		return nil, err
	}
	return s.finish(xadv, a.norm, a.eps)
}

// diffObjective is fₜ − f_y with its gradient e_t − e_y (zero when t = y).
func diffObjective(grad, loss []float32, logits *tensor.Tensor, labels, targets []int) {
	n, c := rows(logits)
	for i := 0; i < n; i++ {
		g := grad[i*c : (i+1)*c]
		clear(g)
		y, t := labels[i], targets[i]
		loss[i] = logits.F[i*c+t] - logits.F[i*c+y]
		if t != y {
			g[t], g[y] = 1, -1
		}
	}
}

// dualNorm returns the norm dual to the attack's norm of v: L1 for Linf,
// L2 for L2, Linf for L1.
func dualNorm(norm Norm, v []float32) float64 {
	s := 0.0
	for _, e := range v {
		a := math.Abs(float64(e))
		switch norm {
		case Linf:
			s += a
		case L2:
			s += a * a
		default:
			s = math.Max(s, a)
		}
	}
	if norm == L2 {
		s = math.Sqrt(s)
	}
	return s
}

// linearise fills st.w, st.df and st.dist for samples idx at st.cur: the
// nearest linearised boundary among all classes (tg nil) or the one of
// class tg[i].
func (a *FAB) linearise(s *session, st *fabState, idx []int, tg []int) error {
	d := s.d
	for _, i := range idx {
		st.dist[i] = math.Inf(1)
	}
	classes := []int{-1}
	if tg == nil {
		classes = make([]int, s.c)
		for k := range classes {
			classes[k] = k
		}
	}
	cls := tg
	if tg == nil {
		cls = make([]int, s.n)
	}
	for _, k := range classes {
		if tg == nil {
			for _, i := range idx {
				cls[i] = k
			}
		}
		lg, g, _, err := s.gradientWith(idx, s.gather(st.cur, idx), diffObjective, cls)
		if err != nil {
			return err
		}
		for j, i := range idx {
			if cls[i] == s.y[i] {
				continue
			}
			z := lg.F[j*s.c : (j+1)*s.c]
			df := float64(z[cls[i]]) - float64(z[s.y[i]])
			gj := g[j*d : (j+1)*d]
			dist := math.Abs(df) / (1e-12 + dualNorm(a.norm, gj))
			if dist < st.dist[i] || math.IsInf(st.dist[i], 1) {
				st.dist[i] = dist
				st.df[i] = df
				wi := st.w[i*d : (i+1)*d]
				for q, v := range gj {
					wi[q] = float64(v)
				}
			}
		}
	}
	return nil
}

// norm64 returns the attack's norm of v.
func norm64(norm Norm, v []float64) float64 {
	s := 0.0
	for _, e := range v {
		a := math.Abs(e)
		switch norm {
		case Linf:
			s = math.Max(s, a)
		case L2:
			s += a * a
		default:
			s += a
		}
	}
	if norm == L2 {
		s = math.Sqrt(s)
	}
	return s
}

// randomStart puts row i of st.cur at x + r·t/‖t‖ (r = eps/2; t uniform in
// [−1, 1]^d for Linf, Gaussian for L2 and L1), clipped.
func (a *FAB) randomStart(s *session, st *fabState, i int, rs *streams) {
	rng := rs.at(i)
	ci, x0 := s.row(st.cur, i), s.row(s.x, i)
	t := make([]float64, len(ci))
	for k := range t {
		if a.norm == Linf {
			t[k] = 2*rng.Float64() - 1
		} else {
			t[k] = rng.NormFloat64()
		}
	}
	nt := norm64(a.norm, t)
	f := 0.0
	if nt > 0 {
		f = math.Min(st.res[i], a.eps) / nt * 0.5
	}
	for k := range ci {
		ci[k] = float32(float64(x0[k]) + f*t[k])
	}
	Clip(ci, s.bounds)
}

// single is one FAB run (attack_single_run) on samples idx; samples that
// end with a point within eps are marked fooled and their point copied
// into xadv.
func (a *FAB) single(s *session, st *fabState, idx []int, tg []int, randStart bool, rs *streams, xadv []float32, fooled []bool) error {
	if len(idx) == 0 {
		return nil
	}
	d := s.d
	for _, i := range idx {
		st.res[i] = math.Inf(1)
		copy(s.row(st.cur, i), s.row(s.x, i))
		if randStart {
			a.randomStart(s, st, i, rs)
		}
	}
	active := append([]int(nil), idx...)
	for it := 0; it < a.steps && len(active) > 0; it++ {
		if err := a.linearise(s, st, active, tg); err != nil {
			return err
		}
		tensor.ParallelFor(len(active), parallelChunk(4*d), func(lo, hi int) {
			d1, d2 := make([]float64, d), make([]float64, d)
			scratch := make([]hpItem, 0, d)
			for _, i := range active[lo:hi] {
				ci, x0, wi := s.row(st.cur, i), s.row(s.x, i), st.w[i*d:(i+1)*d]
				// Hyperplane ⟨w, z⟩ = ⟨w, x⁽ᵏ⁾⟩ − df: from x⁽ᵏ⁾ the gap
				// is −df, from x it is −df + ⟨w, x⁽ᵏ⁾ − x⟩.
				c1 := -st.df[i]
				c2 := c1
				for q, v := range wi {
					c2 += v * (float64(ci[q]) - float64(x0[q]))
				}
				hyperplaneStep(a.norm, d1, ci, wi, c1, s.bounds, scratch)
				hyperplaneStep(a.norm, d2, x0, wi, c2, s.bounds, scratch)
				a1 := math.Max(norm64(a.norm, d1), 1e-8)
				a2 := math.Max(norm64(a.norm, d2), 1e-8)
				alpha := math.Min(math.Max(a1/(a1+a2), 0), a.alphaMax)
				for q := range ci {
					v := (float64(ci[q])+a.eta*d1[q])*(1-alpha) + (float64(x0[q])+a.eta*d2[q])*alpha
					ci[q] = float32(v)
				}
				Clip(ci, s.bounds)
			}
		})
		lg, err := s.logits(active, s.gather(st.cur, active))
		if err != nil {
			return err
		}
		for j, i := range active {
			if !s.succeeded(lg.F[j*s.c:(j+1)*s.c], i) {
				continue
			}
			ci, x0 := s.row(st.cur, i), s.row(s.x, i)
			if t := Dist(a.norm, ci, x0); t < st.res[i] {
				st.res[i] = t
				copy(s.row(st.best, i), ci)
			}
			scaleToward(ci, x0, a.beta)
		}
		if a.earlyStop {
			active = filter(active, func(i int) bool { return !(st.res[i] <= a.eps) })
		}
	}
	for _, i := range idx {
		if st.res[i] <= a.eps {
			fooled[i] = true
			copy(s.row(xadv, i), s.row(st.best, i))
		}
	}
	return nil
}

func init() {
	mustRegister("fab", factoryFor("Fast Adaptive Boundary attack, untargeted (Croce & Hein 2020, Alg. 1)", func() configurable { return &FAB{name: "fab"} }))
	mustRegister("fab-t", factoryFor("FAB-T: targeted FAB over the top clean classes, as in AutoAttack (Croce & Hein 2020)", func() configurable { return &FAB{name: "fab-t", targetedT: true} }))
}
