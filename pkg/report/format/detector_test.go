package format

import (
	"bytes"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/report"
)

func TestDetectorRenders(t *testing.T) {
	with := func() *report.Report {
		r := report.New("test")
		r.Detector = &report.DetectorResult{Squeezers: "bits=1;median=2", Threshold: 0.5, TargetFPR: 0.05, N: 200, FalsePositiveRate: 0.03,
			Attacks: []report.DetectorAttack{{Attack: "fgsm", Key: "fgsm:eps=0.2", NAdversarial: 195, NDetected: 183, DetectionRate: 183.0 / 195}},
			Note:    "non-adaptive"}
		return r
	}
	cases := []struct {
		format string
		rep    *report.Report
		want   []string
	}{
		{"table", with(), []string{"detector squeezers bits=1;median=2, threshold 0.5: false positives on clean samples 3.0% of 200 (target 0.05)", "detector fgsm: detected 183 of 195 fooling examples (93.8%)", "detector note: non-adaptive"}},
		{"markdown", with(), []string{"**Input detector", "- fgsm: detected 183 of 195 fooling examples (93.8%)"}},
		{"json", with(), []string{`"false_positive_rate": 0.03`, `"n_detected": 183`}},
		{"table", report.New("test"), nil},
	}
	for _, c := range cases {
		w, err := Lookup(c.format)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := w.Write(&buf, c.rep); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		for _, s := range c.want {
			if !strings.Contains(out, s) {
				t.Errorf("%s: output lacks %q:\n%s", c.format, s, out)
			}
		}
		if c.want == nil && strings.Contains(strings.ToLower(out), "detector") {
			t.Errorf("%s: a report without a detector mentions one:\n%s", c.format, out)
		}
	}
}
