package report_test

import (
	"math"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/eval"
	"github.com/advtest/advtest/pkg/report"
)

// runReport builds the report of a run over the samples [lo, hi) of a
// fixed 12-sample pool: clean-correct flags and two attacks' outcomes (one
// counting queries) and a sweep of two points, the way cmd/attack builds
// it.
func runReport(t *testing.T, lo, hi int) *report.Report {
	t.Helper()
	return runReportKeep(t, lo, hi, false)
}

// runReportKeep is runReport with the fooled samples' norms kept (as
// sharded runs keep them) when keep is set.
func runReportKeep(t *testing.T, lo, hi int, keep bool) *report.Report {
	t.Helper()
	clean := []bool{true, true, false, true, true, true, true, false, true, true, true, true}
	fgsm := outcomes(true, false, true, false, false, true, false, false, false, true, false, false)
	pgd := outcomes(true, true, false, false, true, true, false, true, true, true, false, true)
	sweep := [][]eval.SampleOutcome{
		outcomes(false, false, false, false, true, false, false, false, false, true, false, false),
		outcomes(true, true, true, true, true, true, false, false, true, true, false, true),
	}
	clean, fgsm, pgd = clean[lo:hi], fgsm[lo:hi], pgd[lo:hi]
	r := report.New("v0.1.0-test")
	r.Seed = 7
	r.Model = report.Model{Path: "m.onnx", SHA256: strings.Repeat("ab", 32)}
	r.Data = report.Data{Path: "x.npy", SHA256: strings.Repeat("cd", 32), N: 12}
	r.Config = map[string]any{"seed": 7}
	r.N, r.NCleanCorrect, r.CleanAccuracy = eval.CleanStats(clean)
	a1, err := eval.NewAttackResult(eval.AttackSpec{Name: "fgsm", Params: map[string]string{"eps": "0.1"}, Norm: "linf", Eps: 0.1, MaxSR: fptr(0.5), KeepNorms: keep}, clean, fgsm, eval.Cost{GradientEvals: int64(hi - lo), Seconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	a2, err := eval.NewAttackResult(eval.AttackSpec{Name: "square", Params: map[string]string{"eps": "0.1"}, Norm: "linf", Eps: 0.1, CountsQueries: true, KeepNorms: keep}, clean, pgd, eval.Cost{Seconds: 2})
	if err != nil {
		t.Fatal(err)
	}
	r.Attacks = []report.AttackResult{a1, a2}
	if r.WorstCase, err = eval.WorstCaseOf(clean, [][]eval.SampleOutcome{fgsm, pgd}); err != nil {
		t.Fatal(err)
	}
	for i, eps := range []float64{0.05, 0.2} {
		ar, err := eval.NewAttackResult(eval.AttackSpec{Name: "square", Eps: eps}, clean, sweep[i][lo:hi], eval.Cost{})
		if err != nil {
			t.Fatal(err)
		}
		r.Sweep = append(r.Sweep, report.SweepRow{Attack: a2.Key, Eps: eps, SuccessRate: ar.SuccessRate, RobustAccuracy: ar.RobustAccuracy, NFooled: ar.NFooled})
	}
	r.ApplyGate(report.Gate{FailAbove: fptr(0.6)})
	return r
}

func TestMergeEqualsUnsharded(t *testing.T) {
	for _, cuts := range [][]int{{0, 12}, {0, 6, 12}, {0, 5, 12}, {0, 1, 4, 8, 12}} {
		whole := runReport(t, 0, 12)
		var shards []*report.Report
		for i := 0; i+1 < len(cuts); i++ {
			shards = append(shards, runReport(t, cuts[i], cuts[i+1]))
		}
		m, info, err := report.Merge(shards)
		if err != nil {
			t.Fatalf("cuts %v: %v", cuts, err)
		}
		// Counts and rates: exactly equal.
		if m.N != whole.N || m.NCleanCorrect != whole.NCleanCorrect || m.CleanAccuracy != whole.CleanAccuracy {
			t.Errorf("cuts %v: clean %d/%d %v, want %d/%d %v", cuts, m.NCleanCorrect, m.N, m.CleanAccuracy, whole.NCleanCorrect, whole.N, whole.CleanAccuracy)
		}
		if m.WorstCase.NFooled != whole.WorstCase.NFooled || m.WorstCase.SuccessRate != whole.WorstCase.SuccessRate ||
			m.WorstCase.RobustAccuracy != whole.WorstCase.RobustAccuracy {
			t.Errorf("cuts %v: worst case %+v, want %+v", cuts, m.WorstCase, whole.WorstCase)
		}
		for j, w := range whole.Attacks {
			a := m.Attacks[j]
			if a.Key != w.Key || a.N != w.N || a.NCleanCorrect != w.NCleanCorrect || a.NFooled != w.NFooled ||
				a.SuccessRate != w.SuccessRate || a.RobustAccuracy != w.RobustAccuracy || a.SRUndefined != w.SRUndefined {
				t.Errorf("cuts %v: attack %s: %+v, want %+v", cuts, w.Key, a, w)
			}
			// Means: equal up to rounding.
			for _, p := range [][2]report.NormStats{{a.Perturbation.L0, w.Perturbation.L0}, {a.Perturbation.L2, w.Perturbation.L2}, {a.Perturbation.Linf, w.Perturbation.Linf}} {
				if math.Abs(p[0].Mean-p[1].Mean) > 1e-12 {
					t.Errorf("cuts %v: attack %s: mean %v, want %v", cuts, w.Key, p[0].Mean, p[1].Mean)
				}
			}
			if (a.Queries == nil) != (w.Queries == nil) || a.Queries != nil && math.Abs(a.Queries.Mean-w.Queries.Mean) > 1e-9 {
				t.Errorf("cuts %v: attack %s: queries %v, want %v", cuts, w.Key, a.Queries, w.Queries)
			}
			// Medians: exact with one shard.
			if len(cuts) == 2 && a.Perturbation != w.Perturbation {
				t.Errorf("one shard: perturbation %+v, want %+v", a.Perturbation, w.Perturbation)
			}
		}
		if len(cuts) > 2 && len(info.ApproximateMedians) != 2 {
			t.Errorf("cuts %v: approximate medians %v, want both attacks", cuts, info.ApproximateMedians)
		}
		for j, w := range whole.Sweep {
			if m.Sweep[j] != w {
				t.Errorf("cuts %v: sweep row %+v, want %+v", cuts, m.Sweep[j], w)
			}
		}
		if m.Gate.Passed != whole.Gate.Passed || len(m.Gate.Reasons) != len(whole.Gate.Reasons) {
			t.Errorf("cuts %v: gate %+v, want %+v", cuts, m.Gate, whole.Gate)
		}
	}
}

// TestMergeExactWithFooledNorms: shards that keep their fooled samples'
// norms (as --shard runs do) merge into exactly the unsharded figures,
// medians included.
func TestMergeExactWithFooledNorms(t *testing.T) {
	for _, cuts := range [][]int{{0, 6, 12}, {0, 5, 12}, {0, 1, 4, 8, 12}} {
		whole := runReport(t, 0, 12)
		var shards []*report.Report
		for i := 0; i+1 < len(cuts); i++ {
			shards = append(shards, runReportKeep(t, cuts[i], cuts[i+1], true))
		}
		m, info, err := report.Merge(shards)
		if err != nil {
			t.Fatalf("cuts %v: %v", cuts, err)
		}
		if len(info.ApproximateMedians) != 0 {
			t.Errorf("cuts %v: approximate medians %v, want none", cuts, info.ApproximateMedians)
		}
		for j, w := range whole.Attacks {
			a := m.Attacks[j]
			for k, p := range [][2]report.NormStats{{a.Perturbation.L0, w.Perturbation.L0}, {a.Perturbation.L2, w.Perturbation.L2}, {a.Perturbation.Linf, w.Perturbation.Linf}} {
				if p[0].Median != p[1].Median || math.Abs(p[0].Mean-p[1].Mean) > 1e-12 {
					t.Errorf("cuts %v: attack %s norm %d: %+v, want %+v", cuts, w.Key, k, p[0], p[1])
				}
			}
			if (a.Queries == nil) != (w.Queries == nil) || a.Queries != nil && a.Queries.Median != w.Queries.Median {
				t.Errorf("cuts %v: attack %s: queries %v, want %v", cuts, w.Key, a.Queries, w.Queries)
			}
			if a.NFooled != w.NFooled || a.SuccessRate != w.SuccessRate {
				t.Errorf("cuts %v: attack %s: %d fooled (%v), want %d (%v)", cuts, w.Key, a.NFooled, a.SuccessRate, w.NFooled, w.SuccessRate)
			}
			if a.FooledNorms != nil {
				t.Errorf("cuts %v: attack %s: the merged report keeps the shards' fooled_norms; the whole run's has none", cuts, w.Key)
			}
		}
	}
}

func TestMergeRefuses(t *testing.T) {
	cases := []struct {
		name   string
		change func(r *report.Report)
		want   string
	}{
		{"model", func(r *report.Report) { r.Model.SHA256 = strings.Repeat("00", 32) }, "another model"},
		{"data", func(r *report.Report) { r.Data.SHA256 = strings.Repeat("00", 32) }, "other data"},
		{"seed", func(r *report.Report) { r.Seed = 8 }, "seed"},
		{"pool", func(r *report.Report) { r.Attacks = r.Attacks[:1] }, "attack pool"},
		{"params", func(r *report.Report) { r.Attacks[0].Params = map[string]string{"eps": "0.2"} }, "attack pool"},
		{"sweep", func(r *report.Report) { r.Sweep = r.Sweep[:1] }, "sweep"},
		{"harden", func(r *report.Report) { r.Harden = &report.Harden{} }, "harden"},
		{"fail_above", func(r *report.Report) { r.WorstCase.Gate.FailAbove = nil }, "fail_above"},
		{"max_sr", func(r *report.Report) { r.Attacks[0].Gate.MaxSR = fptr(0.9) }, "max_sr"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, b := runReport(t, 0, 6), runReport(t, 6, 12)
			c.change(b)
			_, _, err := report.Merge([]*report.Report{a, b})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one about %q", err, c.want)
			}
		})
	}
	a := runReport(t, 0, 8)
	if _, _, err := report.Merge([]*report.Report{a, a}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("the same shard twice: %v", err)
	}
	if _, _, err := report.Merge(nil); err == nil {
		t.Error("no reports: no error")
	}
	// Shard keys in the config: every shard once.
	x, y := runReport(t, 0, 6), runReport(t, 6, 12)
	x.Config["shard"], y.Config["shard"] = "0/3", "1/3"
	if _, _, err := report.Merge([]*report.Report{x, y}); err == nil || !strings.Contains(err.Error(), "2 of the 3") {
		t.Errorf("missing shard: %v", err)
	}
	y.Config["shard"] = "0/3"
	if _, _, err := report.Merge([]*report.Report{x, y}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("repeated shard: %v", err)
	}
	y.Config["shard"] = map[string]any{"index": 1.0, "count": 2.0}
	x.Config["shard"] = "0/2"
	m, _, err := report.Merge([]*report.Report{x, y})
	if err != nil {
		t.Fatalf("complete shards: %v", err)
	}
	if _, ok := m.Config["shard"]; ok {
		t.Error("the merged config keeps a shard key")
	}
}

