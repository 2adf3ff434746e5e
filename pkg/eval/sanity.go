package eval

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/report"
	"github.com/advtest/advtest/pkg/tensor"
)

// The verdicts of a sanity check (report.SanityPass, ...).
const (
	// SanityPass means the check found nothing suspicious.
	SanityPass = report.SanityPass
	// SanityFlag means the figures look like gradient masking.
	SanityFlag = report.SanityFlag
	// SanitySkip means the check could not run (the pool lacks what it
	// needs); it fails nothing.
	SanitySkip = report.SanitySkip
)

// The sanity checks, by ID, after Carlini et al. 2019, "On Evaluating
// Adversarial Robustness", §5 (arXiv:1902.06705).
const (
	// CheckEpsGrowth: the success rate approaches 100% as eps grows to
	// the clip range's width.
	CheckEpsGrowth = "eps-growth"
	// CheckUnbounded: an unbounded attack reaches ~100%.
	CheckUnbounded = "unbounded"
	// CheckBlackBox: a black-box attack does not beat the white-box one at
	// the same eps.
	CheckBlackBox = "blackbox-vs-whitebox"
	// CheckMoreSteps: more iterations do not lower the success rate.
	CheckMoreSteps = "more-steps"
)

// SanityFigure is one measured figure of a check, e.g. the success rate
// at one eps; the report's type, so checks go into reports unchanged.
type SanityFigure = report.SanityFigure

// SanityCheck is the outcome of one sanity check (the report's type).
type SanityCheck = report.SanityCheck

// DefaultUnbounded is the unbounded attack of check (b) when the pool has
// none: Carlini & Wagner L2 (its tanh change of variables keeps the box
// without clipping) with a short search. DeepFool, which clips every step
// into the box, stalls on adversarially trained MNIST models: 100
// iterations fooled 71 of 100 clean-correct samples of a PGD-trained CNN
// that PGD at eps 0.6 fools entirely; this C&W fooled 97 of them.
const DefaultUnbounded = "cw:binary_steps=4,max_iter=100,initial_const=1,lr=0.05"

// SanityOptions configures Sanity. The zero value uses the defaults.
type SanityOptions struct {
	// BatchSize is the attack batch size (0: 128).
	BatchSize int
	// Seed drives the reruns, as PoolOptions.Seed.
	Seed uint64
	// Samples bounds the clean-correct samples the checks use, the first
	// ones in data order (0: all). The pool's own figures are restricted
	// to the same samples, so that every comparison is on one set.
	Samples int
	// MinSR is the success rate the largest eps and the unbounded attack
	// must reach (0: 0.95).
	MinSR float64
	// MaxDrop is how much a rate may fall (more steps) or rise (black-box
	// over white-box) before the check flags it (0: 0.01, one point).
	MaxDrop float64
	// StepsFactor multiplies the iterative attack's steps (0: 4).
	StepsFactor int
	// Unbounded is the attack spec check (b) runs when the pool holds no
	// unbounded white-box attack (deepfool, cw, ...); the clip range of
	// the pool's attack is added. Empty: DefaultUnbounded.
	Unbounded string
	// Progress, when not nil, is told which check starts.
	Progress func(check string)
}

func (o *SanityOptions) defaults() {
	if o.BatchSize <= 0 {
		o.BatchSize = 128
	}
	if o.MinSR <= 0 {
		o.MinSR = 0.95
	}
	if o.MaxDrop <= 0 {
		o.MaxDrop = 0.01
	}
	if o.StepsFactor <= 1 {
		o.StepsFactor = 4
	}
	if o.Unbounded == "" {
		o.Unbounded = DefaultUnbounded
	}
}

// SpecOf returns the spec that rebuilds a with attack.New: its name and
// its resolved parameters as strings (0 for an "auto" value that resolved
// to nothing, which parses back as auto), with set's entries replacing
// or adding parameters.
func SpecOf(a attack.Attack, set map[string]string) attack.Spec {
	sp := attack.Spec{Name: a.Name(), Params: map[string]string{}}
	for k, v := range a.Params() {
		sp.Params[k] = paramString(v)
	}
	for k, v := range set {
		sp.Params[k] = v
	}
	return sp
}

