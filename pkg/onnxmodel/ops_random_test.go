package onnxmodel

import (
	"context"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/tensor"
)

// momentsOf returns the mean and standard deviation of v.
func momentsOf(v []float32) (mean, sd float64) {
	var s, s2 float64
	for _, f := range v {
		s += float64(f)
		s2 += float64(f) * float64(f)
	}
	n := float64(len(v))
	mean = s / n
	return mean, math.Sqrt(s2/n - mean*mean)
}

// TestRandomLikeMoments checks the output's shape and type, and the mean
// and standard deviation of 100 000 draws (within 1% of the scale), for
// both ops with their defaults and with attributes.
func TestRandomLikeMoments(t *testing.T) {
	x := tensor.New(40, 50, 50) // values are ignored: only the shape counts
	cases := []struct {
		op       string
		attrs    []*onnxpb.AttributeProto
		mean, sd float64
		lo, hi   float64
	}{
		{"RandomNormalLike", nil, 0, 1, math.Inf(-1), math.Inf(1)},
		{"RandomNormalLike", attrsOf(attrFloat("mean", 2), attrFloat("scale", 0.25), attrInt("dtype", 1)), 2, 0.25, math.Inf(-1), math.Inf(1)},
		{"RandomUniformLike", nil, 0.5, 1 / math.Sqrt(12), 0, 1},
		{"RandomUniformLike", attrsOf(attrFloat("low", -3), attrFloat("high", 1), attrFloat("seed", 5)), -1, 4 / math.Sqrt(12), -3, 1},
	}
	for k, c := range cases {
		op := buildOp(t, opSpec{opType: c.op, nInputs: 1, attrs: c.attrs})
		y := fwd(t, op, x)[0]
		if y.DType != tensor.Float32 || !tensor.SameShape(y.Shape, x.Shape) {
			t.Fatalf("%s: output %s, want float32 of shape %v", c.op, y, x.Shape)
		}
		mean, sd := momentsOf(y.F)
		t.Logf("case %d, %s: mean %.4f sd %.4f (want %.4f, %.4f)", k, c.op, mean, sd, c.mean, c.sd)
		if math.Abs(mean-c.mean) > 0.01*c.sd || math.Abs(sd-c.sd) > 0.01*c.sd {
			t.Errorf("case %d, %s: mean %g, sd %g; want %g, %g", k, c.op, mean, sd, c.mean, c.sd)
		}
		for _, v := range y.F {
			if float64(v) < c.lo || float64(v) > c.hi {
				t.Fatalf("%s: draw %g outside [%g, %g]", c.op, v, c.lo, c.hi)
			}
		}
	}
}

// TestRandomLikeRefusals checks the build-time errors: a dtype other than
// FLOAT or DOUBLE, bad ranges, and an integer input without dtype at run time. Each
// names the node.
func TestRandomLikeRefusals(t *testing.T) {
	for _, c := range []struct {
		op    string
		attrs []*onnxpb.AttributeProto
		want  string
	}{
		{"RandomNormalLike", attrsOf(attrInt("dtype", int64(onnxpb.TensorProto_INT64))), "dtype: INT64"},
		{"RandomUniformLike", attrsOf(attrInt("dtype", int64(onnxpb.TensorProto_FLOAT16))), "dtype: FLOAT16"},
		{"RandomNormalLike", attrsOf(attrFloat("scale", -1)), "scale"},
		{"RandomUniformLike", attrsOf(attrFloat("low", 2), attrFloat("high", 1)), "low"},
		{"RandomNormalLike", attrsOf(attrString("seed", "x")), "seed"},
	} {
		b := registry[c.op]
		n := &NodeInfo{Name: "noise_node", OpType: c.op, Opset: 17, Inputs: []string{"x"}, Outputs: []string{"r"}, Const: make([]*tensor.Tensor, 1), Attrs: attrMap(c.attrs...)}
		_, err := b(n)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "noise_node") {
			t.Errorf("%s %v: error %v, want one naming the node and %q", c.op, c.attrs, err, c.want)
		}
	}
	op := buildOp(t, opSpec{opType: "RandomNormalLike", nInputs: 1})
	if _, _, err := op.Forward(&RunContext{}, []*tensor.Tensor{tensor.FromInt64([]int64{1, 2}, 2)}); err == nil || !strings.Contains(err.Error(), "dtype") {
		t.Errorf("int64 input without dtype: %v", err)
	}
	op = buildOp(t, opSpec{opType: "RandomNormalLike", nInputs: 1, attrs: attrsOf(attrInt("dtype", 1))})
	if y := fwd(t, op, tensor.FromInt64([]int64{1, 2}, 2))[0]; y.DType != tensor.Float32 || y.Len() != 2 {
		t.Errorf("int64 input with dtype FLOAT: %s", y)
	}
}

