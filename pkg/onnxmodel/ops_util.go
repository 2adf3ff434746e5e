package onnxmodel

// Shared helpers for the element-wise, activation, reduction and shape ops:
// axis normalisation, reading integer inputs, and a strided loop planner that
// drives broadcasting, reductions, transposes and slices without any
// per-element allocation.

import (
	"fmt"

	"github.com/advtest/advtest/pkg/tensor"
)

// parallelGrain is the number of elements below which a loop runs on the
// calling goroutine; larger loops are split with tensor.ParallelFor.
const parallelGrain = 32768

// normAxis maps axis from [-rank, rank) to [0, rank), or returns an error.
func normAxis(axis int64, rank int) (int, error) {
	a := axis
	if a < 0 {
		a += int64(rank)
	}
	if a < 0 || a >= int64(rank) {
		return 0, fmt.Errorf("axis %d is out of range for rank %d", axis, rank)
	}
	return int(a), nil
}

// normAxes maps each axis from [-rank, rank) to [0, rank), refusing
// out-of-range and repeated axes. The order of axes is kept.
func normAxes(axes []int64, rank int) ([]int, error) {
	out := make([]int, len(axes))
	seen := make([]bool, rank)
	for i, a := range axes {
		v, err := normAxis(a, rank)
		if err != nil {
			return nil, err
		}
		if seen[v] {
			return nil, fmt.Errorf("axis %d is repeated in %v", a, axes)
		}
		seen[v] = true
		out[i] = v
	}
	return out, nil
}

// int64sOf returns the elements of an integer tensor (a shape, axes, pads,
// indices). what names the input in the error.
func int64sOf(t *tensor.Tensor, what string) ([]int64, error) {
	if t == nil {
		return nil, fmt.Errorf("%s is missing", what)
	}
	if t.DType != tensor.Int64 {
		return nil, fmt.Errorf("%s must be an integer tensor, got %s", what, t)
	}
	if len(t.I) != t.Len() {
		return nil, fmt.Errorf("%s: %d elements for shape %v", what, len(t.I), t.Shape)
	}
	return t.I, nil
}

// scalarFloat returns the single element of a one-element tensor as float64.
func scalarFloat(t *tensor.Tensor, what string) (float64, error) {
	if t.Len() != 1 {
		return 0, fmt.Errorf("%s must hold one element, got shape %v", what, t.Shape)
	}
	if t.DType == tensor.Int64 {
		return float64(t.I[0]), nil
	}
	return float64(t.F[0]), nil
}

// checkData verifies that t's element slice matches its shape and type, so
// that kernels can index it without bounds panics.
func checkData(t *tensor.Tensor, what string) error {
	if t == nil {
		return fmt.Errorf("%s is missing", what)
	}
	for _, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("%s has a negative dimension: %v", what, t.Shape)
		}
	}
	n := t.Len()
	if t.DType == tensor.Int64 {
		if len(t.I) != n {
			return fmt.Errorf("%s: %d int64 elements for shape %v", what, len(t.I), t.Shape)
		}
	} else if len(t.F) != n {
		return fmt.Errorf("%s: %d float32 elements for shape %v", what, len(t.F), t.Shape)
	}
	return nil
}

// checkInputs verifies that in holds at least min entries, that the first
// min of them are present, and that every present one is well formed.
func checkInputs(in []*tensor.Tensor, min int) error {
	if len(in) < min {
		return fmt.Errorf("expected at least %d inputs, got %d", min, len(in))
	}
	for i, t := range in {
		if t == nil {
			if i < min {
				return fmt.Errorf("input %d is missing", i)
			}
			continue
		}
		if err := checkData(t, fmt.Sprintf("input %d", i)); err != nil {
			return err
		}
	}
	return nil
}

// allocLike returns a zeroed tensor of t's type and the given shape.
func allocLike(rc *RunContext, dt tensor.DType, shape []int) *tensor.Tensor {
	if dt == tensor.Int64 {
		return rc.AllocInt(shape...)
	}
	return rc.Alloc(shape...)
}

// zeroGrads returns zero gradients for every needed float input.
func zeroGrads(rc *RunContext, in []*tensor.Tensor, need []bool) []*tensor.Tensor {
	g := make([]*tensor.Tensor, len(in))
	for i, t := range in {
		if i < len(need) && need[i] && t != nil && t.DType == tensor.Float32 {
			g[i] = rc.Alloc(t.Shape...)
		}
	}
	return g
}

