package onnxmodel

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/tensor"
)

// refPool2D pools x [N,C,H,W] naively into [N,C,oh,ow] with explicit pads
// (top, left, bottom, right). Max ignores padding; average divides by the
// taps inside the input, or (includePad) inside the padded input.
func refPool2D(x *tensor.Tensor, isMax, includePad bool, k, s, d [2]int, pads [4]int, oh, ow int) *tensor.Tensor {
	n, c, h, w := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	y := tensor.New(n, c, oh, ow)
	for p := 0; p < n*c; p++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				best := math.Inf(-1)
				var sum float64
				var valid, padded int
				for a := 0; a < k[0]; a++ {
					for b := 0; b < k[1]; b++ {
						ih, iw := i*s[0]-pads[0]+a*d[0], j*s[1]-pads[1]+b*d[1]
						if ih >= -pads[0] && ih < h+pads[2] && iw >= -pads[1] && iw < w+pads[3] {
							padded++
						}
						if ih < 0 || ih >= h || iw < 0 || iw >= w {
							continue
						}
						v := float64(x.F[(p*h+ih)*w+iw])
						valid++
						sum += v
						best = math.Max(best, v)
					}
				}
				var out float64
				switch {
				case isMax:
					out = best
				case includePad:
					out = sum / float64(padded)
				default:
					out = sum / float64(valid)
				}
				y.F[(p*oh+i)*ow+j] = float32(out)
			}
		}
	}
	return y
}

// distinctTensor returns a tensor whose elements are a random permutation
// of multiples of 0.1 (centred), so that max-pool argmaxes stay put under
// the finite-difference step.
func distinctTensor(rng *rand.Rand, shape ...int) *tensor.Tensor {
	x := tensor.New(shape...)
	for i, p := range rng.Perm(len(x.F)) {
		x.F[i] = 0.1 * float32(p-len(x.F)/2)
	}
	return x
}

type poolCase struct {
	name   string
	x      []int
	attrs  []*onnxpb.AttributeProto
	k, s   [2]int
	d      [2]int
	pads   [4]int
	out    [2]int // hand-computed output dims
	inclPd bool
}

func poolCases() []poolCase {
	one := [2]int{1, 1}
	return []poolCase{
		{name: "2x2s2", x: []int{2, 3, 6, 6}, attrs: []*onnxpb.AttributeProto{attrInts("kernel_shape", 2, 2), attrInts("strides", 2, 2)},
			k: [2]int{2, 2}, s: [2]int{2, 2}, d: one, out: [2]int{3, 3}},
		{name: "3x2_stride1", x: []int{1, 2, 5, 4}, attrs: []*onnxpb.AttributeProto{attrInts("kernel_shape", 3, 2)},
			k: [2]int{3, 2}, s: one, d: one, out: [2]int{3, 3}},
		{name: "pads", x: []int{1, 2, 5, 5}, attrs: []*onnxpb.AttributeProto{attrInts("kernel_shape", 3, 3), attrInts("strides", 2, 2), attrInts("pads", 1, 1, 1, 0)},
			k: [2]int{3, 3}, s: [2]int{2, 2}, d: one, pads: [4]int{1, 1, 1, 0}, out: [2]int{3, 2}},
		{name: "pads_count_include_pad", x: []int{1, 2, 5, 5}, inclPd: true,
			attrs: []*onnxpb.AttributeProto{attrInts("kernel_shape", 3, 3), attrInts("strides", 2, 2), attrInts("pads", 1, 1, 1, 0), attrInt("count_include_pad", 1)},
			k:     [2]int{3, 3}, s: [2]int{2, 2}, d: one, pads: [4]int{1, 1, 1, 0}, out: [2]int{3, 2}},
		// ceil_mode: (6−3)/2 ceiled = 2, +1 = 3 rows; (5−2)/2 ceiled = 2, +1 = 3 columns.
		{name: "ceil_mode", x: []int{1, 2, 6, 5}, attrs: []*onnxpb.AttributeProto{attrInts("kernel_shape", 3, 2), attrInts("strides", 2, 2), attrInt("ceil_mode", 1)},
			k: [2]int{3, 2}, s: [2]int{2, 2}, d: one, out: [2]int{3, 3}},
		// ceil_mode with pads: H: (5+1+1−2)/2 = 2.5 → 3, +1 = 4, but window 3 starts at 6 ≥ 5+1: dropped → 3.
		{name: "ceil_mode_drops_window_in_pad", x: []int{1, 1, 5, 5}, attrs: []*onnxpb.AttributeProto{attrInts("kernel_shape", 2, 2), attrInts("strides", 2, 2), attrInts("pads", 1, 1, 1, 1), attrInt("ceil_mode", 1)},
			k: [2]int{2, 2}, s: [2]int{2, 2}, d: one, pads: [4]int{1, 1, 1, 1}, out: [2]int{3, 3}},
		{name: "dilations", x: []int{1, 2, 7, 7}, attrs: []*onnxpb.AttributeProto{attrInts("kernel_shape", 2, 2), attrInts("dilations", 2, 3)},
			k: [2]int{2, 2}, s: one, d: [2]int{2, 3}, out: [2]int{5, 4}},
		// SAME_UPPER, in 5, k 3, s 2: out 3, total pad 2·2+3−5 = 2 → (1, 1); in 6: total 1 → (0, 1).
		{name: "same_upper", x: []int{1, 2, 5, 6}, attrs: []*onnxpb.AttributeProto{attrInts("kernel_shape", 3, 3), attrInts("strides", 2, 2), attrString("auto_pad", "SAME_UPPER")},
			k: [2]int{3, 3}, s: [2]int{2, 2}, d: one, pads: [4]int{1, 0, 1, 1}, out: [2]int{3, 3}},
		{name: "same_lower", x: []int{1, 2, 5, 6}, attrs: []*onnxpb.AttributeProto{attrInts("kernel_shape", 3, 3), attrInts("strides", 2, 2), attrString("auto_pad", "SAME_LOWER")},
			k: [2]int{3, 3}, s: [2]int{2, 2}, d: one, pads: [4]int{1, 1, 1, 0}, out: [2]int{3, 3}},
		{name: "valid", x: []int{1, 2, 5, 6}, attrs: []*onnxpb.AttributeProto{attrInts("kernel_shape", 3, 3), attrInts("strides", 2, 2), attrString("auto_pad", "VALID")},
			k: [2]int{3, 3}, s: [2]int{2, 2}, d: one, out: [2]int{2, 2}},
	}
}

