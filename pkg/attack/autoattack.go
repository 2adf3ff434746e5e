package attack

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
)

// StageBuilder builds one stage of the AutoAttack preset for a ball.
type StageBuilder func(norm Norm, eps float64, b Bounds) (Attack, error)

var (
	stagesMu    sync.Mutex
	extraStages []namedStage
)

type namedStage struct {
	name  string
	build StageBuilder
}

// RegisterAutoAttackStage appends a stage to the AutoAttack preset after
// the built-in APGD-CE and APGD-T stages (the hook through which black-box
// Square joins the ensemble, and FAB would). Stages run in
// registration order. It returns an error for an empty name, a nil
// builder or a name already used.
func RegisterAutoAttackStage(name string, build StageBuilder) error {
	if name == "" || build == nil {
		return fmt.Errorf("attack: autoattack stage needs a name and a builder")
	}
	if name == "apgd-ce" || name == "apgd-t" {
		return fmt.Errorf("attack: autoattack stage %q is built in", name)
	}
	stagesMu.Lock()
	defer stagesMu.Unlock()
	for _, s := range extraStages {
		if s.name == name {
			return fmt.Errorf("attack: autoattack stage %q registered twice", name)
		}
	}
	extraStages = append(extraStages, namedStage{name, build})
	return nil
}

// AutoAttack is the parameter-free ensemble of Croce & Hein (ICML 2020,
// Sec. 5), "standard" version without FAB: APGD-CE, then APGD-T (targeted
// DLR on the 9 runner-up classes), then every stage added with
// RegisterAutoAttackStage (Square with 5000 queries, as the standard
// version; FAB-T is not implemented), each run only on the
// samples no earlier stage fooled. A sample counts as fooled if any stage
// fooled it (worst case over the ensemble); its XAdv is that stage's.
// GradEvals and Queries add up over the stages.
//
// Defaults (AutoAttack's standard version): norm=linf, eps=0.3 (use 8/255
// for CIFAR-style data), steps=100 per APGD run, 1 restart, 9 target
// classes; clip range [0, 1]. Untargeted only.
type AutoAttack struct {
	ball
	steps    int
	nTargets int
	extra    []Attack
}

func (a *AutoAttack) bind() *binder {
	b := newBinder("autoattack")
	b.norm("norm", &a.norm, Linf, []Norm{Linf, L2}, "norm of the ball")
	b.float("eps", &a.eps, 0.3, "", "radius of the ball in input space")
	b.int("steps", &a.steps, 100, "", "iterations per APGD run")
	b.int("n_targets", &a.nTargets, 9, "", "target classes of APGD-T")
	b.bounds(&a.bounds)
	return b
}

func (a *AutoAttack) validate() error {
	if err := a.ball.validate("autoattack", true); err != nil {
		return err
	}
	if err := positiveInt("autoattack", "steps", a.steps); err != nil {
		return err
	}
	return positiveInt("autoattack", "n_targets", a.nTargets)
}

// Name returns "autoattack".
func (a *AutoAttack) Name() string { return "autoattack" }

// Params returns the resolved parameters and the stage names.
func (a *AutoAttack) Params() map[string]any {
	m := a.bind().values()
	st, _ := a.Stages()
	names := make([]string, len(st))
	for i, s := range st {
		names[i] = s.Name()
	}
	m["stages"] = names
	return m
}

// Append adds an attack as a further stage of this instance (after the
// registered ones). It must bound the same norm with a radius no larger
// than the preset's.
func (a *AutoAttack) Append(s Attack) error {
	if s.Norm() != a.norm || s.Eps() <= 0 || s.Eps() > a.eps {
		return fmt.Errorf("attack autoattack: stage %s has ball %s/%g, want %s with eps ≤ %g", s.Name(), s.Norm(), s.Eps(), a.norm, a.eps)
	}
	a.extra = append(a.extra, s)
	return nil
}

// Stages returns the attacks the preset runs, in order.
func (a *AutoAttack) Stages() ([]Attack, error) {
	common := map[string]string{
		"norm": a.norm.String(), "eps": strconv.FormatFloat(a.eps, 'g', -1, 64),
		"steps": strconv.Itoa(a.steps),
		"min":   strconv.FormatFloat(float64(a.bounds.Min), 'g', -1, 32),
		"max":   strconv.FormatFloat(float64(a.bounds.Max), 'g', -1, 32),
	}
	ce, err := New("apgd-ce", common)
	if err != nil {
		return nil, err
	}
	common["n_targets"] = strconv.Itoa(a.nTargets)
	t, err := New("apgd-t", common)
	if err != nil {
		return nil, err
	}
	out := []Attack{ce, t}
	stagesMu.Lock()
	extra := append([]namedStage(nil), extraStages...)
	stagesMu.Unlock()
	for _, s := range extra {
		at, err := s.build(a.norm, a.eps, a.bounds)
		if err != nil {
			return nil, fmt.Errorf("attack autoattack: stage %s: %w", s.name, err)
		}
		out = append(out, at)
	}
	return append(out, a.extra...), nil
}

// Run attacks a batch (untargeted only) with every stage in turn.
func (a *AutoAttack) Run(ctx context.Context, clf Classifier, b Batch, rng *rand.Rand) (*Outcome, error) {
	s, err := begin(ctx, clf, "autoattack", b, false, a.bounds)
	if err != nil {
		return nil, err
	}
	rs := newStreams(rng, b)
	stages, err := a.Stages()
	if err != nil {
		return nil, err
	}
	xadv := append([]float32(nil), s.x...)
	fooled := make([]bool, s.n)
	for k, st := range stages {
		idx := filter(s.attackable(), func(i int) bool { return !fooled[i] })
		if len(idx) == 0 {
			break
		}
		sub := Batch{X: s.view(append([]float32(nil), s.gather(s.x, idx)...), len(idx)), Y: make([]int, len(idx)), Index: rs.sub(idx)}
		for j, i := range idx {
			sub.Y[j] = s.y[i]
		}
		o, err := st.Run(ctx, clf, sub, rs.derive(fmt.Sprintf("stage %d %s", k, st.Name())))
		if err != nil {
			return nil, fmt.Errorf("attack autoattack: %w", err)
		}
		for j, i := range idx {
			s.gradEval[i] += o.GradEvals[j]
			s.queries[i] += o.Queries[j]
			if o.Fooled[j] {
				fooled[i] = true
				copy(s.row(xadv, i), o.XAdv.F[j*s.d:(j+1)*s.d])
			}
		}
	}
	return s.finish(xadv, a.norm, a.eps)
}

func init() {
	mustRegister("autoattack", factoryFor("AutoAttack ensemble: APGD-CE, APGD-T, then registered stages (Croce & Hein 2020)", func() configurable { return &AutoAttack{} }))
}
