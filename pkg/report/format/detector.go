package format

import (
	"fmt"

	"github.com/advtest/advtest/pkg/report"
)

// detectorLines returns the result as text lines: the clean false-positive rate,
// one line per attack, and the note; none for a nil result.
func detectorLines(d *report.DetectorResult) []string {
	if d == nil {
		return nil
	}
	out := []string{fmt.Sprintf("squeezers %s, threshold %s: false positives on clean samples %s (target %s)",
		d.Squeezers, num4(d.Threshold), pctRate(d.FalsePositiveRate, d.N), num(d.TargetFPR))}
	for _, a := range d.Attacks {
		out = append(out, fmt.Sprintf("%s: detected %d of %d fooling examples (%s)", a.Attack, a.NDetected, a.NAdversarial, pct1(a.DetectionRate)))
	}
	return append(out, "note: "+d.Note)
}

func pct1(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) }

func pctRate(v float64, n int) string { return fmt.Sprintf("%s of %d", pct1(v), n) }
