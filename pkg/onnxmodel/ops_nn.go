package onnxmodel

import (
	"fmt"

	"github.com/advtest/advtest/pkg/tensor"
)

// This file holds the dense matrix ops: Gemm and MatMul.

func init() {
	register("Gemm", buildGemmOp)
	register("MatMul", buildMatMulOp)
}

// ---------------------------------------------------------------- Gemm

// gemmOp is ONNX Gemm: Y = alpha·op(A)·op(B) + beta·C, with C broadcast
// unidirectionally to [M, N].
type gemmOp struct {
	alpha, beta    float32
	transA, transB bool
}

func buildGemmOp(n *NodeInfo) (Op, error) {
	alpha, err := n.Float("alpha", 1)
	if err != nil {
		return nil, err
	}
	beta, err := n.Float("beta", 1)
	if err != nil {
		return nil, err
	}
	ta, err := n.Int("transA", 0)
	if err != nil {
		return nil, err
	}
	tb, err := n.Int("transB", 0)
	if err != nil {
		return nil, err
	}
	if ta != 0 && ta != 1 {
		return nil, n.errorf("attribute transA: expected 0 or 1, got %d", ta)
	}
	if tb != 0 && tb != 1 {
		return nil, n.errorf("attribute transB: expected 0 or 1, got %d", tb)
	}
	if n.Has("broadcast") && n.Opset < 7 {
		if b, _ := n.Int("broadcast", 0); b == 0 {
			return nil, n.errorf("attribute broadcast 0 (opset %d) is not supported; C must then be [M, N]", n.Opset)
		}
	}
	if len(n.Inputs) < 2 || n.Inputs[0] == "" || n.Inputs[1] == "" {
		return nil, n.errorf("expected inputs A and B (and optional C), got %d inputs", len(n.Inputs))
	}
	return &gemmOp{alpha: alpha, beta: beta, transA: ta == 1, transB: tb == 1}, nil
}

// gemmSetup holds Gemm's derived shapes.
type gemmSetup struct {
	a, b, c  *tensor.Tensor
	m, n, k  int
	lda, ldb int
	cm, cn   bool // C varies along M / along N
}

// setup checks the inputs; with dataA (dataB) false it does not check A's
// (B's) data, for a backward rule that reads only its shape.
func (o *gemmOp) setup(in []*tensor.Tensor, dataA, dataB bool) (*gemmSetup, error) {
	a, err := nnFloatInputShape(in, 0, "A", dataA)
	if err != nil {
		return nil, err
	}
	b, err := nnFloatInputShape(in, 1, "B", dataB)
	if err != nil {
		return nil, err
	}
	c, err := nnOptFloatInput(in, 2, "C")
	if err != nil {
		return nil, err
	}
	if a.Rank() != 2 || b.Rank() != 2 {
		return nil, fmt.Errorf("input A %v and B %v: expected 2-D matrices", a.Shape, b.Shape)
	}
	s := &gemmSetup{a: a, b: b, c: c, lda: a.Shape[1], ldb: b.Shape[1]}
	s.m, s.k = a.Shape[0], a.Shape[1]
	if o.transA {
		s.m, s.k = s.k, s.m
	}
	kb := b.Shape[0]
	s.n = b.Shape[1]
	if o.transB {
		kb, s.n = s.n, kb
	}
	if kb != s.k {
		return nil, fmt.Errorf("inner dimensions differ: op(A) is %d×%d, op(B) is %d×%d (A %v, B %v, transA %v, transB %v)",
			s.m, s.k, kb, s.n, a.Shape, b.Shape, o.transA, o.transB)
	}
	if c != nil {
		var cm, cn int
		switch c.Rank() {
		case 0:
			cm, cn = 1, 1
		case 1:
			cm, cn = 1, c.Shape[0]
		case 2:
			cm, cn = c.Shape[0], c.Shape[1]
		default:
			return nil, fmt.Errorf("input C has shape %v: expected a shape that broadcasts to [%d %d]", c.Shape, s.m, s.n)
		}
		if (cm != 1 && cm != s.m) || (cn != 1 && cn != s.n) {
			return nil, fmt.Errorf("input C has shape %v: expected a shape that broadcasts to [%d %d]", c.Shape, s.m, s.n)
		}
		s.cm, s.cn = cm != 1, cn != 1
	}
	return s, nil
}

// Forward computes Y.
func (o *gemmOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	s, err := o.setup(in, true, true)
	if err != nil {
		return nil, nil, err
	}
	y := rc.Alloc(s.m, s.n)
	beta := float32(0)
	if s.c != nil && o.beta != 0 {
		beta = 1
		for i := 0; i < s.m; i++ {
			row := y.F[i*s.n : (i+1)*s.n]
			ci := 0
			if s.cm {
				ci = i
			}
			if s.cn {
				src := s.c.F[ci*s.n : (ci+1)*s.n]
				for j := range row {
					row[j] = o.beta * src[j]
				}
			} else {
				v := o.beta * s.c.F[ci]
				for j := range row {
					row[j] = v
				}
			}
		}
	}
	tensor.Gemm(o.transA, o.transB, s.m, s.n, s.k, o.alpha, s.a.F, s.lda, s.b.F, s.ldb, beta, y.F, s.n)
	return []*tensor.Tensor{y}, nil, nil
}

