package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/report"
	"github.com/advtest/advtest/pkg/report/format"
	"github.com/advtest/advtest/pkg/run"
)

const (
	passReport = repoRoot + "/pkg/report/testdata/pass.json"
	failReport = repoRoot + "/pkg/report/testdata/fail.json"
)

// writeReportFile loads passReport, lets change modify it, and writes it to
// a temporary file.
func writeReportFile(t *testing.T, name string, change func(r *report.Report)) string {
	t.Helper()
	r, err := report.Load(passReport)
	if err != nil {
		t.Fatal(err)
	}
	change(r)
	p := filepath.Join(t.TempDir(), name)
	if err := format.WriteFile(p, "json", r); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReportRender(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.html")
	cases := []struct {
		name string
		args []string
		code int
		want string // in stdout, or in stderr for failures
	}{
		{"table default", []string{"report", "render", passReport}, 0, "gate: PASS"},
		{"markdown", []string{"report", "render", failReport, "--format", "markdown"}, 0, "### advtest: FAIL"},
		{"junit", []string{"report", "render", passReport, "-f", "junit"}, 0, "<testsuites"},
		{"json", []string{"report", "render", passReport, "-f", "json"}, 0, `"schema_version": "1"`},
		{"html", []string{"report", "render", passReport, "-f", "html"}, 0, "<!DOCTYPE html>"},
		{"html to a file", []string{"report", "render", passReport, "-f", "html", "-o", out}, 0, ""},
		{"unknown format", []string{"report", "render", passReport, "-f", "yaml"}, 2, "unknown format"},
		{"missing file", []string{"report", "render", "nope.json"}, 2, "nope.json"},
		{"not a report", []string{"report", "render", cnnModel}, 2, "not a JSON report"},
		{"no argument", []string{"report", "render"}, 2, "accepts 1 arg"},
		{"no subcommand", []string{"report"}, 2, "subcommand"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runInProcess(c.args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.code, stdout, stderr)
			}
			got := stdout
			if c.code != 0 {
				got = stderr
			}
			if !strings.Contains(got, c.want) {
				t.Errorf("output lacks %q:\n%s", c.want, got)
			}
		})
	}
	b, err := os.ReadFile(out)
	if err != nil || !strings.Contains(string(b), `<svg class="plot"`) {
		t.Errorf("html file: %v, want a page with its sweep plot", err)
	}
}

func TestReportDiffExitCodes(t *testing.T) {
	regressed := writeReportFile(t, "new.json", func(r *report.Report) {
		r.Attacks[1].NFooled, r.Attacks[1].SuccessRate, r.Attacks[1].RobustAccuracy = 6, 0.75, 0.2
	})
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"same", []string{passReport, passReport}, 0, "regression gate: PASS"},
		{"regressed", []string{passReport, regressed}, 1, "regressed"},
		{"within the limit", []string{passReport, regressed, "--max-regression", "0.2"}, 0, "worse"},
		{"json", []string{passReport, regressed, "--format", "json"}, 1, `"passed": false`},
		{"markdown", []string{passReport, regressed, "-f", "markdown"}, 1, "**regressed**"},
		{"bad format", []string{passReport, regressed, "-f", "html"}, 2, "--format"},
		{"negative limit", []string{passReport, regressed, "--max-regression", "-1"}, 2, "max-regression"},
		{"missing file", []string{passReport, "nope.json"}, 2, "nope.json"},
		{"one argument", []string{passReport}, 2, "accepts 2 arg"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runInProcess(append([]string{"report", "diff"}, c.args...)...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.code, stdout, stderr)
			}
			if !strings.Contains(stdout+stderr, c.want) {
				t.Errorf("output lacks %q:\n%s%s", c.want, stdout, stderr)
			}
		})
	}
}

