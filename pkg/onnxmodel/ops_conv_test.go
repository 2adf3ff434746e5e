package onnxmodel

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/tensor"
)

// refConv2D is a direct float64 convolution of x [N,C,H,W] with w
// [M,C/group,KH,KW] (b optional), with explicit pads (top, left, bottom,
// right), strides and dilations: the definition, with no im2col.
func refConv2D(x, w, b *tensor.Tensor, group int, stride, dil [2]int, pads [4]int) *tensor.Tensor {
	n, c, h, wd := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	m, cg, kh, kw := w.Shape[0], w.Shape[1], w.Shape[2], w.Shape[3]
	mg := m / group
	oh := (h+pads[0]+pads[2]-((kh-1)*dil[0]+1))/stride[0] + 1
	ow := (wd+pads[1]+pads[3]-((kw-1)*dil[1]+1))/stride[1] + 1
	y := tensor.New(n, m, oh, ow)
	_ = c
	for i := 0; i < n; i++ {
		for o := 0; o < m; o++ {
			g := o / mg
			for p := 0; p < oh; p++ {
				for q := 0; q < ow; q++ {
					var s float64
					if b != nil {
						s = float64(b.F[o])
					}
					for ci := 0; ci < cg; ci++ {
						cc := g*cg + ci
						for ki := 0; ki < kh; ki++ {
							ih := p*stride[0] - pads[0] + ki*dil[0]
							if ih < 0 || ih >= h {
								continue
							}
							for kj := 0; kj < kw; kj++ {
								iw := q*stride[1] - pads[1] + kj*dil[1]
								if iw < 0 || iw >= wd {
									continue
								}
								s += float64(x.F[((i*c+cc)*h+ih)*wd+iw]) * float64(w.F[((o*cg+ci)*kh+ki)*kw+kj])
							}
						}
					}
					y.F[((i*m+o)*oh+p)*ow+q] = float32(s)
				}
			}
		}
	}
	return y
}

// refConvTranspose2D is the direct scatter definition of ConvTranspose for
// x [N,C,H,W], w [C,M/group,KH,KW], with explicit pads, strides, dilations
// and output_padding.
func refConvTranspose2D(x, w, b *tensor.Tensor, group int, stride, dil, outPad [2]int, pads [4]int) *tensor.Tensor {
	n, c, h, wd := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	mg, kh, kw := w.Shape[1], w.Shape[2], w.Shape[3]
	cg := c / group
	m := mg * group
	oh := stride[0]*(h-1) + outPad[0] + (kh-1)*dil[0] + 1 - pads[0] - pads[2]
	ow := stride[1]*(wd-1) + outPad[1] + (kw-1)*dil[1] + 1 - pads[1] - pads[3]
	acc := make([]float64, n*m*oh*ow)
	for i := 0; i < n; i++ {
		for cc := 0; cc < c; cc++ {
			g := cc / cg
			for p := 0; p < h; p++ {
				for q := 0; q < wd; q++ {
					xv := float64(x.F[((i*c+cc)*h+p)*wd+q])
					for mo := 0; mo < mg; mo++ {
						o := g*mg + mo
						for ki := 0; ki < kh; ki++ {
							yh := p*stride[0] - pads[0] + ki*dil[0]
							if yh < 0 || yh >= oh {
								continue
							}
							for kj := 0; kj < kw; kj++ {
								yw := q*stride[1] - pads[1] + kj*dil[1]
								if yw < 0 || yw >= ow {
									continue
								}
								acc[((i*m+o)*oh+yh)*ow+yw] += xv * float64(w.F[((cc*mg+mo)*kh+ki)*kw+kj])
							}
						}
					}
				}
			}
		}
	}
	y := tensor.New(n, m, oh, ow)
	for i := range acc {
		y.F[i] = float32(acc[i])
		if b != nil {
			y.F[i] += b.F[(i/(oh*ow))%m]
		}
	}
	return y
}