func paramString(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}

func rebuild(a attack.Attack, set map[string]string) (attack.Attack, error) {
	sp := SpecOf(a, set)
	b, err := attack.New(sp.Name, sp.Params)
	if err != nil {
		return nil, fmt.Errorf("sanity: rebuilding %s: %w", sp, err)
	}
	return b, nil
}

func isBlackBox(a attack.Attack) bool {
	_, ok := a.(attack.BlackBox)
	return ok
}

// clipRange returns the clip range an attack was built with ([0, 1] when
// its parameters do not say).
func clipRange(a attack.Attack) (lo, hi float64) {
	lo, hi = 0, 1
	p := a.Params()
	if v, ok := toFloat(p["min"]); ok {
		lo = v
	}
	if v, ok := toFloat(p["max"]); ok {
		hi = v
	}
	return lo, hi
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	}
	return 0, false
}

// Sanity runs the gradient-masking sanity checks of Carlini et al. 2019
// (§5, "On Evaluating Adversarial Robustness") on the model behind clf,
// given the pool's figures on d (res, from RunPoolData on the same clf and
// data, through NewResult). The reruns attack clf, so pass the classifier an honest
// evaluation attacks (defend.AdaptiveWith for a hardened model):
//
//   - eps-growth: the pool's first bounded iterative white-box attack
//     (else its first bounded white-box attack) rerun at eps
//     ×2, ×4, … and finally at the clip range's width (Linf; for L2 the
//     box's diagonal, width·√d), any step parameter scaled alike; flagged
//     when the success rate at the largest eps is below MinSR — a ball
//     that holds every valid input must let a working attack fool nearly
//     every sample.
//   - unbounded: the pool's first unbounded white-box attack (DeepFool,
//     C&W, …); without one, the eps-growth attack at the clip box's width
//     when it reached MinSR (a ball holding every valid input is no
//     budget), else the Unbounded spec, run without a budget; flagged
//     below MinSR unless that box attack reached it.
//   - blackbox-vs-whitebox: every bounded black-box attack of the pool
//     against the white-box attacks of the same norm and eps (the pool's,
//     else the first bounded white-box attack rerun at that eps); flagged
//     when the black-box success rate is higher by more than MaxDrop
//     (for a randomised classifier, by more than the sampling noise of
//     two rates too) and APGD-CE with the reference defaults (100 steps,
//     rerun on the same samples at that norm and eps) falls short of it
//     as well; when APGD-CE reaches it, the check passes with a note
//     ("weak white-box attack": the gradient is informative, the pool's
//     white-box attack is not), and both figures are reported.
//     Skipped when the pool has no black-box attack.
//   - more-steps: the pool's first bounded white-box attack with a steps
//     parameter rerun with StepsFactor× the steps (the same step size);
//     flagged when its success rate is lower by more than MaxDrop (or,
//     for a randomised classifier, the sampling noise of two rates).
//
// Checks whose attack the pool lacks are skipped. All figures are over the
// same clean-correct samples (the first Samples of them).
//
// The checks' samples (at most opts.Samples clean-correct ones) are read
// back from d batch by batch by every rerun, never held whole.
func Sanity(ctx context.Context, clf attack.Classifier, d Data, res *Result, opts SanityOptions) ([]SanityCheck, error) {
	opts.defaults()
	if res == nil || res.Pool == nil || res.Pool.Clean == nil {
		return nil, fmt.Errorf("sanity: no pool result")
	}
	pool := res.Pool
	if !res.Complete() {
		return nil, fmt.Errorf("sanity: the pool result is incomplete")
	}
	if pool.Incomplete != nil {
		return nil, fmt.Errorf("sanity: the pool result is incomplete: %w", pool.Incomplete)
	}
	var idx []int
	for i, ok := range pool.Clean.Correct {
		if ok && (opts.Samples <= 0 || len(idx) < opts.Samples) {
			idx = append(idx, i)
		}
	}
	s := &sanity{ctx: ctx, clf: clf, pool: pool, res: res, idx: idx, opts: opts, boxSR: -1}
	if len(idx) == 0 {
		return nil, fmt.Errorf("sanity: no clean-correct sample to attack")
	}
	if d.Len() != pool.Clean.N {
		return nil, fmt.Errorf("sanity: %d samples, but the pool ran on %d", d.Len(), pool.Clean.N)
	}
	s.data = Subset(d, idx)

	var out []SanityCheck
	for _, step := range []struct {
		id  string
		run func() (SanityCheck, error)
	}{
		{CheckEpsGrowth, s.epsGrowth},
		{CheckUnbounded, s.unbounded},
		{CheckBlackBox, s.blackBox},
		{CheckMoreSteps, s.moreSteps},
	} {
		if opts.Progress != nil {
			opts.Progress(step.id)
		}
		c, err := step.run()
		if err != nil {
			return out, fmt.Errorf("sanity %s: %w", step.id, err)
		}
		c.ID = step.id
		if c.Figures == nil {
			c.Figures = []SanityFigure{}
		}
		out = append(out, c)
	}
	return out, nil
}

