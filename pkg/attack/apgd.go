package attack

import (
	"context"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/advtest/advtest/pkg/tensor"
)

// APGD is Auto-PGD of Croce & Hein, "Reliable Evaluation of Adversarial
// Robustness with an Ensemble of Diverse Parameter-free Attacks" (ICML
// 2020, Algorithm 1), as implemented in the authors' AutoAttack code:
//
//	x⁰ = a random point on the eps-sphere around x; η = 2·eps
//	z = Π(xᵏ + η·sign(∇f(xᵏ)))                 (L2: η·∇f/‖∇f‖₂)
//	xᵏ⁺¹ = Π(xᵏ + α(z − xᵏ) + (1−α)(xᵏ − xᵏ⁻¹))  (α = 0.75; 1 on the first step)
//
// At the checkpoints wⱼ = ⌈pⱼ·N⌉, p₀ = 0, p₁ = 0.22,
// pⱼ₊₁ = pⱼ + max(pⱼ − pⱼ₋₁ − 0.03, 0.06), the step η is halved and the
// iterate reset to the best point when condition 1 (the objective rose in
// at most ρ = 0.75 of the steps since the last checkpoint) or condition 2
// (the step was not reduced at the last checkpoint and the best objective
// has not improved since) holds, per sample.
//
// Variants, by registry name:
//   - apgd-ce: the cross-entropy objective (APGD-CE); targeted batches
//     ascend −CE(t).
//   - apgd-dlr: the DLR objective (APGD-DLR, eq. 5); targeted batches use
//     targeted DLR.
//   - apgd-t: targeted DLR (eq. 6) against the n_targets classes ranked
//     2nd, 3rd, … by the clean logits, each run on the samples not yet
//     misclassified, as AutoAttack's APGD-T (success = misclassification).
//     With batch targets it attacks those targets instead.
//   - apgd: loss chosen by the "loss" parameter.
//
// norm=l1 runs L1-APGD of Croce & Hein, "Mind the box: l1-APGD for sparse
// adversarial attacks on image classifiers" (ICML 2021, Alg. 2; see
// apgd_l1.go), with large_reps for its eps schedule 3·eps, 2·eps, eps.
// eot_iter > 1 averages the gradient and the objective over that many
// passes at each point (expectation over transformation, for randomised
// models; AutoAttack's "rand" version uses 20).
//
// Defaults (AutoAttack's standard version): steps=100, restarts=1,
// n_targets=9 (apgd-t), rho=0.75, momentum alpha=0.75, initial step 2·eps;
// norm=linf, eps=0.3, early_stop=true (stop on a sample once fooled; the
// success rate is the same), clip range [0, 1].
type APGD struct {
	ball
	name      string
	loss      string
	targetedT bool // apgd-t
	steps     int
	restarts  int
	nTargets  int
	rho       float64
	momentum  float64
	earlyStop bool
	eot       int  // gradient passes averaged per point (apgd_l1.go)
	largeReps bool // L1: eps schedule 3·eps, 2·eps, eps (apgd_l1.go)
}

func (a *APGD) bind() *binder {
	b := newBinder(a.name)
	b.norm("norm", &a.norm, Linf, []Norm{Linf, L2, L1}, "norm of the ball")
	b.float("eps", &a.eps, 0.3, "", "radius of the ball in input space")
	b.int("steps", &a.steps, 100, "", "iterations N per run")
	b.int("eot_iter", &a.eot, 1, "", "gradient passes averaged per iterate (EOT, for randomised models)")
	b.bool("large_reps", &a.largeReps, false, "L1 only: run 30%/30%/40% of the steps at 3·eps, 2·eps, eps (AutoAttack's L1 setting)")
	b.int("restarts", &a.restarts, 1, "", "runs from new random starts on the samples not yet fooled (per target for apgd-t)")
	if a.name == "apgd" {
		b.enum("loss", &a.loss, "ce", lossNames, "objective: cross-entropy, C&W logit margin or DLR")
	}
	bindRankedTargets(b, a.targetedT, &a.nTargets)
	b.float("rho", &a.rho, 0.75, "", "condition-1 threshold ρ on the fraction of improving steps")
	b.float("alpha", &a.momentum, 0.75, "", "momentum weight α of the gradient step")
	b.bool("early_stop", &a.earlyStop, true, "stop working on a sample once an iterate fools it")
	b.bounds(&a.bounds)
	return b
}

