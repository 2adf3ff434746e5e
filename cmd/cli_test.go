package cmd

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

const (
	repoRoot  = ".."
	cnnModel  = repoRoot + "/testdata/models/mnist_cnn.onnx"
	mnistX    = repoRoot + "/testdata/mnist/test-1000-images.npy"
	mnistY    = repoRoot + "/testdata/mnist/test-1000-labels.npy"
	mnistIDXx = repoRoot + "/testdata/mnist/t1k-images-idx3-ubyte.gz"
	mnistIDXy = repoRoot + "/testdata/mnist/t1k-labels-idx1-ubyte.gz"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// TestMain removes the binary that advtestBinary built.
func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" && binErr == nil {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// advtestBinary builds the real binary once per test run.
func advtestBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "advtest-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "advtest")
		if runtime.GOOS == "windows" {
			binPath += ".exe"
		}
		out, err := exec.Command("go", "build", "-o", binPath, repoRoot).CombinedOutput()
		if err != nil {
			binErr = err
			binPath = string(out)
		}
	})
	if binErr != nil {
		t.Fatalf("building advtest: %v\n%s", binErr, binPath)
	}
	return binPath
}

// runBinary runs the built binary and returns its exit code and output.
func runBinary(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runBinaryEnv(t, nil, args...)
}

// runBinaryEnv is runBinary with env (KEY=value) added to the environment.
func runBinaryEnv(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(advtestBinary(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(append(os.Environ(), "CI=true"), env...)
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

// runInProcess runs the command tree in this process.
func runInProcess(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := execute(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBadInputExitCode2 checks that every bad input is one clear line on
// stderr and exit code 2, through the real binary.
func TestBadInputExitCode2(t *testing.T) {
	model, err := os.ReadFile(cnnModel)
	if err != nil {
		t.Fatal(err)
	}
	garbage := writeFile(t, "garbage.onnx", []byte("this is not a protobuf \xff\xff\xff\xff"))
	truncated := writeFile(t, "truncated.onnx", model[:len(model)/2])
	// A NaN in the second sample, in the model's input shape: the data is
	// streamed, so the NaN is found when its batch is read, after the
	// shape check.
	nan := make([]float32, 2*784)
	nan[784+3] = float32NaN()
	nanNPY := writeFile(t, "nan.npy", npyFloat32(nan, 2, 1, 28, 28))
	shortY := writeFile(t, "y.npy", npyInt64([]int64{1}, 1))
	twoX := writeFile(t, "x2.npy", npyFloat32(make([]float32, 2*784), 2, 1, 28, 28))
	unknownDtype := writeFile(t, "c8.npy", append([]byte("\x93NUMPY\x01\x00\x76\x00{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }"+strings.Repeat(" ", 118-len("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }")-1)+"\n"), make([]byte, 16)...))
	wrongShape := writeFile(t, "x3.npy", npyFloat32(make([]float32, 2*100), 2, 100))
	unsupported := writeFile(t, "unsupported.onnx", unsupportedOpModel(t))
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"eval", "--nope"}, "unknown flag"},
		{"missing model flag", []string{"eval", "--data", mnistX}, "--model"},
		{"no such model", []string{"eval", "-m", "nope.onnx", "-d", mnistX, "-l", mnistY}, "nope.onnx"},
		{"garbage onnx", []string{"eval", "-m", garbage, "-d", mnistX, "-l", mnistY}, "not a valid ONNX model"},
		{"truncated onnx", []string{"eval", "-m", truncated, "-d", mnistX, "-l", mnistY}, "not a valid ONNX model"},
		{"unsupported op", []string{"eval", "-m", unsupported, "-d", mnistX, "-l", mnistY}, "not supported"},
		{"nan in data", []string{"eval", "-m", cnnModel, "-d", nanNPY, "-l", writeFile(t, "y2.npy", npyInt64([]int64{1, 2}, 2))}, "NaN"},
		{"x and y lengths", []string{"eval", "-m", cnnModel, "-d", twoX, "-l", shortY}, "label"},
		{"unknown dtype", []string{"eval", "-m", cnnModel, "-d", unknownDtype, "-l", shortY}, "<c8"},
		{"wrong input shape", []string{"eval", "-m", cnnModel, "-d", wrongShape, "-l", writeFile(t, "y2.npy", npyInt64([]int64{1, 2}, 2))}, "expects"},
		{"attack unknown attack", []string{"attack", "-m", cnnModel, "-d", mnistX, "-l", mnistY, "-a", "nosuch"}, "unknown attack"},
		{"attack bad param", []string{"attack", "-m", cnnModel, "-d", mnistX, "-l", mnistY, "-a", "pgd:eps=abc"}, "eps"},
		{"config unknown key", []string{"attack", "--config", writeFile(t, "c.yaml", []byte("model: m.onnx\nmodle: x\n"))}, "modle"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runBinary(t, tc.args...)
			if code != ExitUsage {
				t.Errorf("exit code %d, want 2; stderr: %s", code, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q does not mention %q", stderr, tc.want)
			}
			if strings.Contains(stderr, "goroutine") || strings.Contains(stderr, "panic") {
				t.Errorf("stderr shows a panic: %s", stderr)
			}
		})
	}
}

func TestEvalMatchesPyTorchAccuracy(t *testing.T) {
	data, err := os.ReadFile(repoRoot + "/testdata/models/accuracy.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Models map[string]struct{ Correct, N int } `json:"models"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	want := doc.Models["mnist_cnn.onnx"]
	for _, args := range [][]string{
		{"eval", "-m", cnnModel, "-d", mnistX, "-l", mnistY, "--format", "json"},
		{"eval", "-m", cnnModel, "-d", mnistIDXx, "-l", mnistIDXy, "--format", "json", "--batch-size", "97"},
	} {
		code, stdout, stderr := runInProcess(args...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var got struct {
			CleanAccuracy float64 `json:"clean_accuracy"`
			N             int     `json:"n"`
			Correct       int     `json:"correct"`
			PerClass      []any   `json:"per_class"`
			SamplesPerSec float64 `json:"samples_per_second"`
		}
		if err := json.Unmarshal([]byte(stdout), &got); err != nil {
			t.Fatalf("%v: %s", err, stdout)
		}
		if got.N != want.N || got.Correct != want.Correct {
			t.Errorf("%v: %d/%d correct, PyTorch %d/%d", args, got.Correct, got.N, want.Correct, want.N)
		}
		if len(got.PerClass) != 10 || got.SamplesPerSec <= 0 {
			t.Errorf("per_class %d entries, samples/s %g", len(got.PerClass), got.SamplesPerSec)
		}
	}
}