func TestMergeIncompleteAndBaseline(t *testing.T) {
	a, b := runReport(t, 0, 6), runReport(t, 6, 12)
	b.Incomplete, b.IncompleteReason = true, "interrupted"
	a.Gate.Baseline = "last.json"
	m, _, err := report.Merge([]*report.Report{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Incomplete || !strings.Contains(m.IncompleteReason, "interrupted") || m.Gate.Passed {
		t.Errorf("merged incomplete %v %q passed %v, want an incomplete, failed run", m.Incomplete, m.IncompleteReason, m.Gate.Passed)
	}
	if !strings.Contains(strings.Join(m.Gate.Notes, "\n"), "last.json") {
		t.Errorf("notes %q do not say the baseline was not re-applied", m.Gate.Notes)
	}
}

// TestTableShowsQueriesOfBlackBoxAttacks: a pool with an attack that counts
// queries gets a median-queries column; the others show "-" there.

// TestMergePartialShards merges two shards that both stopped while pgd
// ran: the merged pgd is partial over the samples both finished, square
// stays not measured, the worst case is partial, and the run incomplete.
func TestMergePartialShards(t *testing.T) {
	a, b := partialSample(t), partialSample(t)
	m, _, err := report.Merge([]*report.Report{a, b})
	if err != nil {
		t.Fatal(err)
	}
	pgd, square := m.Attacks[1], m.Attacks[2]
	if !pgd.Partial() || pgd.N != 8 || pgd.NPlanned != 20 || pgd.NFooled != 6 {
		t.Errorf("pgd: measured %q n %d of %d fooled %d, want partial 8 of 20 with 6 fooled", pgd.Measured, pgd.N, pgd.NPlanned, pgd.NFooled)
	}
	if !square.NotMeasured() || square.NPlanned != 20 {
		t.Errorf("square: measured %q n_planned %d, want not measured of 20", square.Measured, square.NPlanned)
	}
	if m.Attacks[0].Measured != "" {
		t.Errorf("fgsm: measured %q, want complete", m.Attacks[0].Measured)
	}
	w := m.WorstCase
	if w.Measured != report.MeasuredPartial || w.N != 8 || w.NCleanCorrect != 8 || w.NFooled != 6 || len(w.NotMeasured) != 1 {
		t.Errorf("worst case %+v, want partial over 8 samples, 6 fooled, square not measured", w)
	}
	if !m.Incomplete || m.Gate.Passed {
		t.Errorf("merged: incomplete %v, passed %v; want an incomplete run that fails", m.Incomplete, m.Gate.Passed)
	}
}
