package report

import (
	"bytes"
	"encoding/xml"
	"math"
	"regexp"
	"strings"
	"testing"
)

const pgdKey = "pgd{eps=0.1,norm=linf,steps=40}"

// sanityChecks returns three checks: eps-growth passed, more-steps flagged,
// blackbox-vs-whitebox skipped.
func sanityChecks() []SanityCheck {
	return []SanityCheck{
		{ID: "eps-growth", Status: SanityPass, Attack: pgdKey, N: 8,
			Figures:     []SanityFigure{{"sr@eps=0.1", 0.625}, {"sr@eps=0.2", 0.875}, {"sr@eps=0.4", 1}},
			Explanation: "pgd's success rate grows to 100.0% at eps=0.4 (the clip range's width)"},
		{ID: "more-steps", Status: SanityFlag, Attack: pgdKey, N: 8,
			Figures:     []SanityFigure{{"sr@steps=40", 0.625}, {"sr@steps=160", 0.5}},
			Explanation: "pgd with 4× the steps fools 50.0%, fewer than 62.5% with 40: more iterations of a working attack never hurt — gradient masking suspected"},
		{ID: "blackbox-vs-whitebox", Status: SanitySkip,
			Explanation: "the pool has no bounded black-box attack"},
	}
}

// sanitySample is sample with the three checks of sanityChecks, gated: the
// flagged check is the only failed gate.
func sanitySample(t testing.TB) *Report {
	r := sample(t)
	r.Sanity = sanityChecks()
	r.ApplyGate(Gate{FailAbove: fptr(0.9)})
	return r
}

// TestSanityRenders checks what each format shows of the sanity checks
// (the goldens of TestGolden pin the whole output).
func TestSanityRenders(t *testing.T) {
	for _, c := range []struct {
		format string
		want   []string
		// order lists substrings that must appear in this order.
		order []string
	}{
		{"table", []string{
			"sanity eps-growth: pass — pgd's success rate grows to 100.0% at eps=0.4 (the clip range's width) (sr@eps=0.1=0.625, sr@eps=0.2=0.875, sr@eps=0.4=1; n=8)\n",
			"sanity more-steps: flag — pgd with 4× the steps",
			"sanity blackbox-vs-whitebox: skip — the pool has no bounded black-box attack\n",
			"gate: FAIL\n  - gradient masking suspected: sanity more-steps: flag",
		}, []string{"| worst case", "sanity eps-growth", "sanity more-steps", "sanity blackbox-vs-whitebox", "gate: FAIL"}},
		{"markdown", []string{
			"**" + sanityTitle + "**",
			"| check | status | attack | figures | n | explanation |",
			"| eps-growth | pass | pgd{eps=0.1,norm=linf,steps=40} | sr@eps=0.1=0.625, sr@eps=0.2=0.875, sr@eps=0.4=1 | 8 | pgd's success rate",
			"| more-steps | **flag** | pgd{eps=0.1,norm=linf,steps=40} | sr@steps=40=0.625, sr@steps=160=0.5 | 8 |",
			"| blackbox-vs-whitebox | skip | - | - | - | the pool has no bounded black-box attack |",
		}, []string{"| **worst case**", "**" + sanityTitle + "**", "**Gate: FAIL**"}},
		{"junit", []string{`<testsuite name="sanity" tests="3" failures="1" errors="0" skipped="1"`}, nil},
		{"json", []string{`"sanity": [`, `"name": "sr@steps=160",`}, nil},
	} {
		t.Run(c.format, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Render(&buf, c.format, sanitySample(t)); err != nil {
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
		})
	}
	// Without checks, nothing about them.
	for _, format := range []string{"table", "markdown", "junit", "json"} {
		var buf bytes.Buffer
		if err := Render(&buf, format, sample(t)); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(strings.ToLower(buf.String()), "sanity") {
			t.Errorf("%s of a report without checks mentions them:\n%s", format, buf.String())
		}
	}
}

