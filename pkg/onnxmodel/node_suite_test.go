package onnxmodel

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/tensor"
)

// nodeSuiteEnv names the environment variable that points the node suite
// at a directory of ONNX backend node tests (one test_* folder per test,
// each with model.onnx and test_data_set_N/{input,output}_M.pb).
const nodeSuiteEnv = "ADVTEST_ONNX_NODE_TESTS"

// nodeSuiteDirs are where Debian's libonnx-testdata package (ONNX 1.12's
// backend test data) puts the node tests.
var nodeSuiteDirs = []string{
	"/usr/share/libonnx-testdata/data/node",
	"/usr/include/onnx/backend/test/data/node",
	"/usr/lib/python3/dist-packages/onnx/backend/test/data/node",
}

// nodeSuiteAllowlist lists the node tests of registered ops that the
// engine does not pass, one per line with the reason.
const nodeSuiteAllowlist = "testdata/node_allowlist.txt"

// Tolerances of ONNX's own backend runner (onnx/backend/test/runner):
// |got-want| <= atol + rtol·|want|. The expected outputs were computed in
// numpy (float32 or float64); a float32 engine meets rtol 1e-3 on every
// test of a registered op, so it is not loosened.
const (
	nodeSuiteRtol = 1e-3
	nodeSuiteAtol = 1e-7
)

// findNodeSuite returns the node tests' directory: the environment
// variable when set, else the first of nodeSuiteDirs that exists.
func findNodeSuite() (string, error) {
	if d := os.Getenv(nodeSuiteEnv); d != "" {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			return "", fmt.Errorf("%s=%q is not a directory", nodeSuiteEnv, d)
		}
		return d, nil
	}
	for _, d := range nodeSuiteDirs {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d, nil
		}
	}
	return "", fmt.Errorf("ONNX node tests not found in %s (install Debian's libonnx-testdata, or set %s to a backend/test/data/node directory)", strings.Join(nodeSuiteDirs, ", "), nodeSuiteEnv)
}

// readAllowlist parses lines "test_name reason…"; blank lines and lines
// starting with # are skipped. Every entry must give a reason.
func readAllowlist(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for ln := 1; sc.Scan(); ln++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, reason, _ := strings.Cut(line, " ")
		reason = strings.TrimSpace(reason)
		if reason == "" {
			return nil, fmt.Errorf("%s:%d: %s has no reason", path, ln, name)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%s:%d: %s is listed twice", path, ln, name)
		}
		out[name] = reason
	}
	return out, sc.Err()
}

// nodeCase is one node test, loaded.
type nodeCase struct {
	name  string
	dir   string
	model []byte
	proto *onnxpb.ModelProto
	// unsupported are the op types (with their domain when not the default
	// one) that the engine has no op for.
	unsupported []string
	// plain is true when every input and output tensor is float, int64 or
	// bool: such a test of a registered op may not be allowlisted.
	plain bool
}

func loadNodeCase(dir string) (*nodeCase, error) {
	c := &nodeCase{name: filepath.Base(dir), dir: dir}
	var err error
	if c.model, err = os.ReadFile(filepath.Join(dir, "model.onnx")); err != nil {
		return nil, err
	}
	c.proto = &onnxpb.ModelProto{}
	if err := proto.Unmarshal(c.model, c.proto); err != nil {
		return nil, fmt.Errorf("%s: %v", dir, err)
	}
	seen := map[string]bool{}
	for _, n := range c.proto.GetGraph().GetNode() {
		op := n.GetOpType()
		if d := n.GetDomain(); d != "" && d != "ai.onnx" {
			op = d + "." + op
		} else if IsSupported(op) {
			continue
		}
		if !seen[op] {
			seen[op] = true
			c.unsupported = append(c.unsupported, op)
		}
	}
	c.plain = true
	g := c.proto.GetGraph()
	for _, vis := range [][]*onnxpb.ValueInfoProto{g.GetInput(), g.GetOutput()} {
		for _, vi := range vis {
			tt := vi.GetType().GetTensorType()
			if tt == nil {
				c.plain = false // sequence, map or optional
				continue
			}
			switch onnxpb.TensorProto_DataType(tt.GetElemType()) {
			case onnxpb.TensorProto_FLOAT, onnxpb.TensorProto_INT64, onnxpb.TensorProto_BOOL:
			default:
				c.plain = false
			}
		}
	}
	return c, nil
}

// readTensorPB reads one serialised TensorProto.
func readTensorPB(path string) (*tensor.Tensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	tp := &onnxpb.TensorProto{}
	if err := proto.Unmarshal(b, tp); err != nil {
		return nil, fmt.Errorf("%s: not a TensorProto: %v", path, err)
	}
	t, err := decodeTensor(tp, "")
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return t, nil
}