type sanity struct {
	ctx  context.Context
	clf  attack.Classifier
	pool *PoolResult
	res  *Result // the pool's figures, for its attacks' keys
	idx  []int   // clean-correct samples the checks use, indices into the data
	data Data    // the samples of idx, read back from the data per rerun
	opts SanityOptions
	// boxSR is the SR of the eps-growth check's gradient attack at an eps
	// whose ball holds the whole clip box (that attack is then unbounded
	// in effect); -1 when it did not get there.
	boxSR float64
	// apgd holds the black-box check's APGD-CE reruns' success rates, by
	// norm@eps.
	apgd map[string]float64
}

// poolSR is the success rate of the pool's attack j over the checks'
// samples.
func (s *sanity) poolSR(j int) float64 {
	run := s.pool.Attacks[j]
	fooled, n := 0, 0
	for _, i := range s.idx {
		if !run.Attacked[i] {
			continue
		}
		n++
		if run.Fooled[i] {
			fooled++
		}
	}
	if n == 0 {
		return 0
	}
	return float64(fooled) / float64(n)
}

// poolFooled is whether the pool's attack j fooled each of the checks'
// samples.
func (s *sanity) poolFooled(j int) []bool {
	out := make([]bool, len(s.idx))
	for k, i := range s.idx {
		out[k] = s.pool.Attacks[j].Fooled[i]
	}
	return out
}

// rerun runs a on the checks' samples and returns its success rate over
// those the classifier still gets right (all of them, for the same clf).
func (s *sanity) rerun(a attack.Attack) (float64, error) {
	sr, _, err := s.rerunFooled(a)
	return sr, err
}

// rerunFooled is rerun that also returns whether each sample was fooled.
func (s *sanity) rerunFooled(a attack.Attack) (float64, []bool, error) {
	r, err := RunPoolData(s.ctx, s.clf, s.data, []attack.Attack{a}, PoolOptions{BatchSize: s.opts.BatchSize, Seed: s.opts.Seed})
	if err != nil {
		return 0, nil, err
	}
	if r.Incomplete != nil {
		return 0, nil, r.Incomplete
	}
	res, err := NewResult(r, SpecsOf([]attack.Attack{a}))
	if err != nil {
		return 0, nil, err
	}
	return res.Attacks[0].SuccessRate, r.Attacks[0].Fooled, nil
}

// firstBounded returns the index of the pool's first bounded white-box
// attack (with a steps parameter when needSteps), or -1.
func (s *sanity) firstBounded(needSteps bool) int {
	for j, run := range s.pool.Attacks {
		a := run.Attack
		if isBlackBox(a) || a.Eps() <= 0 || (a.Norm() != attack.Linf && a.Norm() != attack.L2) {
			continue
		}
		if needSteps {
			if st, ok := a.Params()["steps"].(int); !ok || st < 1 {
				continue
			}
		}
		return j
	}
	return -1
}

// key is the report key of the pool's attack j.
func (s *sanity) key(j int) string { return s.res.Attacks[j].Key }