// assertClose fails when got and want differ in shape or beyond tol.
func assertClose(t *testing.T, what string, got, want *tensor.Tensor, tol float64) {
	t.Helper()
	if !tensor.SameShape(got.Shape, want.Shape) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape, want.Shape)
	}
	for i := range want.F {
		if d := math.Abs(float64(got.F[i] - want.F[i])); d > tol*(1+math.Abs(float64(want.F[i]))) || math.IsNaN(float64(got.F[i])) {
			t.Fatalf("%s: element %d = %g, want %g", what, i, got.F[i], want.F[i])
		}
	}
}

type convCase struct {
	name    string
	x, w    []int // shapes
	bias    bool
	group   int
	attrs   []*onnxpb.AttributeProto
	stride  [2]int
	dil     [2]int
	pads    [4]int // the explicit pads the attrs amount to (top, left, bottom, right)
	outDims []int  // expected output spatial dims (hand-computed)
}

func convCases() []convCase {
	return []convCase{
		{name: "plain", x: []int{2, 3, 6, 5}, w: []int{4, 3, 3, 3}, bias: true, group: 1, stride: [2]int{1, 1}, dil: [2]int{1, 1}, outDims: []int{4, 3}},
		{name: "no_bias_kernel_attr", x: []int{1, 2, 5, 5}, w: []int{3, 2, 3, 2}, group: 1,
			attrs: []*onnxpb.AttributeProto{attrInts("kernel_shape", 3, 2)}, stride: [2]int{1, 1}, dil: [2]int{1, 1}, outDims: []int{3, 4}},
		{name: "pads_asym_strides", x: []int{2, 2, 7, 6}, w: []int{3, 2, 3, 3}, bias: true, group: 1,
			attrs:  []*onnxpb.AttributeProto{attrInts("pads", 1, 0, 2, 1), attrInts("strides", 2, 3)},
			stride: [2]int{2, 3}, dil: [2]int{1, 1}, pads: [4]int{1, 0, 2, 1}, outDims: []int{4, 2}},
		{name: "dilations", x: []int{1, 2, 9, 8}, w: []int{2, 2, 3, 2}, bias: true, group: 1,
			attrs:  []*onnxpb.AttributeProto{attrInts("dilations", 2, 3), attrInts("pads", 1, 1, 1, 1)},
			stride: [2]int{1, 1}, dil: [2]int{2, 3}, pads: [4]int{1, 1, 1, 1}, outDims: []int{7, 7}},
		{name: "groups", x: []int{2, 4, 5, 5}, w: []int{6, 2, 3, 3}, bias: true, group: 2,
			attrs:  []*onnxpb.AttributeProto{attrInt("group", 2), attrInts("pads", 1, 1, 1, 1)},
			stride: [2]int{1, 1}, dil: [2]int{1, 1}, pads: [4]int{1, 1, 1, 1}, outDims: []int{5, 5}},
		{name: "depthwise", x: []int{2, 3, 6, 6}, w: []int{6, 1, 3, 3}, bias: true, group: 3,
			attrs:  []*onnxpb.AttributeProto{attrInt("group", 3), attrInts("strides", 2, 2)},
			stride: [2]int{2, 2}, dil: [2]int{1, 1}, outDims: []int{2, 2}},
		// SAME_UPPER, in 6, k 3, s 2: out 3, total pad (3-1)·2+3-6 = 1 → 0 before, 1 after.
		{name: "same_upper", x: []int{1, 2, 6, 5}, w: []int{2, 2, 3, 3}, bias: true, group: 1,
			attrs:  []*onnxpb.AttributeProto{attrString("auto_pad", "SAME_UPPER"), attrInts("strides", 2, 2)},
			stride: [2]int{2, 2}, dil: [2]int{1, 1}, pads: [4]int{0, 1, 1, 1}, outDims: []int{3, 3}},
		// SAME_LOWER puts the odd pad before.
		{name: "same_lower", x: []int{1, 2, 6, 5}, w: []int{2, 2, 3, 3}, group: 1,
			attrs:  []*onnxpb.AttributeProto{attrString("auto_pad", "SAME_LOWER"), attrInts("strides", 2, 2)},
			stride: [2]int{2, 2}, dil: [2]int{1, 1}, pads: [4]int{1, 1, 0, 1}, outDims: []int{3, 3}},
		{name: "valid", x: []int{1, 1, 7, 7}, w: []int{2, 1, 3, 3}, group: 1,
			attrs:  []*onnxpb.AttributeProto{attrString("auto_pad", "VALID"), attrInts("strides", 2, 2), attrInts("pads", 5, 5, 5, 5)},
			stride: [2]int{2, 2}, dil: [2]int{1, 1}, outDims: []int{3, 3}},
		// Kernel 7, padding 3 on a 2x2 image (convnext_tiny at 64x64): most
		// kernel taps see only padding (Im2Col once panicked here).
		{name: "kernel_wider_than_image", x: []int{1, 2, 2, 2}, w: []int{2, 2, 7, 7}, bias: true, group: 1,
			attrs:  []*onnxpb.AttributeProto{attrInts("pads", 3, 3, 3, 3)},
			stride: [2]int{1, 1}, dil: [2]int{1, 1}, pads: [4]int{3, 3, 3, 3}, outDims: []int{2, 2}},
		{name: "depthwise_kernel_wider_than_image", x: []int{2, 3, 2, 2}, w: []int{3, 1, 7, 7}, group: 3,
			attrs:  []*onnxpb.AttributeProto{attrInt("group", 3), attrInts("pads", 3, 3, 3, 3)},
			stride: [2]int{1, 1}, dil: [2]int{1, 1}, pads: [4]int{3, 3, 3, 3}, outDims: []int{2, 2}},
		// One channel per group (tensor.DepthwisePlane's path): ConvNeXt's
		// 7×7, MobileNetV2's strided 3×3, EfficientNet's 5×5, dilated and
		// asymmetrically padded.
		{name: "depthwise_7x7", x: []int{2, 3, 9, 10}, w: []int{3, 1, 7, 7}, bias: true, group: 3,
			attrs:  []*onnxpb.AttributeProto{attrInt("group", 3), attrInts("pads", 3, 3, 3, 3)},
			stride: [2]int{1, 1}, dil: [2]int{1, 1}, pads: [4]int{3, 3, 3, 3}, outDims: []int{9, 10}},
		{name: "depthwise_3x3_stride2", x: []int{2, 4, 7, 8}, w: []int{4, 1, 3, 3}, bias: true, group: 4,
			attrs:  []*onnxpb.AttributeProto{attrInt("group", 4), attrInts("pads", 1, 1, 1, 1), attrInts("strides", 2, 2)},
			stride: [2]int{2, 2}, dil: [2]int{1, 1}, pads: [4]int{1, 1, 1, 1}, outDims: []int{4, 4}},
		{name: "depthwise_5x5_stride2_asym", x: []int{1, 2, 9, 9}, w: []int{2, 1, 5, 5}, group: 2,
			attrs:  []*onnxpb.AttributeProto{attrInt("group", 2), attrInts("pads", 1, 2, 2, 1), attrInts("strides", 2, 2)},
			stride: [2]int{2, 2}, dil: [2]int{1, 1}, pads: [4]int{1, 2, 2, 1}, outDims: []int{4, 4}},
		{name: "depthwise_3x3_dilated", x: []int{1, 2, 8, 7}, w: []int{2, 1, 3, 3}, bias: true, group: 2,
			attrs:  []*onnxpb.AttributeProto{attrInt("group", 2), attrInts("pads", 2, 2, 2, 2), attrInts("dilations", 2, 2)},
			stride: [2]int{1, 1}, dil: [2]int{2, 2}, pads: [4]int{2, 2, 2, 2}, outDims: []int{8, 7}},
		{name: "pointwise", x: []int{2, 5, 4, 3}, w: []int{3, 5, 1, 1}, bias: true, group: 1, stride: [2]int{1, 1}, dil: [2]int{1, 1}, outDims: []int{4, 3}},
		{name: "pointwise_strided", x: []int{2, 5, 4, 3}, w: []int{3, 5, 1, 1}, group: 1,
			attrs: []*onnxpb.AttributeProto{attrInts("strides", 2, 2)}, stride: [2]int{2, 2}, dil: [2]int{1, 1}, outDims: []int{2, 2}},
	}
}

func TestConvForwardAndGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, tc := range convCases() {
		t.Run(tc.name, func(t *testing.T) {
			x := randTensor(rng, tc.x...)
			w := randTensor(rng, tc.w...)
			in := []*tensor.Tensor{x, w}
			var b *tensor.Tensor
			if tc.bias {
				b = randTensor(rng, tc.w[0])
				in = append(in, b)
			}
			op := buildOp(t, opSpec{opType: "Conv", attrs: tc.attrs, nInputs: len(in)})
			out, _, err := op.Forward(&RunContext{}, in)
			if err != nil {
				t.Fatal(err)
			}
			want := refConv2D(x, w, b, tc.group, tc.stride, tc.dil, tc.pads)
			if got := want.Shape[2:]; !tensor.SameShape(got, tc.outDims) {
				t.Fatalf("reference output dims %v, hand-computed %v", got, tc.outDims)
			}
			assertClose(t, "Y", out[0], want, 1e-4)
			wrt := []int{0, 1}
			if tc.bias {
				wrt = append(wrt, 2)
			}
			checkGradients(t, op, in, wrt, 1e-2, 5e-3)
		})
	}
}

// TestConvOnlyNeededGradients checks that Backward leaves unrequested
// gradients nil and that dX alone matches dX computed with dW.
func TestConvOnlyNeededGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	x, w, b := randTensor(rng, 3, 2, 6, 6), randTensor(rng, 4, 2, 3, 3), randTensor(rng, 4)
	op := buildOp(t, opSpec{opType: "Conv", attrs: []*onnxpb.AttributeProto{attrInts("pads", 1, 1, 1, 1)}, nInputs: 3})
	in := []*tensor.Tensor{x, w, b}
	out, saved, err := op.Forward(&RunContext{}, in)
	if err != nil {
		t.Fatal(err)
	}
	dy := randTensor(rng, out[0].Shape...)
	onlyX, err := op.Backward(&RunContext{}, in, out, saved, []*tensor.Tensor{dy}, []bool{true, false, false})
	if err != nil {
		t.Fatal(err)
	}
	if onlyX[1] != nil || onlyX[2] != nil {
		t.Fatalf("dW or dB computed although not needed")
	}
	all, err := op.Backward(&RunContext{}, in, out, saved, []*tensor.Tensor{dy}, []bool{true, true, true})
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "dX", onlyX[0], all[0], 1e-6)
}

