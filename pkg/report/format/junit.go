package format

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/advtest/advtest/pkg/report"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr,omitempty"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string           `xml:"name,attr"`
	Tests      int              `xml:"tests,attr"`
	Failures   int              `xml:"failures,attr"`
	Errors     int              `xml:"errors,attr"`
	Skipped    int              `xml:"skipped,attr,omitempty"`
	Time       string           `xml:"time,attr"`
	Timestamp  string           `xml:"timestamp,attr,omitempty"`
	Properties *junitProperties `xml:"properties"`
	Cases      []junitCase      `xml:"testcase"`
}

type junitProperties struct {
	Property []junitProperty `xml:"property"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure"`
	Skipped   *junitSkipped `xml:"skipped"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// writeJUnit writes the report as JUnit XML: one test suite "advtest", one
// test case per attack (named by its key, which is stable across runs)
// that fails when the attack fails its gates, and a "worst-case" test case
// that fails when a pool-wide gate fails (fail_above, worst-case
// regression, an incomplete run). A report with sanity checks gets a
// second test suite "sanity", one test case per check (named by its ID):
// a flagged check fails, a skipped one is skipped. A report with harden
// rounds gets a test suite "harden", one test case per round ("round N:
// <defence>"): a rejected round is skipped with its reason, and when the
// target was not met the last accepted round fails. An attack the run did
// not reach (measured none) is skipped; a partial one's output says over
// how many samples its figures are. A report with a certification gets a
// test suite "certification" (a summary case and one case per radius); a
// certification report without attacks has a "gate" test case in place of
// "worst-case".
func writeJUnit(w io.Writer, r *report.Report) error {
	r = r.Normalized()
	secs := func(s float64) string { return strconv.FormatFloat(s, 'f', 3, 64) }
	suite := junitSuite{
		Name:      "advtest",
		Time:      secs(r.Timing.Seconds),
		Timestamp: r.Timing.Created,
		Properties: &junitProperties{[]junitProperty{
			{"tool_version", r.ToolVersion},
			{"seed", strconv.FormatUint(r.Seed, 10)},
			{"model", r.Model.Path},
			{"model_sha256", r.Model.SHA256},
			{"data", r.Data.Path},
			{"data_sha256", r.Data.SHA256},
			{"n", strconv.Itoa(r.N)},
			{"clean_accuracy", num(r.CleanAccuracy)},
		}},
	}
	if certOnly(r) {
		// certify measures no clean accuracy: n is the samples certified.
		props := suite.Properties.Property[:len(suite.Properties.Property)-2]
		suite.Properties.Property = append(props, junitProperty{"n", strconv.Itoa(r.Certification.N)})
	}
	for _, a := range r.Attacks {
		c := junitCase{
			Name:      report.Key(a.Name, a.Params),
			Classname: "advtest.attack." + a.Name,
			Time:      secs(a.Seconds),
			SystemOut: attackOut(a),
		}
		switch {
		case !a.Gate.Passed:
			c.Failure = junitFail(a.Gate.Reasons)
		case a.NotMeasured():
			c.Skipped = &junitSkipped{Message: "not measured: the run stopped before this attack"}
		}
		suite.Cases = append(suite.Cases, c)
	}
	suite.Cases = append(suite.Cases, poolCase(r, secs))
	suites := []junitSuite{suite}
	if r.Certification != nil {
		suites = append(suites, junitCertification(r, secs))
	}
	if len(r.Sanity) > 0 {
		suites = append(suites, junitSanity(r.Sanity))
	}
	if hasRounds(r) {
		suites = append(suites, junitHarden(r, secs))
	}
	doc := junitSuites{
		Name: "advtest",
		Time: suite.Time,
	}
	for _, s := range suites {
		for _, c := range s.Cases {
			s.Tests++
			switch {
			case c.Failure != nil:
				s.Failures++
			case c.Skipped != nil:
				s.Skipped++
			}
		}
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Skipped += s.Skipped
		doc.Suites = append(doc.Suites, s)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("report: junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// poolCase is the "worst-case" test case, failing when a pool-wide gate
// failed; for a certification report without attacks, the "gate" test
// case, failing when any gate failed (a certified-accuracy minimum, an
// incomplete run).
func poolCase(r *report.Report, secs func(float64) string) junitCase {
	if certOnly(r) {
		c := junitCase{Name: "gate", Classname: "advtest.certify", Time: secs(r.Timing.Seconds), SystemOut: "gate " + status(r)}
		if !r.Gate.Passed {
			c.Failure = junitFail(r.Gate.Reasons)
		}
		return c
	}
	wc := r.WorstCase
	c := junitCase{
		Name:      "worst-case",
		Classname: "advtest.pool",
		Time:      secs(r.Timing.Seconds),
		SystemOut: fmt.Sprintf("success rate %s, robust accuracy %s", worstSRCell(r), worstRobustCell(r)),
	}
	if l := worstLabel(r); l != "worst case" {
		c.SystemOut = strings.TrimPrefix(l, "worst case ") + ": " + c.SystemOut
	}
	if !wc.Gate.Passed {
		c.Failure = junitFail(wc.Gate.Reasons)
	}
	return c
}

// junitCertification is the "certification" test suite: one test case per
// L2 radius ("certified accuracy at radius R", its figure the output),
// which fail nothing themselves (the gate's minimums fail the "gate" or
// "worst-case" case), and one "summary" case with the parameters, the
// accuracy and abstain rate and the radii's summary.
func junitCertification(r *report.Report, secs func(float64) string) junitSuite {
	c := r.Certification
	s := junitSuite{Name: "certification", Time: secs(c.Seconds)}
	out := certParams(c) + "; certified " + certSummary(c)
	if l := certRadiusLine(c); l != "" {
		out += "; " + l
	}
	s.Cases = append(s.Cases, junitCase{Name: "summary", Classname: "advtest.certify", Time: secs(c.Seconds), SystemOut: out})
	for _, rd := range c.Radii {
		s.Cases = append(s.Cases, junitCase{
			Name:      "certified accuracy at L2 radius " + num(rd.Radius),
			Classname: "advtest.certify",
			Time:      "0.000",
			SystemOut: fmt.Sprintf("certified accuracy %s (%d/%d)", pct(rd.CertifiedAccuracy), rd.NCertified, c.N),
		})
	}
	return s
}

// junitSanity is the "sanity" test suite: one test case per check, failing
// when it is flagged and skipped when it could not run. The checks carry no
// timing, so the times are 0.
func junitSanity(checks []report.SanityCheck) junitSuite {
	s := junitSuite{Name: "sanity", Time: "0.000"}
	for _, ch := range checks {
		c := junitCase{
			Name:      ch.ID,
			Classname: "advtest.sanity",
			Time:      "0.000",
			SystemOut: sanityOut(ch),
		}
		switch ch.Status {
		case report.SanityFlag:
			msg := ch.Explanation
			if msg == "" {
				msg = "gradient masking suspected"
			}
			c.Failure = &junitFailure{Message: msg, Type: "sanity", Text: ch.String()}
		case report.SanitySkip:
			c.Skipped = &junitSkipped{Message: orDash(ch.Explanation)}
		}
		s.Cases = append(s.Cases, c)
	}
	return s
}

// junitHarden is the "harden" test suite: one test case per round, in the
// order they ran, timed by the round's seconds. A rejected round is skipped
// (its reason the message); when the loop missed its target the last
// accepted round (the last round when none was) fails, its worst-case
// success rate above until_sr.
func junitHarden(r *report.Report, secs func(float64) string) junitSuite {
	h := r.Harden
	keys, labels := hardenColumns(r)
	var total float64
	s := junitSuite{Name: "harden"}
	for _, rd := range h.Rounds {
		total += rd.Seconds
		out := "clean accuracy " + pct(rd.CleanAccuracy)
		if rd.ValAccuracy != nil {
			out += ", val accuracy " + pct(*rd.ValAccuracy)
		}
		out += ", worst-case SR " + pct(rd.WorstCaseSR)
		for i, k := range keys {
			if sr, ok := rd.AttackSR[k]; ok {
				out += ", " + labels[i] + " " + pct(sr)
			}
		}
		if len(rd.Params) > 0 {
			out += ", params " + paramsCell(rd.Params)
		}
		c := junitCase{
			Name:      fmt.Sprintf("round %d: %s", rd.Round, defenceName(rd)),
			Classname: "advtest.harden",
			Time:      secs(rd.Seconds),
			SystemOut: out,
		}
		if !rd.Accepted {
			c.Skipped = &junitSkipped{Message: orDash(rd.Reason)}
		}
		s.Cases = append(s.Cases, c)
	}
	s.Time = secs(total)
	if !h.Reached {
		i := lastAccepted(h)
		if i < 0 {
			i = len(h.Rounds) - 1
		}
		rd := h.Rounds[i]
		s.Cases[i].Skipped = nil
		s.Cases[i].Failure = &junitFailure{
			Message: fmt.Sprintf("worst-case success rate %s is above until_sr %s", num4(rd.WorstCaseSR), num(h.UntilSR)),
			Type:    "harden",
			Text:    "harden: " + hardenVerdict(h),
		}
	}
	return s
}

// attackOut describes an attack's figures for its test case's output: the
// success rate (and, for a targeted attack, the targeted success rate),
// robust accuracy, medians and gradient evaluations; a partial attack's
// are prefixed with the samples they cover.
func attackOut(a report.AttackResult) string {
	if a.NotMeasured() {
		return fmt.Sprintf("not measured: the run stopped before this attack (%d samples planned)", a.NPlanned)
	}
	s := "success rate " + attackSRCell(a)
	if a.TargetedSR != nil {
		s += ", targeted success rate " + targetedCell(a)
	}
	s += fmt.Sprintf(", robust accuracy %s, median L2 %s, median Linf %s, gradient evals %d",
		robustCell(a), medianCell(a, a.Perturbation.L2), medianCell(a, a.Perturbation.Linf), a.GradientEvals)
	if a.Partial() {
		s = "(" + partialNote(a.N, a.NPlanned) + ") " + s
	}
	return s
}

// sanityOut describes a check's figures for a test case's output.
func sanityOut(c report.SanityCheck) string {
	s := "status " + c.Status + ", attack " + orDash(c.Attack) + ", figures " + figuresCell(c) + ", n " + strconv.Itoa(c.N)
	if c.Explanation != "" {
		s += ": " + c.Explanation
	}
	return s
}

func junitFail(reasons []string) *junitFailure {
	msg := "gate failed"
	if len(reasons) > 0 {
		msg = reasons[0]
	}
	return &junitFailure{Message: msg, Type: "gate", Text: strings.Join(reasons, "\n")}
}
