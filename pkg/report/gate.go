package report

import (
	"fmt"
	"sort"
	"strconv"
)

// tolerance absorbs floating-point noise when a rate is compared with a
// threshold, so that 0.1+0.2 is not "above" 0.3.
const tolerance = 1e-9

// Gate holds the thresholds a run is judged against. The zero Gate passes
// every complete run.
type Gate struct {
	// FailAbove fails the run when the worst-case success rate is above it;
	// nil disables the check.
	FailAbove *float64
	// MaxSR holds per-attack success rate ceilings, looked up by attack key
	// first and by attack name second. A ceiling found here replaces the
	// one already recorded in the attack's result (AttackResult.Gate.MaxSR,
	// set from the config by NewAttackResult), which applies otherwise.
	MaxSR map[string]float64
	// MinCleanAccuracy fails the run when Report.CleanAccuracy is below
	// it; nil disables the check.
	MinCleanAccuracy *float64
	// MaxTargetedSR fails the run when a targeted attack's targeted
	// success rate (AttackResult.TargetedSR: the fraction of its samples
	// classified as their target) is above it; nil disables the check.
	MaxTargetedSR *float64
	// AllowMissing lets attacks of the baseline that this run lacks pass
	// as notes; by default each fails the gate (a regression gate must not
	// be skipped by renaming or dropping an attack).
	AllowMissing bool
	// KeyOf, when set, is the key attacks are matched by against the
	// baseline: pkg/run passes one that fills every default in (the
	// attack's resolved parameters), so that spelling out a default
	// (norm=linf) or leaving it out names the same attack. Nil: Key of the
	// name and params as recorded.
	KeyOf func(AttackResult) string
	// Baseline is the report of an earlier run to compare against; nil
	// disables the regression checks.
	Baseline *Report
	// BaselineName names the baseline in the report (usually its path).
	BaselineName string
	// MaxRegression is how much an attack's success rate may rise over the
	// same attack's rate in the baseline (an absolute difference: 0.05 is
	// five percentage points). With the zero value any rise fails.
	MaxRegression float64
}

// Verdict is the full outcome of Check: the run's verdict and each part's.
type Verdict struct {
	// Passed is true when no gate failed.
	Passed bool
	// Reasons lists every failed gate.
	Reasons []string
	// Notes lists facts that fail nothing (new attacks, attacks missing
	// from this run, a baseline on other data).
	Notes []string
	// Attacks holds each attack's verdict, parallel to Report.Attacks.
	Attacks []AttackGate
	// WorstCase is the verdict of the pool-wide gates.
	WorstCase WorstCaseGate
}

