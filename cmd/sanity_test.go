package cmd

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/defend"
	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/report"
)

// squeezedMLP writes the MNIST MLP behind 2-bit squeezing; with marked
// false the file loses advtest's preprocessor mark, as a model squeezed by
// another tool would come: nothing tells advtest to use BPDA.
func squeezedMLP(t *testing.T, marked bool) string {
	t.Helper()
	m, err := onnxmodel.Load(repoRoot + "/testdata/models/mnist_mlp.onnx")
	if err != nil {
		t.Fatal(err)
	}
	sq, err := defend.WithSqueezer(m, defend.Squeezer{Bits: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !marked {
		sq.Proto.MetadataProps = nil
	}
	p := filepath.Join(t.TempDir(), "squeezed.onnx")
	if err := sq.Save(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAttackRunsSanityChecks: `advtest attack` runs the gradient-masking
// sanity checks by default and records them in the report; a model whose
// gradient is masked (a quantiser advtest does not know about) fails the
// gate on them although PGD finds it robust, the same model with advtest's
// mark is attacked through BPDA and passes, and --sanity=false skips them.
func TestAttackRunsSanityChecks(t *testing.T) {
	mlp := repoRoot + "/testdata/models/mnist_mlp.onnx"
	cases := []struct {
		name       string
		model      string
		flags      []string
		wantCode   int
		wantChecks int
		wantFlag   bool
		wantNote   string
	}{
		{"honest model", mlp, nil, ExitOK, 4, false, ""},
		{"checks off", mlp, []string{"--sanity=false"}, ExitOK, 0, false, ""},
		{"masked, unmarked", squeezedMLP(t, false), nil, ExitGateFailed, 4, true, ""},
		{"masked, marked: BPDA", squeezedMLP(t, true), nil, ExitOK, 4, false, "BPDA"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "r.json")
			args := append([]string{"attack", "-m", c.model, "-d", mnistX, "-l", mnistY, "--limit", "40",
				"-a", "pgd:norm=linf,eps=0.3,steps=10", "--format", "json", "-o", out, "--no-progress"}, c.flags...)
			code, _, stderr := runInProcess(args...)
			if code != c.wantCode {
				t.Fatalf("exit %d, want %d: %s", code, c.wantCode, stderr)
			}
			rep, err := report.Load(out)
			if err != nil {
				t.Fatal(err)
			}
			flagged := false
			for _, ch := range rep.Sanity {
				flagged = flagged || ch.Flagged()
			}
			if len(rep.Sanity) != c.wantChecks || flagged != c.wantFlag {
				t.Errorf("%d checks (flagged %v), want %d (flagged %v): %+v", len(rep.Sanity), flagged, c.wantChecks, c.wantFlag, rep.Sanity)
			}
			masked := false
			for _, r := range rep.Gate.Reasons {
				masked = masked || strings.Contains(r, "gradient masking suspected")
			}
			if masked != c.wantFlag {
				t.Errorf("gate reasons %q: want a masking reason %v", rep.Gate.Reasons, c.wantFlag)
			}
			if c.wantNote != "" && !strings.Contains(strings.Join(rep.Gate.Notes, "\n"), c.wantNote) {
				t.Errorf("notes %q do not mention %s", rep.Gate.Notes, c.wantNote)
			}
		})
	}
}

// TestOutputFolderCheckedFirst: a report path whose folder cannot exist is
// refused before any attack runs (exit 2, naming the key); a missing
// folder is created.
func TestOutputFolderCheckedFirst(t *testing.T) {
	dir := t.TempDir()
	blocker := writeFile(t, "file", []byte("x"))
	cases := []struct {
		name     string
		out      string
		wantCode int
		wantErr  string
	}{
		{"folder under a file", filepath.Join(blocker, "sub", "r.json"), ExitUsage, "output.path"},
		{"missing folder is created", filepath.Join(dir, "new", "deeper", "r.json"), ExitOK, ""},
	}
	for _, c := range cases {
		code, _, stderr := runInProcess("attack", "-m", repoRoot+"/testdata/models/mnist_mlp.onnx", "-d", mnistX, "-l", mnistY,
			"--limit", "8", "-a", "fgsm:eps=0.1", "--format", "json", "-o", c.out, "--no-progress", "--sanity=false")
		if code != c.wantCode || !strings.Contains(stderr, c.wantErr) {
			t.Errorf("%s: exit %d (want %d), stderr %q (want it to name %q)", c.name, code, c.wantCode, stderr, c.wantErr)
		}
		if c.wantCode == ExitOK {
			if _, err := report.Load(c.out); err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
		}
	}
}
