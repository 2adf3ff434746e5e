package onnxmodel

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
)

// refusedQuickly runs load, which must fail with an error containing want,
// allocating under 100 MB. The time is logged, not checked: wall time
// depends on the machine's load, and the bytes allocated are what a
// loader that decodes what it should refuse gives away. It returns the
// error.
func refusedQuickly(t *testing.T, want string, load func() (*Model, error)) error {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	m, err := load()
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatalf("loaded %v, want an error mentioning %q", m.Inputs, want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not mention %q", err, want)
	}
	if strings.Contains(err.Error(), "internal error") {
		t.Errorf("refused by a recovered panic: %v", err)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 100<<20 {
		t.Errorf("allocated %d MiB to refuse, want under 100", d>>20)
	}
	t.Logf("refused in %v, %d KiB allocated: %v", took.Round(time.Microsecond), (after.TotalAlloc-before.TotalAlloc)>>10, err)
	return err
}

func decodeProto(t *testing.T, mp *onnxpb.ModelProto, dir string) func() (*Model, error) {
	b := marshalModel(t, mp)
	return func() (*Model, error) { return Decode(b, dir) }
}

// TestHostileNestedGraph: a graph attribute nested 200 deep is refused by
// the protobuf decoder's recursion limit, not by a stack overflow.
func TestHostileNestedGraph(t *testing.T) {
	mp := tinyMLP()
	inner := &onnxpb.GraphProto{Name: sp("leaf")}
	for i := 0; i < 200; i++ {
		typ := onnxpb.AttributeProto_GRAPH
		n := node("If", []string{"c"}, []string{"o"}, &onnxpb.AttributeProto{Name: sp("then_branch"), Type: &typ, G: inner})
		inner = &onnxpb.GraphProto{Name: sp("g"), Node: []*onnxpb.NodeProto{n}}
	}
	typ := onnxpb.AttributeProto_GRAPH
	mp.Graph.Node[1].Attribute = append(mp.Graph.Node[1].Attribute, &onnxpb.AttributeProto{Name: sp("deep"), Type: &typ, G: inner})
	refusedQuickly(t, "exceeded maximum recursion depth", decodeProto(t, mp, ""))
	_, err := ReadProto(writeTemp(t, "deep.onnx", marshalModel(t, mp)))
	if err == nil || !strings.Contains(err.Error(), "recursion") {
		t.Errorf("ReadProto: %v, want the recursion limit", err)
	}
}

// TestHostileInitializerDims: an initializer that declares 1e12 elements
// (and holds none) is refused before anything is allocated.
func TestHostileInitializerDims(t *testing.T) {
	mp := tinyMLP()
	mp.Graph.Initializer[0].Dims = []int64{1e6, 1e6}
	mp.Graph.Initializer[0].RawData = nil
	refusedQuickly(t, "tensor limit", decodeProto(t, mp, ""))
}

// TestHostileInitializerNoData: dims just under the limit, no data: the
// count of values present is checked before the tensor is allocated.
func TestHostileInitializerNoData(t *testing.T) {
	mp := tinyMLP()
	mp.Graph.Initializer[0].Dims = []int64{1 << 28} // 1 GiB as float32, under the 4 GiB default
	mp.Graph.Initializer[0].RawData = nil
	refusedQuickly(t, "needs 268435456", decodeProto(t, mp, ""))
}

// TestHostileTotalWeights: many initializers that are each under the
// tensor limit but together over the total limit.
func TestHostileTotalWeights(t *testing.T) {
	old := CurrentLimits()
	SetLimits(Limits{TensorBytes: 1 << 20, TotalBytes: 4 << 20})
	defer SetLimits(old)
	mp := tinyMLP()
	for i := 0; i < 8; i++ {
		mp.Graph.Initializer = append(mp.Graph.Initializer, floatInit("pad"+string(rune('a'+i)), []int64{1 << 18}, make([]float32, 1<<18)...))
	}
	refusedQuickly(t, "byte limit", decodeProto(t, mp, ""))
}

// TestHostileInputDims: a graph input that declares [N, 1e12] is refused
// at load; selfCheck must never allocate a sample of the declared shape.
func TestHostileInputDims(t *testing.T) {
	mp := tinyMLP()
	mp.Graph.Input[0] = valueInfoProto("x", 1, 1e12)
	refusedQuickly(t, "tensor limit", decodeProto(t, mp, ""))
}

// TestLargeDeclaredInputSkipsSelfCheck: a declared sample under the tensor
// limit but over selfCheck's sample cap loads without running selfCheck
// (which would allocate two samples of it).
func TestLargeDeclaredInputSkipsSelfCheck(t *testing.T) {
	mp := tinyMLP()
	mp.Graph.Input[0] = valueInfoProto("x", 1, 1<<26) // 256 MiB a sample
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m, err := Decode(marshalModel(t, mp), "")
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 100<<20 {
		t.Errorf("loading allocated %d MiB", d>>20)
	}
	if m.PerSample {
		t.Error("PerSample set without a self check")
	}
}

// TestHostileModelFile: special files and oversized files are refused
// before they are read.
func TestHostileModelFile(t *testing.T) {
	t.Run("dev zero", func(t *testing.T) {
		if _, err := os.Stat("/dev/zero"); err != nil {
			t.Skip("no /dev/zero")
		}
		refusedQuickly(t, "not a regular file", func() (*Model, error) { return Load("/dev/zero") })
	})
	t.Run("fifo", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "m.onnx")
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Skip(err)
		}
		refusedQuickly(t, "not a regular file", func() (*Model, error) { return Load(p) })
	})
	t.Run("over the size limit", func(t *testing.T) {
		old := CurrentLimits()
		SetLimits(Limits{ModelBytes: 100})
		defer SetLimits(old)
		p := writeTemp(t, "m.onnx", marshalModel(t, tinyCNN()))
		refusedQuickly(t, "model limit", func() (*Model, error) { return Load(p) })
	})
}

