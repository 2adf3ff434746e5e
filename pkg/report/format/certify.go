package format

import (
	"fmt"
	"strconv"

	"github.com/advtest/advtest/pkg/report"
)

// The certification section (advtest certify: randomized smoothing, Cohen,
// Rosenfeld & Kolter 2019, CERTIFY) in the human-readable formats: the
// smoothing parameters, the smoothed accuracy and abstain rate, the
// certified accuracy at each L2 radius, and a summary of the samples'
// certified radii (HTML lists every sample).

// certifyTitle introduces the section.
const certifyTitle = "Certified robustness (randomized smoothing, Cohen et al. 2019)"

// certOnly reports whether r is a certification report without attacks
// (advtest certify): the formats then show no attack table.
func certOnly(r *report.Report) bool { return r.Certification != nil && len(r.Attacks) == 0 }

// certParams describes the smoothing: "sigma 0.25, n0 100, n 100000,
// alpha 0.001, noise added to the input, clipped to [0, 1]".
func certParams(c *report.Certification) string {
	s := fmt.Sprintf("sigma %s, n0 %d, n %d, alpha %s, ", num(c.Sigma), c.N0, c.NDraws, num(c.Alpha))
	switch c.NoiseSource {
	case "model":
		s += "the model's own noise (cut from its graph, drawn once)"
	default:
		s += "noise added to the input"
	}
	if len(c.Clip) == 2 {
		s += fmt.Sprintf(", clipped to [%s, %s]", num(c.Clip[0]), num(c.Clip[1]))
	}
	return s
}

// certSummary is the smoothed classifier's accuracy and abstain rate over
// the certified samples.
func certSummary(c *report.Certification) string {
	return fmt.Sprintf("%d samples: smoothed accuracy %s, abstained %s (%d/%d)",
		c.N, pct(c.Accuracy), pct(c.AbstainRate), c.NAbstain, c.N)
}

// certRadiusLine summarises the samples' certified radii; empty when the
// report does not carry the summary.
func certRadiusLine(c *report.Certification) string {
	if c.Radius == nil {
		return ""
	}
	return fmt.Sprintf("certified L2 radius over the correctly predicted samples: mean %s, median %s",
		num4(c.Radius.Mean), num4(c.Radius.Median))
}

// certRows is the certified accuracy table: one row per radius.
func certRows(c *report.Certification) (header []string, rows [][]string) {
	header = []string{"L2 radius", "certified accuracy (n)"}
	for _, r := range c.Radii {
		rows = append(rows, []string{num(r.Radius), fmt.Sprintf("%s (%d/%d)", pct(r.CertifiedAccuracy), r.NCertified, c.N)})
	}
	return header, rows
}

// predictionCell is a sample's smoothed prediction, "abstain" for none.
func predictionCell(s report.CertifiedSample) string {
	if s.Prediction == report.AbstainPrediction {
		return "abstain"
	}
	return strconv.Itoa(s.Prediction)
}
