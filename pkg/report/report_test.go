package report_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/eval"
	"github.com/advtest/advtest/pkg/report"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func fptr(v float64) *float64 { return &v }

// outcomes builds per-sample outcomes: fooled[i] marks sample i fooled, and
// fooled samples get norms derived from i so that medians are checkable.
func outcomes(fooled ...bool) []eval.SampleOutcome {
	out := make([]eval.SampleOutcome, len(fooled))
	for i, f := range fooled {
		if f {
			out[i] = eval.SampleOutcome{Fooled: true, L0: float64(10 * (i + 1)), L2: 0.5 * float64(i+1), Linf: 0.1, Queries: 100 * (i + 1)}
		}
	}
	return out
}

// sample builds a deterministic report: 10 samples, 8 clean-correct, an
// fgsm that fools 2 and a pgd that fools 5 (a superset but for sample 9).
func sample(t testing.TB) *report.Report {
	t.Helper()
	clean := []bool{true, true, true, true, true, true, true, true, false, false}
	fgsm := outcomes(true, false, false, true, false, false, false, false, true, false)
	pgd := outcomes(true, true, true, false, true, false, false, true, false, false)
	r := report.New("v0.1.0-test")
	r.Seed = 1
	r.Config = map[string]any{"batch_size": 128, "limit": 10}
	r.Model = report.Model{Path: "testdata/models/mnist_cnn.onnx", SHA256: strings.Repeat("ab", 32), Opset: 13, Producer: "pytorch 2.3", EndsWithSoftmax: false}
	r.Data = report.Data{Path: "testdata/mnist/test-1000-images.npy", LabelsPath: "testdata/mnist/test-1000-labels.npy", SHA256: strings.Repeat("cd", 32), LabelsSHA256: strings.Repeat("ef", 32), N: 1000}
	r.N, r.NCleanCorrect, r.CleanAccuracy = eval.CleanStats(clean)
	a1, err := eval.NewAttackResult(eval.AttackSpec{Name: "fgsm", Params: map[string]string{"eps": "0.1"}, Norm: "linf", Eps: 0.1, MaxSR: fptr(0.5)}, clean, fgsm, eval.Cost{GradientEvals: 8, Seconds: 0.25})
	if err != nil {
		t.Fatal(err)
	}
	a2, err := eval.NewAttackResult(eval.AttackSpec{Name: "pgd", Params: map[string]string{"eps": "0.1", "norm": "linf", "steps": "40"}, Norm: "linf", Eps: 0.1}, clean, pgd, eval.Cost{GradientEvals: 320, Seconds: 3.5})
	if err != nil {
		t.Fatal(err)
	}
	r.Attacks = []report.AttackResult{a1, a2}
	r.WorstCase, err = eval.WorstCaseOf(clean, [][]eval.SampleOutcome{fgsm, pgd})
	if err != nil {
		t.Fatal(err)
	}
	r.Sweep = []report.SweepRow{{Attack: a2.Key, Eps: 0.05, SuccessRate: 0.25, RobustAccuracy: 0.6, NFooled: 2}}
	r.Timing = report.Timing{Created: "2025-01-02T03:04:05Z", Seconds: 4}
	return r
}

func TestMetrics(t *testing.T) {
	r := sample(t)
	if r.N != 10 || r.NCleanCorrect != 8 || r.CleanAccuracy != 0.8 {
		t.Fatalf("clean stats: n %d clean %d acc %v, want 10 8 0.8", r.N, r.NCleanCorrect, r.CleanAccuracy)
	}
	f := r.Attacks[0]
	// fgsm fooled samples 0 and 3 (sample 8 is not clean-correct): SR 2/8,
	// robust accuracy (8-2)/10.
	if f.NFooled != 2 || f.SuccessRate != 0.25 || f.RobustAccuracy != 0.6 {
		t.Errorf("fgsm: fooled %d SR %v RA %v, want 2 0.25 0.6", f.NFooled, f.SuccessRate, f.RobustAccuracy)
	}
	// L2 of samples 0 and 3: 0.5 and 2, mean 1.25 = median.
	if f.Perturbation.L2 != (report.NormStats{Mean: 1.25, Median: 1.25}) {
		t.Errorf("fgsm L2 %+v, want mean=median=1.25", f.Perturbation.L2)
	}
	if f.Queries != nil {
		t.Errorf("fgsm counts no queries, got %+v", f.Queries)
	}
	p := r.Attacks[1]
	// pgd fooled 0,1,2,4,7: L0 10,20,30,50,80: mean 38, median 30.
	if p.NFooled != 5 || p.Perturbation.L0 != (report.NormStats{Mean: 38, Median: 30}) {
		t.Errorf("pgd: fooled %d L0 %+v, want 5 {38 30}", p.NFooled, p.Perturbation.L0)
	}
	if p.Key != "pgd{eps=0.1,norm=linf,steps=40}" {
		t.Errorf("pgd key %q", p.Key)
	}
	// Worst case: union {0,1,2,3,4,7} = 6 of 8.
	w := r.WorstCase
	if w.NFooled != 6 || w.SuccessRate != 0.75 || w.RobustAccuracy != 0.2 {
		t.Errorf("worst case %+v, want 6 fooled, SR 0.75, RA 0.2", w)
	}
}

