package onnxmodel

import (
	"fmt"
	"math"

	"github.com/advtest/advtest/pkg/tensor"
)

// The generic windowed-pooling code: MaxPool and AveragePool over any
// number of spatial axes (the engine admits up to nnMaxSpatial), used for
// 3-D windows and for MaxPool on integer tensors (uint8 and other integer
// types, held as int64). 1-D and 2-D float pooling keeps the specialised
// loops of ops_pool.go; both follow the same definitions and the tests
// compare them.

// windowOffsets lists, for every output position j of one plane (row-major
// over w.out), the offsets within the input plane (row-major over w.in) of
// the window's taps that fall inside the input, in row-major window order:
// offs[start[j]:start[j+1]].
func (w *nnWindow) windowOffsets() (start, offs []int32, err error) {
	r := len(w.in)
	inStr := tensor.Strides(w.in)
	ohw := tensor.Numel(w.out)
	if tensor.Numel(w.in) > math.MaxInt32 || ohw*tensor.Numel(w.k) > math.MaxInt32 {
		return nil, nil, fmt.Errorf("pooling plane of %v with window %v is too large", w.in, w.k)
	}
	// Per axis and output coordinate, the input coordinates of the taps.
	coords := make([][][]int, r)
	for a := 0; a < r; a++ {
		coords[a] = make([][]int, w.out[a])
		for o := range coords[a] {
			for t := 0; t < w.k[a]; t++ {
				if i := o*w.s[a] - w.pb[a] + t*w.d[a]; i >= 0 && i < w.in[a] {
					coords[a][o] = append(coords[a][o], i)
				}
			}
		}
	}
	start = make([]int32, ohw+1)
	oidx, tidx, lens := make([]int, r), make([]int, r), make([]int, r)
	for j := 0; j < ohw; j++ {
		n := 1
		for a := 0; a < r; a++ {
			lens[a] = len(coords[a][oidx[a]])
			n *= lens[a]
		}
		if n > 0 {
			clear(tidx)
			for {
				off := 0
				for a := 0; a < r; a++ {
					off += coords[a][oidx[a]][tidx[a]] * inStr[a]
				}
				offs = append(offs, int32(off))
				if nextIndex(tidx, lens) {
					break
				}
			}
		}
		start[j+1] = int32(len(offs))
		nextIndex(oidx, w.out)
	}
	return start, offs, nil
}

// nextIndex advances the row-major multi-index idx within shape and
// reports whether it wrapped around to all zeros.
func nextIndex(idx, shape []int) bool {
	for a := len(idx) - 1; a >= 0; a-- {
		idx[a]++
		if idx[a] < shape[a] {
			return false
		}
		idx[a] = 0
	}
	return true
}

// maxPoolPlaneND pools one plane: y[j] is the largest x over window j
// (lowest for a window of padding only, with arg -1), arg[j] the offset of
// its first occurrence in row-major window order.
func maxPoolPlaneND[T float32 | int64](start, offs []int32, x, y []T, arg []int32, lowest T) {
	for j := range y {
		taps := offs[start[j]:start[j+1]]
		if len(taps) == 0 {
			y[j], arg[j] = lowest, -1
			continue
		}
		bi := taps[0]
		best := x[bi]
		for _, t := range taps[1:] {
			if x[t] > best {
				best, bi = x[t], t
			}
		}
		y[j], arg[j] = best, bi
	}
}

