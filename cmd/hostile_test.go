package cmd

import (
	"archive/zip"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/advtest/advtest/internal/npyfile"
	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
)

// hostileRun is one run of the built binary with its cost.
type hostileRun struct {
	code           int
	stdout, stderr string
	wall           time.Duration
	cpu            time.Duration // user + system time of the process
	maxRSS         int64         // bytes
}

// hostileCPULimit bounds the CPU time (user + system, not wall time, which
// a loaded machine stretches) a refusal may take, start-up included: a
// refusal takes about 0.1 s; a loader that decodes what it should have
// refused takes many seconds.
const hostileCPULimit = 3 * time.Second

// runMeasured runs the binary and measures its wall time and, where
// /usr/bin/time exists, its peak RSS (the child's own: rusage from Go's
// exec would include the test process's pages from before exec).
func runMeasured(t *testing.T, env []string, args ...string) hostileRun {
	t.Helper()
	bin := advtestBinary(t)
	rssFile := filepath.Join(t.TempDir(), "rss")
	c := exec.Command(bin, args...)
	if _, err := os.Stat("/usr/bin/time"); err == nil {
		c = exec.Command("/usr/bin/time", append([]string{"-f", "%M", "-o", rssFile, bin}, args...)...)
	}
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	c.Env = append(append(os.Environ(), "CI=true"), env...)
	start := time.Now()
	err := c.Run()
	r := hostileRun{wall: time.Since(start), stdout: stdout.String(), stderr: stderr.String(), maxRSS: -1}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	// The rusage of a waited-for child includes the children it waited
	// for, so this is advtest's CPU time when /usr/bin/time wraps it.
	r.cpu = c.ProcessState.UserTime() + c.ProcessState.SystemTime()
	if b, err := os.ReadFile(rssFile); err == nil {
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if kb, err := strconv.ParseInt(lines[len(lines)-1], 10, 64); err == nil {
			r.maxRSS = kb * 1024
		}
	}
	return r
}

// cnnProto is the shipped MNIST CNN as a ModelProto to doctor.
func cnnProto(t *testing.T) *onnxpb.ModelProto {
	t.Helper()
	m, err := onnxmodel.Load(cnnModel)
	if err != nil {
		t.Fatal(err)
	}
	return m.ToProto()
}

func marshalProto(t *testing.T, mp *onnxpb.ModelProto) []byte {
	t.Helper()
	b, err := (&onnxmodel.Model{Proto: mp}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func strp(s string) *string { return &s }

// hostileModels writes the crafted models of TestHostileInputs into dir.
func hostileModels(t *testing.T, dir string) map[string]string {
	t.Helper()
	put := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	out := map[string]string{}

	mp := cnnProto(t)
	mp.Graph.Input[0].Type.GetTensorType().Shape.Dim[2].Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: 1e12}
	out["input dim"] = put("input-dim-1e12.onnx", marshalProto(t, mp))

	mp = cnnProto(t)
	init0 := mp.Graph.Initializer[0]
	init0.Dims, init0.RawData, init0.FloatData = []int64{1e6, 1e6}, nil, nil
	out["initializer dims"] = put("init-dims-1e12.onnx", marshalProto(t, mp))

	mp = cnnProto(t)
	typ := onnxpb.AttributeProto_GRAPH
	inner := &onnxpb.GraphProto{Name: strp("leaf")}
	for i := 0; i < 200; i++ {
		n := &onnxpb.NodeProto{OpType: strp("If"), Input: []string{"c"}, Output: []string{"o"}, Attribute: []*onnxpb.AttributeProto{{Name: strp("then_branch"), Type: &typ, G: inner}}}
		inner = &onnxpb.GraphProto{Name: strp("g"), Node: []*onnxpb.NodeProto{n}}
	}
	mp.Graph.Node[0].Attribute = append(mp.Graph.Node[0].Attribute, &onnxpb.AttributeProto{Name: strp("deep"), Type: &typ, G: inner})
	out["nesting"] = put("nested-200.onnx", marshalProto(t, mp))

	external := func(name, location string) string {
		mp := cnnProto(t)
		w := mp.Graph.Initializer[0]
		w.RawData, w.FloatData = nil, nil
		loc := onnxpb.TensorProto_EXTERNAL
		w.DataLocation = &loc
		w.ExternalData = []*onnxpb.StringStringEntryProto{{Key: strp("location"), Value: strp(location)}}
		return put(name, marshalProto(t, mp))
	}
	outside := filepath.Join(t.TempDir(), "outside.bin")
	if err := os.WriteFile(outside, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "link.bin")); err != nil {
		t.Fatal(err)
	}
	out["external abs"] = external("ext-abs.onnx", outside)
	out["external dotdot"] = external("ext-dotdot.onnx", "../../etc/passwd")
	out["external symlink"] = external("ext-symlink.onnx", "link.bin")

	// .npz archives: one whose header declares 6.3 GB, and one whose
	// member inflates 64 MiB of zeros behind a header that declares 2
	// samples (a zip bomb: 64 KiB on disk).
	npz := func(name string, members map[string][]byte) string {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, k := range []string{"x.npy", "y.npy"} {
			w, err := zw.Create(k)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(members[k]); err != nil {
				t.Fatal(err)
			}
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return put(name, buf.Bytes())
	}
	labels := npyInt64([]int64{1, 2}, 2)
	out["npz declared"] = npz("declared.npz", map[string][]byte{"x.npy": npyfile.Header("<f4", []int{2000000, 1, 28, 28}), "y.npy": labels})
	bomb := append(npyFloat32(make([]float32, 2*784), 2, 1, 28, 28), make([]byte, 64<<20)...)
	out["npz bomb"] = npz("bomb.npz", map[string][]byte{"x.npy": bomb, "y.npy": labels})

	laughs := "a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n"
	prev := "a"
	for _, k := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		laughs += k + ": &" + k + " [*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + ",*" + prev + "]\n"
		prev = k
	}
	out["yaml laughs"] = put("laughs.yaml", []byte(laughs))
	out["yaml big"] = put("big.yaml", append([]byte("model: m.onnx\n# "), bytes.Repeat([]byte("x"), 2<<20)...))
	return out
}