func TestJUnitSanity(t *testing.T) {
	var buf bytes.Buffer
	if err := Render(&buf, "junit", sanitySample(t)); err != nil {
		t.Fatal(err)
	}
	var doc junitSuites
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Suites) != 2 || doc.Suites[0].Name != "advtest" || doc.Suites[1].Name != "sanity" {
		t.Fatalf("suites %+v, want advtest and sanity", doc.Suites)
	}
	s := doc.Suites[1]
	if s.Tests != 3 || s.Failures != 1 || s.Skipped != 1 {
		t.Errorf("sanity suite: %d tests, %d failures, %d skipped; want 3, 1, 1", s.Tests, s.Failures, s.Skipped)
	}
	if doc.Tests != doc.Suites[0].Tests+3 || doc.Failures != doc.Suites[0].Failures+1 || doc.Skipped != 1 {
		t.Errorf("testsuites: %d tests, %d failures, %d skipped; want the suites' sums", doc.Tests, doc.Failures, doc.Skipped)
	}
	var failures, skipped int
	for _, c := range s.Cases {
		if c.Classname != "advtest.sanity" {
			t.Errorf("%s: classname %q", c.Name, c.Classname)
		}
		switch c.Name {
		case "eps-growth":
			if c.Failure != nil || c.Skipped != nil {
				t.Errorf("passed check: failure %+v, skipped %+v", c.Failure, c.Skipped)
			}
		case "more-steps":
			if c.Failure == nil || c.Skipped != nil {
				t.Fatalf("flagged check: failure %+v, skipped %+v; want a failure", c.Failure, c.Skipped)
			}
			if !strings.Contains(c.Failure.Message, "more iterations of a working attack never hurt") ||
				!strings.Contains(c.Failure.Text, "sr@steps=40=0.625, sr@steps=160=0.5; n=8") {
				t.Errorf("failure %+v lacks the explanation or the figures", c.Failure)
			}
		case "blackbox-vs-whitebox":
			if c.Skipped == nil || c.Failure != nil || !strings.Contains(c.Skipped.Message, "no bounded black-box") {
				t.Errorf("skipped check: failure %+v, skipped %+v", c.Failure, c.Skipped)
			}
		default:
			t.Errorf("unexpected test case %q", c.Name)
		}
		if c.Failure != nil {
			failures++
		}
		if c.Skipped != nil {
			skipped++
		}
	}
	if failures != 1 || skipped != 1 {
		t.Errorf("%d failures and %d skipped test cases, want 1 and 1", failures, skipped)
	}
}

func TestApplyGateSanity(t *testing.T) {
	checks := sanityChecks()
	for _, c := range []struct {
		name   string
		checks []SanityCheck
		pass   bool
		reason string
	}{
		{"none", nil, true, ""},
		{"passed and skipped", []SanityCheck{checks[0], checks[2]}, true, ""},
		{"flagged", checks, false, "gradient masking suspected: sanity more-steps: flag — pgd with 4× the steps"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := sample(t)
			r.Sanity = c.checks
			if got := r.ApplyGate(Gate{FailAbove: fptr(0.9)}); got != c.pass || r.Gate.Passed != c.pass {
				t.Errorf("ApplyGate = %v, Gate.Passed = %v; want %v (reasons %q)", got, r.Gate.Passed, c.pass, r.Gate.Reasons)
			}
			if c.pass {
				if len(r.Gate.Reasons) != 0 {
					t.Errorf("reasons %q, want none", r.Gate.Reasons)
				}
				return
			}
			if len(r.Gate.Reasons) != 1 || !strings.HasPrefix(r.Gate.Reasons[0], c.reason) {
				t.Errorf("reasons %q, want one starting %q", r.Gate.Reasons, c.reason)
			}
			// The flag fails the run, not an attack or the worst case.
			if !r.WorstCase.Gate.Passed || !r.Attacks[1].Gate.Passed {
				t.Errorf("worst case %+v, pgd %+v: want both passed", r.WorstCase.Gate, r.Attacks[1].Gate)
			}
		})
	}
}