func TestConv1D(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	x, w, b := randTensor(rng, 2, 3, 11), randTensor(rng, 4, 3, 3), randTensor(rng, 4)
	op := buildOp(t, opSpec{opType: "Conv", nInputs: 3, attrs: []*onnxpb.AttributeProto{
		attrInts("strides", 2), attrInts("pads", 2, 1), attrInts("dilations", 2)}})
	in := []*tensor.Tensor{x, w, b}
	out, _, err := op.Forward(&RunContext{}, in)
	if err != nil {
		t.Fatal(err)
	}
	want := refConv2D(x.Reshaped(2, 3, 1, 11), w.Reshaped(4, 3, 1, 3), b, 1, [2]int{1, 2}, [2]int{1, 2}, [4]int{0, 2, 0, 1})
	assertClose(t, "Y", out[0], want.Reshaped(want.Shape[0], want.Shape[1], want.Shape[3]), 1e-4)
	checkGradients(t, op, in, []int{0, 1, 2}, 1e-2, 5e-3)
}

func TestConvErrors(t *testing.T) {
	build := func(attrs ...*onnxpb.AttributeProto) error {
		n := &NodeInfo{Name: "c", OpType: "Conv", Opset: 17, Inputs: []string{"x", "w"}, Outputs: []string{"y"}, Attrs: map[string]*onnxpb.AttributeProto{}}
		for _, a := range attrs {
			n.Attrs[a.GetName()] = a
		}
		_, err := registry["Conv"](n)
		return err
	}
	for _, tc := range []struct {
		attrs []*onnxpb.AttributeProto
		want  string
	}{
		{[]*onnxpb.AttributeProto{attrString("auto_pad", "SAME")}, "auto_pad"},
		{[]*onnxpb.AttributeProto{attrInts("pads", 1, 1, 1)}, "pads"},
		{[]*onnxpb.AttributeProto{attrInts("strides", 0, 1)}, "strides"},
		{[]*onnxpb.AttributeProto{attrInt("group", 0)}, "group"},
		{[]*onnxpb.AttributeProto{attrInts("strides", 1, 1), attrInts("dilations", 1)}, "dilations"},
		{[]*onnxpb.AttributeProto{attrFloat("group", 1)}, "group"},
	} {
		err := build(tc.attrs...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("attrs %v: error %v, want one naming %s", tc.attrs, err, tc.want)
		}
	}
	op := buildOp(t, opSpec{opType: "Conv", nInputs: 2, attrs: []*onnxpb.AttributeProto{attrInt("group", 2)}})
	for _, tc := range []struct {
		x, w []int
		want string
	}{
		{[]int{1, 4, 5, 5}, []int{4, 3, 3, 3}, "input channels"},
		{[]int{1, 4, 5}, []int{4, 2, 3, 3}, "rank"},
		{[]int{4, 5}, []int{4, 2, 3}, "X has shape"},
		{[]int{1, 4, 2, 2}, []int{4, 2, 3, 3}, "smaller than"},
		{[]int{1, 4, 2, 2, 2, 2}, []int{4, 2, 1, 1, 1, 1}, "[N, C, D, H, W]"},
	} {
		_, _, err := op.Forward(&RunContext{}, []*tensor.Tensor{tensor.New(tc.x...), tensor.New(tc.w...)})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("X %v W %v: error %v, want one mentioning %q", tc.x, tc.w, err, tc.want)
		}
	}
}