// tolerance is how far two success rates near p over the checks' samples
// may differ before a check reads it as masking: MaxDrop, widened for a
// randomised classifier (EOT over inference noise, which says so with a
// Randomised method) to two standard errors of the difference of two
// rates, 2·√(2p(1−p)/n), since its verdicts themselves are random draws.
func (s *sanity) tolerance(p float64) float64 {
	r, ok := s.clf.(interface{ Randomised() bool })
	if !ok || !r.Randomised() {
		return s.opts.MaxDrop
	}
	n := float64(len(s.idx))
	return math.Max(s.opts.MaxDrop, 2*math.Sqrt(2*p*(1-p)/n))
}

func pct(v float64) string { return strconv.FormatFloat(100*v, 'f', 1, 64) + "%" }

func epsName(e float64) string { return "sr@eps=" + strconv.FormatFloat(e, 'g', 4, 64) }

// scaled rebuilds a with eps (and a set step) multiplied by k, and with
// extra's entries replacing or adding parameters.
func scaled(a attack.Attack, eps, k float64, extra map[string]string) (attack.Attack, error) {
	set := map[string]string{"eps": strconv.FormatFloat(eps, 'g', -1, 64)}
	if st, ok := toFloat(a.Params()["step"]); ok && st > 0 {
		set["step"] = strconv.FormatFloat(st*k, 'g', -1, 64)
	}
	for key, v := range extra {
		set[key] = v
	}
	return rebuild(a, set)
}

// fromX is the eps-growth series' parameter override: no random start
// where the attack has one. A uniform draw from a ball as wide as the clip
// box is a random image, which fools a classifier with no help from the
// gradient (with PGD's 5 random restarts, 97% of a 2-bit squeezed CNN
// whose gradient is zero everywhere), so the series must start from x for
// its success to speak for the gradient.
func fromX(a attack.Attack) map[string]string {
	if _, ok := a.Params()["random_start"]; ok {
		return map[string]string{"random_start": "false"}
	}
	return nil
}

func (s *sanity) epsGrowth() (SanityCheck, error) {
	// An iterative attack first: one signed step of the box's width sends
	// every pixel to a corner of the box and proves nothing about the
	// gradient (FGSM at eps 1 fooled 93% of an undefended MNIST CNN that
	// PGD at eps 0.4 fools entirely).
	j := s.firstBounded(true)
	if j < 0 {
		j = s.firstBounded(false)
	}
	if j < 0 {
		return SanityCheck{Status: SanitySkip, Explanation: "the pool has no bounded white-box (gradient) attack"}, nil
	}
	a := s.pool.Attacks[j].Attack
	lo, hi := clipRange(a)
	width := hi - lo
	if a.Norm() == attack.L2 {
		width *= math.Sqrt(float64(tensor.Numel(s.data.SampleShape())))
	}
	e0 := a.Eps()
	c := SanityCheck{Attack: s.key(j), N: len(s.idx)}
	// A ball holds every smaller one, so a sample counts as fooled at eps
	// when the attack fooled it at eps or any smaller eps of the series:
	// an attack whose large steps overshoot (its SR falling as eps grows)
	// is not taken for a masked gradient.
	union := s.poolFooled(j)
	last := s.poolSR(j)
	c.Figures = append(c.Figures, SanityFigure{Name: epsName(e0), Value: last})
	lastEps := e0
	for k := 2.0; e0*k/2 < width && len(c.Figures) < 8; k *= 2 {
		eps := math.Min(e0*k, width)
		b, err := scaled(a, eps, eps/e0, fromX(a))
		if err != nil {
			return c, err
		}
		_, fooled, err := s.rerunFooled(b)
		if err != nil {
			return c, err
		}
		n := 0
		for i, f := range fooled {
			if f {
				union[i] = true
			}
			if union[i] {
				n++
			}
		}
		last, lastEps = float64(n)/float64(len(union)), eps
		c.Figures = append(c.Figures, SanityFigure{Name: epsName(eps), Value: last})
	}
	what := "the clip range's width"
	if a.Norm() == attack.L2 {
		what = "the clip box's diagonal"
	}
	if lastEps >= width {
		s.boxSR = last
	}
	if last < s.opts.MinSR {
		c.Status = SanityFlag
		c.Explanation = fmt.Sprintf("%s reaches only %s at eps=%s (%s), below %s: a ball that holds every valid input should let a working attack fool nearly every sample — gradient masking suspected",
			a.Name(), pct(last), strconv.FormatFloat(lastEps, 'g', 4, 64), what, pct(s.opts.MinSR))
	} else {
		c.Status = SanityPass
		c.Explanation = fmt.Sprintf("%s's success rate grows to %s at eps=%s (%s)", a.Name(), pct(last), strconv.FormatFloat(lastEps, 'g', 4, 64), what)
	}
	return c, nil
}

