package onnxmodel

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/tensor"
)

// ndWin is a window spelled out per spatial axis for the naive N-d
// references: kernel, stride, dilation, begin and end padding.
type ndWin struct {
	k, s, d, pb, pe []int
}

// forEachIndex calls fn with every row-major multi-index of shape.
func forEachIndex(shape []int, fn func(idx []int)) {
	if tensor.Numel(shape) == 0 {
		return
	}
	idx := make([]int, len(shape))
	for {
		fn(idx)
		if nextIndex(idx, shape) {
			return
		}
	}
}

// flat returns the row-major offset of idx in shape.
func flat(idx, shape []int) int {
	off := 0
	for a := range idx {
		off = off*shape[a] + idx[a]
	}
	return off
}

// refPoolND pools x [N, C, sp...] naively to [N, C, out...]: max over the
// taps inside the input, or their average divided by the taps inside the
// input (or, includePad, inside the padded input).
func refPoolND(x *tensor.Tensor, isMax, includePad bool, w ndWin, out []int) *tensor.Tensor {
	sp := x.Shape[2:]
	planes := x.Shape[0] * x.Shape[1]
	y := tensor.New(append([]int{x.Shape[0], x.Shape[1]}, out...)...)
	hw, ohw := tensor.Numel(sp), tensor.Numel(out)
	pos := make([]int, len(sp))
	for p := 0; p < planes; p++ {
		forEachIndex(out, func(o []int) {
			best, sum := math.Inf(-1), 0.0
			valid, padded := 0, 0
			forEachIndex(w.k, func(k []int) {
				inside, inPad := true, true
				for a := range sp {
					pos[a] = o[a]*w.s[a] - w.pb[a] + k[a]*w.d[a]
					if pos[a] < 0 || pos[a] >= sp[a] {
						inside = false
					}
					if pos[a] < -w.pb[a] || pos[a] >= sp[a]+w.pe[a] {
						inPad = false
					}
				}
				if inPad {
					padded++
				}
				if !inside {
					return
				}
				v := float64(x.F[p*hw+flat(pos, sp)])
				valid++
				sum += v
				best = math.Max(best, v)
			})
			var r float64
			switch {
			case isMax:
				r = best
			case includePad:
				r = sum / float64(padded)
			default:
				r = sum / float64(valid)
			}
			y.F[p*ohw+flat(o, out)] = float32(r)
		})
	}
	return y
}

type poolNDCase struct {
	name   string
	x      []int
	attrs  []*onnxpb.AttributeProto
	win    ndWin
	out    []int // hand-computed output dims
	inclPd bool
}

// poolNDCases keep inputs under 200 elements: distinctTensor's values are
// then 0.1 apart and below 10 in magnitude, so checkGradients' step (1% of
// the value) never moves a max-pool argmax.
func poolNDCases() []poolNDCase {
	one := []int{1, 1, 1}
	zero := []int{0, 0, 0}
	return []poolNDCase{
		{name: "3d_default", x: []int{1, 1, 4, 5, 6}, attrs: []*onnxpb.AttributeProto{attrInts("kernel_shape", 2, 2, 2)},
			win: ndWin{k: []int{2, 2, 2}, s: one, d: one, pb: zero, pe: zero}, out: []int{3, 4, 5}},
		// D: (5+1+0−3)/2+1 = 2; H: (6+0+1−2)/1+1 = 6; W: (4+1+1−2)/2+1 = 3.
		{name: "3d_pads_strides", x: []int{1, 1, 5, 6, 4},
			attrs: []*onnxpb.AttributeProto{attrInts("kernel_shape", 3, 2, 2), attrInts("strides", 2, 1, 2), attrInts("pads", 1, 0, 1, 0, 1, 1)},
			win:   ndWin{k: []int{3, 2, 2}, s: []int{2, 1, 2}, d: one, pb: []int{1, 0, 1}, pe: []int{0, 1, 1}}, out: []int{2, 6, 3}},
		{name: "3d_pads_count_include_pad", x: []int{1, 2, 4, 4, 4}, inclPd: true,
			attrs: []*onnxpb.AttributeProto{attrInts("kernel_shape", 3, 3, 3), attrInts("strides", 2, 2, 2), attrInts("pads", 1, 1, 1, 1, 1, 1), attrInt("count_include_pad", 1)},
			win:   ndWin{k: []int{3, 3, 3}, s: []int{2, 2, 2}, d: one, pb: one, pe: one}, out: []int{2, 2, 2}},
		// Dilation 2 on D: effective kernel 3: (5−3)+1 = 3.
		{name: "3d_dilations", x: []int{1, 1, 5, 4, 4}, attrs: []*onnxpb.AttributeProto{attrInts("kernel_shape", 2, 2, 2), attrInts("dilations", 2, 1, 1)},
			win: ndWin{k: []int{2, 2, 2}, s: one, d: []int{2, 1, 1}, pb: zero, pe: zero}, out: []int{3, 3, 3}},
		// SAME_UPPER, in 5, k 2, s 2: out 3, total pad 2·2+2−5 = 1 → (0, 1).
		{name: "3d_same_upper", x: []int{1, 1, 5, 5, 3}, attrs: []*onnxpb.AttributeProto{attrInts("kernel_shape", 2, 2, 1), attrInts("strides", 2, 2, 1), attrString("auto_pad", "SAME_UPPER")},
			win: ndWin{k: []int{2, 2, 1}, s: []int{2, 2, 1}, d: one, pb: zero, pe: []int{1, 1, 0}}, out: []int{3, 3, 3}},
		// ceil_mode: (5−2)/2 = 1.5 → 2, +1 = 3.
		{name: "3d_ceil_mode", x: []int{1, 1, 5, 4, 3}, attrs: []*onnxpb.AttributeProto{attrInts("kernel_shape", 2, 2, 2), attrInts("strides", 2, 2, 2), attrInt("ceil_mode", 1)},
			win: ndWin{k: []int{2, 2, 2}, s: []int{2, 2, 2}, d: one, pb: zero, pe: []int{1, 0, 1}}, out: []int{3, 2, 2}},
	}
}

// TestPool3D checks 3-D MaxPool and AveragePool against a naive reference
// and their Backward against finite differences.
func TestPool3D(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	for _, opType := range []string{"MaxPool", "AveragePool"} {
		for _, tc := range poolNDCases() {
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
				if got := out[0].Shape[2:]; !tensor.SameShape(got, tc.out) {
					t.Fatalf("output dims %v, hand-computed %v", got, tc.out)
				}
				want := refPoolND(x, opType == "MaxPool", tc.inclPd, tc.win, tc.out)
				assertClose(t, "Y", out[0], want, 1e-5)
				checkGradients(t, op, []*tensor.Tensor{x}, []int{0}, 1e-2, 2e-3)
			})
		}
	}
}

// TestMaxPoolIntegerAndIndices runs MaxPool on integer data (uint8 and the
// other integer types are held as int64) and checks Y and Indices against
// the float path, for the 2-D cases (float: specialised loops; integer:
// the N-d code) and the 3-D ones, in both storage orders.
func TestMaxPoolIntegerAndIndices(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	type tcase struct {
		name  string
		x     []int
		attrs []*onnxpb.AttributeProto
	}
	var cases []tcase
	for _, c := range poolCases() {
		cases = append(cases, tcase{"2d_" + c.name, c.x, c.attrs})
	}
	for _, c := range poolNDCases() {
		cases = append(cases, tcase{c.name, c.x, c.attrs})
	}
	for _, tc := range cases {
		for _, so := range []int64{0, 1} {
			t.Run(tc.name, func(t *testing.T) {
				xf := distinctTensor(rng, tc.x...)
				xi := tensor.NewInt(tc.x...)
				for i, v := range xf.F {
					xi.I[i] = int64(math.Round(float64(v) * 10))
				}
				attrs := append([]*onnxpb.AttributeProto{attrInt("storage_order", so)}, tc.attrs...)
				op := buildOp(t, opSpec{opType: "MaxPool", attrs: attrs, nInputs: 1, nOut: 2})
				of, _, err := op.Forward(&RunContext{}, []*tensor.Tensor{xf})
				if err != nil {
					t.Fatal(err)
				}
				oi, _, err := op.Forward(&RunContext{}, []*tensor.Tensor{xi})
				if err != nil {
					t.Fatal(err)
				}
				if oi[0].DType != tensor.Int64 || !tensor.SameShape(oi[0].Shape, of[0].Shape) {
					t.Fatalf("integer Y is %v, want int64 of shape %v", oi[0], of[0].Shape)
				}
				sp := tc.x[2:]
				hw := tensor.Numel(sp)
				for j := range of[0].F {
					if want := int64(math.Round(float64(of[0].F[j]) * 10)); oi[0].I[j] != want {
						t.Fatalf("Y[%d]: integer %d, float %g", j, oi[0].I[j], of[0].F[j])
					}
					if oi[1].I[j] != of[1].I[j] {
						t.Fatalf("Indices[%d]: integer path %d, float path %d", j, oi[1].I[j], of[1].I[j])
					}
					// The index points at the maximum, in the storage order.
					idx := of[1].I[j]
					p, off := int(idx)/hw, int(idx)%hw
					if so == 1 {
						// Column-major: axis 0 varies fastest.
						pos, rest := make([]int, len(sp)), off
						for a := range sp {
							pos[a] = rest % sp[a]
							rest /= sp[a]
						}
						off = flat(pos, sp)
					}
					if xf.F[p*hw+off] != of[0].F[j] {
						t.Fatalf("Indices[%d] = %d points at %g, Y is %g", j, idx, xf.F[p*hw+off], of[0].F[j])
					}
				}
			})
		}
	}
}