// BroadcastStrides returns the strides, in elements, with which a dense
// tensor of shape s is read when it is broadcast (numpy rules) to out:
// dimensions of size 1 and missing leading dimensions get stride 0. It
// assumes that s broadcasts to out.
func BroadcastStrides(s, out []int) []int {
	st := make([]int, len(out))
	dense := tensor.Strides(s)
	off := len(out) - len(s)
	for i := range s {
		if s[i] != 1 && off+i >= 0 {
			st[off+i] = dense[i]
		}
	}
	return st
}

// maxLoopOps is the most operands a LoopPlan walks together.
const maxLoopOps = 3

// LoopPlan walks an n-dimensional index space in row-major order while up to
// three operands advance by their own strides (0 for a broadcast dimension).
// Dimensions of size 1 are dropped and adjacent dimensions that every operand
// walks contiguously are merged, so that the innermost loop is as long as
// possible: [N,C,H,W] + [C,1,1] becomes rows of H·W elements against one
// scalar each.
type LoopPlan struct {
	dims    []int
	strides [maxLoopOps][]int
	nops    int
	total   int
}

// NewLoopPlan plans a walk over shape; strides holds one stride list per
// operand (1 to 3 of them), each as long as shape.
func NewLoopPlan(shape []int, strides ...[]int) *LoopPlan {
	p := &LoopPlan{nops: len(strides), total: tensor.Numel(shape)}
	if p.nops > maxLoopOps {
		panic("onnxmodel: LoopPlan with more than 3 operands")
	}
	for d := range shape {
		if shape[d] == 1 {
			continue
		}
		if last := len(p.dims) - 1; last >= 0 {
			merge := true
			for k := 0; k < p.nops; k++ {
				if p.strides[k][last] != strides[k][d]*shape[d] {
					merge = false
					break
				}
			}
			if merge {
				p.dims[last] *= shape[d]
				for k := 0; k < p.nops; k++ {
					p.strides[k][last] = strides[k][d]
				}
				continue
			}
		}
		p.dims = append(p.dims, shape[d])
		for k := 0; k < p.nops; k++ {
			p.strides[k] = append(p.strides[k], strides[k][d])
		}
	}
	if len(p.dims) == 0 {
		p.dims = []int{1}
		for k := 0; k < p.nops; k++ {
			p.strides[k] = []int{0}
		}
	}
	return p
}

// Total returns the number of index points the plan visits.
func (p *LoopPlan) Total() int { return p.total }

// Inner returns the innermost stride of each operand.
func (p *LoopPlan) Inner() [maxLoopOps]int {
	var s [maxLoopOps]int
	last := len(p.dims) - 1
	for k := 0; k < p.nops; k++ {
		s[k] = p.strides[k][last]
	}
	return s
}

// ForRange visits the index points [lo, hi) of the walk in order, in runs
// along the innermost dimension: fn gets each operand's offset at the start
// of the run and the run's length; within a run operand k advances by
// Inner()[k].
func (p *LoopPlan) ForRange(lo, hi int, fn func(off [maxLoopOps]int, n int)) {
	if lo >= hi {
		return
	}
	last := len(p.dims) - 1
	inner := p.dims[last]
	row, col := lo/inner, lo%inner
	var idx [16]int
	var idxs []int
	if last > len(idx) {
		idxs = make([]int, last)
	} else {
		idxs = idx[:last]
	}
	r := row
	for d := last - 1; d >= 0; d-- {
		idxs[d] = r % p.dims[d]
		r /= p.dims[d]
	}
	var off [maxLoopOps]int
	for k := 0; k < p.nops; k++ {
		for d := 0; d < last; d++ {
			off[k] += idxs[d] * p.strides[k][d]
		}
	}
	for {
		cnt := inner - col
		if cnt > hi-lo {
			cnt = hi - lo
		}
		var start [maxLoopOps]int
		for k := 0; k < p.nops; k++ {
			start[k] = off[k] + col*p.strides[k][last]
		}
		fn(start, cnt)
		lo += cnt
		if lo >= hi {
			return
		}
		col = 0
		for d := last - 1; d >= 0; d-- {
			idxs[d]++
			for k := 0; k < p.nops; k++ {
				off[k] += p.strides[k][d]
			}
			if idxs[d] < p.dims[d] {
				break
			}
			for k := 0; k < p.nops; k++ {
				off[k] -= p.strides[k][d] * p.dims[d]
			}
			idxs[d] = 0
		}
	}
}

// Parallel visits every index point like ForRange, splitting the walk
// between goroutines when it is large. fn must only write to locations that
// no other run writes.
func (p *LoopPlan) Parallel(fn func(off [maxLoopOps]int, n int)) {
	if p.total < 2*parallelGrain {
		p.ForRange(0, p.total, fn)
		return
	}
	tensor.ParallelFor(p.total, parallelGrain, func(lo, hi int) { p.ForRange(lo, hi, fn) })
}

