package cmd

import (
	"strings"
	"testing"
)

// TestProgressOnAPipe runs the built binary with stderr on a pipe (as in CI)
// and the default --progress (auto): each attack prints plain started and
// finished lines, and no terminal bar (no carriage returns) reaches the log.
func TestProgressOnAPipe(t *testing.T) {
	code, _, stderr := runBinary(t, "attack", "-m", cnnModel, "-d", mnistX, "-l", mnistY, "--limit", "8",
		"-a", "fgsm:eps=0.1", "-a", "pgd:eps=0.1,steps=2", "--format", "json", "--sanity=false")
	if code != ExitOK && code != ExitGateFailed {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	for _, want := range []string{"fgsm", "pgd"} {
		for _, phase := range []string{": started, ", ": finished, "} {
			if !hasLine(stderr, want, phase) {
				t.Errorf("stderr lacks a %q line with %q:\n%s", want, phase, stderr)
			}
		}
	}
	if strings.Contains(stderr, "\r") {
		t.Errorf("a bar's carriage return reached a pipe:\n%q", stderr)
	}
}

// hasLine reports whether a line of s contains both a and b.
func hasLine(s, a, b string) bool {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, a) && strings.Contains(l, b) {
			return true
		}
	}
	return false
}
