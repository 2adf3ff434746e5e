package report

import (
	"fmt"
	"strconv"
	"strings"
)

// Cell formatting shared by the human-readable formats.

// pct writes a rate as a percentage with one decimal.
func pct(v float64) string { return strconv.FormatFloat(100*v, 'f', 1, 64) + "%" }

// srCell writes a success rate with its counts, "45.0% (9/20)", or
// "n/a (0/0)" when it is undefined.
func srCell(rate float64, undefined bool, fooled, clean int) string {
	if undefined {
		return fmt.Sprintf("n/a (%d/%d)", fooled, clean)
	}
	return fmt.Sprintf("%s (%d/%d)", pct(rate), fooled, clean)
}

// epsCell writes an attack's budget, "-" when it has none.
func epsCell(a AttackResult) string {
	if a.Eps == 0 {
		return "-"
	}
	return num(a.Eps)
}

// normCell writes an attack's norm, "-" when it has none.
func normCell(a AttackResult) string {
	if a.Norm == "" {
		return "-"
	}
	return a.Norm
}

// medianCell writes a median perturbation, "-" when nothing was fooled.
func medianCell(a AttackResult, s NormStats) string {
	if a.NFooled == 0 {
		return "-"
	}
	return strconv.FormatFloat(s.Median, 'g', 4, 64)
}

func secondsCell(s float64) string { return strconv.FormatFloat(s, 'f', 2, 64) }

// totals sums the attacks' gradient evaluations and seconds.
func totals(r *Report) (evals int64, seconds float64) {
	for _, a := range r.Attacks {
		evals += a.GradientEvals
		seconds += a.Seconds
	}
	return evals, seconds
}

// shortHash abbreviates a hex digest for people.
func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// status is the run's one-word verdict.
func status(r *Report) string {
	if r.Gate.Passed {
		return "PASS"
	}
	return "FAIL"
}

// summaryLine describes what was attacked, in one line.
func summaryLine(r *Report) string {
	s := fmt.Sprintf("model %s", orDash(r.Model.Path))
	if r.Model.SHA256 != "" {
		s += fmt.Sprintf(" (sha256 %s)", shortHash(r.Model.SHA256))
	}
	s += fmt.Sprintf(", data %s, n %d, clean accuracy %s (%d/%d), seed %d",
		orDash(r.Data.Path), r.N, pct(r.CleanAccuracy), r.NCleanCorrect, r.N, r.Seed)
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// tableRows returns the header and rows of the human-readable tables:
// one row per attack, then the worst case. A pool with black-box attacks
// gets a column of their median queries to success.
func tableRows(r *Report) (header []string, rows [][]string) {
	queries := false
	for _, a := range r.Attacks {
		if a.Queries != nil {
			queries = true
		}
	}
	header = []string{"attack", "norm", "eps", "SR (n)", "robust acc", "median L2", "median Linf", "grad evals"}
	if queries {
		header = append(header, "median queries")
	}
	header = append(header, "seconds")
	labels := attackLabels(r.Attacks)
	for i, a := range r.Attacks {
		row := []string{
			labels[i], normCell(a), epsCell(a),
			srCell(a.SuccessRate, a.SRUndefined, a.NFooled, a.NCleanCorrect),
			pct(a.RobustAccuracy),
			medianCell(a, a.Perturbation.L2), medianCell(a, a.Perturbation.Linf),
			strconv.FormatInt(a.GradientEvals, 10),
		}
		if queries {
			q := "-"
			if a.Queries != nil {
				q = medianCell(a, *a.Queries)
			}
			row = append(row, q)
		}
		rows = append(rows, append(row, secondsCell(a.Seconds)))
	}
	evals, secs := totals(r)
	w := r.WorstCase
	row := []string{
		"worst case", "-", "-",
		srCell(w.SuccessRate, w.SRUndefined, w.NFooled, r.NCleanCorrect),
		pct(w.RobustAccuracy), "-", "-",
		strconv.FormatInt(evals, 10),
	}
	if queries {
		row = append(row, "-")
	}
	rows = append(rows, append(row, secondsCell(secs)))
	return header, rows
}

// figuresCell writes a sanity check's figures, "sr@eps=0.3=0.044,
// sr@eps=0.6=0.98", with the precision of SanityCheck.String; "-" when it
// has none.
func figuresCell(c SanityCheck) string {
	if len(c.Figures) == 0 {
		return "-"
	}
	parts := make([]string, len(c.Figures))
	for i, f := range c.Figures {
		parts[i] = f.Name + "=" + num4(f.Value)
	}
	return strings.Join(parts, ", ")
}

// countCell writes a sample count, "-" for none.
func countCell(n int) string {
	if n == 0 {
		return "-"
	}
	return strconv.Itoa(n)
}

// sanityTitle introduces the sanity checks in the human-readable formats.
const sanityTitle = "Sanity checks (gradient masking; Carlini et al. 2019, §5)"
