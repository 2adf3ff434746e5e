package eval

import (
	"fmt"
	"strconv"

	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/report"
)

// Result holds every figure of one pool run, each computed once, here,
// from the run's per-sample outcomes: the clean figures, per attack the
// success rate, robust accuracy and perturbation and query statistics
// (report.AttackResult, through NewAttackResult), and the worst case over
// the pool's bounded attacks. The report, harden's rounds, the sanity
// checks and the eps sweep all read their figures from a Result.
type Result struct {
	// Pool is the per-sample measurement the figures were computed from.
	Pool *PoolResult
	// Specs describe the attacks, parallel to the pool's attacks as
	// configured (Attacks may be shorter when the run was interrupted).
	Specs []AttackSpec
	// N is the number of samples, NCleanCorrect the clean-correct ones and
	// CleanAccuracy NCleanCorrect/N (0 for no samples).
	N, NCleanCorrect int
	CleanAccuracy    float64
	// Attacks are the figures of each attack that ran, parallel to
	// Pool.Attacks. An interrupted attack's figures are over the samples
	// it reached.
	Attacks []report.AttackResult
	// WorstCase is the worst case over the bounded attacks (Eps > 0): a
	// clean-correct sample counts as fooled if any of them fooled it. An
	// unbounded minimal-perturbation attack (DeepFool, C&W, JSMA without
	// eps) fools nearly every sample by design; it reports perturbation
	// sizes, not a success rate to gate on.
	WorstCase report.WorstCase
}

// NewResult computes the figures of pool, whose attacks specs describe
// (specs[j] is pool.Attacks[j]'s; specs may be longer than pool.Attacks
// when the run stopped early).
//
// When the pool stopped early (pool.Incomplete), its last attack is
// partial: its figures are over the samples its finished batches covered
// (the data's first samples up to the last one it attacked), marked
// report.MeasuredPartial with the whole run's n as NPlanned; an attack
// that finished no batch is marked report.MeasuredNone. The worst case is
// then partial too: over the samples every bounded attack that ran
// covered, and over those attacks only (the others are listed as not
// measured). Attacks that never started are not in Attacks; ReportAttacks
// lists them as not measured.
func NewResult(pool *PoolResult, specs []AttackSpec) (*Result, error) {
	if pool == nil || pool.Clean == nil {
		return nil, fmt.Errorf("eval: no pool result")
	}
	if len(specs) < len(pool.Attacks) {
		return nil, fmt.Errorf("eval: %d attack specs for %d attacks", len(specs), len(pool.Attacks))
	}
	clean := pool.Clean.Correct
	r := &Result{Pool: pool, Specs: specs}
	r.N, r.NCleanCorrect, r.CleanAccuracy = CleanStats(clean)
	var bounded [][]SampleOutcome
	var notMeasured []string
	cover := len(clean) // the samples every bounded attack that ran covered
	for j, run := range pool.Attacks {
		stopped := pool.Incomplete != nil && j == len(pool.Attacks)-1
		if stopped && run.Done == 0 {
			r.Attacks = append(r.Attacks, unmeasured(specs[j], len(clean)))
			if specs[j].Eps > 0 {
				notMeasured = append(notMeasured, specs[j].Key())
			}
			continue
		}
		n := len(clean)
		if stopped {
			n = coveredSamples(clean, run.Done)
		}
		outs := outcomesOf(run)
		var gradEvals int64
		for _, g := range run.GradEvals {
			gradEvals += int64(g)
		}
		ar, err := NewAttackResult(specs[j], attackedClean(clean, run)[:n], outs[:n], Cost{GradientEvals: gradEvals, Seconds: run.Seconds})
		if err != nil {
			return nil, err
		}
		if stopped {
			ar.Measured, ar.NPlanned = report.MeasuredPartial, len(clean)
		}
		r.Attacks = append(r.Attacks, ar)
		if specs[j].Eps > 0 {
			bounded = append(bounded, outs)
			cover = min(cover, n)
		}
	}
	for _, sp := range specs[len(pool.Attacks):] {
		if sp.Eps > 0 {
			notMeasured = append(notMeasured, sp.Key())
		}
	}
	partial := cover < len(clean) || len(notMeasured) > 0
	if partial && len(bounded) == 0 {
		cover = 0
	}
	for k := range bounded {
		bounded[k] = bounded[k][:cover]
	}
	wc, err := WorstCaseOf(clean[:cover], bounded)
	if err != nil {
		return nil, err
	}
	if partial {
		wc.Measured = report.MeasuredPartial
		if cover == 0 {
			wc.Measured = report.MeasuredNone
		}
		wc.N, wc.NCleanCorrect, _ = CleanStats(clean[:cover])
		wc.NotMeasured = notMeasured
	}
	r.WorstCase = wc
	return r, nil
}