func TestReportMerge(t *testing.T) {
	s0 := writeReportFile(t, "s0.json", func(r *report.Report) { r.Config["shard"] = "0/2" })
	s1 := writeReportFile(t, "s1.json", func(r *report.Report) { r.Config["shard"] = "1/2" })
	out := filepath.Join(t.TempDir(), "merged.json")
	code, stdout, stderr := runInProcess("report", "merge", s0, s1, "--output", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	m, err := report.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if m.N != 20 || m.NCleanCorrect != 16 || m.WorstCase.NFooled != 12 || m.WorstCase.SuccessRate != 0.75 {
		t.Errorf("merged n %d clean %d worst %d/%v, want 20 16 12 0.75", m.N, m.NCleanCorrect, m.WorstCase.NFooled, m.WorstCase.SuccessRate)
	}
	if !strings.Contains(stderr, "approximate") {
		t.Errorf("stderr %q does not say the medians are approximate", stderr)
	}

	// A gate that fails on the merged figures exits 1, after writing.
	f0 := writeReportFile(t, "f0.json", func(r *report.Report) { r.Config["shard"] = "0/2"; r.WorstCase.Gate.FailAbove = rfptr(0.5) })
	f1 := writeReportFile(t, "f1.json", func(r *report.Report) { r.Config["shard"] = "1/2"; r.WorstCase.Gate.FailAbove = rfptr(0.5) })
	code, stdout, _ = runInProcess("report", "merge", f0, f1)
	if code != 1 || !strings.Contains(stdout, `"passed": false`) {
		t.Errorf("failing merged gate: exit %d, want 1 and the report on stdout", code)
	}
	// A baseline that the merged figures regress against exits 1.
	base := writeReportFile(t, "base.json", func(r *report.Report) { r.Attacks[1].SuccessRate = 0.25 })
	if code, _, stderr := runInProcess("report", "merge", s0, s1, "--baseline", base); code != 1 {
		t.Errorf("regression against --baseline: exit %d, want 1\n%s", code, stderr)
	}

	other := writeReportFile(t, "o.json", func(r *report.Report) { r.Config["shard"] = "1/2"; r.Seed = 99 })
	for name, args := range map[string][]string{
		"other seed":   {s0, other},
		"missing one":  {s0},
		"twice":        {s0, s0},
		"missing file": {s0, "nope.json"},
	} {
		if code, _, stderr := runInProcess(append([]string{"report", "merge"}, args...)...); code != 2 {
			t.Errorf("%s: exit %d, want 2\n%s", name, code, stderr)
		}
	}
}

func rfptr(v float64) *float64 { return &v }

func TestVersionAttacksDocsCompletion(t *testing.T) {
	code, stdout, _ := runInProcess("version")
	if code != 0 || !strings.Contains(stdout, "go1.") || !strings.Contains(stdout, "revision:") {
		t.Errorf("version: exit %d:\n%s", code, stdout)
	}
	code, stdout, _ = runInProcess("version", "--format", "json")
	var v versionInfo
	if err := json.Unmarshal([]byte(stdout), &v); code != 0 || err != nil || v.GoVersion == "" || v.Version == "" {
		t.Errorf("version json: exit %d, %v: %s", code, err, stdout)
	}

	code, stdout, _ = runInProcess("attacks")
	if code != 0 || !strings.Contains(stdout, "pgd") || !strings.Contains(stdout, "eps") {
		t.Errorf("attacks: exit %d:\n%s", code, stdout)
	}
	code, stdout, _ = runInProcess("attacks", "fgsm", "--format", "json")
	var es []run.ListEntry
	if err := json.Unmarshal([]byte(stdout), &es); code != 0 || err != nil || len(es) != 1 || es[0].Name != "fgsm" || len(es[0].Params) == 0 {
		t.Errorf("attacks json: exit %d, %v: %s", code, err, stdout)
	}
	code, stdout, _ = runInProcess("attacks", "pgd", "-f", "markdown")
	if code != 0 || !strings.Contains(stdout, "| `eps` |") {
		t.Errorf("attacks markdown: exit %d:\n%s", code, stdout)
	}
	code, stdout, _ = runInProcess("defences", "--format", "json")
	if err := json.Unmarshal([]byte(stdout), &es); code != 0 || err != nil || len(es) == 0 || es[0].Kind == "" {
		t.Errorf("defences json: exit %d, %v: %s", code, err, stdout)
	}
	if code, _, stderr := runInProcess("defenses", "nosuch"); code != 2 || !strings.Contains(stderr, "unknown defence") {
		t.Errorf("unknown defence: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runInProcess("attacks", "nosuch"); code != 2 || !strings.Contains(stderr, "unknown attack") {
		t.Errorf("unknown attack: exit %d: %s", code, stderr)
	}

	dir := t.TempDir()
	if code, _, stderr := runInProcess("docs", "--dir", dir); code != 0 {
		t.Fatalf("docs: exit %d: %s", code, stderr)
	}
	for _, page := range []string{"advtest.md", "advtest_report_diff.md", "advtest_attacks.md", "advtest_version.md"} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil || !strings.Contains(string(b), "### SEE ALSO") {
			t.Errorf("%s: %v", page, err)
		}
	}
	if code, _, _ := runInProcess("docs"); code != 2 {
		t.Errorf("docs without --dir: exit %d, want 2", code)
	}

	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		code, stdout, _ := runInProcess("completion", shell)
		if code != 0 || !strings.Contains(stdout, "advtest") {
			t.Errorf("completion %s: exit %d", shell, code)
		}
	}
	// Dynamic completion: attack names and report formats.
	if _, stdout, _ := runInProcess("__complete", "attacks", "pg"); !strings.Contains(stdout, "pgd") {
		t.Errorf("completing attack names: %q", stdout)
	}
	if _, stdout, _ := runInProcess("__complete", "report", "render", "r.json", "--format", ""); !strings.Contains(stdout, "html") {
		t.Errorf("completing --format: %q", stdout)
	}
}