// backwardReads: A's data only for B's gradient, B's only for A's; C's
// when it is a value (setup checks it); never Y's.
func (o *gemmOp) backwardReads(need []bool, nOut int) (in, out []bool) {
	in, out = make([]bool, len(need)), make([]bool, nOut)
	for i := range in {
		switch i {
		case 0:
			in[i] = nnNeed(need, 1)
		case 1:
			in[i] = nnNeed(need, 0)
		default:
			in[i] = true
		}
	}
	return in, out
}

// Backward returns the gradients with respect to A, B and C.
func (o *gemmOp) Backward(rc *RunContext, in, out []*tensor.Tensor, _ any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	s, err := o.setup(in, nnNeed(need, 1), nnNeed(need, 0))
	if err != nil {
		return nil, err
	}
	grads := make([]*tensor.Tensor, len(in))
	dy, err := nnGradOut(gOut, out[0])
	if err != nil {
		return nil, err
	}
	m, n, k := s.m, s.n, s.k
	if nnNeed(need, 0) {
		da := rc.Alloc(s.a.Shape...)
		grads[0] = da
		if dy != nil {
			if !o.transA { // dA = alpha·dY·op(B)ᵀ, [M, K]
				tensor.Gemm(false, !o.transB, m, k, n, o.alpha, dy.F, n, s.b.F, s.ldb, 0, da.F, k)
			} else { // dA = alpha·op(B)·dYᵀ, [K, M]
				tensor.Gemm(o.transB, true, k, m, n, o.alpha, s.b.F, s.ldb, dy.F, n, 0, da.F, m)
			}
		}
	}
	if nnNeed(need, 1) {
		db := rc.Alloc(s.b.Shape...)
		grads[1] = db
		if dy != nil {
			if !o.transB { // dB = alpha·op(A)ᵀ·dY, [K, N]
				tensor.Gemm(!o.transA, false, k, n, m, o.alpha, s.a.F, s.lda, dy.F, n, 0, db.F, n)
			} else { // dB = alpha·dYᵀ·op(A), [N, K]
				tensor.Gemm(true, o.transA, n, k, m, o.alpha, dy.F, n, s.a.F, s.lda, 0, db.F, k)
			}
		}
	}
	if nnNeed(need, 2) && s.c != nil {
		dc := rc.Alloc(s.c.Shape...)
		grads[2] = dc
		if dy != nil && o.beta != 0 {
			for i := 0; i < m; i++ {
				ci := 0
				if s.cm {
					ci = i
				}
				row := dy.F[i*n : (i+1)*n]
				if s.cn {
					dst := dc.F[ci*n : (ci+1)*n]
					for j, v := range row {
						dst[j] += o.beta * v
					}
				} else {
					var sum float32
					for _, v := range row {
						sum += v
					}
					dc.F[ci] += o.beta * sum
				}
			}
		}
	}
	return grads, nil
}

// ---------------------------------------------------------------- MatMul

// matMulOp is ONNX MatMul with numpy semantics: 1-D operands are promoted
// (a leading or trailing 1 that is removed again) and leading batch axes
// broadcast.
type matMulOp struct{}

func buildMatMulOp(n *NodeInfo) (Op, error) {
	if len(n.Inputs) < 2 || n.Inputs[0] == "" || n.Inputs[1] == "" {
		return nil, n.errorf("expected inputs A and B, got %d inputs", len(n.Inputs))
	}
	return &matMulOp{}, nil
}

// matMulSetup holds MatMul's derived shapes: batch matrices out[i] =
// A[aOff[i]]·B[bOff[i]], each M×K times K×N.
type matMulSetup struct {
	a, b       *tensor.Tensor
	m, n, k    int
	outShape   []int
	batch      int
	aOff, bOff []int // element offsets of each batch's matrices
	// flatA: B is one matrix shared by all batches and A's batches are
	// contiguous, so the whole product is one (batch·M)×K by K×N GEMM.
	flatA bool
	// fullA, fullB: the operand is not broadcast over the batch axes, so
	// each of its matrices belongs to one batch and its gradient's GEMMs
	// can write (beta 0) instead of accumulate into a cleared buffer.
	fullA, fullB bool
}

