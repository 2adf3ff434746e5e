package format

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/report"
)

// hardenMet is hardenSample with a target the last accepted round met.
func hardenMet(t testing.TB) *report.Report {
	r := hardenSample(t)
	r.Harden.UntilSR, r.Harden.Reached = 0.8, true
	return r
}

// TestHardenRenders checks what each format shows of the harden rounds
// (the goldens of TestGolden pin the whole output).
func TestHardenRenders(t *testing.T) {
	for _, c := range []struct {
		name, format string
		r            func(testing.TB) *report.Report
		want         []string
		// order lists substrings that must appear in this order.
		order []string
		// not lists substrings that must not appear.
		not []string
	}{
		{"not met", "table", hardenSample, []string{
			"| round | defence                        | clean | val   | worst SR | fgsm  | pgd    | accepted ",
			"|     0 | (as given)                     | 90.0% | 88.0% |   100.0% | 50.0% | 100.0% | yes ",
			"|     1 | adv_train (epochs=2, eps=0.1)  | 70.0% | 69.0% |    62.5% | 25.0% |  50.0% | no: clean accuracy fell by 0.2, more than max_clean_drop 0.1 |",
			"|     2 | adv_train (epochs=4, eps=0.05) | 80.0% | 81.0% |    75.0% | 25.0% |  62.5% | yes ",
			"harden: target until_sr 0.5 not met: worst-case SR 75.0% after round 2, the last accepted\n",
		}, []string{"| worst case", hardenTitle + ":", "| round", "harden: target", "gate: FAIL"},
			[]string{"20.00", "12.00"}},
		{"met", "table", hardenMet, []string{
			"harden: target until_sr 0.8 met in round 2 (worst-case SR 75.0%)\n",
		}, nil, []string{"not met"}},
		{"not met", "markdown", hardenSample, []string{
			"**" + hardenTitle + "**\n\nTarget until_sr 0.5 not met: worst-case SR 75.0% after round 2, the last accepted.\n\n",
			"| round | defence | clean | val | worst SR | fgsm | pgd | accepted |\n| ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |\n",
			"| 0 | (as given) | 90.0% | 88.0% | 100.0% | 50.0% | 100.0% | yes |\n",
			"| 1 | adv_train (epochs=2, eps=0.1) | 70.0% | 69.0% | 62.5% | 25.0% | 50.0% | no: clean accuracy fell by 0.2, more than max_clean_drop 0.1 |\n",
		}, []string{"| **worst case**", "**" + hardenTitle + "**", "**Gate: FAIL**"}, nil},
		{"met", "markdown", hardenMet, []string{
			"Target until_sr 0.8 met in round 2 (worst-case SR 75.0%).",
		}, nil, []string{"not met"}},
		{"not met", "junit", hardenSample, []string{
			`<testsuites name="advtest" tests="6" failures="1" skipped="1" time="4.000">`,
			`<testsuite name="harden" tests="3" failures="1" errors="0" skipped="1" time="36.000">`,
			`<testcase name="round 0: (as given)" classname="advtest.harden" time="4.000">`,
			`<skipped message="clean accuracy fell by 0.2, more than max_clean_drop 0.1"></skipped>`,
			`<failure message="worst-case success rate 0.75 is above until_sr 0.5" type="harden">harden: target until_sr 0.5 not met`,
			`<system-out>clean accuracy 80.0%, val accuracy 81.0%, worst-case SR 75.0%, fgsm 25.0%, pgd 62.5%, params epochs=4, eps=0.05</system-out>`,
		}, []string{`name="advtest"`, `name="round 0: (as given)"`, `name="round 1: adv_train"`, `<skipped`, `name="round 2: adv_train"`, `<failure`}, nil},
		{"met", "junit", hardenMet, []string{
			`<testsuite name="harden" tests="3" failures="0" errors="0" skipped="1" time="36.000">`,
		}, nil, []string{"<failure"}},
		{"not met", "json", hardenSample, []string{
			`"until_sr": 0.5,`, `"val_accuracy": 0.69,`, `"round_seconds": [`,
			`"fgsm{eps=0.1}": 0.25,`, `"pgd{eps=0.1,norm=linf,steps=40}": 0.625`,
		}, nil, nil},
	} {
		t.Run(c.name+"/"+c.format, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Render(&buf, c.format, c.r(t)); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			at := 0
			for _, w := range c.order {
				i := strings.Index(out[at:], w)
				if i < 0 {
					t.Errorf("%q missing or out of order:\n%s", w, out)
					break
				}
				at += i + len(w)
			}
			for _, w := range c.not {
				if strings.Contains(out, w) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
		})
	}
	// Without rounds (no harden section, or one with no rounds), nothing
	// about them.
	empty := sample(t)
	empty.Harden = &report.Harden{UntilSR: 0.5}
	for _, r := range []*report.Report{sample(t), empty} {
		for _, format := range []string{"table", "markdown", "junit"} {
			var buf bytes.Buffer
			if err := Render(&buf, format, r); err != nil {
				t.Fatal(err)
			}
			if s := strings.ToLower(buf.String()); strings.Contains(s, "harden") || strings.Contains(s, "round") {
				t.Errorf("%s of a report without rounds mentions them:\n%s", format, buf.String())
			}
		}
	}
}

