package format

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/advtest/advtest/pkg/report"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// The fixtures of these tests are the JSON goldens of package report
// (../testdata/NAME.json, which report's tests build from per-sample
// outcomes): every format renders what `advtest report render` would read.

func fptr(v float64) *float64 { return &v }

// golden loads report's JSON golden NAME.
func golden(t testing.TB, name string) *report.Report {
	t.Helper()
	r, err := report.Load(filepath.Join("..", "testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// sample is report's sample fixture (10 samples, an fgsm and a pgd) with
// its gates not applied yet: every gate passes until ApplyGate says
// otherwise.
func sample(t testing.TB) *report.Report {
	r := golden(t, "pass")
	for i := range r.Attacks {
		r.Attacks[i].Gate = report.AttackGate{MaxSR: r.Attacks[i].Gate.MaxSR, Passed: true, Reasons: []string{}}
	}
	r.WorstCase.Gate = report.WorstCaseGate{Passed: true, Reasons: []string{}}
	r.Gate = report.GateResult{Passed: true, Reasons: []string{}, Notes: []string{}}
	return r
}

// sanitySample is sample with three sanity checks (eps-growth passed,
// more-steps flagged, blackbox-vs-whitebox skipped), gated.
func sanitySample(t testing.TB) *report.Report { return golden(t, "sanity") }

// sanityChecks are sanitySample's checks.
func sanityChecks(t testing.TB) []report.SanityCheck { return golden(t, "sanity").Sanity }

// hardenSample is sample as advtest harden writes it: the loop missed its
// target (until_sr 0.5, worst case 75%) after rejecting round 1.
func hardenSample(t testing.TB) *report.Report { return golden(t, "harden") }

// TestGolden renders report's JSON goldens in every other format and
// compares with the goldens here.
func TestGolden(t *testing.T) {
	for _, name := range []string{"pass", "fail", "sanity", "harden", "partial", "targeted", "certify"} {
		for _, format := range []string{"table", "junit", "markdown"} {
			ext := map[string]string{"table": "txt", "junit": "xml", "markdown": "md"}[format]
			t.Run(name+"/"+format, func(t *testing.T) {
				var buf bytes.Buffer
				if err := Render(&buf, format, golden(t, name)); err != nil {
					t.Fatal(err)
				}
				compareGolden(t, filepath.Join("testdata", name+"."+ext), buf.Bytes())
			})
		}
	}
}

// TestHTMLGolden renders the partial, targeted and certify goldens as
// HTML pages (no gallery): the not-measured and partial marks, the
// targeted SR column and the certification section.
func TestHTMLGolden(t *testing.T) {
	for _, name := range []string{"partial", "targeted", "certify"} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Render(&buf, "html", golden(t, name)); err != nil {
				t.Fatal(err)
			}
			checkWellFormed(t, buf.Bytes())
			compareGolden(t, filepath.Join("testdata", name+".html"), buf.Bytes())
		})
	}
}

// TestDiffGolden renders report's diff golden (diff.json) as a table and
// as Markdown.
func TestDiffGolden(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "testdata", "diff.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d report.Diff
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	for _, format := range DiffFormats {
		ext := map[string]string{"table": "txt", "json": "json", "markdown": "md"}[format]
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteDiff(&buf, format, &d); err != nil {
				t.Fatal(err)
			}
			if format == "json" {
				if !bytes.Equal(buf.Bytes(), data) {
					t.Errorf("json diff differs from ../testdata/diff.json:\n%s", buf.String())
				}
				return
			}
			compareGolden(t, filepath.Join("testdata", "diff."+ext), buf.Bytes())
		})
	}
	if err := WriteDiff(&bytes.Buffer{}, "html", &d); err == nil {
		t.Error("unknown diff format: no error")
	}
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n%s", path, got)
	}
}