func (a *APGD) validate() error {
	if err := a.ball.validate(a.name, true); err != nil {
		return err
	}
	if err := positiveInt(a.name, "steps", a.steps); err != nil {
		return err
	}
	if err := positiveInt(a.name, "restarts", a.restarts); err != nil {
		return err
	}
	if err := positiveInt(a.name, "eot_iter", a.eot); err != nil {
		return err
	}
	if a.largeReps && a.norm != L1 {
		return paramErr(a.name, "large_reps", a.largeReps, "false unless norm=l1")
	}
	if err := validateRankedTargets(a.name, a.targetedT, a.nTargets); err != nil {
		return err
	}
	if !(a.rho > 0 && a.rho <= 1) {
		return paramErr(a.name, "rho", a.rho, "a number in (0, 1]")
	}
	if !(a.momentum > 0 && a.momentum <= 1) {
		return paramErr(a.name, "alpha", a.momentum, "a number in (0, 1]")
	}
	return nil
}

// Name returns the registry name: apgd, apgd-ce, apgd-dlr or apgd-t.
func (a *APGD) Name() string { return a.name }

// Params returns the resolved parameters.
func (a *APGD) Params() map[string]any {
	m := a.bind().values()
	m["loss"] = a.loss
	return m
}

// apgdState holds the per-sample buffers of one APGD run (sized for the
// batch, reused across restarts and targets).
type apgdState struct {
	cur, old, z, g, xBest, gBest []float32
	step, lossBest, lossLast     []float64
	reducedLast                  []bool
	hist                         []float32 // n*(steps+1) objective values
	lo, hi                       []float32 // Linf boxes
}

// keepBest makes sample i's iterate and its gradient the best point when
// its objective l beats the best so far (APGD keeps the best iterate, not
// the last: Croce & Hein 2020, Algorithm 1).
func (st *apgdState) keepBest(s *session, i int, l float32) {
	if float64(l) > st.lossBest[i] {
		st.lossBest[i] = float64(l)
		copy(s.row(st.xBest, i), s.row(st.cur, i))
		copy(s.row(st.gBest, i), s.row(st.g, i))
	}
}

