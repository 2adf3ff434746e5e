package report_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/eval"
	"github.com/advtest/advtest/pkg/report"
)

// The fixtures of the partial, targeted and certify goldens. Like sample,
// they are built from per-sample outcomes through pkg/eval, so that the
// goldens hold what a run writes.

// identity is the report header the fixtures share with sample.
func identity(r *report.Report) {
	r.Seed = 1
	r.Config = map[string]any{"batch_size": 2, "limit": 10}
	r.Model = report.Model{Path: "testdata/models/mnist_cnn.onnx", SHA256: strings.Repeat("ab", 32), Opset: 13, Producer: "pytorch 2.3"}
	r.Data = report.Data{Path: "testdata/mnist/test-1000-images.npy", LabelsPath: "testdata/mnist/test-1000-labels.npy", SHA256: strings.Repeat("cd", 32), LabelsSHA256: strings.Repeat("ef", 32), N: 1000}
	r.Timing = report.Timing{Created: "2025-01-02T03:04:05Z", Seconds: 4}
}

// run is an attack's per-sample outcome as eval.RunPool records it:
// attacked[i] marks the samples it reached, fooled[i] those it fooled.
func run(done int, attacked, fooled []bool) *eval.AttackRun {
	n := len(attacked)
	r := &eval.AttackRun{Attacked: attacked, Fooled: fooled, L0: make([]float64, n), L2: make([]float64, n), Linf: make([]float64, n),
		GradEvals: make([]int, n), Queries: make([]int, n), Done: done, Seconds: 1}
	for i := range fooled {
		if fooled[i] {
			r.L0[i], r.L2[i], r.Linf[i] = float64(10*(i+1)), 0.5*float64(i+1), 0.1
		}
		if attacked[i] {
			r.GradEvals[i] = 10
		}
	}
	return r
}

// partialSample is a run interrupted while pgd ran: fgsm finished, pgd
// finished two batches of two (4 of the 8 clean-correct samples, which
// span the first 4 samples), and square never started. Gated against a
// baseline of the same pool.
func partialSample(t testing.TB) *report.Report {
	t.Helper()
	clean := []bool{true, true, true, true, true, true, true, true, false, false}
	all := []bool{true, true, true, true, true, true, true, true, false, false}
	first4 := []bool{true, true, true, true, false, false, false, false, false, false}
	pool := &eval.PoolResult{
		Clean: &eval.CleanResult{N: 10, Correct: clean},
		Attacks: []*eval.AttackRun{
			run(8, all, []bool{true, false, false, true, false, false, false, false, false, false}),
			run(4, first4, []bool{true, true, false, true, false, false, false, false, false, false}),
		},
		Incomplete: errors.New("context canceled"),
	}
	specs := []eval.AttackSpec{
		{Name: "fgsm", Params: map[string]string{"eps": "0.1"}, Norm: "linf", Eps: 0.1},
		{Name: "pgd", Params: map[string]string{"eps": "0.1", "norm": "linf", "steps": "40"}, Norm: "linf", Eps: 0.1},
		{Name: "square", Params: map[string]string{"eps": "0.1"}, Norm: "linf", Eps: 0.1, CountsQueries: true},
	}
	res, err := eval.NewResult(pool, specs)
	if err != nil {
		t.Fatal(err)
	}
	r := report.New("v0.1.0-test")
	identity(r)
	r.N, r.NCleanCorrect, r.CleanAccuracy = res.N, res.NCleanCorrect, res.CleanAccuracy
	r.Attacks = res.ReportAttacks()
	r.WorstCase = res.WorstCase
	r.Incomplete = true
	r.IncompleteReason = "interrupted: pgd{eps=0.1,norm=linf,steps=40} stopped after 4 of 10 samples (its figures are over those); 1 attack not measured"
	base := sample(t)
	base.Attacks = append(base.Attacks, report.AttackResult{Name: "square", Key: "square{eps=0.1}", Params: map[string]string{"eps": "0.1"}, N: 10, NCleanCorrect: 8, NFooled: 4, SuccessRate: 0.5})
	r.ApplyGate(report.Gate{FailAbove: fptr(0.9), Baseline: base, BaselineName: "baseline.json", MaxRegression: 0.05})
	return r
}

