package format

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/advtest/advtest/pkg/report"
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
func epsCell(a report.AttackResult) string {
	if a.Eps == 0 {
		return "-"
	}
	return num(a.Eps)
}

// normCell writes an attack's norm, "-" when it has none.
func normCell(a report.AttackResult) string {
	if a.Norm == "" {
		return "-"
	}
	return a.Norm
}

// medianCell writes a median perturbation, "-" when nothing was fooled.
func medianCell(a report.AttackResult, s report.NormStats) string {
	if a.NFooled == 0 {
		return "-"
	}
	return strconv.FormatFloat(s.Median, 'g', 4, 64)
}

func secondsCell(s float64) string { return strconv.FormatFloat(s, 'f', 2, 64) }

// totals sums the attacks' gradient evaluations and seconds.
func totals(r *report.Report) (evals int64, seconds float64) {
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
func status(r *report.Report) string {
	if r.Gate.Passed {
		return "PASS"
	}
	return "FAIL"
}

// summaryLine describes what was attacked, in one line.
func summaryLine(r *report.Report) string {
	s := fmt.Sprintf("model %s", orDash(r.Model.Path))
	if r.Model.SHA256 != "" {
		s += fmt.Sprintf(" (sha256 %s)", shortHash(r.Model.SHA256))
	}
	if certOnly(r) {
		return s + fmt.Sprintf(", data %s, seed %d", orDash(r.Data.Path), r.Seed)
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

// notMeasured is what every format shows in place of a figure that the run
// did not measure (it stopped first).
const notMeasured = "not measured"

// attackLabel is an attack's label, marked when its figures are partial:
// "pgd (partial: n=256 of 1000)".
func attackLabel(label string, a report.AttackResult) string {
	if a.Partial() {
		return fmt.Sprintf("%s (%s)", label, partialNote(a.N, a.NPlanned))
	}
	return label
}

// partialNote is "partial: n=256 of 1000".
func partialNote(n, of int) string { return fmt.Sprintf("partial: n=%d of %d", n, of) }

// attackSRCell is an attack's success rate cell, "not measured" when the
// run stopped before it.
func attackSRCell(a report.AttackResult) string {
	if a.NotMeasured() {
		return notMeasured
	}
	return srCell(a.SuccessRate, a.SRUndefined, a.NFooled, a.NCleanCorrect)
}

// robustCell is an attack's robust accuracy, "not measured" when the run
// stopped before it.
func robustCell(a report.AttackResult) string {
	if a.NotMeasured() {
		return notMeasured
	}
	return pct(a.RobustAccuracy)
}

// targetedCell is a targeted attack's targeted success rate (reached the
// target) with its counts, "-" for an untargeted attack.
func targetedCell(a report.AttackResult) string {
	switch {
	case a.TargetedSR == nil:
		return "-"
	case a.NotMeasured():
		return notMeasured
	}
	t := a.TargetedSR
	return srCell(t.SuccessRate, t.N == 0, t.NReached, t.N)
}

// worstLabel is the worst-case row's label, marked when it is partial:
// "worst case (partial: n=256 of 1000, 1 attack not measured)".
func worstLabel(r *report.Report) string {
	w := r.WorstCase
	if w.Measured == "" {
		return "worst case"
	}
	var parts []string
	if w.Measured == report.MeasuredPartial {
		parts = append(parts, partialNote(w.N, r.N))
	}
	if p := report.NotMeasuredPhrase(len(w.NotMeasured)); p != "" {
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return "worst case"
	}
	return "worst case (" + strings.Join(parts, ", ") + ")"
}

// worstSRCell and worstRobustCell are the worst case's figures over the
// samples it covers; "not measured" when no bounded attack finished a
// batch.
func worstSRCell(r *report.Report) string {
	w := r.WorstCase
	if w.Measured == report.MeasuredNone {
		return notMeasured
	}
	_, clean := r.WorstCaseCounts()
	return srCell(w.SuccessRate, w.SRUndefined, w.NFooled, clean)
}

func worstRobustCell(r *report.Report) string {
	if r.WorstCase.Measured == report.MeasuredNone {
		return notMeasured
	}
	return pct(r.WorstCase.RobustAccuracy)
}

// tableRows returns the header and rows of the human-readable tables:
// one row per attack, then the worst case. A pool with targeted attacks
// gets a column of their targeted success rates (reached the target; the
// SR column counts any misclassification), one with black-box attacks a
// column of their median queries to success. A partial attack's label
// says over how many samples its figures are; an attack the run did not
// reach reads "not measured".
func tableRows(r *report.Report) (header []string, rows [][]string) {
	queries := false
	for _, a := range r.Attacks {
		if a.Queries != nil {
			queries = true
		}
	}
	targeted := report.HasTargeted(r.Attacks)
	header = []string{"attack", "norm", "eps", "SR (n)"}
	if targeted {
		header = append(header, "targeted SR (n)")
	}
	header = append(header, "robust acc", "median L2", "median Linf", "grad evals")
	if queries {
		header = append(header, "median queries")
	}
	header = append(header, "seconds")
	labels := report.AttackLabels(r.Attacks)
	for i, a := range r.Attacks {
		row := []string{attackLabel(labels[i], a), normCell(a), epsCell(a), attackSRCell(a)}
		if targeted {
			row = append(row, targetedCell(a))
		}
		row = append(row, robustCell(a),
			medianCell(a, a.Perturbation.L2), medianCell(a, a.Perturbation.Linf),
			strconv.FormatInt(a.GradientEvals, 10),
		)
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
	row := []string{worstLabel(r), "-", "-", worstSRCell(r)}
	if targeted {
		row = append(row, "-")
	}
	row = append(row, worstRobustCell(r), "-", "-", strconv.FormatInt(evals, 10))
	if queries {
		row = append(row, "-")
	}
	rows = append(rows, append(row, secondsCell(secs)))
	return header, rows
}

// figuresCell writes a sanity check's figures, "sr@eps=0.3=0.044,
// sr@eps=0.6=0.98", with the precision of SanityCheck.String; "-" when it
// has none.
func figuresCell(c report.SanityCheck) string {
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

// hasRounds reports whether r has a harden section with rounds: the formats
// show the rounds exactly then.
func hasRounds(r *report.Report) bool { return r.Harden != nil && len(r.Harden.Rounds) > 0 }

// hardenColumns returns the keys of the per-attack success rate columns of
// the harden rounds table and their headers. A round's AttackSR is keyed by
// the attack's key (Key of its name and params), the same keys as
// r.Attacks: those attacks come first, in report order, under the labels of
// the attack table; keys only the rounds hold (a report whose final attacks
// did not run) follow, sorted, under their key.
func hardenColumns(r *report.Report) (keys, labels []string) {
	seen := map[string]bool{}
	attack := report.AttackLabels(r.Attacks)
	for i, a := range r.Attacks {
		k := a.Key
		if k == "" {
			k = report.Key(a.Name, a.Params)
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		keys = append(keys, k)
		labels = append(labels, attack[i])
	}
	var extra []string
	for _, rd := range r.Harden.Rounds {
		for k := range rd.AttackSR {
			if !seen[k] {
				seen[k] = true
				extra = append(extra, k)
			}
		}
	}
	sort.Strings(extra)
	return append(keys, extra...), append(labels, extra...)
}

// hardenRows returns the header and rows of the harden rounds table: round,
// defence (with its params), clean accuracy, validation accuracy (a column
// only when a round has one), worst-case SR, each attack's SR, and whether
// the round was accepted ("no: <reason>" when not). No timing figures.
// left marks the columns of text, aligned left.
func hardenRows(r *report.Report) (header []string, rows [][]string, left []bool) {
	keys, labels := hardenColumns(r)
	hasVal := false
	for _, rd := range r.Harden.Rounds {
		if rd.ValAccuracy != nil {
			hasVal = true
		}
	}
	header = []string{"round", "defence", "clean"}
	if hasVal {
		header = append(header, "val")
	}
	header = append(header, "worst SR")
	header = append(header, labels...)
	header = append(header, "accepted")
	left = make([]bool, len(header))
	left[1], left[len(left)-1] = true, true
	varying := varyingParams(r.Harden.Rounds)
	for _, rd := range r.Harden.Rounds {
		row := []string{strconv.Itoa(rd.Round), defenceCell(rd, varying[rd.Defence]), pct(rd.CleanAccuracy)}
		if hasVal {
			v := "-"
			if rd.ValAccuracy != nil {
				v = pct(*rd.ValAccuracy)
			}
			row = append(row, v)
		}
		row = append(row, pct(rd.WorstCaseSR))
		for _, k := range keys {
			v := "-"
			if sr, ok := rd.AttackSR[k]; ok {
				v = pct(sr)
			}
			row = append(row, v)
		}
		rows = append(rows, append(row, acceptedCell(rd)))
	}
	return header, rows, left
}

// defenceName is a round's defence, "(as given)" for round 0 (no defence),
// as advtest harden prints it while it runs.
func defenceName(rd report.HardenRound) string {
	if rd.Defence == "" {
		return "(as given)"
	}
	return rd.Defence
}

// varyingParams returns, per defence name, the parameters whose values
// differ between the rounds that applied it: the ones that tell those
// rounds apart (the JSON report holds them all).
func varyingParams(rounds []report.HardenRound) map[string]map[string]bool {
	first := map[string]map[string]string{}
	out := map[string]map[string]bool{}
	for _, rd := range rounds {
		f, seen := first[rd.Defence]
		if !seen {
			first[rd.Defence] = rd.Params
			continue
		}
		for k, v := range rd.Params {
			if fv, ok := f[k]; !ok || fv != v {
				if out[rd.Defence] == nil {
					out[rd.Defence] = map[string]bool{}
				}
				out[rd.Defence][k] = true
			}
		}
		for k := range f {
			if _, ok := rd.Params[k]; !ok {
				if out[rd.Defence] == nil {
					out[rd.Defence] = map[string]bool{}
				}
				out[rd.Defence][k] = true
			}
		}
	}
	return out
}

// defenceCell is a round's defence with the params that set it apart from
// other rounds of the same defence, "adv_train (epochs=2)"; the name alone
// when no other round applied it differently.
func defenceCell(rd report.HardenRound, varying map[string]bool) string {
	shown := map[string]string{}
	for k, v := range rd.Params {
		if varying[k] {
			shown[k] = v
		}
	}
	if len(shown) == 0 {
		return defenceName(rd)
	}
	return defenceName(rd) + " (" + paramsCell(shown) + ")"
}

// acceptedCell is "yes", or "no: <reason>" for a rejected round.
func acceptedCell(rd report.HardenRound) string {
	switch {
	case rd.Accepted:
		return "yes"
	case rd.Reason == "":
		return "no"
	default:
		return "no: " + rd.Reason
	}
}

// lastAccepted returns the index of the last accepted round, -1 if none.
func lastAccepted(h *report.Harden) int {
	for i := len(h.Rounds) - 1; i >= 0; i-- {
		if h.Rounds[i].Accepted {
			return i
		}
	}
	return -1
}

// hardenVerdict says whether the loop met its target: "target until_sr
// 0.3 met in round 2 (worst-case SR 25.0%)", or "target until_sr 0.2 not
// met: worst-case SR 25.0% after round 2, the last accepted".
func hardenVerdict(h *report.Harden) string {
	s := "target until_sr " + num(h.UntilSR)
	i := lastAccepted(h)
	switch {
	case h.Reached && i >= 0:
		return fmt.Sprintf("%s met in round %d (worst-case SR %s)", s, h.Rounds[i].Round, pct(h.Rounds[i].WorstCaseSR))
	case h.Reached:
		return s + " met"
	case i >= 0:
		return fmt.Sprintf("%s not met: worst-case SR %s after round %d, the last accepted", s, pct(h.Rounds[i].WorstCaseSR), h.Rounds[i].Round)
	default:
		return s + " not met: no round was accepted"
	}
}

// hardenTitle introduces the harden rounds in the human-readable formats.
const hardenTitle = "Harden rounds"

// num writes a threshold as configured, in its shortest form.
func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// num4 writes a measured rate with four significant digits.
func num4(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }
