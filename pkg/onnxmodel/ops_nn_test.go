package onnxmodel

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/tensor"
)

// refMatMul2D returns op(A)·op(B) in float64 for 2-D a and b.
func refMatMul2D(a, b []float32, m, n, k int, ta, tb bool) []float64 {
	out := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				av := a[i*k+p]
				if ta {
					av = a[p*m+i]
				}
				bv := b[p*n+j]
				if tb {
					bv = b[j*k+p]
				}
				s += float64(av) * float64(bv)
			}
			out[i*n+j] = s
		}
	}
	return out
}

func TestGemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	const m, n, k = 3, 4, 5
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			for _, cShape := range [][]int{nil, {}, {1}, {n}, {m, 1}, {1, n}, {m, n}} {
				for _, ab := range [][2]float32{{1, 1}, {0.5, -2}, {2, 0}} {
					name := fmt.Sprintf("tA%v_tB%v_C%v_a%g_b%g", ta, tb, cShape, ab[0], ab[1])
					t.Run(name, func(t *testing.T) {
						aShape, bShape := []int{m, k}, []int{k, n}
						if ta {
							aShape = []int{k, m}
						}
						if tb {
							bShape = []int{n, k}
						}
						a, b := randTensor(rng, aShape...), randTensor(rng, bShape...)
						in := []*tensor.Tensor{a, b}
						var c *tensor.Tensor
						if cShape != nil {
							c = randTensor(rng, cShape...)
							in = append(in, c)
						}
						attrs := []*onnxpb.AttributeProto{attrFloat("alpha", ab[0]), attrFloat("beta", ab[1])}
						if ta {
							attrs = append(attrs, attrInt("transA", 1))
						}
						if tb {
							attrs = append(attrs, attrInt("transB", 1))
						}
						op := buildOp(t, opSpec{opType: "Gemm", attrs: attrs, nInputs: len(in)})
						out, _, err := op.Forward(&RunContext{}, in)
						if err != nil {
							t.Fatal(err)
						}
						ref := refMatMul2D(a.F, b.F, m, n, k, ta, tb)
						want := tensor.New(m, n)
						for i := 0; i < m; i++ {
							for j := 0; j < n; j++ {
								v := float64(ab[0]) * ref[i*n+j]
								if c != nil {
									var cv float32
									switch len(cShape) {
									case 0:
										cv = c.F[0]
									case 1:
										cv = c.F[j%len(c.F)]
									default:
										cv = c.F[(i%cShape[0])*cShape[1]+j%cShape[1]]
									}
									v += float64(ab[1]) * float64(cv)
								}
								want.F[i*n+j] = float32(v)
							}
						}
						assertClose(t, "Y", out[0], want, 1e-5)
						wrt := []int{0, 1}
						if c != nil {
							wrt = append(wrt, 2)
						}
						checkGradients(t, op, in, wrt, 1e-2, 2e-3)
					})
				}
			}
		}
	}
}

func TestGemmErrors(t *testing.T) {
	op := buildOp(t, opSpec{opType: "Gemm", nInputs: 3})
	for _, tc := range []struct {
		a, b, c []int
		want    string
	}{
		{[]int{2, 3}, []int{4, 5}, []int{5}, "inner dimensions"},
		{[]int{2, 3}, []int{3, 5}, []int{3}, "broadcasts"},
		{[]int{2, 3, 1}, []int{3, 5}, []int{5}, "2-D"},
	} {
		_, _, err := op.Forward(&RunContext{}, []*tensor.Tensor{tensor.New(tc.a...), tensor.New(tc.b...), tensor.New(tc.c...)})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("A %v B %v C %v: error %v, want %q", tc.a, tc.b, tc.c, err, tc.want)
		}
	}
	n := &NodeInfo{Name: "g", OpType: "Gemm", Opset: 17, Inputs: []string{"a", "b"}, Outputs: []string{"y"},
		Attrs: map[string]*onnxpb.AttributeProto{"transA": attrInt("transA", 2)}}
	if _, err := registry["Gemm"](n); err == nil || !strings.Contains(err.Error(), "transA") {
		t.Errorf("transA 2: error %v", err)
	}
}