func (s *sanity) unbounded() (SanityCheck, error) {
	var a attack.Attack
	var akey string
	sr := -1.0
	for j, run := range s.pool.Attacks {
		if !isBlackBox(run.Attack) && run.Attack.Eps() <= 0 {
			a, akey, sr = run.Attack, s.key(j), s.poolSR(j)
			break
		}
	}
	if a == nil && s.boxSR >= s.opts.MinSR {
		// The eps-growth check's gradient attack ran with a ball that holds
		// the whole clip box, which makes it an unbounded attack (Carlini
		// et al. 2019 §5.2 ask for any): it reached the bar, so the
		// minimal-perturbation attack need not run.
		j := s.firstBounded(false)
		return SanityCheck{Status: SanityPass, Attack: s.key(j), N: len(s.idx),
			Figures:     []SanityFigure{{Name: "box_sr", Value: s.boxSR}},
			Explanation: fmt.Sprintf("%s with a ball holding the whole clip box (unbounded in effect) fools %s", s.pool.Attacks[j].Attack.Name(), pct(s.boxSR))}, nil
	}
	if a == nil {
		ref := s.firstBounded(false)
		if ref < 0 && len(s.pool.Attacks) == 0 {
			return SanityCheck{Status: SanitySkip, Explanation: "the pool is empty"}, nil
		}
		sp, err := attack.ParseSpec(s.opts.Unbounded)
		if err != nil {
			return SanityCheck{}, err
		}
		var lo, hi float64 = 0, 1
		if ref >= 0 {
			lo, hi = clipRange(s.pool.Attacks[ref].Attack)
		} else {
			lo, hi = clipRange(s.pool.Attacks[0].Attack)
		}
		if _, ok := sp.Params["min"]; !ok {
			sp.Params["min"] = strconv.FormatFloat(lo, 'g', -1, 64)
		}
		if _, ok := sp.Params["max"]; !ok {
			sp.Params["max"] = strconv.FormatFloat(hi, 'g', -1, 64)
		}
		if a, err = attack.New(sp.Name, sp.Params); err != nil {
			return SanityCheck{}, fmt.Errorf("unbounded attack %q: %w", s.opts.Unbounded, err)
		}
		akey = report.Key(sp.Name, sp.Params)
		if sr, err = s.rerun(a); err != nil {
			return SanityCheck{}, err
		}
	}
	c := SanityCheck{Attack: akey, N: len(s.idx), Figures: []SanityFigure{{Name: "sr", Value: sr}}}
	switch {
	case sr < s.opts.MinSR && s.boxSR >= s.opts.MinSR:
		// A gradient attack whose ball holds the whole clip box is an
		// unbounded attack too (Carlini et al. 2019 §5.2 asks for any):
		// it reached the bar, so the gradient is informative and it is
		// the minimal-perturbation search that fell short.
		c.Status = SanityPass
		c.Figures = append(c.Figures, SanityFigure{Name: "box_sr", Value: s.boxSR})
		c.Explanation = fmt.Sprintf("unbounded %s fools only %s, but the gradient attack with a ball holding the whole clip box fools %s: the gradient is informative (give %s more iterations for a minimal-perturbation figure)", a.Name(), pct(sr), pct(s.boxSR), a.Name())
	case sr < s.opts.MinSR:
		c.Status = SanityFlag
		c.Explanation = fmt.Sprintf("unbounded %s fools only %s, below %s: without a budget every sample can be misclassified, so the gradient must be misleading — gradient masking suspected", a.Name(), pct(sr), pct(s.opts.MinSR))
	default:
		c.Status = SanityPass
		c.Explanation = fmt.Sprintf("unbounded %s fools %s", a.Name(), pct(sr))
	}
	return c, nil
}

