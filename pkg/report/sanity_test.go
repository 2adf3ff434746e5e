package report_test

import (
	"math"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/report"
)

const pgdKey = "pgd{eps=0.1,norm=linf,steps=40}"

// sanityChecks returns three checks: eps-growth passed, more-steps flagged,
// blackbox-vs-whitebox skipped.
func sanityChecks() []report.SanityCheck {
	return []report.SanityCheck{
		{ID: "eps-growth", Status: report.SanityPass, Attack: pgdKey, N: 8,
			Figures:     []report.SanityFigure{{"sr@eps=0.1", 0.625}, {"sr@eps=0.2", 0.875}, {"sr@eps=0.4", 1}},
			Explanation: "pgd's success rate grows to 100.0% at eps=0.4 (the clip range's width)"},
		{ID: "more-steps", Status: report.SanityFlag, Attack: pgdKey, N: 8,
			Figures:     []report.SanityFigure{{"sr@steps=40", 0.625}, {"sr@steps=160", 0.5}},
			Explanation: "pgd with 4× the steps fools 50.0%, fewer than 62.5% with 40: more iterations of a working attack never hurt — gradient masking suspected"},
		{ID: "blackbox-vs-whitebox", Status: report.SanitySkip,
			Explanation: "the pool has no bounded black-box attack"},
	}
}

// sanitySample is sample with the three checks of sanityChecks, gated: the
// flagged check is the only failed gate.
func sanitySample(t testing.TB) *report.Report {
	r := sample(t)
	r.Sanity = sanityChecks()
	r.ApplyGate(report.Gate{FailAbove: fptr(0.9)})
	return r
}

// TestSanityRenders checks what each format shows of the sanity checks
// (the goldens of TestGolden pin the whole output).
func TestApplyGateSanity(t *testing.T) {
	checks := sanityChecks()
	for _, c := range []struct {
		name   string
		checks []report.SanityCheck
		pass   bool
		reason string
	}{
		{"none", nil, true, ""},
		{"passed and skipped", []report.SanityCheck{checks[0], checks[2]}, true, ""},
		{"flagged", checks, false, "gradient masking suspected: sanity more-steps: flag — pgd with 4× the steps"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := sample(t)
			r.Sanity = c.checks
			if got := r.ApplyGate(report.Gate{FailAbove: fptr(0.9)}); got != c.pass || r.Gate.Passed != c.pass {
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
	pass := func(id string, n int, figs ...report.SanityFigure) report.SanityCheck {
		return report.SanityCheck{ID: id, Status: report.SanityPass, Attack: "pgd", N: n, Figures: figs, Explanation: id + " passed"}
	}
	flag := func(id string, n int, figs ...report.SanityFigure) report.SanityCheck {
		return report.SanityCheck{ID: id, Status: report.SanityFlag, Attack: "pgd", N: n, Figures: figs, Explanation: id + " flagged"}
	}
	skip := func(id string) report.SanityCheck {
		return report.SanityCheck{ID: id, Status: report.SanitySkip, Figures: []report.SanityFigure{}, Explanation: id + " skipped"}
	}
	f := func(name string, v float64) report.SanityFigure { return report.SanityFigure{name, v} }
	cases := []struct {
		name string
		a, b []report.SanityCheck
		want []report.SanityCheck
		pass bool
	}{
		{"none", nil, nil, nil, true},
		{"N-weighted figures",
			[]report.SanityCheck{pass("eps-growth", 6, f("sr@eps=0.1", 0.5), f("sr@eps=0.2", 1))},
			[]report.SanityCheck{pass("eps-growth", 2, f("sr@eps=0.1", 0), f("sr@eps=0.2", 0.5))},
			[]report.SanityCheck{{ID: "eps-growth", Status: report.SanityPass, Attack: "pgd", N: 8,
				Figures:     []report.SanityFigure{f("sr@eps=0.1", 0.375), f("sr@eps=0.2", 0.875)},
				Explanation: "eps-growth passed (merged from 2 shards)"}},
			true},
		{"flag in one shard flags",
			[]report.SanityCheck{pass("more-steps", 3, f("sr@steps=10", 1), f("sr@steps=40", 1))},
			[]report.SanityCheck{flag("more-steps", 1, f("sr@steps=10", 1), f("sr@steps=40", 0))},
			[]report.SanityCheck{{ID: "more-steps", Status: report.SanityFlag, Attack: "pgd", N: 4,
				Figures:     []report.SanityFigure{f("sr@steps=10", 1), f("sr@steps=40", 0.75)},
				Explanation: "more-steps flagged (merged from 2 shards)"}},
			false},
		{"pass beats skip; attack from the shard that has one",
			[]report.SanityCheck{skip("unbounded")},
			[]report.SanityCheck{pass("unbounded", 4, f("sr", 1))},
			[]report.SanityCheck{{ID: "unbounded", Status: report.SanityPass, Attack: "pgd", N: 4,
				Figures: []report.SanityFigure{f("sr", 1)}, Explanation: "unbounded passed (merged from 2 shards)"}},
			true},
		{"all skipped",
			[]report.SanityCheck{skip("unbounded")}, []report.SanityCheck{skip("unbounded")},
			[]report.SanityCheck{{ID: "unbounded", Status: report.SanitySkip, Figures: []report.SanityFigure{}, Explanation: "unbounded skipped (merged from 2 shards)"}},
			true},
		{"different figure names keep the first shard's",
			[]report.SanityCheck{pass("eps-growth", 5, f("sr@eps=0.1", 0.4), f("sr@eps=0.2", 1))},
			[]report.SanityCheck{pass("eps-growth", 3, f("sr@eps=0.1", 0.2), f("sr@eps=0.2", 0.6), f("sr@eps=0.4", 1))},
			[]report.SanityCheck{{ID: "eps-growth", Status: report.SanityPass, Attack: "pgd", N: 5,
				Figures:     []report.SanityFigure{f("sr@eps=0.1", 0.4), f("sr@eps=0.2", 1)},
				Explanation: "eps-growth passed (merged from 2 shards; the shards measured different figures: these are the first shard's only, n=5 of 8)"}},
			true},
		{"order of the first shard, then checks only later shards ran",
			[]report.SanityCheck{skip("x"), skip("y")},
			[]report.SanityCheck{skip("z"), skip("y"), skip("x")},
			[]report.SanityCheck{
				{ID: "x", Status: report.SanitySkip, Figures: []report.SanityFigure{}, Explanation: "x skipped (merged from 2 shards)"},
				{ID: "y", Status: report.SanitySkip, Figures: []report.SanityFigure{}, Explanation: "y skipped (merged from 2 shards)"},
				{ID: "z", Status: report.SanitySkip, Figures: []report.SanityFigure{}, Explanation: "z skipped"},
			},
			true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, b := runReport(t, 0, 6), runReport(t, 6, 12)
			a.Sanity, b.Sanity = c.a, c.b
			m, _, err := report.Merge([]*report.Report{a, b})
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
	passed := append([]report.SanityCheck(nil), checks...)
	passed[1].Status = report.SanityPass
	for _, c := range []struct {
		name     string
		old, new []report.SanityCheck
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
			d := report.Compare(oldR, newR, "old.json", "new.json", 0)
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
