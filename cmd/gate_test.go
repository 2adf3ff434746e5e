package cmd

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
)

// binRun runs the built binary and returns its exit code and output.
func binRun(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	c := exec.Command(advtestBinary(t), args...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	c.Env = append(append(os.Environ(), "CI=true"), env...)
	err := c.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errb.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, out.String(), errb.String()
}

// nanModel writes the shipped CNN with its output passed through
// Log(-|y|), which is NaN (or -Inf) everywhere: a broken export.
func nanModel(t *testing.T, dir string) string {
	t.Helper()
	mp := cnnProto(t)
	g := mp.Graph
	out := g.Output[0].GetName()
	for _, n := range g.Node {
		for i, o := range n.Output {
			if o == out {
				n.Output[i] = out + "_raw"
			}
		}
	}
	g.Node = append(g.Node,
		&onnxpb.NodeProto{OpType: strp("Abs"), Input: []string{out + "_raw"}, Output: []string{out + "_abs"}},
		&onnxpb.NodeProto{OpType: strp("Neg"), Input: []string{out + "_abs"}, Output: []string{out + "_neg"}},
		&onnxpb.NodeProto{OpType: strp("Log"), Input: []string{out + "_neg"}, Output: []string{out}})
	p := filepath.Join(dir, "nan.onnx")
	if err := os.WriteFile(p, marshalProto(t, mp), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestGateNeverFailsOpen pins, through the binary, each way the gate used
// to pass a run it should have failed (issue "A gate that never fails
// open"): each case failed before its fix.
func TestGateNeverFailsOpen(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	dir := t.TempDir()
	common := []string{"attack", "-m", cnnModel, "-d", mnistX, "-l", mnistY, "--limit", "60", "--sanity=false", "--progress", "none"}

	// A baseline whose FGSM fooled nothing, so that today's FGSM is a
	// regression; written by a real run, then edited.
	basePath := filepath.Join(dir, "base.json")
	if code, _, stderr := binRun(t, nil, append(common, "-a", "fgsm:eps=0.1", "-f", "json", "-o", basePath)...); code != 0 {
		t.Fatalf("baseline run: exit %d: %s", code, stderr)
	}
	var base map[string]any
	b, _ := os.ReadFile(basePath)
	if err := json.Unmarshal(b, &base); err != nil {
		t.Fatal(err)
	}
	a0 := base["attacks"].([]any)[0].(map[string]any)
	a0["success_rate"], a0["n_fooled"] = 0.0, 0
	base["worst_case"].(map[string]any)["success_rate"] = 0.0
	b, _ = json.Marshal(base)
	if err := os.WriteFile(basePath, b, 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
		want string // in stdout+stderr
	}{
		{"same attack spelled with its default norm is compared", nil,
			[]string{"-a", "fgsm:eps=0.1,norm=linf", "--baseline", basePath}, 1, "rose by"},
		{"a baseline attack missing here fails", nil,
			[]string{"-a", "fgsm:eps=0.2", "--baseline", basePath}, 1, "in the baseline, not run here"},
		{"a missing attack can be allowed deliberately", nil,
			[]string{"-a", "fgsm:eps=0.2", "--baseline", basePath, "--allow-missing-attacks"}, 0, "(allowed)"},
		{"clean accuracy below the floor fails", nil,
			[]string{"-a", "fgsm:eps=0.1", "--min-clean-accuracy", "0.9999"}, 1, "below min_clean_accuracy"},
		{"clean accuracy above the floor passes", nil,
			[]string{"-a", "fgsm:eps=0.1", "--min-clean-accuracy", "0.9"}, 0, "PASS"},
		{"booleans come from the environment", []string{"ADVTEST_SANITY_ENABLED=false"},
			[]string{"-a", "fgsm:eps=0.1"}, 0, "PASS"},
		{"--output naming a folder is refused before the work", nil,
			[]string{"-a", "fgsm:eps=0.1", "-o", dir}, 2, "is a folder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{}, common...), tc.args...)
			code, stdout, stderr := binRun(t, tc.env, args...)
			if code != tc.code || !strings.Contains(stdout+stderr, tc.want) {
				t.Fatalf("exit %d, want %d with %q in the output; stdout:\n%s\nstderr:\n%s", code, tc.code, tc.want, stdout, stderr)
			}
		})
	}

	t.Run("a model with NaN outputs is an input error naming it", func(t *testing.T) {
		nan := nanModel(t, dir)
		code, _, stderr := binRun(t, nil, "attack", "-m", nan, "-d", mnistX, "-l", mnistY, "--limit", "20", "-a", "fgsm:eps=0.1", "--progress", "none")
		if code != 2 || !strings.Contains(stderr, nan) || !strings.Contains(stderr, "sample 0") {
			t.Fatalf("exit %d, want 2 naming %s and sample 0; stderr: %s", code, nan, stderr)
		}
	})

	t.Run("inspect exits 2 on a model it cannot run", func(t *testing.T) {
		mp := cnnProto(t)
		mp.Graph.Node[0].OpType = strp("NoSuchOp")
		p := filepath.Join(dir, "unsupported.onnx")
		if err := os.WriteFile(p, marshalProto(t, mp), 0o644); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := binRun(t, nil, "inspect", "-m", p)
		if code != 2 || !strings.Contains(stdout, "NoSuchOp×1") {
			t.Fatalf("exit %d, want 2 listing NoSuchOp×1; stdout: %s stderr: %s", code, stdout, stderr)
		}
		if code, _, stderr := binRun(t, nil, "inspect", "-m", cnnModel); code != 0 {
			t.Fatalf("inspect of the shipped CNN: exit %d: %s", code, stderr)
		}
	})
}