// noisyMLP is tinyMLP with x + RandomNormalLike(x) (attrs on the random
// node) in front of it.
func noisyMLP(t *testing.T, attrs ...*onnxpb.AttributeProto) *Model {
	t.Helper()
	m, err := Compile(tinyMLP(), "")
	if err != nil {
		t.Fatal(err)
	}
	n, err := m.Edit().Prepend("xn",
		NewNode("RandomNormalLike", "noise", []string{"x"}, []string{"delta"}, attrs...),
		NewNode("Add", "add_noise", []string{"x", "delta"}, []string{"xn"}),
	).Build()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func logitsOf(t *testing.T, m *Model, x *tensor.Tensor) []float32 {
	t.Helper()
	l, err := m.Logits(context.Background(), x)
	if err != nil {
		t.Fatal(err)
	}
	return l.F
}

func equalF(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRandomLikeReproducible checks the seeding rules on a noisy model:
// two runs differ; a second compile (or Clone) of the same model replays
// the same sequence, with and without the seed attribute; different seeds
// give different draws; the load-time self-check neither marks the model
// per-sample nor consumes draws; concurrent runs never share a stream.
func TestRandomLikeReproducible(t *testing.T) {
	x := ft(sh(3, 4), 0.1, 0.2, 0.3, 0.4, 1, 2, 3, 4, -1, -2, -3, -4)
	for _, attrs := range [][]*onnxpb.AttributeProto{nil, {attrFloat("seed", 7)}} {
		a, b := noisyMLP(t, attrs...), noisyMLP(t, attrs...)
		if !a.Randomised() || a.PerSample {
			t.Fatalf("Randomised %v, PerSample %v; want true, false", a.Randomised(), a.PerSample)
		}
		a1, a2 := logitsOf(t, a, x), logitsOf(t, a, x)
		if equalF(a1, a2) {
			t.Errorf("seed %v: two runs gave the same logits", attrs)
		}
		c, err := a.Clone()
		if err != nil {
			t.Fatal(err)
		}
		b1, b2, c1 := logitsOf(t, b, x), logitsOf(t, b, x), logitsOf(t, c, x)
		if !equalF(a1, b1) || !equalF(a2, b2) || !equalF(a1, c1) {
			t.Errorf("seed %v: a second compile does not replay the draws", attrs)
		}
	}
	s7, s8 := noisyMLP(t, attrFloat("seed", 7)), noisyMLP(t, attrFloat("seed", 8))
	if equalF(logitsOf(t, s7, x), logitsOf(t, s8, x)) {
		t.Error("seeds 7 and 8 gave the same draws")
	}
	// Concurrent runs: every run gets its own stream.
	m := noisyMLP(t)
	const runs = 16
	out := make([][]float32, runs)
	var wg sync.WaitGroup
	for i := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := m.Logits(context.Background(), x)
			if err != nil {
				t.Error(err)
				return
			}
			out[i] = l.F
		}()
	}
	wg.Wait()
	for i := range out {
		for j := i + 1; j < runs; j++ {
			if equalF(out[i], out[j]) {
				t.Fatalf("concurrent runs %d and %d drew the same noise", i, j)
			}
		}
	}
}

// TestRandomLikeNotFolded checks that compile does not fold a random node
// whose input is a constant: its draws would then be frozen into the
// model. Two runs must differ.
func TestRandomLikeNotFolded(t *testing.T) {
	mp := modelProto(&onnxpb.GraphProto{
		Name:        sp("noise_const"),
		Input:       []*onnxpb.ValueInfoProto{valueInfoProto("x", -1, 4)},
		Output:      []*onnxpb.ValueInfoProto{valueInfoProto("y", -1, 4)},
		Initializer: []*onnxpb.TensorProto{int64Init("shape", 1, 4)},
		Node: []*onnxpb.NodeProto{
			node("ConstantOfShape", []string{"shape"}, []string{"zeros"}),
			node("RandomUniformLike", []string{"zeros"}, []string{"u"}),
			node("Mul", []string{"u", "u"}, []string{"u2"}),
			node("Add", []string{"x", "u2"}, []string{"y"}),
		},
	})
	m, err := Compile(mp, "")
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(2, 4)
	r1, err := m.Run(context.Background(), map[string]*tensor.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := m.Run(context.Background(), map[string]*tensor.Tensor{"x": x})
	if equalF(r1["y"].F, r2["y"].F) {
		t.Errorf("two runs gave %v: the random node (or what follows it) was folded", r1["y"].F)
	}
	if len(m.NodesOfType("RandomUniformLike")) != 1 || !m.Randomised() {
		t.Error("the random node is not in the compiled graph")
	}
}

// TestRandomLikeGradient checks that no gradient flows through the random
// draw: the op's Backward returns none, and x + RandomNormalLike(x) in
// front of the MLP has the gradient of the MLP at the noisy point, i.e.
// the identity Jacobian for the noise layer.
func TestRandomLikeGradient(t *testing.T) {
	op := buildOp(t, opSpec{opType: "RandomNormalLike", nInputs: 1})
	x := ft(sh(2, 3), 1, 2, 3, 4, 5, 6)
	out := fwd(t, op, x)
	g, err := op.Backward(&RunContext{}, []*tensor.Tensor{x}, out, nil, []*tensor.Tensor{ft(sh(2, 3), 1, 1, 1, 1, 1, 1)}, []bool{true})
	if err != nil || len(g) != 1 || g[0] != nil {
		t.Fatalf("Backward: %v, %v; want no gradient", g, err)
	}
	// Graph y = RandomNormalLike(x) alone: the input gradient is zero.
	mp := modelProto(&onnxpb.GraphProto{
		Name:   sp("noise_only"),
		Input:  []*onnxpb.ValueInfoProto{valueInfoProto("x", -1, 3)},
		Output: []*onnxpb.ValueInfoProto{valueInfoProto("y", -1, 3)},
		Node:   []*onnxpb.NodeProto{node("RandomNormalLike", []string{"x"}, []string{"y"})},
	})
	m, err := Compile(mp, "")
	if err != nil {
		t.Fatal(err)
	}
	ones := func(l *tensor.Tensor) (*tensor.Tensor, error) {
		g := tensor.New(l.Shape...)
		for i := range g.F {
			g.F[i] = 1
		}
		return g, nil
	}
	_, gx, err := m.InputGradient(context.Background(), x, ones)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range gx.F {
		if v != 0 {
			t.Fatalf("gradient element %d = %g, want 0", i, v)
		}
	}
	// Noise in front of the MLP: with scale 0 the noisy model's gradient is
	// the MLP's.
	plain, err := Compile(tinyMLP(), "")
	if err != nil {
		t.Fatal(err)
	}
	noisy := noisyMLP(t, attrFloat("scale", 0))
	x4 := ft(sh(2, 4), 0.5, -1, 2, 0.25, 1, 1, -2, 3)
	_, want, err := plain.InputGradient(context.Background(), x4, ones)
	if err != nil {
		t.Fatal(err)
	}
	_, got, err := noisy.InputGradient(context.Background(), x4, ones)
	if err != nil {
		t.Fatal(err)
	}
	wantTensor(t, got, want)
}