// run loads the model and checks every test_data_set_* folder.
func (c *nodeCase) run() error {
	m, err := Decode(c.model, c.dir)
	if err != nil {
		return fmt.Errorf("load: %v", err)
	}
	sets, _ := filepath.Glob(filepath.Join(c.dir, "test_data_set_*"))
	if len(sets) == 0 {
		return fmt.Errorf("no test_data_set_* folder")
	}
	sort.Strings(sets)
	for i, vi := range c.proto.GetGraph().GetInput() {
		if vi.GetType().GetTensorType() == nil {
			return fmt.Errorf("graph input %d (%s) is not a tensor (%v): the engine runs tensors only", i, vi.GetName(), vi.GetType())
		}
	}
	check := randomCheck(c.name)
	for _, set := range sets {
		feeds := map[string]*tensor.Tensor{}
		var ins, gots, wants []*tensor.Tensor
		for i, in := range m.Inputs {
			v, err := readTensorPB(filepath.Join(set, fmt.Sprintf("input_%d.pb", i)))
			if err != nil {
				return fmt.Errorf("input %d (%s): %v", i, in.Name, err)
			}
			feeds[in.Name] = bfloat16Bits(v, in.ElemType)
			ins = append(ins, feeds[in.Name])
		}
		out, err := m.Run(context.Background(), feeds)
		if err != nil {
			return fmt.Errorf("%s: run: %v", filepath.Base(set), err)
		}
		for i, o := range m.Outputs {
			want, err := readTensorPB(filepath.Join(set, fmt.Sprintf("output_%d.pb", i)))
			if err != nil {
				return fmt.Errorf("output %d (%s): %v", i, o.Name, err)
			}
			want = bfloat16Bits(want, o.ElemType)
			if check != nil {
				gots, wants = append(gots, out[o.Name]), append(wants, want)
				continue
			}
			if err := closeTensor(out[o.Name], want, nodeSuiteAtol, nodeSuiteRtol); err != nil {
				return fmt.Errorf("%s: output %d (%s): %v", filepath.Base(set), i, o.Name, err)
			}
		}
		if check != nil {
			if err := check(ins, gots, wants); err != nil {
				return fmt.Errorf("%s: %v", filepath.Base(set), err)
			}
		}
	}
	return nil
}

// bfloat16Bits converts a tensor that the test data stores as uint16 bit
// patterns (ONNX 1.12 writes BFLOAT16 values so, numpy having no bfloat16)
// to the float32 values the graph's BFLOAT16 declaration means.
func bfloat16Bits(v *tensor.Tensor, declared string) *tensor.Tensor {
	if declared != "BFLOAT16" || v.DType != tensor.Int64 {
		return v
	}
	f := tensor.New(v.Shape...)
	for i, b := range v.I {
		f.F[i] = math.Float32frombits(uint32(b) << 16)
	}
	return f
}

// randomCheck returns the check for a test whose expected outputs are one
// draw of numpy's generator, which no other generator reproduces: the
// outputs are checked on shape, type and the values such a draw can take,
// not compared with the draw. nil for a deterministic test.
func randomCheck(name string) func(in, got, want []*tensor.Tensor) error {
	switch {
	case strings.HasPrefix(name, "test_bernoulli"):
		return checkBernoulli
	case strings.HasPrefix(name, "test_training_dropout") && !strings.Contains(name, "zero_ratio"):
		return checkTrainingDropout
	}
	return nil
}

// sameLayout checks that got has want's shape and type.
func sameLayout(got, want *tensor.Tensor) error {
	if got == nil {
		return fmt.Errorf("missing")
	}
	if !tensor.SameShape(got.Shape, want.Shape) || got.DType != want.DType {
		return fmt.Errorf("%v, want %v", got, want)
	}
	return nil
}

// checkBernoulli: Y has the expected shape and type, every element is 0 or
// 1, and where the probability is 0 or 1 the draw is certain.
func checkBernoulli(in, got, want []*tensor.Tensor) error {
	if err := sameLayout(got[0], want[0]); err != nil {
		return fmt.Errorf("output 0: %v", err)
	}
	y, p := got[0], in[0]
	for i := 0; i < y.Len(); i++ {
		var v, pi float64
		if y.DType == tensor.Int64 {
			v = float64(y.I[i])
		} else {
			v = float64(y.F[i])
		}
		if p.DType == tensor.Float32 {
			pi = float64(p.F[i])
		}
		if (v != 0 && v != 1) || (pi == 0 && v != 0) || (pi == 1 && v != 1) {
			return fmt.Errorf("element %d: %g for probability %g", i, v, pi)
		}
	}
	return nil
}

