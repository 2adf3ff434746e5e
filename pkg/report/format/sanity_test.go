package format

import (
	"bytes"
	"encoding/xml"
	"regexp"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/report"
)

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

func TestHTMLHardenRounds(t *testing.T) {
	round := regexp.MustCompile(`<tr><td class="num">1</td>.*</tr>`)
	for _, c := range []struct {
		name   string
		rounds []report.HardenRound
		row    string // round 1's row
		val    bool   // a val acc column
	}{
		{"plain",
			[]report.HardenRound{{Round: 0, Accepted: true}, {Round: 1, Defence: "adv_train", CleanAccuracy: 0.7, WorstCaseSR: 0.2, Accepted: true}},
			`<tr><td class="num">1</td><td>adv_train</td><td>-</td><td class="num">70.0%</td><td class="num">20.0%</td><td>yes</td><td class="num">0.00</td></tr>`,
			false},
		{"val accuracy and a reason",
			[]report.HardenRound{{Round: 0, Accepted: true},
				{Round: 1, Defence: "adv_train", CleanAccuracy: 0.7, ValAccuracy: fptr(0.685), WorstCaseSR: 0.2, Reason: "clean accuracy fell by 0.1 & more"}},
			`<tr><td class="num">1</td><td>adv_train</td><td>-</td><td class="num">70.0%</td><td class="num">68.5%</td><td class="num">20.0%</td><td>no<ul class="reasons"><li>clean accuracy fell by 0.1 &amp; more</li></ul></td><td class="num">0.00</td></tr>`,
			true},
		{"val accuracy on round 0 only",
			[]report.HardenRound{{Round: 0, ValAccuracy: fptr(0.9), Accepted: true}, {Round: 1, Defence: "adv_train", CleanAccuracy: 0.7, WorstCaseSR: 0.2, Accepted: true}},
			`<tr><td class="num">1</td><td>adv_train</td><td>-</td><td class="num">70.0%</td><td class="num">-</td><td class="num">20.0%</td><td>yes</td><td class="num">0.00</td></tr>`,
			true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := sample(t)
			r.Harden = &report.Harden{UntilSR: 0.3, Rounds: c.rounds}
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