func TestMaxPoolAndAveragePool(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, opType := range []string{"MaxPool", "AveragePool"} {
		for _, tc := range poolCases() {
			if tc.inclPd && opType == "MaxPool" {
				continue
			}
			t.Run(opType+"/"+tc.name, func(t *testing.T) {
				x := distinctTensor(rng, tc.x...)
				op := buildOp(t, opSpec{opType: opType, attrs: tc.attrs, nInputs: 1})
				out, _, err := op.Forward(&RunContext{}, []*tensor.Tensor{x})
				if err != nil {
					t.Fatal(err)
				}
				want := refPool2D(x, opType == "MaxPool", tc.inclPd, tc.k, tc.s, tc.d, tc.pads, tc.out[0], tc.out[1])
				assertClose(t, "Y", out[0], want, 1e-5)
				checkGradients(t, op, []*tensor.Tensor{x}, []int{0}, 1e-2, 2e-3)
			})
		}
	}
}

func TestPool1DAndIndices(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	x := distinctTensor(rng, 2, 3, 9)
	attrs := []*onnxpb.AttributeProto{attrInts("kernel_shape", 3), attrInts("strides", 2), attrInts("pads", 1, 1)}
	op := buildOp(t, opSpec{opType: "MaxPool", attrs: attrs, nInputs: 1, nOut: 2})
	out, _, err := op.Forward(&RunContext{}, []*tensor.Tensor{x})
	if err != nil {
		t.Fatal(err)
	}
	want := refPool2D(x.Reshaped(2, 3, 1, 9), true, false, [2]int{1, 3}, [2]int{1, 2}, [2]int{1, 1}, [4]int{0, 1, 0, 1}, 1, 5)
	assertClose(t, "Y", out[0], want.Reshaped(2, 3, 5), 1e-6)
	if len(out) != 2 || out[1].DType != tensor.Int64 {
		t.Fatalf("want an int64 Indices output, got %d outputs", len(out))
	}
	for i, idx := range out[1].I {
		if x.F[idx] != out[0].F[i] {
			t.Fatalf("Indices[%d] = %d points at %g, max is %g", i, idx, x.F[idx], out[0].F[i])
		}
	}
	checkGradients(t, op, []*tensor.Tensor{x}, []int{0}, 1e-2, 2e-3)
	avg := buildOp(t, opSpec{opType: "AveragePool", attrs: attrs, nInputs: 1})
	out, _, err = avg.Forward(&RunContext{}, []*tensor.Tensor{x})
	if err != nil {
		t.Fatal(err)
	}
	want = refPool2D(x.Reshaped(2, 3, 1, 9), false, false, [2]int{1, 3}, [2]int{1, 2}, [2]int{1, 1}, [4]int{0, 1, 0, 1}, 1, 5)
	assertClose(t, "Y", out[0], want.Reshaped(2, 3, 5), 1e-6)
	checkGradients(t, avg, []*tensor.Tensor{x}, []int{0}, 1e-2, 2e-3)
}