// apgdCheck is the white-box attack the black-box check reruns before it
// flags: APGD-CE with the reference defaults of Croce & Hein 2020
// (AutoAttack's standard version: 100 steps, 1 restart), the strongest
// single gradient attack of the pool. Only the norms APGD has qualify.
func apgdCheck(norm attack.Norm, eps, lo, hi float64) (attack.Attack, error) {
	return attack.New("apgd-ce", map[string]string{
		"norm": norm.String(),
		"eps":  strconv.FormatFloat(eps, 'g', -1, 64),
		"min":  strconv.FormatFloat(lo, 'g', -1, 64),
		"max":  strconv.FormatFloat(hi, 'g', -1, 64),
	})
}

// apgdSR reruns apgdCheck at a black-box attack's norm and eps on the
// checks' samples (once per norm and eps); ok is false for a norm APGD
// does not have.
func (s *sanity) apgdSR(bb attack.Attack) (sr float64, ok bool, err error) {
	if n := bb.Norm(); n != attack.Linf && n != attack.L2 && n != attack.L1 {
		return 0, false, nil
	}
	k := bb.Norm().String() + "@" + strconv.FormatFloat(bb.Eps(), 'g', -1, 64)
	if v, done := s.apgd[k]; done {
		return v, true, nil
	}
	lo, hi := clipRange(bb)
	a, err := apgdCheck(bb.Norm(), bb.Eps(), lo, hi)
	if err != nil {
		return 0, false, fmt.Errorf("rerunning APGD-CE: %w", err)
	}
	if sr, err = s.rerun(a); err != nil {
		return 0, false, err
	}
	if s.apgd == nil {
		s.apgd = map[string]float64{}
	}
	s.apgd[k] = sr
	return sr, true, nil
}