// targetedSample is sample with a targeted pgd besides the untargeted
// fgsm: it misclassifies 5 of its 7 attacked samples (sample 7's label is
// its target, so it is skipped) and reaches the target on 3; the gate's
// max_targeted_sr (0.3) fails it, and so does the baseline's targeted SR
// (1/7).
func targetedSample(t testing.TB) *report.Report {
	t.Helper()
	clean := []bool{true, true, true, true, true, true, true, true, false, false}
	attacked := []bool{true, true, true, true, true, true, true, false, false, false} // sample 7's label is its target
	fgsm := outcomes(true, false, false, true, false, false, false, false, true, false)
	pgdT := outcomes(true, true, true, false, true, true, false, false, false, false)
	for i, reached := range []bool{true, false, true, false, true} {
		pgdT[i].Reached = reached
	}
	r := report.New("v0.1.0-test")
	identity(r)
	r.N, r.NCleanCorrect, r.CleanAccuracy = eval.CleanStats(clean)
	a1, err := eval.NewAttackResult(eval.AttackSpec{Name: "fgsm", Params: map[string]string{"eps": "0.1"}, Norm: "linf", Eps: 0.1}, clean, fgsm, eval.Cost{GradientEvals: 7})
	if err != nil {
		t.Fatal(err)
	}
	pgdSpec := eval.AttackSpec{Name: "pgd", Params: map[string]string{"eps": "0.1", "target": "least-likely", "targeted": "true"}, Norm: "linf", Eps: 0.1, Targeted: true}
	a2, err := eval.NewAttackResult(pgdSpec, attacked, pgdT, eval.Cost{GradientEvals: 280, Seconds: 2})
	if err != nil {
		t.Fatal(err)
	}
	r.Attacks = []report.AttackResult{a1, a2}
	r.WorstCase, err = eval.WorstCaseOf(clean, [][]eval.SampleOutcome{fgsm, pgdT})
	if err != nil {
		t.Fatal(err)
	}
	base := *r
	b2 := a2
	b2.TargetedSR = &report.TargetedSR{SuccessRate: 1.0 / 7, N: 7, NReached: 1}
	base.Attacks = []report.AttackResult{a1, b2}
	r.ApplyGate(report.Gate{FailAbove: fptr(0.9), MaxTargetedSR: fptr(0.3), Baseline: &base, BaselineName: "baseline.json", MaxRegression: 0.1})
	return r
}

// certifySample is what advtest certify writes for six samples at sigma
// 0.25: four certified correct (radii 0.9, 0.6, 0.3, 0.1), one
// abstention, one certified but wrong; certified accuracy at radii 0, 0.25,
// 0.5 and 1, gated at 0.5:0.5 (fails: 2 of 6).
func certifySample(t testing.TB) *report.Report {
	t.Helper()
	r := report.New("v0.1.0-test")
	identity(r)
	r.Config = map[string]any{"sigma": 0.25, "n0": 100, "n": 1000, "alpha": 0.001, "batch": 500, "radii": []float64{0, 0.25, 0.5, 1}}
	c := &report.Certification{Sigma: 0.25, N0: 100, NDraws: 1000, Alpha: 0.001, BatchSize: 500, NoiseSource: "input", Samples: []report.CertifiedSample{
		{Index: 0, Label: 7, Prediction: 7, CountTop: 999, PLower: 0.9997, Radius: 0.9, Correct: true},
		{Index: 1, Label: 2, Prediction: 2, CountTop: 990, PLower: 0.9918, Radius: 0.6, Correct: true},
		{Index: 2, Label: 1, Prediction: 1, CountTop: 900, PLower: 0.8849, Radius: 0.3, Correct: true},
		{Index: 3, Label: 0, Prediction: 0, CountTop: 700, PLower: 0.6554, Radius: 0.1, Correct: true},
		{Index: 4, Label: 4, Prediction: report.AbstainPrediction, CountTop: 480, PLower: 0.4412},
		{Index: 5, Label: 1, Prediction: 8, CountTop: 950, PLower: 0.9332, Radius: 0.375},
	}}
	c.N = len(c.Samples)
	c.NAbstain = 1
	c.AbstainRate = 1.0 / 6
	_, c.Accuracy = c.CertifiedAccuracyAt(0)
	for _, rad := range []float64{0, 0.25, 0.5, 1} {
		n, acc := c.CertifiedAccuracyAt(rad)
		c.Radii = append(c.Radii, report.CertifiedAccuracy{Radius: rad, NCertified: n, CertifiedAccuracy: acc})
	}
	rs := report.NewNormStats([]float64{0.9, 0.6, 0.3, 0.1})
	c.Radius = &rs
	r.Certification = c
	r.ApplyCertifiedGate([]report.CertifiedAccuracyGate{{Radius: 0.5, MinAccuracy: 0.5}})
	return r
}