// Check judges r against g and says whether it passed and, if not,
// why, one reason per failed gate. It fails the run when:
//
//   - the run is incomplete (Report.Incomplete);
//   - the worst-case success rate is above g.FailAbove;
//   - an attack's success rate is above its ceiling (g.MaxSR, else the
//     attack's recorded AttackResult.Gate.MaxSR);
//   - a targeted attack's targeted success rate is above g.MaxTargetedSR;
//   - with a baseline, an attack's success rate rose by more than
//     g.MaxRegression over the same attack's rate in the baseline, or a
//     targeted attack's targeted success rate over the baseline's. Attacks
//     are matched by Key (name and canonical params); an attack the
//     baseline lacks is new, which is a note, not a failure; an attack
//     this run did not measure to the end (it stopped first) is not
//     compared;
//   - with a baseline that ran the same pool (the same set of keys), the
//     worst-case success rate rose by more than g.MaxRegression;
//   - a sanity check of r.Sanity is flagged (gradient masking suspected).
//
// An attack or worst case whose success rate is undefined (no clean-correct
// samples) fails no threshold. Check does not modify r; it returns the
// verdict broken down by attack, with notes.
func Check(r *Report, g Gate) Verdict {
	keyOf := g.KeyOf
	if keyOf == nil {
		keyOf = func(a AttackResult) string { return Key(a.Name, a.Params) }
	}
	v := Verdict{Passed: true, Reasons: []string{}, Notes: []string{}}
	v.WorstCase = WorstCaseGate{FailAbove: copyFloat(g.FailAbove), Passed: true, Reasons: []string{}}
	labels := AttackLabels(r.Attacks)

	var base map[string]AttackResult
	if g.Baseline != nil {
		base = make(map[string]AttackResult, len(g.Baseline.Attacks))
		for _, a := range g.Baseline.Attacks {
			k := keyOf(a)
			if _, dup := base[k]; !dup {
				base[k] = a
			}
		}
	}

	seen := make(map[string]bool, len(r.Attacks))
	for i, a := range r.Attacks {
		ag := AttackGate{MaxSR: copyFloat(a.Gate.MaxSR), Passed: true, Reasons: []string{}}
		key := Key(a.Name, a.Params)
		seen[keyOf(a)] = true
		if m, ok := g.MaxSR[key]; ok {
			ag.MaxSR = &m
		} else if m, ok := g.MaxSR[a.Name]; ok {
			ag.MaxSR = &m
		}
		if ag.MaxSR != nil && !a.SRUndefined && a.SuccessRate > *ag.MaxSR+tolerance {
			ag.Reasons = append(ag.Reasons, fmt.Sprintf("%s: success rate %s is above its max_sr %s",
				labels[i], rateCount(a.SuccessRate, a.NFooled, a.NCleanCorrect), num(*ag.MaxSR)))
		}
		if t := a.TargetedSR; t != nil && g.MaxTargetedSR != nil && !a.NotMeasured() {
			m := *g.MaxTargetedSR
			ag.MaxTargetedSR = &m
			if t.N > 0 && t.SuccessRate > m+tolerance {
				ag.Reasons = append(ag.Reasons, fmt.Sprintf("%s: targeted success rate %s is above max_targeted_sr %s",
					labels[i], rateCount(t.SuccessRate, t.NReached, t.N), num(m)))
			}
		}
		if base != nil {
			b, ok := base[keyOf(a)]
			switch {
			case !ok:
				ag.New = true
				v.Notes = append(v.Notes, fmt.Sprintf("%s: new attack, not in the baseline", labels[i]))
			case a.NotMeasured():
				v.Notes = append(v.Notes, fmt.Sprintf("%s: not measured (the run stopped before it), not compared with the baseline", labels[i]))
			case a.Partial():
				v.Notes = append(v.Notes, fmt.Sprintf("%s: partial (n=%d of %d; the run stopped while it ran), not compared with the baseline", labels[i], a.N, a.NPlanned))
			case a.SRUndefined || b.SRUndefined:
				bsr := b.SuccessRate
				ag.BaselineSR = &bsr
				v.Notes = append(v.Notes, fmt.Sprintf("%s: success rate undefined here or in the baseline, not compared", labels[i]))
			default:
				bsr := b.SuccessRate
				ag.BaselineSR = &bsr
				if rise := a.SuccessRate - bsr; rise > g.MaxRegression+tolerance {
					ag.Reasons = append(ag.Reasons, fmt.Sprintf("%s: success rate %s rose by %s over the baseline's %s (max_regression %s)",
						labels[i], rateCount(a.SuccessRate, a.NFooled, a.NCleanCorrect), num4(rise), num4(bsr), num(g.MaxRegression)))
				}
			}
			if ok && a.Measured == "" && a.TargetedSR != nil && b.TargetedSR != nil && a.TargetedSR.N > 0 && b.TargetedSR.N > 0 {
				t, bt := *a.TargetedSR, b.TargetedSR.SuccessRate
				ag.BaselineTargetedSR = &bt
				if rise := t.SuccessRate - bt; rise > g.MaxRegression+tolerance {
					ag.Reasons = append(ag.Reasons, fmt.Sprintf("%s: targeted success rate %s rose by %s over the baseline's %s (max_regression %s)",
						labels[i], rateCount(t.SuccessRate, t.NReached, t.N), num4(rise), num4(bt), num(g.MaxRegression)))
				}
			}
		}
		ag.Passed = len(ag.Reasons) == 0
		v.Reasons = append(v.Reasons, ag.Reasons...)
		v.Attacks = append(v.Attacks, ag)
	}

	wc := &v.WorstCase
	if r.Incomplete {
		why := r.IncompleteReason
		if why == "" {
			why = "no reason recorded"
		}
		wc.Reasons = append(wc.Reasons, "run incomplete: "+why)
	}
	if g.MinCleanAccuracy != nil && r.N > 0 && r.CleanAccuracy < *g.MinCleanAccuracy-tolerance {
		wc.Reasons = append(wc.Reasons, fmt.Sprintf("clean accuracy %s is below min_clean_accuracy %s",
			rateCount(r.CleanAccuracy, r.NCleanCorrect, r.N), num(*g.MinCleanAccuracy)))
	}
	w := r.WorstCase
	_, wClean := r.WorstCaseCounts()
	if g.FailAbove != nil && !w.SRUndefined && w.Measured != MeasuredNone && w.SuccessRate > *g.FailAbove+tolerance {
		wc.Reasons = append(wc.Reasons, fmt.Sprintf("worst-case success rate %s is above fail_above %s",
			rateCount(w.SuccessRate, w.NFooled, wClean), num(*g.FailAbove)))
	}
	if g.Baseline != nil {
		b := g.Baseline
		var missing []string
		for k := range base {
			if !seen[k] {
				missing = append(missing, k)
			}
		}
		sort.Strings(missing)
		for _, k := range missing {
			if g.AllowMissing {
				v.Notes = append(v.Notes, fmt.Sprintf("%s: in the baseline, not run here (allowed)", k))
			} else {
				wc.Reasons = append(wc.Reasons, fmt.Sprintf("%s: in the baseline, not run here: its regression is not checked (run it, or pass --allow-missing-attacks)", k))
			}
		}
		samePool := len(missing) == 0 && len(base) == len(seen)
		if samePool && w.Measured == "" && !w.SRUndefined && !b.WorstCase.SRUndefined {
			bsr := b.WorstCase.SuccessRate
			wc.BaselineSR = &bsr
			if rise := w.SuccessRate - bsr; rise > g.MaxRegression+tolerance {
				wc.Reasons = append(wc.Reasons, fmt.Sprintf("worst-case success rate %s rose by %s over the baseline's %s (max_regression %s)",
					rateCount(w.SuccessRate, w.NFooled, r.NCleanCorrect), num4(rise), num4(bsr), num(g.MaxRegression)))
			}
		} else if samePool && w.Measured != "" {
			v.Notes = append(v.Notes, "the worst case is partial (the run stopped early): not compared with the baseline's")
		} else if !samePool {
			v.Notes = append(v.Notes, "the baseline ran another attack pool: worst case not compared")
		}
		if b.Data.SHA256 != "" && r.Data.SHA256 != "" && b.Data.SHA256 != r.Data.SHA256 {
			v.Notes = append(v.Notes, "the baseline was measured on other data (data sha256 differs)")
		}
		if b.N != r.N {
			v.Notes = append(v.Notes, fmt.Sprintf("the baseline evaluated %d samples, this run %d", b.N, r.N))
		}
		if b.Incomplete {
			v.Notes = append(v.Notes, "the baseline run was incomplete")
		}
	}
	wc.Passed = len(wc.Reasons) == 0
	v.Reasons = append(v.Reasons, wc.Reasons...)
	for _, c := range r.Sanity {
		if c.Flagged() {
			v.Reasons = append(v.Reasons, "gradient masking suspected: sanity "+c.String())
		}
	}
	v.Passed = len(v.Reasons) == 0
	return v
}