// TestHardenColumns checks the attack columns of the rounds table: the
// report's attacks under their labels, keys only the rounds hold after
// them, "-" for a round without a figure, and the val column only when a
// round has a validation accuracy.
func TestHardenColumns(t *testing.T) {
	pgd40 := report.AttackResult{Name: "pgd", Params: map[string]string{"steps": "40"}}
	pgd40.Key = report.Key(pgd40.Name, pgd40.Params)
	pgd100 := report.AttackResult{Name: "pgd", Key: "pgd{steps=100}", Params: map[string]string{"steps": "100"}}
	fgsm := report.AttackResult{Name: "fgsm", Key: "fgsm"}
	for _, c := range []struct {
		name    string
		attacks []report.AttackResult
		rounds  []report.HardenRound
		header  string
		rows    []string
	}{
		{"names, no val",
			[]report.AttackResult{fgsm, {Name: "deepfool", Key: "deepfool"}},
			[]report.HardenRound{{Round: 0, CleanAccuracy: 0.9, WorstCaseSR: 0.5, AttackSR: map[string]float64{"fgsm": 0.5, "deepfool": 1}, Accepted: true}},
			"round defence clean worst-SR fgsm deepfool accepted",
			[]string{"0 (as-given) 90.0% 50.0% 50.0% 100.0% yes"}},
		{"same name twice: keys",
			[]report.AttackResult{pgd40, pgd100},
			[]report.HardenRound{{Round: 0, WorstCaseSR: 1, AttackSR: map[string]float64{"pgd{steps=40}": 0.5, "pgd{steps=100}": 1}, Accepted: true},
				{Round: 1, Defence: "jpeg", ValAccuracy: fptr(0.5), WorstCaseSR: 1, AttackSR: map[string]float64{"pgd{steps=100}": 1}}},
			"round defence clean val worst-SR pgd{steps=40} pgd{steps=100} accepted",
			[]string{"0 (as-given) 0.0% - 100.0% 50.0% 100.0% yes", "1 jpeg 0.0% 50.0% 100.0% - 100.0% no"}},
		{"keys only the rounds hold, sorted",
			nil,
			[]report.HardenRound{{Round: 0, WorstCaseSR: 0.5, AttackSR: map[string]float64{"pgd": 0.5, "fgsm": 0.25}, Accepted: true}},
			"round defence clean worst-SR fgsm pgd accepted",
			[]string{"0 (as-given) 0.0% 50.0% 25.0% 50.0% yes"}},
		{"report's attacks first",
			[]report.AttackResult{fgsm},
			[]report.HardenRound{{Round: 0, WorstCaseSR: 0.5, AttackSR: map[string]float64{"cw": 0.5, "fgsm": 0.25}, Accepted: true}},
			"round defence clean worst-SR fgsm cw accepted",
			[]string{"0 (as-given) 0.0% 50.0% 25.0% 50.0% yes"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := report.New("test")
			r.Attacks = c.attacks
			r.Harden = &report.Harden{Rounds: c.rounds}
			header, rows, left := hardenRows(r.Normalized())
			join := func(cells []string) string {
				out := make([]string, len(cells))
				for i, s := range cells {
					out[i] = strings.ReplaceAll(s, " ", "-")
				}
				return strings.Join(out, " ")
			}
			if got := join(header); got != c.header {
				t.Errorf("header %q, want %q", got, c.header)
			}
			if len(rows) != len(c.rows) {
				t.Fatalf("%d rows, want %d", len(rows), len(c.rows))
			}
			for i, row := range rows {
				if got := join(row); got != c.rows[i] {
					t.Errorf("row %d %q, want %q", i, got, c.rows[i])
				}
				if len(row) != len(header) {
					t.Errorf("row %d has %d cells, the header %d", i, len(row), len(header))
				}
			}
			if len(left) != len(header) || !left[1] || !left[len(left)-1] || left[0] || left[2] {
				t.Errorf("left %v: want defence and accepted only", left)
			}
		})
	}
}

