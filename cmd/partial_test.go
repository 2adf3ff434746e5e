package cmd

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/advtest/advtest/pkg/report"
	"github.com/advtest/advtest/pkg/report/format"
)

// TestInterruptKeepsFinishedBatches interrupts a pool of three attacks
// through the built binary while the second one runs, after it finished
// at least one batch (the signal waits for its plain progress line
// "pgd: N/M samples", never for a fixed sleep): the report keeps fgsm
// whole, pgd as a partial figure over the samples it finished (its n
// below the run's), square as not measured, marks the worst case partial,
// and fails the gate with exit 130. Every format says so: no "0.0%"
// stands for an attack that did not run.
func TestInterruptKeepsFinishedBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary for seconds")
	}
	out := filepath.Join(t.TempDir(), "report.json")
	c := exec.Command(advtestBinary(t), "attack", "-m", cnnModel, "-d", mnistX, "-l", mnistY, "--batch-size", "16",
		"-a", "fgsm:eps=0.1", "-a", "pgd:eps=0.02,steps=2000", "-a", "square:eps=0.3",
		"--format", "json", "--output", out, "--progress", "plain", "--sanity=false")
	pipe, err := c.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.Env = append(os.Environ(), "CI=true")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	// The plain progress prints a pgd line with samples done at most every
	// 10 s, after a batch finished: then pgd has measured something. eps
	// 0.02 fools few samples, so pgd runs its 2000 steps on nearly every
	// batch and is still running then.
	pgdDone := regexp.MustCompile(`pgd: [1-9][0-9]*/[0-9]+ samples`)
	var stderr strings.Builder
	lines := bufio.NewScanner(pipe)
	for lines.Scan() {
		stderr.WriteString(lines.Text() + "\n")
		if pgdDone.MatchString(lines.Text()) {
			break
		}
	}
	if err := c.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for lines.Scan() {
		stderr.WriteString(lines.Text() + "\n")
	}
	err = c.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != ExitInterrupted {
		t.Fatalf("exit %v, want 130; stderr: %s", err, stderr.String())
	}
	rep, err := report.Load(out)
	if err != nil {
		t.Fatalf("the partial report does not load: %v", err)
	}
	if !rep.Incomplete || rep.Gate.Passed || rep.WorstCase.Gate.Passed {
		t.Errorf("incomplete %v, gate passed %v, worst-case gate passed %v: want an incomplete run that fails", rep.Incomplete, rep.Gate.Passed, rep.WorstCase.Gate.Passed)
	}
	if len(rep.Attacks) != 3 {
		t.Fatalf("%d attacks in the report, want 3 (fgsm, pgd partial, square not measured)", len(rep.Attacks))
	}
	fgsm, pgd, square := rep.Attacks[0], rep.Attacks[1], rep.Attacks[2]
	if fgsm.Measured != "" || fgsm.N != rep.N {
		t.Errorf("fgsm: measured %q over %d samples, want complete over %d", fgsm.Measured, fgsm.N, rep.N)
	}
	if !pgd.Partial() || pgd.N == 0 || pgd.N >= rep.N || pgd.NPlanned != rep.N || pgd.NCleanCorrect == 0 {
		t.Errorf("pgd: measured %q, n %d of %d (clean-correct %d), want partial with 0 < n < %d", pgd.Measured, pgd.N, pgd.NPlanned, pgd.NCleanCorrect, rep.N)
	}
	if !square.NotMeasured() || square.NPlanned != rep.N {
		t.Errorf("square: measured %q, n_planned %d, want not measured of %d", square.Measured, square.NPlanned, rep.N)
	}
	w := rep.WorstCase
	if w.Measured != report.MeasuredPartial || w.N != pgd.N || len(w.NotMeasured) != 1 {
		t.Errorf("worst case: measured %q over %d samples, not measured %v; want partial over pgd's %d, square not measured", w.Measured, w.N, w.NotMeasured, pgd.N)
	}
	if !strings.Contains(rep.IncompleteReason, "pgd") || !strings.Contains(rep.IncompleteReason, "not measured") {
		t.Errorf("incomplete reason %q does not say where it stopped", rep.IncompleteReason)
	}
	for _, f := range []string{"table", "markdown", "junit", "html"} {
		var b strings.Builder
		if err := format.Render(&b, f, rep); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"not measured", "partial: n="} {
			if !strings.Contains(b.String(), want) {
				t.Errorf("%s does not say %q", f, want)
			}
		}
	}
}

// TestMaxTargetedSRGate runs a targeted PGD through the built binary:
// --max-targeted-sr below its targeted SR fails the run (exit 1) naming
// the targeted rate; the table shows the targeted SR column.
func TestMaxTargetedSRGate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	args := []string{"attack", "-m", cnnModel, "-d", mnistX, "-l", mnistY, "--limit", "32", "--no-progress", "--sanity=false",
		"-a", "pgd:eps=0.3,steps=10,targeted=true,target=random"}
	code, stdout, stderr := runBinary(t, append(args, "--max-targeted-sr", "0")...)
	if code != ExitGateFailed || !strings.Contains(stdout, "above max_targeted_sr 0") || !strings.Contains(stdout, "targeted SR (n)") {
		t.Errorf("--max-targeted-sr 0: exit %d, want 1 naming max_targeted_sr with a targeted SR column; stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = runBinary(t, append(args, "--max-targeted-sr", "1")...)
	if code != 0 {
		t.Errorf("--max-targeted-sr 1: exit %d, want 0; stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}