// ApplyGate judges r against g (see Check), records the verdict in r
// (Gate, each attack's Gate, WorstCase.Gate) and returns whether r passed.
func (r *Report) ApplyGate(g Gate) bool {
	v := Check(r, g)
	for i := range r.Attacks {
		r.Attacks[i].Gate = v.Attacks[i]
	}
	r.WorstCase.Gate = v.WorstCase
	r.Gate = GateResult{
		Passed:   v.Passed,
		Reasons:  v.Reasons,
		Notes:    v.Notes,
		Baseline: g.BaselineName,
	}
	if g.Baseline != nil {
		r.Gate.MaxRegression = g.MaxRegression
	}
	return v.Passed
}

// AttackLabels names each attack for people: its name when the name is
// unique in the pool, its key otherwise.
func AttackLabels(as []AttackResult) []string {
	count := map[string]int{}
	for _, a := range as {
		count[a.Name]++
	}
	out := make([]string, len(as))
	for i, a := range as {
		if count[a.Name] > 1 {
			out[i] = Key(a.Name, a.Params)
		} else {
			out[i] = a.Name
		}
	}
	return out
}

// num writes a threshold as configured, in its shortest form.
func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// num4 writes a measured rate with four significant digits.
func num4(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

func rateCount(rate float64, k, n int) string {
	return fmt.Sprintf("%s (%d/%d)", num4(rate), k, n)
}

func copyFloat(p *float64) *float64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
