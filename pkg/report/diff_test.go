package report_test

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/report"
)

func TestCompare(t *testing.T) {
	cases := []struct {
		name       string
		change     func(r *report.Report)
		maxReg     float64
		passed     bool
		status     []string // per attack row, then the worst case
		added, rem []string
	}{
		{"same", func(*report.Report) {}, 0, true, []string{"same", "same", "same"}, nil, nil},
		{"pgd up 0.125 over 0.1", func(r *report.Report) {
			r.Attacks[1].NFooled, r.Attacks[1].SuccessRate = 6, 0.75
		}, 0.1, false, []string{"same", "regressed", "same"}, nil, nil},
		{"pgd up 0.125 within 0.2", func(r *report.Report) {
			r.Attacks[1].NFooled, r.Attacks[1].SuccessRate = 6, 0.75
		}, 0.2, true, []string{"same", "worse", "same"}, nil, nil},
		{"better, worst case regressed", func(r *report.Report) {
			r.Attacks[0].NFooled, r.Attacks[0].SuccessRate = 0, 0
			r.WorstCase.NFooled, r.WorstCase.SuccessRate = 8, 1
		}, 0.05, false, []string{"better", "same", "regressed"}, nil, nil},
		{"new and removed", func(r *report.Report) {
			r.Attacks[0] = report.AttackResult{Name: "deepfool", Key: "deepfool", N: 10, NCleanCorrect: 8, NFooled: 8, SuccessRate: 1}
		}, 0, true, []string{"new", "same", "removed", "not compared"}, []string{"deepfool"}, []string{"fgsm{eps=0.1}"}},
		{"max_sr and incompleteness are not a diff's", func(r *report.Report) {
			r.Attacks[0].Gate.MaxSR = fptr(0)
			r.Incomplete = true
		}, 0, true, []string{"same", "same", "same"}, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			oldR, newR := sample(t), sample(t)
			c.change(newR)
			d := report.Compare(oldR, newR, "old.json", "new.json", c.maxReg)
			if d.Passed != c.passed {
				t.Errorf("passed %v, want %v (reasons %q)", d.Passed, c.passed, d.Reasons)
			}
			var got []string
			for _, a := range d.Attacks {
				got = append(got, a.Status)
			}
			got = append(got, d.WorstCase.Status)
			if strings.Join(got, ",") != strings.Join(c.status, ",") {
				t.Errorf("statuses %v, want %v", got, c.status)
			}
			if strings.Join(d.Added, ",") != strings.Join(c.added, ",") || strings.Join(d.Removed, ",") != strings.Join(c.rem, ",") {
				t.Errorf("added %v removed %v, want %v %v", d.Added, d.Removed, c.added, c.rem)
			}
			if !c.passed && len(d.Reasons) == 0 {
				t.Error("failed without a reason")
			}
		})
	}
}

// TestDiffGolden pins Compare's result as JSON (pkg/report/format
// renders this golden as a table and as Markdown).
func TestDiffGolden(t *testing.T) {
	oldR, newR := sample(t), sample(t)
	newR.Attacks[1].NFooled, newR.Attacks[1].SuccessRate, newR.Attacks[1].RobustAccuracy = 7, 0.875, 0.1
	newR.WorstCase.NFooled, newR.WorstCase.SuccessRate, newR.WorstCase.RobustAccuracy = 7, 0.875, 0.1
	newR.Attacks = append(newR.Attacks, report.AttackResult{Name: "square", Params: map[string]string{"eps": "0.1"}, N: 10, NCleanCorrect: 8, NFooled: 3, SuccessRate: 0.375, RobustAccuracy: 0.5, Eps: 0.1})
	d := report.Compare(oldR, newR, "old.json", "new.json", 0.05)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		t.Fatal(err)
	}
	var back report.Diff
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || back.Passed || len(back.Added) != 1 {
		t.Errorf("json round trip: %v %+v", err, back)
	}
	compareGolden(t, filepath.Join("testdata", "diff.json"), buf.Bytes())
}