func TestConvTranspose(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, tc := range []struct {
		name   string
		x, w   []int
		group  int
		attrs  []*onnxpb.AttributeProto
		stride [2]int
		dil    [2]int
		outPad [2]int
		pads   [4]int
		out    []int // hand-computed output spatial dims
	}{
		{name: "plain", x: []int{2, 3, 4, 3}, w: []int{3, 2, 3, 3}, group: 1, stride: [2]int{1, 1}, dil: [2]int{1, 1}, out: []int{6, 5}},
		// out = 2·(4−1) + 1 + 3 − 1 − 0 = 9 and 3·(3−1) + 0 + 2 − 0 − 1 = 7.
		{name: "strides_pads_outpad", x: []int{1, 2, 4, 3}, w: []int{2, 3, 3, 2}, group: 1,
			attrs:  []*onnxpb.AttributeProto{attrInts("strides", 2, 3), attrInts("pads", 1, 0, 0, 1), attrInts("output_padding", 1, 0)},
			stride: [2]int{2, 3}, dil: [2]int{1, 1}, outPad: [2]int{1, 0}, pads: [4]int{1, 0, 0, 1}, out: []int{9, 7}},
		{name: "dilations_groups", x: []int{2, 4, 3, 3}, w: []int{4, 1, 2, 2}, group: 2,
			attrs:  []*onnxpb.AttributeProto{attrInt("group", 2), attrInts("dilations", 2, 2)},
			stride: [2]int{1, 1}, dil: [2]int{2, 2}, out: []int{5, 5}},
		// output_shape 8×6 with SAME_UPPER: total pad = 2·3+0+3−8 = 1 → (0, 1); 2·2+3−6 = 1 → (0, 1).
		{name: "output_shape_upper", x: []int{1, 2, 4, 3}, w: []int{2, 2, 3, 3}, group: 1,
			attrs:  []*onnxpb.AttributeProto{attrInts("strides", 2, 2), attrInts("output_shape", 8, 6), attrString("auto_pad", "SAME_UPPER")},
			stride: [2]int{2, 2}, dil: [2]int{1, 1}, pads: [4]int{0, 0, 1, 1}, out: []int{8, 6}},
		// output_shape without auto_pad: the odd pad goes before.
		{name: "output_shape_notset", x: []int{1, 2, 4, 3}, w: []int{2, 2, 3, 3}, group: 1,
			attrs:  []*onnxpb.AttributeProto{attrInts("strides", 2, 2), attrInts("output_shape", 8, 6)},
			stride: [2]int{2, 2}, dil: [2]int{1, 1}, pads: [4]int{1, 1, 0, 0}, out: []int{8, 6}},
		{name: "pointwise", x: []int{2, 3, 4, 3}, w: []int{3, 2, 1, 1}, group: 1, stride: [2]int{1, 1}, dil: [2]int{1, 1}, out: []int{4, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, w := randTensor(rng, tc.x...), randTensor(rng, tc.w...)
			b := randTensor(rng, tc.w[1]*tc.group)
			in := []*tensor.Tensor{x, w, b}
			op := buildOp(t, opSpec{opType: "ConvTranspose", attrs: tc.attrs, nInputs: 3})
			out, _, err := op.Forward(&RunContext{}, in)
			if err != nil {
				t.Fatal(err)
			}
			want := refConvTranspose2D(x, w, b, tc.group, tc.stride, tc.dil, tc.outPad, tc.pads)
			if !tensor.SameShape(want.Shape[2:], tc.out) {
				t.Fatalf("reference dims %v, hand-computed %v", want.Shape[2:], tc.out)
			}
			assertClose(t, "Y", out[0], want, 1e-4)
			checkGradients(t, op, in, []int{0, 1, 2}, 1e-2, 5e-3)
		})
	}
}

