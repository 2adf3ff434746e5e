package cmd

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/report"
)

// TestCertifyCommand runs `advtest certify` on a few MNIST samples: the
// JSON report carries the certification, plain progress goes to stderr, and
// the certified-accuracy gate decides the exit code.
func TestCertifyCommand(t *testing.T) {
	args := []string{"certify", "-m", "../testdata/models/mnist_mlp.onnx", "-d", "../testdata/mnist/test-1000-images.npy",
		"-l", "../testdata/mnist/test-1000-labels.npy", "--limit", "3", "--n0", "20", "--n", "200", "--batch", "100", "--progress", "plain"}
	code, stdout, stderr := runInProcess(append(args, "--min-certified-accuracy", "0:0.5")...)
	if code != ExitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	c := rep.Certification
	if c == nil || c.N != 3 || len(c.Samples) != 3 || c.NDraws != 200 || c.Sigma != 0.25 || c.NoiseSource != "input" || len(c.Radii) != 5 {
		t.Fatalf("certification %+v", c)
	}
	if !strings.Contains(stderr, "certify: started, 3 samples") || !strings.Contains(stderr, "certify: finished, 3 samples") {
		t.Errorf("stderr lacks the plain progress lines:\n%s", stderr)
	}
	if code, _, _ := runInProcess(append(args, "--min-certified-accuracy", "5:0.1")...); code != ExitGateFailed {
		t.Errorf("an unreachable gate: exit %d, want %d", code, ExitGateFailed)
	}
	if code, _, stderr := runInProcess(append(args, "--min-certified-accuracy", "0.5")...); code != ExitUsage || !strings.Contains(stderr, "RADIUS:ACCURACY") {
		t.Errorf("a malformed gate: exit %d, stderr %q", code, stderr)
	}
	// The other formats show the certified accuracy per radius, as
	// `report render` of the JSON does.
	for _, tc := range []struct{ format, want string }{
		{"table", "certified accuracy"},
		{"markdown", "certified accuracy"},
		{"junit", "<testsuite"},
		{"html", "<html"},
	} {
		code, stdout, stderr := runInProcess(append(args, "--format", tc.format)...)
		if code != ExitOK || !strings.Contains(strings.ToLower(stdout), tc.want) {
			t.Errorf("--format %s: exit %d, stdout lacks %q; stderr:\n%s", tc.format, code, tc.want, stderr)
		}
	}
	if code, _, stderr := runInProcess(append(args, "--format", "yaml")...); code != ExitUsage || !strings.Contains(stderr, "--format") {
		t.Errorf("an unknown format: exit %d, stderr %q", code, stderr)
	}
}