// forwardND is MaxPool on the generic code: Y has X's type; the saved
// argmaxes serve Backward (float X only) and the Indices output.
func (o *maxPoolOp) forwardND(rc *RunContext, s *poolSetup) ([]*tensor.Tensor, any, error) {
	start, offs, err := s.win.windowOffsets()
	if err != nil {
		return nil, nil, err
	}
	hw, ohw := tensor.Numel(s.win.in), tensor.Numel(s.win.out)
	saved := &maxPoolSaved{arg: make([]int32, s.planes*ohw)}
	var y *tensor.Tensor
	if s.x.DType == tensor.Int64 {
		y = rc.AllocInt(s.outShape...)
	} else {
		y = rc.Alloc(s.outShape...)
	}
	tensor.ParallelFor(s.planes, nnPlaneChunk, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			arg := saved.arg[p*ohw : (p+1)*ohw]
			if s.x.DType == tensor.Int64 {
				maxPoolPlaneND(start, offs, s.x.I[p*hw:(p+1)*hw], y.I[p*ohw:(p+1)*ohw], arg, math.MinInt64)
			} else {
				maxPoolPlaneND(start, offs, s.x.F[p*hw:(p+1)*hw], y.F[p*ohw:(p+1)*ohw], arg, -math.MaxFloat32)
			}
		}
	})
	out := []*tensor.Tensor{y}
	if o.wantIndices {
		idx := rc.AllocInt(s.outShape...)
		inStr := tensor.Strides(s.win.in)
		colStr := make([]int, len(s.win.in)) // column-major strides
		for a, st := 0, 1; a < len(colStr); a++ {
			colStr[a] = st
			st *= s.win.in[a]
		}
		for p := 0; p < s.planes; p++ {
			for j, a := range saved.arg[p*ohw : (p+1)*ohw] {
				if a < 0 {
					idx.I[p*ohw+j] = -1
					continue
				}
				v := int(a)
				if o.colMajor {
					c, rest := 0, v
					for ax := range inStr {
						c += rest / inStr[ax] * colStr[ax]
						rest %= inStr[ax]
					}
					v = c
				}
				idx.I[p*ohw+j] = int64(p*hw + v)
			}
		}
		out = append(out, idx)
	}
	return out, saved, nil
}

// averagePoolDivisors returns 1/divisor for every output position of a
// plane: the number of taps inside the input (count_include_pad 0) or
// inside the padded input (1), the product over the axes.
func averagePoolDivisors(w *nnWindow, includePad bool) []float32 {
	r := len(w.in)
	inv := make([]float32, tensor.Numel(w.out))
	oidx := make([]int, r)
	for j := range inv {
		d := 1
		for a := 0; a < r; a++ {
			valid, padded := avgAxis(oidx[a], w.s[a], w.pb[a], w.k[a], w.d[a], w.in[a], w.pe[a])
			if includePad {
				d *= padded
			} else {
				d *= valid
			}
		}
		if d > 0 {
			inv[j] = 1 / float32(d)
		}
		nextIndex(oidx, w.out)
	}
	return inv
}

// averagePoolND is AveragePool's forward on the generic code.
func averagePoolND(rc *RunContext, s *poolSetup, includePad bool) (*tensor.Tensor, error) {
	start, offs, err := s.win.windowOffsets()
	if err != nil {
		return nil, err
	}
	y := rc.Alloc(s.outShape...)
	inv := averagePoolDivisors(s.win, includePad)
	hw, ohw := tensor.Numel(s.win.in), tensor.Numel(s.win.out)
	tensor.ParallelFor(s.planes, nnPlaneChunk, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			x, yp := s.x.F[p*hw:(p+1)*hw], y.F[p*ohw:(p+1)*ohw]
			for j := range yp {
				var sum float32
				for _, t := range offs[start[j]:start[j+1]] {
					sum += x[t]
				}
				yp[j] = sum * inv[j]
			}
		}
	})
	return y, nil
}

// averagePoolBackwardND spreads each output gradient evenly over its
// window's taps inside the input, into dx.
func averagePoolBackwardND(s *poolSetup, includePad bool, dy, dx *tensor.Tensor) error {
	start, offs, err := s.win.windowOffsets()
	if err != nil {
		return err
	}
	inv := averagePoolDivisors(s.win, includePad)
	hw, ohw := tensor.Numel(s.win.in), tensor.Numel(s.win.out)
	tensor.ParallelFor(s.planes, nnPlaneChunk, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			dxp, dyp := dx.F[p*hw:(p+1)*hw], dy.F[p*ohw:(p+1)*ohw]
			for j, g := range dyp {
				v := g * inv[j]
				for _, t := range offs[start[j]:start[j+1]] {
					dxp[t] += v
				}
			}
		}
	})
	return nil
}