func TestMergeSanity(t *testing.T) {
	pass := func(id string, n int, figs ...SanityFigure) SanityCheck {
		return SanityCheck{ID: id, Status: SanityPass, Attack: "pgd", N: n, Figures: figs, Explanation: id + " passed"}
	}
	flag := func(id string, n int, figs ...SanityFigure) SanityCheck {
		return SanityCheck{ID: id, Status: SanityFlag, Attack: "pgd", N: n, Figures: figs, Explanation: id + " flagged"}
	}
	skip := func(id string) SanityCheck {
		return SanityCheck{ID: id, Status: SanitySkip, Figures: []SanityFigure{}, Explanation: id + " skipped"}
	}
	f := func(name string, v float64) SanityFigure { return SanityFigure{name, v} }
	cases := []struct {
		name string
		a, b []SanityCheck
		want []SanityCheck
		pass bool
	}{
		{"none", nil, nil, nil, true},
		{"N-weighted figures",
			[]SanityCheck{pass("eps-growth", 6, f("sr@eps=0.1", 0.5), f("sr@eps=0.2", 1))},
			[]SanityCheck{pass("eps-growth", 2, f("sr@eps=0.1", 0), f("sr@eps=0.2", 0.5))},
			[]SanityCheck{{ID: "eps-growth", Status: SanityPass, Attack: "pgd", N: 8,
				Figures:     []SanityFigure{f("sr@eps=0.1", 0.375), f("sr@eps=0.2", 0.875)},
				Explanation: "eps-growth passed (merged from 2 shards)"}},
			true},
		{"flag in one shard flags",
			[]SanityCheck{pass("more-steps", 3, f("sr@steps=10", 1), f("sr@steps=40", 1))},
			[]SanityCheck{flag("more-steps", 1, f("sr@steps=10", 1), f("sr@steps=40", 0))},
			[]SanityCheck{{ID: "more-steps", Status: SanityFlag, Attack: "pgd", N: 4,
				Figures:     []SanityFigure{f("sr@steps=10", 1), f("sr@steps=40", 0.75)},
				Explanation: "more-steps flagged (merged from 2 shards)"}},
			false},
		{"pass beats skip; attack from the shard that has one",
			[]SanityCheck{skip("unbounded")},
			[]SanityCheck{pass("unbounded", 4, f("sr", 1))},
			[]SanityCheck{{ID: "unbounded", Status: SanityPass, Attack: "pgd", N: 4,
				Figures: []SanityFigure{f("sr", 1)}, Explanation: "unbounded passed (merged from 2 shards)"}},
			true},
		{"all skipped",
			[]SanityCheck{skip("unbounded")}, []SanityCheck{skip("unbounded")},
			[]SanityCheck{{ID: "unbounded", Status: SanitySkip, Figures: []SanityFigure{}, Explanation: "unbounded skipped (merged from 2 shards)"}},
			true},
		{"different figure names keep the first shard's",
			[]SanityCheck{pass("eps-growth", 5, f("sr@eps=0.1", 0.4), f("sr@eps=0.2", 1))},
			[]SanityCheck{pass("eps-growth", 3, f("sr@eps=0.1", 0.2), f("sr@eps=0.2", 0.6), f("sr@eps=0.4", 1))},
			[]SanityCheck{{ID: "eps-growth", Status: SanityPass, Attack: "pgd", N: 5,
				Figures:     []SanityFigure{f("sr@eps=0.1", 0.4), f("sr@eps=0.2", 1)},
				Explanation: "eps-growth passed (merged from 2 shards; the shards measured different figures: these are the first shard's only, n=5 of 8)"}},
			true},
		{"order of the first shard, then checks only later shards ran",
			[]SanityCheck{skip("x"), skip("y")},
			[]SanityCheck{skip("z"), skip("y"), skip("x")},
			[]SanityCheck{
				{ID: "x", Status: SanitySkip, Figures: []SanityFigure{}, Explanation: "x skipped (merged from 2 shards)"},
				{ID: "y", Status: SanitySkip, Figures: []SanityFigure{}, Explanation: "y skipped (merged from 2 shards)"},
				{ID: "z", Status: SanitySkip, Figures: []SanityFigure{}, Explanation: "z skipped"},
			},
			true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, b := runReport(t, 0, 6), runReport(t, 6, 12)
			a.Sanity, b.Sanity = c.a, c.b
			m, _, err := Merge([]*Report{a, b})
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Sanity) != len(c.want) {
				t.Fatalf("merged %d checks %+v, want %d", len(m.Sanity), m.Sanity, len(c.want))
			}
			for i, w := range c.want {
				g := m.Sanity[i]
				if g.ID != w.ID || g.Status != w.Status || g.Attack != w.Attack || g.N != w.N || g.Explanation != w.Explanation {
					t.Errorf("check %d: %+v\nwant %+v", i, g, w)
				}
				if len(g.Figures) != len(w.Figures) {
					t.Errorf("check %s: figures %v, want %v", w.ID, g.Figures, w.Figures)
					continue
				}
				for j := range w.Figures {
					if g.Figures[j].Name != w.Figures[j].Name || math.Abs(g.Figures[j].Value-w.Figures[j].Value) > 1e-12 {
						t.Errorf("check %s: figures %v, want %v", w.ID, g.Figures, w.Figures)
						break
					}
				}
			}
			// The merged gate is re-applied: a flagged check is a reason
			// (the shards' worst case fails fail_above either way).
			reasons := strings.Join(m.Gate.Reasons, "\n")
			if masked := strings.Contains(reasons, "gradient masking suspected"); masked == c.pass {
				t.Errorf("merged gate reasons %q: masking suspected %v, want %v", m.Gate.Reasons, masked, !c.pass)
			}
			if !c.pass && !strings.Contains(reasons, "gradient masking suspected: sanity "+c.want[0].ID+": flag") {
				t.Errorf("reasons %q do not name the flagged check", m.Gate.Reasons)
			}
		})
	}
}

