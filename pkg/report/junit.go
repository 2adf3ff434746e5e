package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
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
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// writeJUnit writes the report as JUnit XML: one test suite, one test case
// per attack (named by its key, which is stable across runs) that fails
// when the attack fails its gates, and a "worst-case" test case that fails
// when a pool-wide gate fails (fail_above, worst-case regression, an
// incomplete run).
func writeJUnit(w io.Writer, r *Report) error {
	r = normalized(r)
	secs := func(s float64) string { return strconv.FormatFloat(s, 'f', 3, 64) }
	suite := junitSuite{
		Name:      "advtest",
		Time:      secs(r.Timing.Seconds),
		Timestamp: r.Timing.Created,
		Properties: []junitProperty{
			{"tool_version", r.ToolVersion},
			{"seed", strconv.FormatUint(r.Seed, 10)},
			{"model", r.Model.Path},
			{"model_sha256", r.Model.SHA256},
			{"data", r.Data.Path},
			{"data_sha256", r.Data.SHA256},
			{"n", strconv.Itoa(r.N)},
			{"clean_accuracy", num(r.CleanAccuracy)},
		},
	}
	for _, a := range r.Attacks {
		c := junitCase{
			Name:      Key(a.Name, a.Params),
			Classname: "advtest.attack." + a.Name,
			Time:      secs(a.Seconds),
			SystemOut: fmt.Sprintf("success rate %s, robust accuracy %s, median L2 %s, median Linf %s, gradient evals %d",
				srCell(a.SuccessRate, a.SRUndefined, a.NFooled, a.NCleanCorrect), pct(a.RobustAccuracy),
				medianCell(a, a.Perturbation.L2), medianCell(a, a.Perturbation.Linf), a.GradientEvals),
		}
		if !a.Gate.Passed {
			c.Failure = junitFail(a.Gate.Reasons)
		}
		suite.Cases = append(suite.Cases, c)
	}
	wc := r.WorstCase
	c := junitCase{
		Name:      "worst-case",
		Classname: "advtest.pool",
		Time:      secs(r.Timing.Seconds),
		SystemOut: fmt.Sprintf("success rate %s, robust accuracy %s",
			srCell(wc.SuccessRate, wc.SRUndefined, wc.NFooled, r.NCleanCorrect), pct(wc.RobustAccuracy)),
	}
	if !wc.Gate.Passed {
		c.Failure = junitFail(wc.Gate.Reasons)
	}
	suite.Cases = append(suite.Cases, c)
	for _, c := range suite.Cases {
		suite.Tests++
		if c.Failure != nil {
			suite.Failures++
		}
	}
	doc := junitSuites{
		Name:     "advtest",
		Tests:    suite.Tests,
		Failures: suite.Failures,
		Time:     suite.Time,
		Suites:   []junitSuite{suite},
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

func junitFail(reasons []string) *junitFailure {
	msg := "gate failed"
	if len(reasons) > 0 {
		msg = reasons[0]
	}
	return &junitFailure{Message: msg, Type: "gate", Text: strings.Join(reasons, "\n")}
}