// TestJUnitHarden checks the harden suite's cases and that the top-level
// counts stay the suites' sums.
func TestJUnitHarden(t *testing.T) {
	noneAccepted := func(t testing.TB) *report.Report {
		r := hardenSample(t)
		for i := range r.Harden.Rounds {
			r.Harden.Rounds[i].Accepted = false
			r.Harden.Rounds[i].Reason = fmt.Sprintf("rejected %d", i)
		}
		return r
	}
	for _, c := range []struct {
		name string
		r    func(testing.TB) *report.Report
		// failed is the index of the failing case, -1 for none; skipped
		// the indexes of the skipped ones.
		failed  int
		skipped []int
		message string
	}{
		{"not met", hardenSample, 2, []int{1}, "worst-case success rate 0.75 is above until_sr 0.5"},
		{"met", hardenMet, -1, []int{1}, ""},
		{"none accepted", noneAccepted, 2, []int{0, 1}, "worst-case success rate 0.75 is above until_sr 0.5"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := c.r(t)
			var buf bytes.Buffer
			if err := Render(&buf, "junit", r); err != nil {
				t.Fatal(err)
			}
			var doc junitSuites
			if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			if len(doc.Suites) != 2 || doc.Suites[0].Name != "advtest" || doc.Suites[1].Name != "harden" {
				t.Fatalf("suites %+v, want advtest and harden", doc.Suites)
			}
			var tests, failures, skipped int
			for _, s := range doc.Suites {
				tests, failures, skipped = tests+s.Tests, failures+s.Failures, skipped+s.Skipped
			}
			if doc.Tests != tests || doc.Failures != failures || doc.Skipped != skipped {
				t.Errorf("testsuites: %d tests, %d failures, %d skipped; want the suites' sums %d, %d, %d",
					doc.Tests, doc.Failures, doc.Skipped, tests, failures, skipped)
			}
			s := doc.Suites[1]
			wantFailures := 0
			if c.failed >= 0 {
				wantFailures = 1
			}
			if s.Tests != 3 || s.Failures != wantFailures || s.Skipped != len(c.skipped) {
				t.Errorf("harden suite: %d tests, %d failures, %d skipped; want 3, %d, %d", s.Tests, s.Failures, s.Skipped, wantFailures, len(c.skipped))
			}
			isSkipped := map[int]bool{}
			for _, i := range c.skipped {
				isSkipped[i] = true
			}
			for i, tc := range s.Cases {
				rd := r.Harden.Rounds[i]
				if want := fmt.Sprintf("round %d: %s", rd.Round, defenceName(rd)); tc.Name != want || tc.Classname != "advtest.harden" {
					t.Errorf("case %d: name %q class %q, want %q advtest.harden", i, tc.Name, tc.Classname, want)
				}
				if (tc.Failure != nil) != (i == c.failed) {
					t.Errorf("%s: failure %+v, want one: %v", tc.Name, tc.Failure, i == c.failed)
				} else if tc.Failure != nil && (tc.Failure.Message != c.message || tc.Failure.Type != "harden") {
					t.Errorf("%s: failure %+v, want message %q type harden", tc.Name, tc.Failure, c.message)
				}
				if (tc.Skipped != nil) != isSkipped[i] {
					t.Errorf("%s: skipped %+v, want skipped: %v", tc.Name, tc.Skipped, isSkipped[i])
				} else if tc.Skipped != nil && tc.Skipped.Message != rd.Reason {
					t.Errorf("%s: skipped message %q, want the reason %q", tc.Name, tc.Skipped.Message, rd.Reason)
				}
			}
		})
	}
}

// TestDefenceCellShowsWhatVaries: the rounds table names a defence with
// only the parameters that differ between the rounds that applied it, so
// a single TRADES round with its twenty resolved parameters stays one word.
func TestDefenceCellShowsWhatVaries(t *testing.T) {
	many := map[string]string{"beta": "6", "eps": "0.3", "lr": "0.003", "steps": "5"}
	cases := []struct {
		name   string
		rounds []report.HardenRound
		want   []string
	}{
		{"one round", []report.HardenRound{{Round: 0}, {Round: 1, Defence: "trades", Params: many}}, []string{"(as given)", "trades"}},
		{"one param differs", []report.HardenRound{
			{Round: 1, Defence: "pgd-at", Params: map[string]string{"eps": "0.3", "lr": "0.001"}},
			{Round: 2, Defence: "pgd-at", Params: map[string]string{"eps": "0.3", "lr": "0.0005"}},
			{Round: 3, Defence: "squeeze", Params: map[string]string{"bits": "4"}}},
			[]string{"pgd-at (lr=0.001)", "pgd-at (lr=0.0005)", "squeeze"}},
	}
	for _, c := range cases {
		v := varyingParams(c.rounds)
		for i, rd := range c.rounds {
			if got := defenceCell(rd, v[rd.Defence]); got != c.want[i] {
				t.Errorf("%s: round %d: %q, want %q", c.name, rd.Round, got, c.want[i])
			}
		}
	}
}
