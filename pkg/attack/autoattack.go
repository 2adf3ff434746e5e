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

// RegisterAutoAttackStage registers a stage builder by name. A version
// whose list names the stage (Square: "square") runs it at its place, and
// other versions leave it out; a registered stage no version names runs
// after every version's stages.
// Stages built into this file (the APGD and FAB variants) cannot be
// registered. It returns an error for an empty name, a nil builder or a
// name already used.
func RegisterAutoAttackStage(name string, build StageBuilder) error {
	if name == "" || build == nil {
		return fmt.Errorf("attack: autoattack stage needs a name and a builder")
	}
	switch name {
	case "apgd-ce", "apgd-t", "apgd-dlr", "fab", "fab-t":
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

// AutoAttack is the parameter-free ensemble of Croce & Hein, "Reliable
// evaluation of adversarial robustness with an ensemble of diverse
// parameter-free attacks" (ICML 2020, Sec. 5), with the versions of the
// authors' AutoAttack code (autoattack.py, set_version). Each stage runs
// only on the samples no earlier stage fooled; a sample counts as fooled
// if any stage fooled it (worst case over the ensemble), and its XAdv is
// that stage's. GradEvals and Queries add up over the stages.
//
// Versions (parameter "version"; the default is standard, which since
// issue #14 includes FAB-T: the earlier preset ran only APGD-CE, APGD-T
// and Square):
//
//   - standard: APGD-CE (1 restart), APGD-T (targeted DLR, n_targets = 9
//     target classes, 1 restart), FAB-T (n_targets = 9 target classes,
//     1 restart), Square (5000 queries, 1 restart). For norm=l1, as the
//     reference: APGD-CE with 5 restarts and APGD-T with 5 target
//     classes, both on the 3·eps/2·eps/eps schedule (large_reps), then
//     FAB-T; Square has no L1 form and is left out.
//   - plus (AA+): APGD-CE and APGD-DLR with 5 restarts, FAB (untargeted)
//     with 5 restarts, Square (5000 queries, 1 restart), APGD-T and FAB-T
//     (9 target classes, 1 restart each). Linf and L2.
//   - rand (for randomised defences): APGD-CE and APGD-DLR, 1 restart,
//     each gradient averaged over eot_iter = 20 passes (EOT).
//
// Defaults (AutoAttack's): version=standard, norm=linf, eps=0.3 (use
// 8/255 for CIFAR-style data), steps=100 per APGD and FAB run,
// n_targets=9, eot_iter=20 (rand only); clip range [0, 1]. Untargeted
// only.
type AutoAttack struct {
	ball
	version  string
	steps    int
	nTargets int
	eot      int
	extra    []Attack
}

// autoAttackVersions lists each version's stages, in order.
var autoAttackVersions = map[string][]string{
	"standard": {"apgd-ce", "apgd-t", "fab-t", "square"},
	"plus":     {"apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t"},
	"rand":     {"apgd-ce", "apgd-dlr"},
}

func (a *AutoAttack) bind() *binder {
	b := newBinder("autoattack")
	b.enum("version", &a.version, "standard", []string{"standard", "plus", "rand"}, "AutoAttack version: its list of attacks and their restarts")
	b.norm("norm", &a.norm, Linf, []Norm{Linf, L2, L1}, "norm of the ball (l1: standard and rand only)")
	b.float("eps", &a.eps, 0.3, "", "radius of the ball in input space")
	b.int("steps", &a.steps, 100, "", "iterations per APGD and FAB run")
	b.int("n_targets", &a.nTargets, 9, "", "target classes of APGD-T and FAB-T")
	b.int("eot_iter", &a.eot, 20, "", "gradient passes averaged per APGD iterate in the rand version")
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
	if err := positiveInt("autoattack", "eot_iter", a.eot); err != nil {
		return err
	}
	if a.norm == L1 && a.version == "plus" {
		return paramErr("autoattack", "norm", a.norm, "linf or l2 for version=plus (the reference's plus version has no L1 setting)")
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
// version's and the registered ones). It must bound the same norm with a
// radius no larger than the preset's.
func (a *AutoAttack) Append(s Attack) error {
	if s.Norm() != a.norm || s.Eps() <= 0 || s.Eps() > a.eps {
		return fmt.Errorf("attack autoattack: stage %s has ball %s/%g, want %s with eps ≤ %g", s.Name(), s.Norm(), s.Eps(), a.norm, a.eps)
	}
	a.extra = append(a.extra, s)
	return nil
}

// stageParams returns the parameters of a built-in stage in a version.
func (a *AutoAttack) stageParams(name string) map[string]string {
	p := map[string]string{
		"norm": a.norm.String(), "eps": strconv.FormatFloat(a.eps, 'g', -1, 64),
		"steps": strconv.Itoa(a.steps),
		"min":   strconv.FormatFloat(float64(a.bounds.Min), 'g', -1, 32),
		"max":   strconv.FormatFloat(float64(a.bounds.Max), 'g', -1, 32),
	}
	if name == "apgd-t" || name == "fab-t" {
		p["n_targets"] = strconv.Itoa(a.nTargets)
	}
	switch a.version {
	case "plus":
		if name == "apgd-ce" || name == "apgd-dlr" || name == "fab" {
			p["restarts"] = "5"
		}
	case "rand":
		p["eot_iter"] = strconv.Itoa(a.eot)
	default:
		if a.norm == L1 && (name == "apgd-ce" || name == "apgd-t") {
			p["large_reps"] = "true"
			if name == "apgd-ce" {
				p["restarts"] = "5"
			} else {
				p["n_targets"] = strconv.Itoa(min(a.nTargets, 5))
			}
		}
	}
	return p
}

// Stages returns the attacks the preset runs, in order.
func (a *AutoAttack) Stages() ([]Attack, error) {
	stagesMu.Lock()
	extra := append([]namedStage(nil), extraStages...)
	stagesMu.Unlock()
	builders := map[string]StageBuilder{}
	for _, s := range extra {
		builders[s.name] = s.build
	}
	var out []Attack
	used := map[string]bool{} // stages some version places itself
	for _, names := range autoAttackVersions {
		for _, name := range names {
			used[name] = true
		}
	}
	for _, name := range autoAttackVersions[a.version] {
		if name == "square" {
			build, ok := builders[name]
			if !ok || a.norm == L1 {
				continue // no L1 form; not linked in
			}
			at, err := build(a.norm, a.eps, a.bounds)
			if err != nil {
				return nil, fmt.Errorf("attack autoattack: stage %s: %w", name, err)
			}
			out = append(out, at)
			continue
		}
		at, err := New(name, a.stageParams(name))
		if err != nil {
			return nil, fmt.Errorf("attack autoattack: stage %s: %w", name, err)
		}
		out = append(out, at)
	}
	for _, s := range extra {
		if used[s.name] {
			continue
		}
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
	mustRegister("autoattack", factoryFor("AutoAttack ensemble, standard/plus/rand versions: APGD-CE, APGD-T, FAB-T, Square, ... (Croce & Hein 2020)", func() configurable { return &AutoAttack{} }))
}
