package scripts

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeAdvtest is a stand-in for the advtest binary: `attack` logs its
// arguments, writes a JSON report to --output unless FAKE_NO_REPORT is set,
// and exits FAKE_CODE; `report render` writes "<format> of <report>".
const fakeAdvtest = `#!/usr/bin/env bash
echo "$*" >>"$FAKE_LOG"
if [ "$1" = attack ]; then
  while [ $# -gt 0 ]; do [ "$1" = --output ] && out=$2; shift; done
  [ -z "${FAKE_NO_REPORT:-}" ] && echo '{"schema_version":"1"}' >"$out"
  exit "${FAKE_CODE:-0}"
fi
if [ "$1 $2" = "report render" ]; then
  rep=$3; shift 3
  while [ $# -gt 0 ]; do case $1 in --format) f=$2;; --output) o=$2;; esac; shift; done
  echo "$f of $(basename "$rep")" >"$o"
  exit 0
fi
exit 2
`

func TestActionScript(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	tests := []struct {
		name        string
		env         []string
		makeBase    bool
		wantCode    int
		wantArgs    []string // in the attack's command line
		notArgs     []string
		wantSummary string
		wantFiles   []string
	}{
		{
			name:        "pass with a baseline and extra formats",
			env:         []string{"INPUT_CONFIG=configs/mnist-cnn.yaml", "INPUT_FAIL_ABOVE=0.3", "INPUT_MAX_REGRESSION=0.02", "INPUT_FORMATS=table"},
			makeBase:    true,
			wantArgs:    []string{"attack --format json --output", "--config configs/mnist-cnn.yaml", "--fail-above 0.3", "--baseline ", "--max-regression 0.02"},
			wantSummary: "markdown of advtest-report.json",
			wantFiles:   []string{"advtest-report.json", "advtest.md", "advtest-junit.xml", "advtest.html", "advtest.txt"},
		},
		{
			name:        "gate failed: exit 1, reports still written; a missing baseline is skipped",
			env:         []string{"FAKE_CODE=1", "INPUT_MODEL=m.onnx", "INPUT_DATA=x.npy", "INPUT_LABELS=y.npy", "INPUT_BASELINE=missing.json", "INPUT_ARGS=--limit 10"},
			wantCode:    1,
			wantArgs:    []string{"--model m.onnx", "--data x.npy", "--labels y.npy", "--limit 10"},
			notArgs:     []string{"--baseline", "--max-regression"},
			wantSummary: "markdown of advtest-report.json",
			wantFiles:   []string{"advtest.md", "advtest-junit.xml", "advtest.html"},
		},
		{
			name:        "no report: exit 2 and a summary that says so",
			env:         []string{"FAKE_CODE=2", "FAKE_NO_REPORT=1"},
			wantCode:    2,
			wantSummary: "No report: advtest exited 2",
		},
		{
			name:     "unknown extra format: exit 2",
			env:      []string{"INPUT_FORMATS=pdf"},
			wantCode: 2,
		},
	}
	script, err := filepath.Abs("action-run.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			fake := filepath.Join(dir, "advtest")
			if err := os.WriteFile(fake, []byte(fakeAdvtest), 0o755); err != nil {
				t.Fatal(err)
			}
			summary, output, log := filepath.Join(dir, "summary.md"), filepath.Join(dir, "output.txt"), filepath.Join(dir, "log.txt")
			if err := os.WriteFile(summary, []byte("earlier step\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			env := append(os.Environ(), "ADVTEST="+fake, "FAKE_LOG="+log, "GITHUB_STEP_SUMMARY="+summary, "GITHUB_OUTPUT="+output,
				"INPUT_OUTPUT_DIR="+filepath.Join(dir, "out"))
			if tt.makeBase {
				base := filepath.Join(dir, "baseline.json")
				if err := os.WriteFile(base, []byte("{}"), 0o644); err != nil {
					t.Fatal(err)
				}
				env = append(env, "INPUT_BASELINE="+base)
			}
			cmd := exec.Command("bash", script)
			cmd.Dir = dir
			cmd.Env = append(env, tt.env...)
			outb, err := cmd.CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d; output:\n%s", code, tt.wantCode, outb)
			}
			logb, _ := os.ReadFile(log)
			attackLine := strings.SplitN(string(logb), "\n", 2)[0]
			for _, a := range tt.wantArgs {
				if !strings.Contains(attackLine, a) {
					t.Errorf("attack command %q lacks %q", attackLine, a)
				}
			}
			for _, a := range tt.notArgs {
				if strings.Contains(attackLine, a) {
					t.Errorf("attack command %q has %q", attackLine, a)
				}
			}
			sb, _ := os.ReadFile(summary)
			if !strings.HasPrefix(string(sb), "earlier step\n") || !strings.Contains(string(sb), tt.wantSummary) {
				t.Errorf("summary %q: want the earlier content kept and %q appended", sb, tt.wantSummary)
			}
			ob, _ := os.ReadFile(output)
			if want := "exit-code=" + string(rune('0'+tt.wantCode)) + "\n"; !strings.HasPrefix(string(ob), want) || !strings.Contains(string(ob), "report-junit=") {
				t.Errorf("GITHUB_OUTPUT %q, want it to start with %q and name the reports", ob, want)
			}
			for _, f := range tt.wantFiles {
				if _, err := os.Stat(filepath.Join(dir, "out", f)); err != nil {
					t.Errorf("report %s: %v", f, err)
				}
			}
		})
	}
}