// TestHostileExternalData: external data locations that escape the model's
// folder, and lengths that disagree with the declared shape.
func TestHostileExternalData(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.bin")
	if err := os.WriteFile(secret, make([]byte, 48), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "w.bin"), make([]byte, 48), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(dir, "link.bin")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "sub")); err != nil {
		t.Fatal(err)
	}
	external := func(kv ...string) *onnxpb.ModelProto {
		mp := tinyMLP()
		w := mp.Graph.Initializer[0]
		w.RawData = nil
		loc := onnxpb.TensorProto_EXTERNAL
		w.DataLocation = &loc
		for i := 0; i+1 < len(kv); i += 2 {
			w.ExternalData = append(w.ExternalData, &onnxpb.StringStringEntryProto{Key: sp(kv[i]), Value: sp(kv[i+1])})
		}
		return mp
	}
	cases := []struct {
		name, want string
		mp         *onnxpb.ModelProto
	}{
		{"absolute path", "must be a relative path", external("location", secret)},
		{"dot dot", "escapes the model's folder", external("location", "../"+filepath.Base(outside)+"/secret.bin")},
		{"symlink to a file outside", "leaves the model's folder", external("location", "link.bin")},
		{"symlinked folder", "leaves the model's folder", external("location", "sub/secret.bin")},
		{"length over the shape", "needs 48", external("location", "big.bin")},
		{"length past the end", "which has 4096", external("location", "big.bin", "offset", "4000", "length", "200")},
		{"huge length", "which has 4096", external("location", "big.bin", "length", "9223372036854775807")},
		{"negative offset", "outside", external("location", "big.bin", "offset", "-1")},
		{"no location", "must be a relative path", external()},
		{"not allowed without a folder", "not allowed", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := dir
			if tc.mp == nil {
				tc.mp, base = external("location", "w.bin"), ""
			}
			refusedQuickly(t, tc.want, decodeProto(t, tc.mp, base))
		})
	}
	// The same file, inside the folder and of the right length, loads.
	if _, err := Decode(marshalModel(t, external("location", "w.bin")), dir); err != nil {
		t.Errorf("valid external data: %v", err)
	}
}

func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