// refConvND computes Conv naively: x [N, C, sp...], w [M, C/group, k...].
func refConvND(x, w, b *tensor.Tensor, group int, win ndWin, out []int) *tensor.Tensor {
	n, c, m := x.Shape[0], x.Shape[1], w.Shape[0]
	sp, k := x.Shape[2:], w.Shape[2:]
	cg, mg := c/group, m/group
	y := tensor.New(append([]int{n, m}, out...)...)
	pos := make([]int, len(sp))
	for i := 0; i < n; i++ {
		for oc := 0; oc < m; oc++ {
			g := oc / mg
			forEachIndex(out, func(o []int) {
				var s float64
				if b != nil {
					s = float64(b.F[oc])
				}
				for ic := 0; ic < cg; ic++ {
					forEachIndex(k, func(kk []int) {
						for a := range sp {
							pos[a] = o[a]*win.s[a] - win.pb[a] + kk[a]*win.d[a]
							if pos[a] < 0 || pos[a] >= sp[a] {
								return
							}
						}
						xv := x.F[(i*c+g*cg+ic)*tensor.Numel(sp)+flat(pos, sp)]
						wv := w.F[(oc*cg+ic)*tensor.Numel(k)+flat(kk, k)]
						s += float64(xv) * float64(wv)
					})
				}
				y.F[(i*m+oc)*tensor.Numel(out)+flat(o, out)] = float32(s)
			})
		}
	}
	return y
}

// refConvTransposeND computes ConvTranspose naively: x [N, C, sp...],
// w [C, M/group, k...], output dims out, scattering each input element.
func refConvTransposeND(x, w, b *tensor.Tensor, group int, win ndWin, out []int) *tensor.Tensor {
	n, c := x.Shape[0], x.Shape[1]
	sp, k := x.Shape[2:], w.Shape[2:]
	cg, mg := c/group, w.Shape[1]
	m := mg * group
	y := tensor.New(append([]int{n, m}, out...)...)
	on := tensor.Numel(out)
	pos := make([]int, len(sp))
	for i := 0; i < n; i++ {
		for ic := 0; ic < c; ic++ {
			g := ic / cg
			forEachIndex(sp, func(xi []int) {
				xv := float64(x.F[(i*c+ic)*tensor.Numel(sp)+flat(xi, sp)])
				forEachIndex(k, func(kk []int) {
					for a := range sp {
						pos[a] = xi[a]*win.s[a] - win.pb[a] + kk[a]*win.d[a]
						if pos[a] < 0 || pos[a] >= out[a] {
							return
						}
					}
					for om := 0; om < mg; om++ {
						wv := float64(w.F[(ic*mg+om)*tensor.Numel(k)+flat(kk, k)])
						y.F[(i*m+g*mg+om)*on+flat(pos, out)] += float32(xv * wv)
					}
				})
			})
		}
	}
	if b != nil {
		for i := 0; i < n; i++ {
			for oc := 0; oc < m; oc++ {
				for j := 0; j < on; j++ {
					y.F[(i*m+oc)*on+j] += b.F[oc]
				}
			}
		}
	}
	return y
}