func TestCompareSanityNotes(t *testing.T) {
	checks := sanityChecks()
	passed := append([]SanityCheck(nil), checks...)
	passed[1].Status = SanityPass
	for _, c := range []struct {
		name     string
		old, new []SanityCheck
		want     []string
	}{
		{"none", nil, nil, nil},
		{"unchanged", checks, checks, nil},
		{"pass to flag", passed, checks, []string{"sanity more-steps: pass in old.json, flag in new.json"}},
		{"flag to pass", checks, passed, []string{"sanity more-steps: flag in old.json, pass in new.json"}},
		{"newly run and flagged", nil, checks, []string{"sanity more-steps: flag in new.json, not run in old.json"}},
		{"newly run, nothing flagged", nil, passed, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			oldR, newR := sample(t), sample(t)
			oldR.Sanity, newR.Sanity = c.old, c.new
			d := Compare(oldR, newR, "old.json", "new.json", 0)
			var got []string
			for _, n := range d.Notes {
				if strings.HasPrefix(n, "sanity ") {
					got = append(got, n)
				}
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("sanity notes %q, want %q", got, c.want)
			}
			// A flagged check is not a regression: the diff's verdict
			// ignores it.
			if !d.Passed || len(d.Reasons) != 0 {
				t.Errorf("diff passed %v, reasons %q; want passed", d.Passed, d.Reasons)
			}
		})
	}
}

// TestHTMLHardenRounds checks the harden table's validation accuracy column
// and rejection reasons.
func TestHTMLHardenRounds(t *testing.T) {
	round := regexp.MustCompile(`<tr><td class="num">1</td>.*</tr>`)
	for _, c := range []struct {
		name   string
		rounds []HardenRound
		row    string // round 1's row
		val    bool   // a val acc column
	}{
		{"plain",
			[]HardenRound{{Round: 0, Accepted: true}, {Round: 1, Defence: "adv_train", CleanAccuracy: 0.7, WorstCaseSR: 0.2, Accepted: true}},
			`<tr><td class="num">1</td><td>adv_train</td><td>-</td><td class="num">70.0%</td><td class="num">20.0%</td><td>yes</td><td class="num">0.00</td></tr>`,
			false},
		{"val accuracy and a reason",
			[]HardenRound{{Round: 0, Accepted: true},
				{Round: 1, Defence: "adv_train", CleanAccuracy: 0.7, ValAccuracy: fptr(0.685), WorstCaseSR: 0.2, Reason: "clean accuracy fell by 0.1 & more"}},
			`<tr><td class="num">1</td><td>adv_train</td><td>-</td><td class="num">70.0%</td><td class="num">68.5%</td><td class="num">20.0%</td><td>no<ul class="reasons"><li>clean accuracy fell by 0.1 &amp; more</li></ul></td><td class="num">0.00</td></tr>`,
			true},
		{"val accuracy on round 0 only",
			[]HardenRound{{Round: 0, ValAccuracy: fptr(0.9), Accepted: true}, {Round: 1, Defence: "adv_train", CleanAccuracy: 0.7, WorstCaseSR: 0.2, Accepted: true}},
			`<tr><td class="num">1</td><td>adv_train</td><td>-</td><td class="num">70.0%</td><td class="num">-</td><td class="num">20.0%</td><td>yes</td><td class="num">0.00</td></tr>`,
			true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := sample(t)
			r.Harden = &Harden{UntilSR: 0.3, Rounds: c.rounds}
			var buf bytes.Buffer
			if err := RenderHTML(&buf, r, nil); err != nil {
				t.Fatal(err)
			}
			checkWellFormed(t, buf.Bytes())
			s := buf.String()
			if got := round.FindString(s); got != c.row {
				t.Errorf("round 1 row\n%s\nwant\n%s", got, c.row)
			}
			if strings.Contains(s, "<th>val acc</th>") != c.val {
				t.Errorf("val acc column: %v, want %v", !c.val, c.val)
			}
		})
	}
}