// refMatMul is numpy matmul in float64 by broadcasting explicitly.
func refMatMul(a, b *tensor.Tensor) *tensor.Tensor {
	as, bs := a.Shape, b.Shape
	if len(as) == 1 {
		as = []int{1, as[0]}
	}
	if len(bs) == 1 {
		bs = []int{bs[0], 1}
	}
	m, k, n := as[len(as)-2], as[len(as)-1], bs[len(bs)-1]
	outB, _ := tensor.BroadcastShape(as[:len(as)-2], bs[:len(bs)-2])
	nb := tensor.Numel(outB)
	y := make([]float32, nb*m*n)
	idx := make([]int, len(outB))
	off := func(shape []int, mat int) int {
		bshape := shape[:len(shape)-2]
		o, stride := 0, mat
		for i := len(bshape) - 1; i >= 0; i-- {
			j := i + len(outB) - len(bshape)
			if bshape[i] != 1 {
				o += idx[j] * stride
			}
			stride *= bshape[i]
		}
		return o
	}
	for bi := 0; bi < nb; bi++ {
		rem := bi
		for i := len(outB) - 1; i >= 0; i-- {
			idx[i] = rem % outB[i]
			rem /= outB[i]
		}
		ao, bo := off(as, m*k), off(bs, k*n)
		r := refMatMul2D(a.F[ao:ao+m*k], b.F[bo:bo+k*n], m, n, k, false, false)
		for i, v := range r {
			y[bi*m*n+i] = float32(v)
		}
	}
	shape := append([]int(nil), outB...)
	if a.Rank() > 1 {
		shape = append(shape, m)
	}
	if b.Rank() > 1 {
		shape = append(shape, n)
	}
	return tensor.FromFloat32(y, shape...)
}

func TestMatMul(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	for _, tc := range []struct {
		a, b, out []int
	}{
		{[]int{3, 4}, []int{4, 5}, []int{3, 5}},
		{[]int{4}, []int{4}, []int{}},
		{[]int{4}, []int{4, 5}, []int{5}},
		{[]int{3, 4}, []int{4}, []int{3}},
		{[]int{2, 3, 4}, []int{4, 5}, []int{2, 3, 5}},
		{[]int{2, 3, 4}, []int{4}, []int{2, 3}},
		{[]int{4}, []int{2, 4, 5}, []int{2, 5}},
		{[]int{3, 4}, []int{2, 4, 5}, []int{2, 3, 5}},
		{[]int{2, 1, 3, 4}, []int{3, 4, 5}, []int{2, 3, 3, 5}},
		{[]int{2, 3, 4}, []int{2, 4, 5}, []int{2, 3, 5}},
		{[]int{1, 3, 4}, []int{1, 4, 5}, []int{1, 3, 5}},
	} {
		t.Run(fmt.Sprint(tc.a, tc.b), func(t *testing.T) {
			a, b := randTensor(rng, tc.a...), randTensor(rng, tc.b...)
			op := buildOp(t, opSpec{opType: "MatMul", nInputs: 2})
			in := []*tensor.Tensor{a, b}
			out, _, err := op.Forward(&RunContext{}, in)
			if err != nil {
				t.Fatal(err)
			}
			want := refMatMul(a, b)
			if !tensor.SameShape(want.Shape, tc.out) {
				t.Fatalf("reference shape %v, want %v", want.Shape, tc.out)
			}
			assertClose(t, "Y", out[0], want, 1e-5)
			checkGradients(t, op, in, []int{0, 1}, 1e-2, 2e-3)
		})
	}
	op := buildOp(t, opSpec{opType: "MatMul", nInputs: 2})
	for _, tc := range [][2][]int{{{3, 4}, {5, 6}}, {{2, 3, 4}, {3, 4, 5}}, {{}, {3}}} {
		_, _, err := op.Forward(&RunContext{}, []*tensor.Tensor{tensor.New(tc[0]...), tensor.New(tc[1]...)})
		if err == nil {
			t.Errorf("A %v B %v: no error", tc[0], tc[1])
		}
	}
}