// checkTrainingDropout: every output element is 0 (dropped) or the input
// scaled by 1/(1−ratio) (the scale read from the expected output), some
// are dropped and some kept, and the mask (when asked for) marks the kept
// ones.
func checkTrainingDropout(in, got, want []*tensor.Tensor) error {
	for i := range want {
		if err := sameLayout(got[i], want[i]); err != nil {
			return fmt.Errorf("output %d: %v", i, err)
		}
	}
	x, y := in[0], got[0]
	scale := math.NaN()
	for i, w := range want[0].F {
		if w != 0 && x.F[i] != 0 {
			scale = float64(w) / float64(x.F[i])
			break
		}
	}
	if math.IsNaN(scale) {
		return fmt.Errorf("the expected output keeps no element: cannot read the scale")
	}
	dropped := 0
	for i, v := range y.F {
		kept := math.Abs(float64(v)-float64(x.F[i])*scale) <= 1e-5*(1+math.Abs(float64(v)))
		if v == 0 && x.F[i] != 0 {
			dropped++
		} else if !kept {
			return fmt.Errorf("element %d: %g, want 0 or %g", i, v, float64(x.F[i])*scale)
		}
		if len(got) > 1 && x.F[i] != 0 && (got[1].I[i] == 1) != (v != 0) {
			return fmt.Errorf("mask element %d is %d, output %g", i, got[1].I[i], v)
		}
	}
	if dropped == 0 || dropped == y.Len() {
		return fmt.Errorf("%d of %d elements dropped", dropped, y.Len())
	}
	return nil
}

// closeTensor compares shapes exactly, integers exactly and floats within
// |got-want| <= atol + rtol·|want| (NaN matches NaN, ±Inf itself).
func closeTensor(got, want *tensor.Tensor, atol, rtol float64) error {
	if got == nil {
		return fmt.Errorf("missing")
	}
	if !tensor.SameShape(got.Shape, want.Shape) {
		return fmt.Errorf("shape %v, want %v", got.Shape, want.Shape)
	}
	if got.DType != want.DType {
		return fmt.Errorf("dtype %s, want %s", got.DType, want.DType)
	}
	if want.DType == tensor.Int64 {
		for i := range want.I {
			if got.I[i] != want.I[i] {
				return fmt.Errorf("element %d: %d, want %d", i, got.I[i], want.I[i])
			}
		}
		return nil
	}
	for i := range want.F {
		a, b := float64(got.F[i]), float64(want.F[i])
		if math.IsNaN(b) && math.IsNaN(a) {
			continue
		}
		if math.IsInf(b, 0) && a == b {
			continue
		}
		if math.Abs(a-b) > atol+rtol*math.Abs(b) || math.IsNaN(a) {
			return fmt.Errorf("element %d: %g, want %g", i, a, b)
		}
	}
	return nil
}

// TestONNXNodeSuite runs ONNX's backend node tests (ONNX 1.12, from
// Debian's libonnx-testdata) through the loader and executor. A test whose
// graph uses only registered op types must pass, unless
// testdata/node_allowlist.txt lists it with a reason; the allowlist may not
// hold a plain float/int64/bool test, nor a test that passes, nor a name
// the suite lacks. Tests of unregistered op types are counted, not run.
//
// Without the data the test skips, except under CI=true where it fails.
func TestONNXNodeSuite(t *testing.T) {
	root, err := findNodeSuite()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true: %v", err)
		}
		t.Skip(err)
	}
	allow, err := readAllowlist(nodeSuiteAllowlist)
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := filepath.Glob(filepath.Join(root, "test_*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("%s holds no test_* folders", root)
	}
	sort.Strings(dirs)
	var total, registered, passed, allowlisted int
	missingOps := map[string]int{}
	inSuite := map[string]bool{}
	for _, dir := range dirs {
		c, err := loadNodeCase(dir)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		total++
		inSuite[c.name] = true
		if len(c.unsupported) > 0 {
			for _, op := range c.unsupported {
				missingOps[op]++
			}
			continue
		}
		registered++
		reason, listed := allow[c.name]
		t.Run(c.name, func(t *testing.T) {
			err := c.run()
			switch {
			case err == nil && listed:
				t.Errorf("passes but %s lists it (%s): remove the entry", nodeSuiteAllowlist, reason)
			case err == nil:
				passed++
			case listed && c.plain:
				t.Errorf("%v\n%s lists it (%s), but a float/int64/bool test of a registered op may not be allowlisted", err, nodeSuiteAllowlist, reason)
			case listed:
				allowlisted++
			default:
				t.Error(err)
			}
		})
	}
	for name := range allow {
		if !inSuite[name] {
			t.Errorf("%s lists %s, which is not in the suite at %s", nodeSuiteAllowlist, name, root)
		}
	}
	ops := make([]string, 0, len(missingOps))
	for op := range missingOps {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	var sb strings.Builder
	for _, op := range ops {
		fmt.Fprintf(&sb, " %s(%d)", op, missingOps[op])
	}
	t.Logf("ONNX node suite at %s: registered-op tests passed %d/%d (%d allowlisted); whole suite %d/%d passed (%.1f%%); %d tests use %d unregistered op types:%s",
		root, passed, registered, allowlisted, passed, total, 100*float64(passed)/float64(total), total-registered, len(ops), sb.String())
}