// BenchmarkConv times the two convolutions of the testdata CNN at batch
// 128: forward, forward + backward for dX only (what an attack needs), and
// forward + backward for all inputs (training); "batchpar" splits the batch
// over the cores, "gemmpar" leaves the parallelism to tensor.Gemm.
func BenchmarkConv(b *testing.B) {
	defer func(v bool) { nnConvBatchParallel = v }(nnConvBatchParallel)
	for _, bc := range []struct {
		name string
		x, w []int
	}{
		{"1to32_28x28", []int{128, 1, 28, 28}, []int{32, 1, 3, 3}},
		{"32to64_26x26", []int{128, 32, 26, 26}, []int{64, 32, 3, 3}},
	} {
		rng := rand.New(rand.NewPCG(1, 1))
		x, w, bias := randTensor(rng, bc.x...), randTensor(rng, bc.w...), randTensor(rng, bc.w[0])
		in := []*tensor.Tensor{x, w, bias}
		op := nnBenchOp(b, "Conv", 3)
		pool := newBufferPool()
		rc := &RunContext{pool: pool}
		for _, mode := range []struct {
			name     string
			batchPar bool
		}{{"batchpar", true}, {"gemmpar", false}} {
			nnConvBatchParallel = mode.batchPar
			prefix := bc.name + "/" + mode.name
			b.Run(prefix+"/forward", func(b *testing.B) {
				for b.Loop() {
					if _, _, err := op.Forward(rc, in); err != nil {
						b.Fatal(err)
					}
					pool.releaseAll()
				}
			})
			for _, nd := range []struct {
				name string
				need []bool
			}{{"forward_backward_dX", []bool{true, false, false}}, {"forward_backward_all", []bool{true, true, true}}} {
				b.Run(prefix+"/"+nd.name, func(b *testing.B) {
					for b.Loop() {
						out, saved, err := op.Forward(rc, in)
						if err != nil {
							b.Fatal(err)
						}
						if _, err := op.Backward(rc, in, out, saved, out, nd.need); err != nil {
							b.Fatal(err)
						}
						pool.releaseAll()
					}
				})
			}
		}
	}
}

// nnBenchOp builds an op for a benchmark.
func nnBenchOp(b *testing.B, opType string, nInputs int, attrs ...*onnxpb.AttributeProto) Op {
	b.Helper()
	n := &NodeInfo{Name: "bench", OpType: opType, Opset: 17, Outputs: []string{"y"}, Attrs: map[string]*onnxpb.AttributeProto{}}
	for i := 0; i < nInputs; i++ {
		n.Inputs = append(n.Inputs, "in"+string(rune('0'+i)))
	}
	n.Const = make([]*tensor.Tensor, nInputs)
	for _, a := range attrs {
		n.Attrs[a.GetName()] = a
	}
	op, err := registry[opType](n)
	if err != nil {
		b.Fatal(err)
	}
	return op
}
