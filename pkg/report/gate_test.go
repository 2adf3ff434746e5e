package report_test

import (
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/report"
)

func TestEvaluate(t *testing.T) {
	// sample(t): fgsm SR 0.25 (max_sr 0.5 recorded), pgd SR 0.625, worst case 0.75.
	baseline := func(mod func(b *report.Report)) *report.Report {
		b := sample(t)
		mod(b)
		return b
	}
	for _, c := range []struct {
		name    string
		mod     func(r *report.Report)
		gate    report.Gate
		pass    bool
		reasons []string // substrings, one per expected reason, in order
		notes   []string
	}{
		{name: "no gates", pass: true},
		{name: "max_targeted_sr ignores untargeted attacks", gate: report.Gate{MaxTargetedSR: fptr(0)}, pass: true},
		{name: "max_targeted_sr holds",
			mod: func(r *report.Report) {
				r.Attacks[1].TargetedSR = &report.TargetedSR{SuccessRate: 0.25, N: 8, NReached: 2}
			},
			gate: report.Gate{MaxTargetedSR: fptr(0.25)}, pass: true},
		{name: "max_targeted_sr exceeded",
			mod: func(r *report.Report) {
				r.Attacks[1].TargetedSR = &report.TargetedSR{SuccessRate: 0.25, N: 8, NReached: 2}
			},
			gate:    report.Gate{MaxTargetedSR: fptr(0.2)},
			reasons: []string{"pgd: targeted success rate 0.25 (2/8) is above max_targeted_sr 0.2"}},
		{name: "targeted regression over the baseline",
			mod: func(r *report.Report) {
				r.Attacks[1].TargetedSR = &report.TargetedSR{SuccessRate: 0.25, N: 8, NReached: 2}
			},
			gate: report.Gate{MaxRegression: 0.1, Baseline: baseline(func(b *report.Report) {
				b.Attacks[1].TargetedSR = &report.TargetedSR{SuccessRate: 0.125, N: 8, NReached: 1}
			})},
			reasons: []string{"pgd: targeted success rate 0.25 (2/8) rose by 0.125 over the baseline's 0.125 (max_regression 0.1)"}},
		{name: "an incomplete run fails whatever its figures",
			mod:     func(r *report.Report) { r.Incomplete, r.IncompleteReason = true, "interrupted" },
			reasons: []string{"run incomplete: interrupted"}},
		{name: "a partial attack is not compared with the baseline",
			mod: func(r *report.Report) {
				r.Incomplete, r.IncompleteReason = true, "interrupted"
				r.Attacks[1].Measured, r.Attacks[1].NPlanned = report.MeasuredPartial, 10
			},
			gate:    report.Gate{Baseline: baseline(func(b *report.Report) { b.Attacks[1].SuccessRate = 0 })},
			reasons: []string{"run incomplete: interrupted"},
			notes:   []string{"pgd: partial (n=10 of 10"}},
		{name: "fail_above above", gate: report.Gate{FailAbove: fptr(0.75)}, pass: true},
		{name: "fail_above exceeded", gate: report.Gate{FailAbove: fptr(0.7)}, reasons: []string{"worst-case success rate 0.75 (6/8) is above fail_above 0.7"}},
		{name: "fail_above zero", gate: report.Gate{FailAbove: fptr(0)}, reasons: []string{"above fail_above 0"}},
		{name: "recorded max_sr holds", mod: func(r *report.Report) { r.Attacks[0].Gate.MaxSR = fptr(0.25) }, pass: true},
		{name: "recorded max_sr exceeded", mod: func(r *report.Report) { r.Attacks[0].Gate.MaxSR = fptr(0.2) }, reasons: []string{"fgsm: success rate 0.25 (2/8) is above its max_sr 0.2"}},
		{name: "max_sr by name overrides", gate: report.Gate{MaxSR: map[string]float64{"fgsm": 0.1}}, reasons: []string{"fgsm: success rate 0.25"}},
		{name: "max_sr by key", gate: report.Gate{MaxSR: map[string]float64{"pgd{eps=0.1,norm=linf,steps=40}": 0.6}}, reasons: []string{"pgd: success rate 0.625"}},
		{name: "max_sr key wins over name", gate: report.Gate{MaxSR: map[string]float64{"pgd": 0.1, "pgd{eps=0.1,norm=linf,steps=40}": 0.7}}, pass: true},
		{name: "same as baseline", gate: report.Gate{Baseline: baseline(func(*report.Report) {})}, pass: true},
		{name: "regression within margin", gate: report.Gate{MaxRegression: 0.125, Baseline: baseline(func(b *report.Report) { b.Attacks[1].SuccessRate = 0.5 })}, pass: true},
		{name: "regression beyond margin",
			gate:    report.Gate{MaxRegression: 0.1, Baseline: baseline(func(b *report.Report) { b.Attacks[1].SuccessRate = 0.5 })},
			reasons: []string{"pgd: success rate 0.625 (5/8) rose by 0.125 over the baseline's 0.5 (max_regression 0.1)"}},
		{name: "improvement passes", gate: report.Gate{Baseline: baseline(func(b *report.Report) { b.Attacks[1].SuccessRate = 0.9 })}, pass: true},
		{name: "matched by canonical params",
			mod:     func(r *report.Report) { r.Attacks[1].Params["eps"] = "0.10" },
			gate:    report.Gate{Baseline: baseline(func(b *report.Report) { b.Attacks[1].SuccessRate = 0.5 })},
			reasons: []string{"pgd: success rate 0.625 (5/8) rose by 0.125"}},
		{name: "a baseline attack missing here fails",
			gate:    report.Gate{Baseline: baseline(func(b *report.Report) { b.Attacks[1].Params["steps"] = "10"; b.Attacks[1].SuccessRate = 0 })},
			reasons: []string{"pgd{eps=0.1,norm=linf,steps=10}: in the baseline, not run here"},
			notes:   []string{"pgd: new attack", "another attack pool"}},
		{name: "a missing attack allowed deliberately is a note",
			gate:  report.Gate{AllowMissing: true, Baseline: baseline(func(b *report.Report) { b.Attacks[1].Params["steps"] = "10"; b.Attacks[1].SuccessRate = 0 })},
			pass:  true,
			notes: []string{"pgd: new attack", "pgd{eps=0.1,norm=linf,steps=10}: in the baseline, not run here (allowed)", "another attack pool"}},
		{name: "matched by KeyOf (defaults filled in)",
			mod: func(r *report.Report) { delete(r.Attacks[1].Params, "norm") },
			gate: report.Gate{MaxRegression: 0.1, KeyOf: func(a report.AttackResult) string {
				p := map[string]string{"norm": "linf"}
				for k, v := range a.Params {
					p[k] = v
				}
				return report.Key(a.Name, p)
			}, Baseline: baseline(func(b *report.Report) { b.Attacks[1].SuccessRate = 0.12 })},
			reasons: []string{"pgd: success rate 0.625 (5/8) rose by 0.505"}},
		{name: "clean accuracy below the floor fails", gate: report.Gate{MinCleanAccuracy: fptr(0.9)}, reasons: []string{"clean accuracy 0.8 (8/10) is below min_clean_accuracy 0.9"}},
		{name: "clean accuracy at the floor passes", gate: report.Gate{MinCleanAccuracy: fptr(0.8)}, pass: true},
		{name: "worst-case regression on the same pool",
			gate:    report.Gate{MaxRegression: 0.1, Baseline: baseline(func(b *report.Report) { b.WorstCase.SuccessRate = 0.6; b.Attacks[1].SuccessRate = 0.6 })},
			reasons: []string{"worst-case success rate 0.75 (6/8) rose by 0.15"}},
		{name: "incomplete run fails", mod: func(r *report.Report) { r.Incomplete = true; r.IncompleteReason = "interrupted" }, reasons: []string{"run incomplete: interrupted"}},
		{name: "undefined SR fails no threshold",
			mod:  func(r *report.Report) { r.Attacks[0].SRUndefined = true; r.WorstCase.SRUndefined = true },
			gate: report.Gate{FailAbove: fptr(0), MaxSR: map[string]float64{"fgsm": 0}},
			pass: true},
		{name: "float noise is tolerated", mod: func(r *report.Report) { r.WorstCase.SuccessRate = 0.1 + 0.2 }, gate: report.Gate{FailAbove: fptr(0.3)}, pass: true},
		{name: "other data is noted",
			gate:  report.Gate{Baseline: baseline(func(b *report.Report) { b.Data.SHA256 = "00"; b.N = 5 })},
			pass:  true,
			notes: []string{"other data", "evaluated 5 samples, this run 10"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := sample(t)
			if c.mod != nil {
				c.mod(r)
			}
			v := report.Check(r, c.gate)
			passed, reasons := v.Passed, v.Reasons
			if passed != c.pass {
				t.Errorf("passed = %v, want %v (reasons %q)", passed, c.pass, reasons)
			}
			if len(reasons) != len(c.reasons) {
				t.Fatalf("reasons %q, want %d matching %q", reasons, len(c.reasons), c.reasons)
			}
			for i, want := range c.reasons {
				if !strings.Contains(reasons[i], want) {
					t.Errorf("reason %d = %q, want it to contain %q", i, reasons[i], want)
				}
			}
			if c.notes != nil {
				v := report.Check(r, c.gate)
				if len(v.Notes) != len(c.notes) {
					t.Fatalf("notes %q, want %q", v.Notes, c.notes)
				}
				for i, want := range c.notes {
					if !strings.Contains(v.Notes[i], want) {
						t.Errorf("note %d = %q, want it to contain %q", i, v.Notes[i], want)
					}
				}
			}
		})
	}
}

func TestApplyGateRecords(t *testing.T) {
	r := sample(t)
	b := sample(t)
	b.Attacks = b.Attacks[1:]
	if r.ApplyGate(report.Gate{FailAbove: fptr(0.5), Baseline: b, BaselineName: "old.json", MaxRegression: 0.02}) {
		t.Fatal("passed, want the fail_above gate to fail")
	}
	if r.Gate.Passed || len(r.Gate.Reasons) != 1 || r.Gate.Baseline != "old.json" || r.Gate.MaxRegression != 0.02 {
		t.Errorf("gate %+v", r.Gate)
	}
	if !r.Attacks[0].Gate.New || r.Attacks[0].Gate.BaselineSR != nil || !r.Attacks[0].Gate.Passed {
		t.Errorf("fgsm gate %+v, want new and passed", r.Attacks[0].Gate)
	}
	if g := r.Attacks[1].Gate; g.BaselineSR == nil || *g.BaselineSR != 0.625 || !g.Passed {
		t.Errorf("pgd gate %+v", g)
	}
	if r.WorstCase.Gate.Passed || *r.WorstCase.Gate.FailAbove != 0.5 {
		t.Errorf("worst case gate %+v", r.WorstCase.Gate)
	}
}