func (o *matMulOp) setup(in []*tensor.Tensor) (*matMulSetup, error) {
	a, err := nnFloatInput(in, 0, "A")
	if err != nil {
		return nil, err
	}
	b, err := nnFloatInput(in, 1, "B")
	if err != nil {
		return nil, err
	}
	if a.Rank() == 0 || b.Rank() == 0 {
		return nil, fmt.Errorf("input A %v and B %v: MatMul needs operands of rank >= 1", a.Shape, b.Shape)
	}
	as, bs := a.Shape, b.Shape
	if len(as) == 1 {
		as = []int{1, as[0]}
	}
	if len(bs) == 1 {
		bs = []int{bs[0], 1}
	}
	s := &matMulSetup{a: a, b: b, m: as[len(as)-2], k: as[len(as)-1], n: bs[len(bs)-1]}
	if bs[len(bs)-2] != s.k {
		return nil, fmt.Errorf("input A %v and B %v: inner dimensions %d and %d differ", a.Shape, b.Shape, s.k, bs[len(bs)-2])
	}
	aB, bB := as[:len(as)-2], bs[:len(bs)-2]
	outB, err := tensor.BroadcastShape(aB, bB)
	if err != nil {
		return nil, fmt.Errorf("input A %v and B %v: batch axes: %v", a.Shape, b.Shape, err)
	}
	s.outShape = append([]int(nil), outB...)
	if a.Rank() > 1 {
		s.outShape = append(s.outShape, s.m)
	}
	if b.Rank() > 1 {
		s.outShape = append(s.outShape, s.n)
	}
	s.batch = tensor.Numel(outB)
	s.fullA, s.fullB = tensor.Numel(aB) == s.batch, tensor.Numel(bB) == s.batch
	if tensor.Numel(bB) == 1 && tensor.SameShape(aB, outB) {
		s.flatA = true
		return s, nil
	}
	// Offsets by broadcasting over the batch axes.
	s.aOff = make([]int, s.batch)
	s.bOff = make([]int, s.batch)
	r := len(outB)
	aStr, bStr := make([]int, r), make([]int, r)
	for i, accA, accB := r-1, s.m*s.k, s.k*s.n; i >= 0; i-- {
		if j := i - (r - len(aB)); j >= 0 && aB[j] != 1 {
			aStr[i] = accA
			accA *= aB[j]
		}
		if j := i - (r - len(bB)); j >= 0 && bB[j] != 1 {
			bStr[i] = accB
			accB *= bB[j]
		}
	}
	idx := make([]int, r)
	for bi := 0; bi < s.batch; bi++ {
		ao, bo := 0, 0
		for i := 0; i < r; i++ {
			ao += idx[i] * aStr[i]
			bo += idx[i] * bStr[i]
		}
		s.aOff[bi], s.bOff[bi] = ao, bo
		for i := r - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < outB[i] {
				break
			}
			idx[i] = 0
		}
	}
	return s, nil
}

// Forward computes Y = A·B.
func (o *matMulOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	s, err := o.setup(in)
	if err != nil {
		return nil, nil, err
	}
	y := rc.AllocNoZero(s.outShape...) // every element is written by a GEMM with beta 0
	m, n, k := s.m, s.n, s.k
	if s.flatA {
		tensor.Gemm(false, false, s.batch*m, n, k, 1, s.a.F, k, s.b.F, n, 0, y.F, n)
	} else {
		for bi := 0; bi < s.batch; bi++ {
			tensor.Gemm(false, false, m, n, k, 1, s.a.F[s.aOff[bi]:], k, s.b.F[s.bOff[bi]:], n, 0, y.F[bi*m*n:], n)
		}
	}
	return []*tensor.Tensor{y}, nil, nil
}

// Backward returns dA = dY·Bᵀ and dB = Aᵀ·dY, summed over broadcast batches.
func (o *matMulOp) Backward(rc *RunContext, in, out []*tensor.Tensor, _ any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	s, err := o.setup(in)
	if err != nil {
		return nil, err
	}
	grads := make([]*tensor.Tensor, len(in))
	dy, err := nnGradOut(gOut, out[0])
	if err != nil {
		return nil, err
	}
	m, n, k := s.m, s.n, s.k
	// alloc returns a gradient buffer: uncleared when the GEMMs below
	// write every element with beta 0 (write), cleared when they
	// accumulate or do not run.
	alloc := func(shape []int, write bool) (*tensor.Tensor, float32) {
		if dy != nil && write {
			return rc.AllocNoZero(shape...), 0
		}
		return rc.Alloc(shape...), 1
	}
	if nnNeed(need, 0) {
		da, beta := alloc(s.a.Shape, s.flatA || s.fullA)
		grads[0] = da
		if dy != nil {
			if s.flatA {
				tensor.Gemm(false, true, s.batch*m, k, n, 1, dy.F, n, s.b.F, n, 0, da.F, k)
			} else {
				for bi := 0; bi < s.batch; bi++ {
					tensor.Gemm(false, true, m, k, n, 1, dy.F[bi*m*n:], n, s.b.F[s.bOff[bi]:], n, beta, da.F[s.aOff[bi]:], k)
				}
			}
		}
	}
	if nnNeed(need, 1) {
		db, beta := alloc(s.b.Shape, s.flatA || s.fullB)
		grads[1] = db
		if dy != nil {
			if s.flatA {
				tensor.Gemm(true, false, k, n, s.batch*m, 1, s.a.F, k, dy.F, n, 0, db.F, n)
			} else {
				for bi := 0; bi < s.batch; bi++ {
					tensor.Gemm(true, false, k, n, m, 1, s.a.F[s.aOff[bi]:], k, dy.F[bi*m*n:], n, beta, db.F[s.bOff[bi]:], n)
				}
			}
		}
	}
	return grads, nil
}