// stridedCopy copies the elements of src that the plan's operand 1 visits
// (offset by sBase) to the locations of dst that operand 0 visits (offset by
// dBase). Strides may be negative (Slice with negative steps).
func stridedCopy[T float32 | int64](p *LoopPlan, dst []T, dBase int, src []T, sBase int) {
	s := p.Inner()
	p.Parallel(func(off [maxLoopOps]int, n int) {
		o0, o1 := off[0]+dBase, off[1]+sBase
		switch {
		case s[0] == 1 && s[1] == 1:
			copy(dst[o0:o0+n], src[o1:o1+n])
		case s[0] == 1 && s[1] == 0:
			v := src[o1]
			d := dst[o0 : o0+n]
			for i := range d {
				d[i] = v
			}
		default:
			for i := 0; i < n; i++ {
				dst[o0] = src[o1]
				o0 += s[0]
				o1 += s[1]
			}
		}
	})
}

// copyTensor copies src's elements (of either type) into dst through plan p
// (operand 0 is dst, offset by dBase; operand 1 is src, offset by sBase).
func copyTensor(p *LoopPlan, dst *tensor.Tensor, dBase int, src *tensor.Tensor, sBase int) {
	if src.DType == tensor.Int64 {
		stridedCopy(p, dst.I, dBase, src.I, sBase)
	} else {
		stridedCopy(p, dst.F, dBase, src.F, sBase)
	}
}

// BroadcastTo writes src, broadcast (numpy rules) to dst's shape, into dst.
// The caller has checked that the shapes broadcast.
func BroadcastTo(dst, src *tensor.Tensor) {
	p := NewLoopPlan(dst.Shape, tensor.Strides(dst.Shape), BroadcastStrides(src.Shape, dst.Shape))
	copyTensor(p, dst, 0, src, 0)
}

// sumBuckets is the fixed number of partial sums a large reduction is split
// into, so that results do not depend on the number of cores.
const sumBuckets = 8

// SumInto adds scale times src (of shape srcShape) reduced by summation to
// dstShape into dst. dstShape must broadcast to srcShape (the inverse of
// broadcasting: a broadcast op's gradient reduced to an input's shape, or a
// ReduceSum with keepdims). dst is accumulated into, not overwritten.
func SumInto(dst []float32, dstShape []int, src []float32, srcShape []int, scale float32) {
	p := NewLoopPlan(srcShape, tensor.Strides(srcShape), BroadcastStrides(dstShape, srcShape))
	s := p.Inner()
	run := func(acc []float32, lo, hi int) {
		p.ForRange(lo, hi, func(off [maxLoopOps]int, n int) {
			x := src[off[0] : off[0]+n]
			switch s[1] {
			case 0:
				var sum float64
				for _, v := range x {
					sum += float64(v)
				}
				acc[off[1]] += float32(sum) * scale
			case 1:
				a := acc[off[1] : off[1]+n]
				for i, v := range x {
					a[i] += v * scale
				}
			default:
				o := off[1]
				for _, v := range x {
					acc[o] += v * scale
					o += s[1]
				}
			}
		})
	}
	total := p.Total()
	if total < 2*parallelGrain || len(dst)*sumBuckets > total {
		run(dst, 0, total)
		return
	}
	partial := make([][]float32, sumBuckets)
	tensor.ParallelFor(sumBuckets, 1, func(lo, hi int) {
		for b := lo; b < hi; b++ {
			acc := make([]float32, len(dst))
			run(acc, b*total/sumBuckets, (b+1)*total/sumBuckets)
			partial[b] = acc
		}
	})
	for _, acc := range partial {
		for i, v := range acc {
			dst[i] += v
		}
	}
}

// reduceTo returns g (of shape full) summed down to shape target, which
// broadcasts to full. When the shapes match it returns g itself if owned
// (scaling it in place), else a copy.
func reduceTo(rc *RunContext, g *tensor.Tensor, target []int, owned bool, scale float32) *tensor.Tensor {
	if tensor.SameShape(g.Shape, target) {
		r := g
		if !owned {
			r = rc.AllocNoZero(target...) // copy writes every element
			copy(r.F, g.F)
		}
		if scale != 1 {
			for i := range r.F {
				r.F[i] *= scale
			}
		}
		return r
	}
	r := rc.Alloc(target...)
	SumInto(r.F, target, g.F, g.Shape, scale)
	return r
}