// TestConv3DAndConvTranspose3D checks 3-D Conv and ConvTranspose against
// naive references and their Backward against finite differences.
func TestConv3DAndConvTranspose3D(t *testing.T) {
	rng := rand.New(rand.NewPCG(45, 46))
	one, zero := []int{1, 1, 1}, []int{0, 0, 0}
	for _, tc := range []struct {
		name      string
		transpose bool
		x, w      []int
		bias      bool
		group     int
		attrs     []*onnxpb.AttributeProto
		win       ndWin
		out       []int // hand-computed output dims
	}{
		{name: "conv_plain", x: []int{2, 2, 4, 4, 3}, w: []int{3, 2, 2, 3, 2}, bias: true, group: 1,
			win: ndWin{s: one, d: one, pb: zero, pe: zero}, out: []int{3, 2, 2}},
		// D: (5+1+1−3)/2+1 = 3; H: (4+0+1−2)/1+1 = 4; W: (6+1+0−(2·1+1))/2+1 = 3.
		{name: "conv_pads_strides_dilations", x: []int{1, 2, 5, 4, 6}, w: []int{2, 2, 3, 2, 2}, group: 1,
			attrs: []*onnxpb.AttributeProto{attrInts("strides", 2, 1, 2), attrInts("pads", 1, 0, 1, 1, 1, 0), attrInts("dilations", 1, 1, 2)},
			win:   ndWin{s: []int{2, 1, 2}, d: []int{1, 1, 2}, pb: []int{1, 0, 1}, pe: []int{1, 1, 0}}, out: []int{3, 4, 3}},
		{name: "conv_groups", x: []int{1, 4, 3, 3, 3}, w: []int{4, 2, 3, 3, 3}, bias: true, group: 2,
			attrs: []*onnxpb.AttributeProto{attrInt("group", 2), attrInts("pads", 1, 1, 1, 1, 1, 1)},
			win:   ndWin{s: one, d: one, pb: one, pe: one}, out: []int{3, 3, 3}},
		// Kernel wider than the image: taps that see only padding.
		{name: "conv_kernel_wider_than_image", x: []int{1, 1, 2, 2, 2}, w: []int{2, 1, 5, 5, 5}, group: 1,
			attrs: []*onnxpb.AttributeProto{attrInts("pads", 2, 2, 2, 2, 2, 2)},
			win:   ndWin{s: one, d: one, pb: []int{2, 2, 2}, pe: []int{2, 2, 2}}, out: []int{2, 2, 2}},
		// Full output: (in−1)·s + k.
		{name: "convtranspose_plain", transpose: true, x: []int{1, 2, 3, 2, 3}, w: []int{2, 3, 2, 2, 3}, bias: true, group: 1,
			win: ndWin{s: one, d: one, pb: zero, pe: zero}, out: []int{4, 3, 5}},
		// Out = s·(in−1) + output_padding + (k−1)·d + 1 − pads: D: 2·2+1+3−1−1 = 6;
		// H: 1·1+0+2−0−0 = 3; W: 2·1+0+3−0−1 = 4.
		{name: "convtranspose_strides_pads_dilations", transpose: true, x: []int{2, 2, 3, 2, 2}, w: []int{2, 1, 3, 2, 2}, group: 1,
			attrs: []*onnxpb.AttributeProto{attrInts("strides", 2, 1, 2), attrInts("pads", 1, 0, 0, 1, 0, 1), attrInts("dilations", 1, 1, 2), attrInts("output_padding", 1, 0, 0)},
			win:   ndWin{s: []int{2, 1, 2}, d: []int{1, 1, 2}, pb: []int{1, 0, 0}}, out: []int{6, 3, 4}},
		{name: "convtranspose_groups", transpose: true, x: []int{1, 4, 2, 2, 2}, w: []int{4, 1, 2, 2, 2}, bias: true, group: 2,
			attrs: []*onnxpb.AttributeProto{attrInt("group", 2)},
			win:   ndWin{s: one, d: one, pb: zero, pe: zero}, out: []int{3, 3, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, w := randTensor(rng, tc.x...), randTensor(rng, tc.w...)
			in := []*tensor.Tensor{x, w}
			var b *tensor.Tensor
			if tc.bias {
				m := tc.w[0]
				if tc.transpose {
					m = tc.w[1] * tc.group
				}
				b = randTensor(rng, m)
				in = append(in, b)
			}
			opType := "Conv"
			if tc.transpose {
				opType = "ConvTranspose"
			}
			op := buildOp(t, opSpec{opType: opType, attrs: tc.attrs, nInputs: len(in)})
			out, _, err := op.Forward(&RunContext{}, in)
			if err != nil {
				t.Fatal(err)
			}
			if got := out[0].Shape[2:]; !tensor.SameShape(got, tc.out) {
				t.Fatalf("output dims %v, hand-computed %v", got, tc.out)
			}
			var want *tensor.Tensor
			if tc.transpose {
				want = refConvTransposeND(x, w, b, tc.group, tc.win, tc.out)
			} else {
				want = refConvND(x, w, b, tc.group, tc.win, tc.out)
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
