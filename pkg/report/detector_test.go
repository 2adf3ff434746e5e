package report

import (
	"bytes"
	"strings"
	"testing"
)

// TestDetectorRenders: a report with a detector result shows its clean
// false-positive rate, each attack's detection and the note in the table
// and Markdown, survives a JSON round trip, and a report without one
// mentions no detector.
func TestDetectorRenders(t *testing.T) {
	with := func() *Report {
		r := New("test")
		r.Detector = &DetectorResult{Squeezers: "bits=1;median=2", Threshold: 0.5, TargetFPR: 0.05, N: 200, FalsePositiveRate: 0.03,
			Attacks: []DetectorAttack{{Attack: "fgsm", Key: "fgsm:eps=0.2", NAdversarial: 195, NDetected: 183, DetectionRate: 183.0 / 195}},
			Note:    "non-adaptive"}
		return r
	}
	cases := []struct {
		format string
		rep    *Report
		want   []string
	}{
		{"table", with(), []string{"detector squeezers bits=1;median=2, threshold 0.5: false positives on clean samples 3.0% of 200 (target 0.05)", "detector fgsm: detected 183 of 195 fooling examples (93.8%)", "detector note: non-adaptive"}},
		{"markdown", with(), []string{"**Input detector", "- fgsm: detected 183 of 195 fooling examples (93.8%)"}},
		{"json", with(), []string{`"false_positive_rate": 0.03`, `"n_detected": 183`}},
		{"table", New("test"), nil},
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

// TestMergeDetector: merging shards sums the detector's counts and
// recomputes its rates exactly; shards that disagree on the detector
// merge to none.
func TestMergeDetector(t *testing.T) {
	shard := func(n, fp, nadv, ndet int) *Report {
		return &Report{Detector: &DetectorResult{Squeezers: "bits=1", Threshold: 0.5, N: n, FalsePositiveRate: float64(fp) / float64(n),
			Attacks: []DetectorAttack{{Attack: "fgsm", Key: "fgsm", NAdversarial: nadv, NDetected: ndet}}}}
	}
	got := mergeDetector([]*Report{shard(100, 3, 40, 30), shard(50, 4, 10, 10)})
	if got == nil || got.N != 150 || got.FalsePositiveRate != 7.0/150 || got.Attacks[0].NAdversarial != 50 || got.Attacks[0].DetectionRate != 40.0/50 {
		t.Errorf("merged %+v", got)
	}
	other := shard(50, 4, 10, 10)
	other.Detector.Threshold = 0.6
	if got := mergeDetector([]*Report{shard(100, 3, 40, 30), other}); got != nil {
		t.Errorf("shards with different thresholds merged to %+v, want none", got)
	}
}