func TestNoCleanCorrect(t *testing.T) {
	clean := []bool{false, false}
	a, err := eval.NewAttackResult(eval.AttackSpec{Name: "fgsm", CountsQueries: true}, clean, outcomes(true, true), eval.Cost{})
	if err != nil {
		t.Fatal(err)
	}
	if !a.SRUndefined || a.SuccessRate != 0 || a.NFooled != 0 || a.RobustAccuracy != 0 {
		t.Errorf("got %+v, want undefined SR 0", a)
	}
	if a.Queries == nil || *a.Queries != (report.NormStats{}) {
		t.Errorf("queries %+v, want zero stats", a.Queries)
	}
	w, err := eval.WorstCaseOf(nil, nil)
	if err != nil || !w.SRUndefined || w.SuccessRate != 0 {
		t.Errorf("empty worst case %+v %v", w, err)
	}
	if _, _, acc := eval.CleanStats(nil); acc != 0 {
		t.Errorf("clean accuracy of nothing: %v", acc)
	}
}

func TestMetricsErrors(t *testing.T) {
	clean := []bool{true}
	bad := []eval.SampleOutcome{{Fooled: true, L2: -1}}
	for name, f := range map[string]func() error{
		"length": func() error {
			_, err := eval.NewAttackResult(eval.AttackSpec{Name: "x"}, clean, nil, eval.Cost{})
			return err
		},
		"name": func() error {
			_, err := eval.NewAttackResult(eval.AttackSpec{}, clean, outcomes(false), eval.Cost{})
			return err
		},
		"norm": func() error {
			_, err := eval.NewAttackResult(eval.AttackSpec{Name: "x"}, clean, bad, eval.Cost{})
			return err
		},
		"eps": func() error {
			_, err := eval.NewAttackResult(eval.AttackSpec{Name: "x", Eps: -1}, clean, outcomes(false), eval.Cost{})
			return err
		},
		"seconds": func() error {
			_, err := eval.NewAttackResult(eval.AttackSpec{Name: "x"}, clean, outcomes(false), eval.Cost{Seconds: -1})
			return err
		},
		"worstlen": func() error { _, err := eval.WorstCaseOf(clean, [][]eval.SampleOutcome{nil}); return err },
	} {
		if f() == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestStats(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want report.NormStats
	}{
		{nil, report.NormStats{}},
		{[]float64{3}, report.NormStats{3, 3}},
		{[]float64{4, 1, 2}, report.NormStats{7.0 / 3, 2}},
		{[]float64{4, 1, 2, 3}, report.NormStats{2.5, 2.5}},
	} {
		in := append([]float64(nil), c.in...)
		if got := report.NewNormStats(c.in); got != c.want {
			t.Errorf("report.NewNormStats(%v) = %+v, want %+v", c.in, got, c.want)
		}
		for i := range in {
			if in[i] != c.in[i] {
				t.Errorf("Stats modified its input")
			}
		}
	}
}

func TestKey(t *testing.T) {
	for _, c := range []struct {
		name   string
		params map[string]string
		want   string
	}{
		{"deepfool", nil, "deepfool"},
		{"pgd", map[string]string{"steps": "40", "eps": "0.10", "norm": "LInf"}, "pgd{eps=0.1,norm=linf,steps=40}"},
		{"pgd", map[string]string{"eps": "1e-1"}, "pgd{eps=0.1}"},
	} {
		if got := report.Key(c.name, c.params); got != c.want {
			t.Errorf("Key(%s, %v) = %q, want %q", c.name, c.params, got, c.want)
		}
	}
}

func TestZeroTimingsDeterministic(t *testing.T) {
	a, b := sample(t), sample(t)
	b.Timing = report.Timing{Created: "2030-01-01T00:00:00Z", Seconds: 99}
	b.Attacks[0].Seconds = 7
	a.ZeroTimings()
	b.ZeroTimings()
	var ja, jb bytes.Buffer
	if err := report.WriteJSON(&ja, a); err != nil {
		t.Fatal(err)
	}
	if err := report.WriteJSON(&jb, b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ja.Bytes(), jb.Bytes()) {
		t.Error("reports that differ only in timings differ after ZeroTimings")
	}
}

// hardenSample is sample as advtest harden writes it: the attack results
// are those of the final model (round 2), and the loop missed its target
// (until_sr 0.5, worst case 75%) after rejecting round 1. The gate carries
// the reason and notes that advtest harden adds.
func hardenSample(t testing.TB) *report.Report {
	r := sample(t)
	r.Sweep = nil
	fgsm, pgd := r.Attacks[0].Key, r.Attacks[1].Key
	r.Harden = &report.Harden{UntilSR: 0.5, Reached: false, Rounds: []report.HardenRound{
		{Round: 0, CleanAccuracy: 0.9, ValAccuracy: fptr(0.88), WorstCaseSR: 1,
			AttackSR: map[string]float64{fgsm: 0.5, pgd: 1}, Accepted: true, Seconds: 4},
		{Round: 1, Defence: "adv_train", Params: map[string]string{"epochs": "2", "eps": "0.1"}, CleanAccuracy: 0.7, ValAccuracy: fptr(0.69),
			WorstCaseSR: 0.625, AttackSR: map[string]float64{fgsm: 0.25, pgd: 0.5}, Seconds: 12,
			Reason: "clean accuracy fell by 0.2, more than max_clean_drop 0.1"},
		{Round: 2, Defence: "adv_train", Params: map[string]string{"epochs": "4", "eps": "0.05"}, CleanAccuracy: 0.8, ValAccuracy: fptr(0.81),
			WorstCaseSR: 0.75, AttackSR: map[string]float64{fgsm: 0.25, pgd: 0.625}, Accepted: true, Seconds: 20},
	}}
	r.ApplyGate(report.Gate{FailAbove: fptr(0.9)})
	r.Gate.Notes = append(r.Gate.Notes,
		"harden round 1 (adv_train) rejected: clean accuracy fell by 0.2, more than max_clean_drop 0.1",
		"harden: schedule exhausted; the attack results are the hardened model's (input model testdata/models/mnist_cnn.onnx)")
	r.Gate.Reasons = append(r.Gate.Reasons, "harden: worst-case success rate 0.75 is above until_sr 0.5 (schedule exhausted)")
	r.Gate.Passed = false
	return r
}

// TestGolden pins the JSON form of the fixtures; pkg/report/format renders
// these goldens in every other format.
func TestGolden(t *testing.T) {
	pass := sample(t)
	pass.ApplyGate(report.Gate{FailAbove: fptr(0.9)})
	fail := sample(t)
	base := sample(t)
	base.Attacks[1].SuccessRate = 0.5
	base.Attacks = append(base.Attacks, report.AttackResult{Name: "deepfool", Key: "deepfool", N: 10, NCleanCorrect: 8})
	fail.Incomplete, fail.IncompleteReason = true, "interrupted after 2 of 3 attacks"
	fail.ApplyGate(report.Gate{FailAbove: fptr(0.5), MaxSR: map[string]float64{"fgsm": 0.2}, Baseline: base, BaselineName: "baseline.json", MaxRegression: 0.05})
	for _, c := range []struct {
		name string
		r    *report.Report
	}{{"pass", pass}, {"fail", fail}, {"sanity", sanitySample(t)}, {"harden", hardenSample(t)},
		{"partial", partialSample(t)}, {"targeted", targetedSample(t)}, {"certify", certifySample(t)}} {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := report.WriteJSON(&buf, c.r); err != nil {
				t.Fatal(err)
			}
			compareGolden(t, filepath.Join("testdata", c.name+".json"), buf.Bytes())
		})
	}
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n%s", path, got)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	plain := sample(t)
	plain.ApplyGate(report.Gate{FailAbove: fptr(0.9)})
	for _, c := range []struct {
		name string
		r    *report.Report
		want []string // substrings of the JSON
	}{
		{"plain", plain, nil},
		{"sanity", sanitySample(t), []string{`"sanity": [`, `"id": "more-steps"`, `"status": "flag"`, `"figures": []`}},
		{"harden", hardenSample(t), []string{`"val_accuracy": 0.69`, `"reason": "clean accuracy`}},
		{"harden not met", hardenSample(t), []string{`"reached": false`, `"round_seconds": [`, `"worst_case_sr": 0.625`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := report.WriteJSON(&buf, c.r); err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				if !strings.Contains(buf.String(), w) {
					t.Errorf("JSON lacks %q:\n%s", w, buf.String())
				}
			}
			back, err := report.Read(bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			var again bytes.Buffer
			if err := report.WriteJSON(&again, back); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), again.Bytes()) {
				t.Errorf("JSON changed on a round trip:\n%s\n---\n%s", buf.String(), again.String())
			}
		})
	}
}