// TestHostileInputs runs the binary on crafted hostile files. Each must be
// refused with exit code 2 and one line on stderr, in under
// hostileCPULimit of CPU time and under 100 MB of peak RSS (the whole process). The figures
// are logged for docs/reliability.md (go test -v -run TestHostileInputs).
func TestHostileInputs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	f := hostileModels(t, dir)
	data := []string{"-d", mnistX, "-l", mnistY}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"input dim 1e12", append([]string{"eval", "-m", f["input dim"]}, data...), "one sample would be over"},
		{"initializer dims 1e6x1e6, no data", append([]string{"eval", "-m", f["initializer dims"]}, data...), "tensor limit"},
		{"graph attribute nested 200 deep", append([]string{"eval", "-m", f["nesting"]}, data...), "recursion depth"},
		{"external data, absolute path", append([]string{"eval", "-m", f["external abs"]}, data...), "must be a relative path"},
		{"external data, ../", append([]string{"eval", "-m", f["external dotdot"]}, data...), "escapes the model's folder"},
		{"external data, symlink outside", append([]string{"eval", "-m", f["external symlink"]}, data...), "leaves the model's folder"},
		{"model is /dev/zero", append([]string{"eval", "-m", "/dev/zero"}, data...), "not a regular file"},
		{"model over --max-memory", append([]string{"eval", "--max-memory", "1MiB", "-m", cnnModel}, data...), "model limit"},
		{"ADVTEST_MAX_MEMORY bad", append([]string{"eval", "-m", cnnModel}, data...), "ADVTEST_MAX_MEMORY"},
		{"npz header declares 6.3 GB", []string{"eval", "-m", cnnModel, "-d", f["npz declared"]}, "over the limit"},
		{"data is /dev/zero", []string{"eval", "-m", cnnModel, "-d", "/dev/zero", "-l", mnistY}, ""},
		{"config alias bomb", []string{"attack", "--config", f["yaml laughs"]}, "config"},
		{"config over 1 MiB", []string{"attack", "--config", f["yaml big"]}, "larger than"},
	}
	// A zip bomb: the member inflates to 64 MiB of zeros behind a header that
	// declares 2 samples. The loader reads what the header declares and no
	// more, so it is accepted, quickly and in little memory.
	t.Run("npz member inflates 64 MiB", func(t *testing.T) {
		r := runMeasured(t, nil, "eval", "-m", cnnModel, "-d", f["npz bomb"], "--format", "json")
		t.Logf("exit %d, %v (CPU %v), max RSS %.1f MB", r.code, r.wall.Round(time.Millisecond), r.cpu.Round(time.Millisecond), float64(r.maxRSS)/1e6)
		if r.code != 0 || !strings.Contains(r.stdout, `"n": 2`) {
			t.Errorf("exit %d, want 0 with n=2: %s%s", r.code, r.stdout, r.stderr)
		}
		if r.cpu > hostileCPULimit || r.maxRSS > 100e6 {
			t.Errorf("took %v of CPU and %.1f MB", r.cpu, float64(r.maxRSS)/1e6)
		}
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var env []string
			if strings.HasPrefix(tc.name, "ADVTEST_MAX_MEMORY") {
				env = []string{"ADVTEST_MAX_MEMORY=lots"}
			}
			r := runMeasured(t, env, tc.args...)
			line := strings.TrimSpace(r.stderr)
			t.Logf("exit %d, %v (CPU %v), max RSS %.1f MB: %s", r.code, r.wall.Round(time.Millisecond), r.cpu.Round(time.Millisecond), float64(r.maxRSS)/1e6, line)
			if r.code != ExitUsage {
				t.Errorf("exit code %d, want 2; stderr: %s", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr %q does not mention %q", r.stderr, tc.want)
			}
			if n := strings.Count(strings.TrimRight(r.stderr, "\n"), "\n"); n != 0 {
				t.Errorf("stderr has %d lines, want one: %s", n+1, r.stderr)
			}
			if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "internal error") {
				t.Errorf("stderr shows a panic: %s", r.stderr)
			}
			if r.cpu > hostileCPULimit {
				t.Errorf("took %v of CPU time, want under %v", r.cpu, hostileCPULimit)
			}
			if r.maxRSS > 100e6 {
				t.Errorf("peak RSS %.1f MB, want under 100 MB", float64(r.maxRSS)/1e6)
			}
		})
	}
}