// ReportAttacks is the report's list of attacks: Attacks, then the
// attacks of Specs that never started (the run stopped before them),
// marked not measured.
func (r *Result) ReportAttacks() []report.AttackResult {
	out := append([]report.AttackResult(nil), r.Attacks...)
	for _, sp := range r.Specs[len(r.Pool.Attacks):] {
		out = append(out, unmeasured(sp, r.N))
	}
	return out
}

// unmeasured is the result of an attack the run stopped before: no
// figure (its success rate undefined), marked report.MeasuredNone, with
// the n samples it would have covered as NPlanned.
func unmeasured(spec AttackSpec, n int) report.AttackResult {
	params := make(map[string]string, len(spec.Params))
	for k, v := range spec.Params {
		params[k] = v
	}
	return report.AttackResult{
		Name: spec.Name, Key: spec.Key(), Params: params, Norm: spec.Norm, Eps: spec.Eps, Targeted: spec.Targeted,
		SRUndefined: true, Measured: report.MeasuredNone, NPlanned: n,
		Gate: report.AttackGate{MaxSR: copyFloat(spec.MaxSR), Passed: true, Reasons: []string{}},
	}
}

// coveredSamples is the number of the data's first samples that the first
// done clean-correct samples span: the samples an attack stopped after
// done of them covered (those not clean-correct among them need no
// attack).
func coveredSamples(clean []bool, done int) int {
	seen := 0
	for i, c := range clean {
		if c {
			seen++
			if seen == done {
				return i + 1
			}
		}
	}
	return len(clean)
}

// Complete reports whether every attack of the pool ran to the end.
func (r *Result) Complete() bool {
	return r.Pool.Incomplete == nil && len(r.Pool.Attacks) == len(r.Specs)
}

// AttackSR maps each attack's key to its success rate.
func (r *Result) AttackSR() map[string]float64 {
	out := make(map[string]float64, len(r.Attacks))
	for _, a := range r.Attacks {
		out[a.Key] = a.SuccessRate
	}
	return out
}

// attackedClean is the clean-correct mask restricted to the samples run
// attacked: all of them for a finished run (less those an attack skipped),
// those it reached for an interrupted one.
func attackedClean(clean []bool, run *AttackRun) []bool {
	out := make([]bool, len(clean))
	for i := range clean {
		out[i] = clean[i] && run.Attacked[i]
	}
	return out
}

func outcomesOf(run *AttackRun) []SampleOutcome {
	outs := make([]SampleOutcome, len(run.Fooled))
	for i := range outs {
		outs[i] = SampleOutcome{Fooled: run.Fooled[i], L0: run.L0[i], L2: run.L2[i], Linf: run.Linf[i], Queries: run.Queries[i]}
		if run.Reached != nil {
			outs[i].Reached = run.Reached[i]
		}
	}
	return outs
}

// NewAttackSpec describes a built attack for the figures: name and params
// as configured (they make its key), its norm and eps, whether it is
// targeted (a "targeted" param that parses as true) and whether it counts
// queries (a black-box attack).
//
// An attack crafted on a surrogate model (transfer) also records the
// surrogate file's SHA-256 as "surrogate_sha256", so that the report says
// which surrogate made its figures and a baseline made with another one is
// not matched as the same attack.
func NewAttackSpec(a attack.Attack, name string, params map[string]string) AttackSpec {
	if sg, ok := a.(interface{ Surrogate() (path, sha256 string) }); ok {
		if _, sha := sg.Surrogate(); sha != "" {
			withSHA := make(map[string]string, len(params)+1)
			for k, v := range params {
				withSHA[k] = v
			}
			withSHA["surrogate_sha256"] = sha
			params = withSHA
		}
	}
	_, blackBox := a.(attack.BlackBox)
	targeted, err := strconv.ParseBool(params["targeted"])
	spec := AttackSpec{Name: name, Params: params, Eps: a.Eps(), Targeted: err == nil && targeted, CountsQueries: blackBox}
	if a.Norm() != attack.NormNone {
		spec.Norm = a.Norm().String()
	}
	return spec
}

// Key is the attack's key in reports: report.Key of its name and params.
func (s AttackSpec) Key() string { return report.Key(s.Name, s.Params) }

// SpecsOf describes attacks built without a config (harden's and the
// sanity checks' own reruns): each named by its registry name with its
// resolved parameters (SpecOf).
func SpecsOf(attacks []attack.Attack) []AttackSpec {
	out := make([]AttackSpec, len(attacks))
	for i, a := range attacks {
		sp := SpecOf(a, nil)
		out[i] = NewAttackSpec(a, sp.Name, sp.Params)
	}
	return out
}