func TestGlobalPools(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, shape := range [][]int{{2, 3, 4, 5}, {2, 2, 7}, {1, 2, 2, 3, 2}} {
		x := distinctTensor(rng, shape...)
		n, c := shape[0], shape[1]
		sz := x.Len() / (n * c)
		outShape := append([]int{n, c}, make([]int, len(shape)-2)...)
		for i := 2; i < len(outShape); i++ {
			outShape[i] = 1
		}
		wantAvg, wantMax := tensor.New(outShape...), tensor.New(outShape...)
		for p := 0; p < n*c; p++ {
			var s float64
			m := math.Inf(-1)
			for _, v := range x.F[p*sz : (p+1)*sz] {
				s += float64(v)
				m = math.Max(m, float64(v))
			}
			wantAvg.F[p], wantMax.F[p] = float32(s/float64(sz)), float32(m)
		}
		for _, tc := range []struct {
			op   string
			want *tensor.Tensor
		}{{"GlobalAveragePool", wantAvg}, {"GlobalMaxPool", wantMax}} {
			op := buildOp(t, opSpec{opType: tc.op, nInputs: 1})
			out, _, err := op.Forward(&RunContext{}, []*tensor.Tensor{x})
			if err != nil {
				t.Fatal(err)
			}
			assertClose(t, tc.op, out[0], tc.want, 1e-5)
			checkGradients(t, op, []*tensor.Tensor{x}, []int{0}, 1e-2, 2e-3)
		}
	}
}

func TestPoolErrors(t *testing.T) {
	build := func(opType string, attrs ...*onnxpb.AttributeProto) error {
		n := &NodeInfo{Name: "p", OpType: opType, Opset: 17, Inputs: []string{"x"}, Outputs: []string{"y"}, Attrs: map[string]*onnxpb.AttributeProto{}}
		for _, a := range attrs {
			n.Attrs[a.GetName()] = a
		}
		_, err := registry[opType](n)
		return err
	}
	for _, tc := range []struct {
		op    string
		attrs []*onnxpb.AttributeProto
		want  string
	}{
		{"MaxPool", nil, "kernel_shape"},
		{"AveragePool", []*onnxpb.AttributeProto{attrInts("kernel_shape", 2, 2), attrInt("count_include_pad", 2)}, "count_include_pad"},
		{"MaxPool", []*onnxpb.AttributeProto{attrInts("kernel_shape", 2, 2), attrInt("ceil_mode", 3)}, "ceil_mode"},
		{"MaxPool", []*onnxpb.AttributeProto{attrInts("kernel_shape", 2, 2), attrInts("strides", 1)}, "strides"},
		{"MaxPool", []*onnxpb.AttributeProto{attrInts("kernel_shape", 2, 2, 2, 2)}, "4-D windows are not supported"},
	} {
		err := build(tc.op, tc.attrs...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v: error %v, want one naming %s", tc.op, tc.attrs, err, tc.want)
		}
	}
	op := buildOp(t, opSpec{opType: "MaxPool", nInputs: 1, attrs: []*onnxpb.AttributeProto{attrInts("kernel_shape", 2, 2)}})
	if _, _, err := op.Forward(&RunContext{}, []*tensor.Tensor{tensor.New(1, 1, 5)}); err == nil || !strings.Contains(err.Error(), "kernel_shape") {
		t.Errorf("1-D input to a 2-D pool: error %v", err)
	}
	if _, _, err := op.Forward(&RunContext{}, []*tensor.Tensor{tensor.New(1, 1, 1, 5)}); err == nil {
		t.Errorf("input smaller than the kernel: no error")
	}
}

// BenchmarkMaxPool times the testdata CNN's 2×2 max pooling at batch 128.
func BenchmarkMaxPool(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	x := randTensor(rng, 128, 64, 24, 24)
	op := nnBenchOp(b, "MaxPool", 1, attrInts("kernel_shape", 2, 2), attrInts("strides", 2, 2))
	pool := newBufferPool()
	rc := &RunContext{pool: pool}
	in := []*tensor.Tensor{x}
	b.Run("forward", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := op.Forward(rc, in); err != nil {
				b.Fatal(err)
			}
			pool.releaseAll()
		}
	})
	b.Run("forward_backward", func(b *testing.B) {
		need := []bool{true}
		for b.Loop() {
			out, saved, err := op.Forward(rc, in)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := op.Backward(rc, in, out, saved, out[:1], need); err != nil {
				b.Fatal(err)
			}
			pool.releaseAll()
		}
	})
}
