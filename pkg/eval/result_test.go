package eval

import (
	"context"
	"testing"

	"github.com/advtest/advtest/pkg/report"
)

// fakeRun is an AttackRun over n samples that attacked the first done
// clean-correct ones of clean and fooled those in fooled.
func fakeRun(clean []bool, done int, fooled ...int) *AttackRun {
	n := len(clean)
	r := &AttackRun{Attacked: make([]bool, n), Fooled: make([]bool, n), L0: make([]float64, n), L2: make([]float64, n),
		Linf: make([]float64, n), GradEvals: make([]int, n), Queries: make([]int, n), Done: done}
	k := 0
	for i, c := range clean {
		if c && k < done {
			r.Attacked[i] = true
			k++
		}
	}
	for _, i := range fooled {
		r.Fooled[i], r.L2[i], r.Linf[i], r.L0[i] = true, 1, 0.1, 3
	}
	return r
}

// TestNewResultPartial checks the figures of a pool that stopped early:
// the attack it stopped in is partial over the data prefix its finished
// batches covered, an attack that finished no batch and the specs never
// started are not measured, and the worst case is partial over what the
// bounded attacks that ran covered. A complete pool is marked nothing.
func TestNewResultPartial(t *testing.T) {
	// Samples 2 and 5 are not clean-correct: the first 4 clean-correct
	// samples span samples 0..4.
	clean := []bool{true, true, false, true, true, false, true, true}
	fgsm := AttackSpec{Name: "fgsm", Params: map[string]string{"eps": "0.1"}, Eps: 0.1}
	pgd := AttackSpec{Name: "pgd", Params: map[string]string{"eps": "0.1"}, Eps: 0.1}
	df := AttackSpec{Name: "deepfool"}
	square := AttackSpec{Name: "square", Params: map[string]string{"eps": "0.1"}, Eps: 0.1}
	stop := context.Canceled
	for _, tc := range []struct {
		name  string
		pool  []*AttackRun
		stop  error
		specs []AttackSpec
		// want per attack: measured, n, n_clean_correct, n_fooled
		want   [][4]any
		wcMeas string
		wcN    int // worst case's n when partial
		wcFool int
		wcNot  int
	}{
		{"complete", []*AttackRun{fakeRun(clean, 6, 0), fakeRun(clean, 6, 0, 1)}, nil, []AttackSpec{fgsm, pgd},
			[][4]any{{"", 8, 6, 1}, {"", 8, 6, 2}}, "", 0, 2, 0},
		{"stopped in pgd", []*AttackRun{fakeRun(clean, 6, 0, 7), fakeRun(clean, 4, 1, 3)}, stop, []AttackSpec{fgsm, pgd, df, square},
			[][4]any{{"", 8, 6, 2}, {report.MeasuredPartial, 5, 4, 2}, {report.MeasuredNone, 0, 0, 0}, {report.MeasuredNone, 0, 0, 0}}, report.MeasuredPartial, 5, 3, 1},
		{"stopped before pgd's first batch", []*AttackRun{fakeRun(clean, 6, 0), fakeRun(clean, 0)}, stop, []AttackSpec{fgsm, pgd},
			[][4]any{{"", 8, 6, 1}, {report.MeasuredNone, 0, 0, 0}}, report.MeasuredPartial, 8, 1, 1},
		{"stopped in the first attack's first batch", []*AttackRun{fakeRun(clean, 0)}, stop, []AttackSpec{fgsm, pgd},
			[][4]any{{report.MeasuredNone, 0, 0, 0}, {report.MeasuredNone, 0, 0, 0}}, report.MeasuredNone, 0, 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := &PoolResult{Clean: &CleanResult{N: len(clean), Correct: clean}, Attacks: tc.pool, Incomplete: tc.stop}
			res, err := NewResult(pool, tc.specs)
			if err != nil {
				t.Fatal(err)
			}
			if res.Complete() != (tc.stop == nil) {
				t.Errorf("Complete() = %v", res.Complete())
			}
			as := res.ReportAttacks()
			if len(as) != len(tc.want) {
				t.Fatalf("%d report attacks, want %d", len(as), len(tc.want))
			}
			for i, w := range tc.want {
				a := as[i]
				got := [4]any{a.Measured, a.N, a.NCleanCorrect, a.NFooled}
				if got != w {
					t.Errorf("%s: measured, n, clean, fooled = %v, want %v", a.Name, got, w)
				}
				if a.Measured != "" && a.NPlanned != len(clean) {
					t.Errorf("%s: n_planned %d, want %d", a.Name, a.NPlanned, len(clean))
				}
				if a.NotMeasured() && !a.SRUndefined {
					t.Errorf("%s: not measured but its SR is defined", a.Name)
				}
			}
			wc := res.WorstCase
			if wc.Measured != tc.wcMeas || wc.N != tc.wcN || wc.NFooled != tc.wcFool || len(wc.NotMeasured) != tc.wcNot {
				t.Errorf("worst case measured %q n %d fooled %d not measured %v; want %q %d %d and %d not measured",
					wc.Measured, wc.N, wc.NFooled, wc.NotMeasured, tc.wcMeas, tc.wcN, tc.wcFool, tc.wcNot)
			}
			rep := report.New("test")
			rep.N, rep.NCleanCorrect, rep.CleanAccuracy = res.N, res.NCleanCorrect, res.CleanAccuracy
			rep.Attacks, rep.WorstCase = as, wc
			if err := rep.Validate(); err != nil {
				t.Errorf("the report does not validate: %v", err)
			}
		})
	}
}