// Run attacks a batch. apgd-t without batch targets is untargeted.
func (a *APGD) Run(ctx context.Context, clf Classifier, b Batch, rng *rand.Rand) (*Outcome, error) {
	s, err := begin(ctx, clf, a.name, b, true, a.bounds)
	if err != nil {
		return nil, err
	}
	rs := newStreams(rng, b)
	n, d := s.n, s.d
	st := &apgdState{
		cur: make([]float32, n*d), old: make([]float32, n*d), z: make([]float32, n*d),
		g: make([]float32, n*d), xBest: make([]float32, n*d), gBest: make([]float32, n*d),
		step: make([]float64, n), lossBest: make([]float64, n), lossLast: make([]float64, n),
		reducedLast: make([]bool, n), hist: make([]float32, n*(a.steps+1)),
	}
	if a.norm == Linf {
		st.lo, st.hi = linfBoxes(s, a.eps)
	}
	tr := newTracker(s, a.earlyStop)
	notFooled := func() []int { return filter(s.attackable(), func(i int) bool { return !tr.fooled[i] }) }
	if a.targetedT && s.tgt == nil {
		obj := makeObjective("dlr", true)
		err := forRankedTargets(s, a.nTargets, func(tg []int) error {
			for k := 0; k < a.restarts; k++ {
				if err := a.single(s, st, notFooled(), obj, tg, tr, rs); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		return s.finish(tr.best, a.norm, a.eps)
	}
	loss := a.loss
	if a.targetedT {
		loss = "dlr"
	}
	obj := makeObjective(loss, s.tgt != nil)
	for k := 0; k < a.restarts; k++ {
		if err := a.single(s, st, notFooled(), obj, s.tgt, tr, rs); err != nil {
			return nil, err
		}
	}
	return s.finish(tr.best, a.norm, a.eps)
}

// classRanks returns, per sample, the classes ordered by decreasing clean
// logit (n*c).
func classRanks(s *session) []int {
	rank := make([]int, s.n*s.c)
	for i := 0; i < s.n; i++ {
		r := rank[i*s.c : (i+1)*s.c]
		z := s.clean[i*s.c : (i+1)*s.c]
		for k := range r {
			r[k] = k
		}
		sort.SliceStable(r, func(p, q int) bool { return z[r[p]] > z[r[q]] })
	}
	return rank
}

// targetsOrRunnerUp returns the batch targets, or, for an untargeted run,
// each sample's runner-up class (clean logit rank 2): the class that JSMA
// and L-BFGS, targeted by design, aim at then.
func targetsOrRunnerUp(s *session) []int {
	tg := make([]int, s.n)
	if s.tgt != nil {
		copy(tg, s.tgt)
		return tg
	}
	rank := classRanks(s)
	for i := range tg {
		tg[i] = rank[i*s.c+1]
	}
	return tg
}

// bindRankedTargets declares n_targets, the number of target classes that
// the -t variant (targetedT) of APGD or FAB runs (forRankedTargets).
func bindRankedTargets(b *binder, targetedT bool, nTargets *int) {
	if targetedT {
		b.int("n_targets", nTargets, 9, "", "number of target classes, by clean logit rank from the 2nd")
	}
}

// validateRankedTargets checks the n_targets that bindRankedTargets declares.
func validateRankedTargets(name string, targetedT bool, nTargets int) error {
	if !targetedT {
		return nil
	}
	return positiveInt(name, "n_targets", nTargets)
}

// forRankedTargets calls run with the targets of APGD-T and FAB-T (Croce &
// Hein 2020, as AutoAttack runs them): per sample, the class of clean logit
// rank 2, then 3, … for nTargets ranks (fewer when the model has fewer
// classes), stopping at the first error.
func forRankedTargets(s *session, nTargets int, run func(tg []int) error) error {
	rank := classRanks(s)
	tg := make([]int, s.n)
	for r := 1; r <= nTargets && r < s.c; r++ {
		for i := range tg {
			tg[i] = rank[i*s.c+r]
		}
		if err := run(tg); err != nil {
			return err
		}
	}
	return nil
}

// project puts row i of buf into the ball and the clip range.
func (a *APGD) project(s *session, st *apgdState, buf []float32, i int) {
	r := s.row(buf, i)
	if a.norm == Linf {
		clampBox(r, s.row(st.lo, i), s.row(st.hi, i))
	} else {
		ProjectL2(r, s.row(s.x, i), a.eps, s.bounds)
	}
}

// single is one APGD run (Algorithm 1) on samples idx.
func (a *APGD) single(s *session, st *apgdState, idx []int, obj objective, tg []int, tr *tracker, rs *streams) error {
	if len(idx) == 0 {
		return nil
	}
	if a.norm == L1 {
		return a.singleL1(s, st, idx, obj, tg, tr, rs)
	}
	d, N := s.d, a.steps
	H := N + 1
	// Random start as AutoAttack: Linf x + eps·t/‖t‖∞ with t uniform in
	// [−1, 1]^d; L2 x + eps·t/‖t‖₂ with t Gaussian.
	for _, i := range idx {
		ci, x0 := s.row(st.cur, i), s.row(s.x, i)
		rng := rs.at(i)
		nt := 0.0
		for k := range ci {
			var t float64
			if a.norm == Linf {
				t = 2*rng.Float64() - 1
				nt = math.Max(nt, math.Abs(t))
			} else {
				t = rng.NormFloat64()
				nt += t * t
			}
			ci[k] = float32(t)
		}
		if a.norm == L2 {
			nt = math.Sqrt(nt)
		}
		f := 0.0
		if nt > 0 {
			f = a.eps / nt
		}
		for k := range ci {
			ci[k] = float32(float64(x0[k]) + f*float64(ci[k]))
		}
		a.project(s, st, st.cur, i)
	}
	eval := func(idx []int) ([]float32, error) { return a.evalEOT(s, st, idx, obj, tg, tr) }
	loss, err := eval(idx)
	if err != nil {
		return err
	}
	for j, i := range idx {
		st.lossBest[i] = float64(loss[j])
		st.lossLast[i] = st.lossBest[i]
		st.reducedLast[i] = true
		st.step[i] = 2 * a.eps
		st.hist[i*H] = loss[j]
		copy(s.row(st.xBest, i), s.row(st.cur, i))
		copy(s.row(st.gBest, i), s.row(st.g, i))
		copy(s.row(st.old, i), s.row(st.cur, i))
	}
	k := max(int(0.22*float64(N)), 1)
	kMin := max(int(0.06*float64(N)), 1)
	kDecr := max(int(0.03*float64(N)), 1)
	counter := 0
	for it := 0; it < N; it++ {
		if a.earlyStop {
			idx = filter(idx, func(i int) bool { return !tr.fooled[i] })
			if len(idx) == 0 {
				return nil
			}
		}
		mom := a.momentum
		if it == 0 {
			mom = 1
		}
		tensor.ParallelFor(len(idx), parallelChunk(d), func(lo, hi int) {
			for _, i := range idx[lo:hi] {
				ci, oi, zi, gi := s.row(st.cur, i), s.row(st.old, i), s.row(st.z, i), s.row(st.g, i)
				eta := st.step[i]
				if a.norm == Linf {
					for q, v := range gi {
						zi[q] = float32(float64(ci[q]) + eta*float64(signf(v)))
					}
				} else {
					gn := 0.0
					for _, v := range gi {
						gn += float64(v) * float64(v)
					}
					f := eta / (math.Sqrt(gn) + 1e-12)
					for q, v := range gi {
						zi[q] = float32(float64(ci[q]) + f*float64(v))
					}
				}
				a.project(s, st, st.z, i)
				for q := range ci {
					c, o := float64(ci[q]), float64(oi[q])
					oi[q] = ci[q]
					ci[q] = float32(c + mom*(float64(zi[q])-c) + (1-mom)*(c-o))
				}
				a.project(s, st, st.cur, i)
			}
		})
		loss, err := eval(idx)
		if err != nil {
			return err
		}
		for j, i := range idx {
			st.hist[i*H+it+1] = loss[j]
			st.keepBest(s, i, loss[j])
		}
		counter++
		if counter == k {
			for _, i := range idx {
				h := st.hist[i*H : (i+1)*H]
				ups := 0
				for c := 0; c < k; c++ {
					if h[it+1-c] > h[it-c] {
						ups++
					}
				}
				cond1 := float64(ups) <= float64(k)*a.rho
				cond2 := !st.reducedLast[i] && st.lossLast[i] >= st.lossBest[i]
				fl := cond1 || cond2
				st.reducedLast[i] = fl
				st.lossLast[i] = st.lossBest[i]
				if fl {
					st.step[i] /= 2
					copy(s.row(st.cur, i), s.row(st.xBest, i))
					copy(s.row(st.g, i), s.row(st.gBest, i))
				}
			}
			k = max(k-kDecr, kMin)
			counter = 0
		}
	}
	return nil
}

func init() {
	mustRegister("apgd", factoryFor("Auto-PGD with a chosen loss (Croce & Hein 2020, Alg. 1)", func() configurable { return &APGD{name: "apgd"} }))
	mustRegister("apgd-ce", factoryFor("Auto-PGD on the cross-entropy (Croce & Hein 2020, Alg. 1)", func() configurable { return &APGD{name: "apgd-ce", loss: "ce"} }))
	mustRegister("apgd-dlr", factoryFor("Auto-PGD on the DLR loss (Croce & Hein 2020, eq. 5)", func() configurable { return &APGD{name: "apgd-dlr", loss: "dlr"} }))
	mustRegister("apgd-t", factoryFor("Auto-PGD on the targeted DLR loss over the top classes (Croce & Hein 2020, eq. 6)", func() configurable { return &APGD{name: "apgd-t", loss: "dlr", targetedT: true} }))
}
