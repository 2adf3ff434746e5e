package eval

import (
	"fmt"
	"math"

	"github.com/advtest/advtest/pkg/report"
)

// SampleOutcome is what one attack did to one sample.
type SampleOutcome struct {
	// Fooled is true when the attack succeeded within its budget
	// (misclassified for untargeted attacks, the target class for targeted
	// ones). It is ignored for samples that were not clean-correct.
	Fooled bool
	// L0, L2 and Linf are the norms of x_adv - x in input space; they are
	// read only when Fooled is true.
	L0, L2, Linf float64
	// Queries is the number of model queries the attack spent on the
	// sample; 0 for attacks that do not count queries.
	Queries int
	// Reached is true, for a targeted attack (AttackSpec.Targeted), when
	// the adversarial example is classified as the sample's target; Fooled
	// then says whether it is misclassified at all. A sample the attack
	// skipped (its label is its target) is not clean-correct for the
	// attack's figures.
	Reached bool
}

// AttackSpec describes an attack as configured and resolved.
type AttackSpec struct {
	// Name is the attack's registry name.
	Name string
	// Params are the resolved parameters, values as strings.
	Params map[string]string
	// Norm is the threat model's norm (linf, l2, l1, l0) or empty.
	Norm string
	// Eps is the budget in input space; 0 when unbounded.
	Eps float64
	// Targeted is true for targeted attacks.
	Targeted bool
	// MaxSR is the attack's success rate ceiling from the config; nil for
	// none.
	MaxSR *float64
	// CountsQueries is true for attacks that count model queries (the
	// black-box ones); their results carry query statistics.
	CountsQueries bool
	// KeepNorms keeps the fooled samples' norms in the result
	// (AttackResult.FooledNorms), for an exact merge of shard reports.
	KeepNorms bool
}

// Cost is what an attack spent.
type Cost struct {
	// GradientEvals is the number of per-sample input-gradient evaluations.
	GradientEvals int64
	// Seconds is the wall-clock time.
	Seconds float64
}

// CleanStats returns the number of samples, of clean-correct samples, and
// the clean accuracy (0 when there are no samples).
func CleanStats(clean []bool) (n, nCleanCorrect int, accuracy float64) {
	for _, c := range clean {
		if c {
			nCleanCorrect++
		}
	}
	return len(clean), nCleanCorrect, ratio(nCleanCorrect, len(clean))
}

// NewAttackResult computes an attack's figures from per-sample outcomes.
// clean[i] says whether sample i was clean-correct and outcomes[i] is the
// attack's outcome on it; the two must have the same length. Norms of
// fooled samples must be finite and not negative. The result's gate passes
// until Evaluate or ApplyGate says otherwise.
func NewAttackResult(spec AttackSpec, clean []bool, outcomes []SampleOutcome, cost Cost) (report.AttackResult, error) {
	if len(clean) != len(outcomes) {
		return report.AttackResult{}, fmt.Errorf("eval: attack %s: %d outcomes for %d samples", spec.Name, len(outcomes), len(clean))
	}
	if spec.Name == "" {
		return report.AttackResult{}, fmt.Errorf("eval: attack name is empty")
	}
	if !finite(spec.Eps) || spec.Eps < 0 {
		return report.AttackResult{}, fmt.Errorf("eval: attack %s: eps %v: want a finite number >= 0", spec.Name, spec.Eps)
	}
	if !finite(cost.Seconds) || cost.Seconds < 0 || cost.GradientEvals < 0 {
		return report.AttackResult{}, fmt.Errorf("eval: attack %s: cost must be finite and not negative", spec.Name)
	}
	var l0, l2, linf, queries []float64
	nClean, nFooled, nReached := 0, 0, 0
	for i, o := range outcomes {
		if !clean[i] {
			continue
		}
		nClean++
		if o.Reached {
			nReached++
		}
		if !o.Fooled {
			continue
		}
		nFooled++
		for _, v := range [...]float64{o.L0, o.L2, o.Linf} {
			if !finite(v) || v < 0 {
				return report.AttackResult{}, fmt.Errorf("eval: attack %s: sample %d: perturbation norm %v: want a finite number >= 0", spec.Name, i, v)
			}
		}
		if o.Queries < 0 {
			return report.AttackResult{}, fmt.Errorf("eval: attack %s: sample %d: negative query count %d", spec.Name, i, o.Queries)
		}
		l0 = append(l0, o.L0)
		l2 = append(l2, o.L2)
		linf = append(linf, o.Linf)
		queries = append(queries, float64(o.Queries))
	}
	params := make(map[string]string, len(spec.Params))
	for k, v := range spec.Params {
		params[k] = v
	}
	res := report.AttackResult{
		Name:           spec.Name,
		Key:            report.Key(spec.Name, spec.Params),
		Params:         params,
		Norm:           spec.Norm,
		Eps:            spec.Eps,
		Targeted:       spec.Targeted,
		SuccessRate:    ratio(nFooled, nClean),
		SRUndefined:    nClean == 0,
		RobustAccuracy: ratio(nClean-nFooled, len(clean)),
		N:              len(clean),
		NCleanCorrect:  nClean,
		NFooled:        nFooled,
		Perturbation: report.Perturbation{
			L0:   report.NewNormStats(l0),
			L2:   report.NewNormStats(l2),
			Linf: report.NewNormStats(linf),
		},
		GradientEvals: cost.GradientEvals,
		Seconds:       cost.Seconds,
		Gate:          report.AttackGate{MaxSR: copyFloat(spec.MaxSR), Passed: true, Reasons: []string{}},
	}
	if spec.Targeted {
		res.TargetedSR = &report.TargetedSR{SuccessRate: ratio(nReached, nClean), N: nClean, NReached: nReached}
	}
	if spec.KeepNorms {
		res.FooledNorms = &report.FooledNorms{L0: nonNil(l0), L2: nonNil(l2), Linf: nonNil(linf)}
		if spec.CountsQueries {
			res.FooledNorms.Queries = nonNil(queries)
		}
	}
	if spec.CountsQueries {
		q := report.NewNormStats(queries)
		res.Queries = &q
	}
	return res, nil
}

// WorstCaseOf computes the worst case over a pool: perAttack[j][i] is
// attack j's outcome on sample i, and a clean-correct sample counts as
// fooled if any attack fooled it. Every perAttack[j] must have len(clean)
// entries. With no attacks nothing is fooled.
func WorstCaseOf(clean []bool, perAttack [][]SampleOutcome) (report.WorstCase, error) {
	for j, outs := range perAttack {
		if len(outs) != len(clean) {
			return report.WorstCase{}, fmt.Errorf("eval: worst case: attack %d has %d outcomes for %d samples", j, len(outs), len(clean))
		}
	}
	nClean, nFooled := 0, 0
	for i, c := range clean {
		if !c {
			continue
		}
		nClean++
		for _, outs := range perAttack {
			if outs[i].Fooled {
				nFooled++
				break
			}
		}
	}
	return report.WorstCase{
		SuccessRate:    ratio(nFooled, nClean),
		SRUndefined:    nClean == 0,
		RobustAccuracy: ratio(nClean-nFooled, len(clean)),
		NFooled:        nFooled,
		Gate:           report.WorstCaseGate{Passed: true, Reasons: []string{}},
	}, nil
}

func ratio(num, den int) float64 {
	if den == 0 {
		return 0
	}
	return float64(num) / float64(den)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func nonNil(v []float64) []float64 {
	if v == nil {
		return []float64{}
	}
	return v
}

func copyFloat(p *float64) *float64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