// blackBox compares every bounded black-box attack with the white-box
// attacks of its norm and eps. A black-box attack that fools more is
// either a weak white-box attack (a small fixed step, few iterations) or
// a gradient that leads the white-box attack astray (Carlini et al. 2019
// §5.4); to tell them apart, APGD-CE with the reference defaults is rerun
// on the same samples: if it reaches the black-box success rate the
// gradient is informative and the check passes with a note ("weak
// white-box attack"), only if it is beaten too is it flagged.
func (s *sanity) blackBox() (SanityCheck, error) {
	c := SanityCheck{N: len(s.idx), Status: SanityPass}
	found := false
	var flags, notes []string
	for j, run := range s.pool.Attacks {
		bb := run.Attack
		if !isBlackBox(bb) || bb.Eps() <= 0 {
			continue
		}
		found = true
		bsr := s.poolSR(j)
		wsr, wname := -1.0, ""
		for k, w := range s.pool.Attacks {
			wa := w.Attack
			if isBlackBox(wa) || wa.Norm() != bb.Norm() || math.Abs(wa.Eps()-bb.Eps()) > 1e-9*math.Max(1, bb.Eps()) {
				continue
			}
			if v := s.poolSR(k); v > wsr {
				wsr, wname = v, wa.Name()
			}
		}
		if wsr < 0 {
			ref := -1
			for k, w := range s.pool.Attacks {
				if wa := w.Attack; !isBlackBox(wa) && wa.Eps() > 0 && wa.Norm() == bb.Norm() {
					ref = k
					break
				}
			}
			if ref < 0 {
				continue
			}
			ra := s.pool.Attacks[ref].Attack
			b, err := scaled(ra, bb.Eps(), bb.Eps()/ra.Eps(), nil)
			if err != nil {
				return c, err
			}
			if wsr, err = s.rerun(b); err != nil {
				return c, err
			}
			wname = ra.Name()
		}
		e := strconv.FormatFloat(bb.Eps(), 'g', 4, 64)
		c.Figures = append(c.Figures, SanityFigure{Name: bb.Name() + "@eps=" + e, Value: bsr}, SanityFigure{Name: wname + "@eps=" + e, Value: wsr})
		if c.Attack == "" {
			c.Attack = s.key(j)
		}
		if bsr <= wsr+s.tolerance((bsr+wsr)/2) {
			continue
		}
		beaten := fmt.Sprintf("black-box %s fools %s but white-box %s only %s at %s eps=%s", bb.Name(), pct(bsr), wname, pct(wsr), bb.Norm(), e)
		asr, ok, err := s.apgdSR(bb)
		if err != nil {
			return c, err
		}
		if !ok {
			c.Status = SanityFlag
			flags = append(flags, beaten)
			continue
		}
		c.Figures = append(c.Figures, SanityFigure{Name: "apgd-ce@eps=" + e, Value: asr})
		if bsr <= asr+s.tolerance((bsr+asr)/2) {
			notes = append(notes, fmt.Sprintf("%s; APGD-CE (100 steps, rerun on these samples) fools %s", beaten, pct(asr)))
			continue
		}
		c.Status = SanityFlag
		flags = append(flags, fmt.Sprintf("%s, and APGD-CE (100 steps, rerun on these samples) only %s", beaten, pct(asr)))
	}
	sort.Strings(flags)
	sort.Strings(notes)
	note := ""
	if len(notes) > 0 {
		note = "weak white-box attack, not gradient masking: " + strings.Join(notes, "; ") + ": the gradient is informative, the pool's white-box attack is weak (add apgd-ce and apgd-t, or autoattack, to the pool)"
	}
	switch {
	case !found:
		return SanityCheck{Status: SanitySkip, Explanation: "the pool has no bounded black-box attack"}, nil
	case len(c.Figures) == 0:
		return SanityCheck{Status: SanitySkip, Explanation: "no white-box attack of the black-box attacks' norm to compare with"}, nil
	case c.Status == SanityFlag:
		c.Explanation = strings.Join(flags, "; ") + ": the gradient leads even APGD astray — gradient masking suspected"
		if note != "" {
			c.Explanation += "; also " + note
		}
	case note != "":
		c.Explanation = note
	default:
		c.Explanation = "no black-box attack beats the white-box attacks at its eps"
	}
	return c, nil
}

func (s *sanity) moreSteps() (SanityCheck, error) {
	j := s.firstBounded(true)
	if j < 0 {
		return SanityCheck{Status: SanitySkip, Explanation: "the pool has no bounded iterative white-box attack"}, nil
	}
	a := s.pool.Attacks[j].Attack
	steps := a.Params()["steps"].(int)
	set := map[string]string{"steps": strconv.Itoa(steps * s.opts.StepsFactor)}
	if st, ok := toFloat(a.Params()["step"]); ok && st > 0 {
		set["step"] = strconv.FormatFloat(st, 'g', -1, 64)
	}
	b, err := rebuild(a, set)
	if err != nil {
		return SanityCheck{}, err
	}
	base := s.poolSR(j)
	more, err := s.rerun(b)
	if err != nil {
		return SanityCheck{}, err
	}
	c := SanityCheck{Attack: s.key(j), N: len(s.idx), Figures: []SanityFigure{
		{Name: fmt.Sprintf("sr@steps=%d", steps), Value: base}, {Name: fmt.Sprintf("sr@steps=%d", steps*s.opts.StepsFactor), Value: more}}}
	if more < base-s.tolerance((more+base)/2) {
		c.Status = SanityFlag
		c.Explanation = fmt.Sprintf("%s with %d× the steps fools %s, fewer than %s with %d: more iterations of a working attack never hurt — gradient masking suspected",
			a.Name(), s.opts.StepsFactor, pct(more), pct(base), steps)
	} else {
		c.Status = SanityPass
		c.Explanation = fmt.Sprintf("%s with %d× the steps fools %s (%s with %d)", a.Name(), s.opts.StepsFactor, pct(more), pct(base), steps)
	}
	return c, nil
}
