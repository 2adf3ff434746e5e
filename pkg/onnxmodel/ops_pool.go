package onnxmodel

import (
	"errors"
	"fmt"
	"math"

	"github.com/advtest/advtest/pkg/tensor"
)

// This file holds the pooling ops: MaxPool, AveragePool (1-D and 2-D
// windows here; 3-D ones, and MaxPool on integer tensors, in
// ops_pool_nd.go), GlobalAveragePool and GlobalMaxPool (any spatial rank). They run
// one (sample, channel) plane at a time, parallel over the planes.

func init() {
	register("MaxPool", buildMaxPoolOp)
	register("AveragePool", buildAveragePoolOp)
	register("GlobalAveragePool", buildGlobalPoolOp(false))
	register("GlobalMaxPool", buildGlobalPoolOp(true))
}

// nnPlaneChunk is the least number of planes one pooling worker takes.
const nnPlaneChunk = 16

// poolSetup is what Forward and Backward of a windowed pool derive.
type poolSetup struct {
	x          *tensor.Tensor
	planes     int
	g          tensor.ConvGeom // C == 1
	padB, padR int
	outShape   []int
	// win is the resolved window; nd is true when the generic N-d code
	// runs (3-D windows, integer input): g, padB and padR are then unused.
	win *nnWindow
	nd  bool
}

// poolResolve checks X and resolves the window. allowInt admits int64 X
// (MaxPool on integer tensors), which runs on the N-d code.
func poolResolve(sp *nnSpatial, in []*tensor.Tensor, allowInt bool) (*poolSetup, error) {
	var x *tensor.Tensor
	var err error
	if allowInt && len(in) > 0 && in[0] != nil && in[0].DType == tensor.Int64 && len(in[0].I) == in[0].Len() {
		x = in[0]
	} else if x, err = nnFloatInput(in, 0, "X"); err != nil {
		return nil, err
	}
	if x.Rank() < 3 || x.Rank() > 2+nnMaxSpatial {
		return nil, fmt.Errorf("input X has shape %v: expected [N, C, W], [N, C, H, W] or [N, C, D, H, W]", x.Shape)
	}
	r := x.Rank() - 2
	if sp.kernel == nil || len(sp.kernel) != r {
		return nil, fmt.Errorf("attribute kernel_shape %v does not fit X's %d spatial axes (shape %v)", sp.kernel, r, x.Shape)
	}
	win, err := sp.resolve(x.Shape[2:], sp.kernel)
	if err != nil {
		return nil, err
	}
	s := &poolSetup{x: x, planes: x.Shape[0] * x.Shape[1], win: win}
	s.outShape = append([]int{x.Shape[0], x.Shape[1]}, win.out...)
	if r > 2 || x.DType != tensor.Float32 {
		s.nd = true
		return s, nil
	}
	s.g = win.geom(1)
	if r == 1 {
		s.padR = win.pe[0]
	} else {
		s.padB, s.padR = win.pe[0], win.pe[1]
	}
	return s, nil
}

// ---------------------------------------------------------------- MaxPool

// maxPoolOp is ONNX MaxPool; its optional Indices output holds flat
// indices into X, row-major within each plane (storage_order 0) or
// column-major (storage_order 1).
type maxPoolOp struct {
	sp          *nnSpatial
	wantIndices bool
	colMajor    bool // storage_order 1: Indices count down columns first
}

// maxPoolSaved carries each output's argmax (an index into its input plane,
// -1 for a window that covers only padding) from Forward to Backward.
type maxPoolSaved struct {
	arg []int32
}

func buildMaxPoolOp(n *NodeInfo) (Op, error) {
	sp, err := nnParseSpatial(n, true, true)
	if err != nil {
		return nil, err
	}
	colMajor, err := n.flag("storage_order", 0)
	if err != nil {
		return nil, err
	}
	op := &maxPoolOp{sp: sp}
	op.wantIndices = len(n.Outputs) > 1 && n.Outputs[1] != ""
	op.colMajor = colMajor
	if len(n.Inputs) < 1 || n.Inputs[0] == "" {
		return nil, n.errorf("expected input X")
	}
	return op, nil
}

// Forward computes Y (and Indices when the node asks for it).
func (o *maxPoolOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	s, err := poolResolve(o.sp, in, true)
	if err != nil {
		return nil, nil, err
	}
	if s.nd {
		return o.forwardND(rc, s)
	}
	y := rc.Alloc(s.outShape...)
	g := s.g
	ohw, hw := g.OH*g.OW, g.H*g.W
	if hw > math.MaxInt32 {
		return nil, nil, fmt.Errorf("input plane of %d elements is too large", hw)
	}
	saved := &maxPoolSaved{arg: make([]int32, s.planes*ohw)}
	kj := make([]int, 2*g.OW)
	for ow := 0; ow < g.OW; ow++ {
		kj[2*ow], kj[2*ow+1] = nnTapRange(ow*g.SW-g.PadL, g.DW, g.KW, g.W)
	}
	tensor.ParallelFor(s.planes, nnPlaneChunk, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			maxPoolPlane(&g, s.x.F[p*hw:(p+1)*hw], y.F[p*ohw:(p+1)*ohw], saved.arg[p*ohw:(p+1)*ohw], kj)
		}
	})
	out := []*tensor.Tensor{y}
	if o.wantIndices {
		idx := rc.AllocInt(s.outShape...)
		for p := 0; p < s.planes; p++ {
			for j, a := range saved.arg[p*ohw : (p+1)*ohw] {
				if a >= 0 {
					if o.colMajor {
						a = a%int32(g.W)*int32(g.H) + a/int32(g.W)
					}
					idx.I[p*ohw+j] = int64(p*hw) + int64(a)
				} else {
					idx.I[p*ohw+j] = -1
				}
			}
		}
		out = append(out, idx)
	}
	return out, saved, nil
}

// nnTapRange returns the taps [lo, hi) of a window of k taps, spaced d
// apart and starting at start, that fall inside [0, size).
func nnTapRange(start, d, k, size int) (lo, hi int) {
	if start < 0 {
		lo = (-start + d - 1) / d
	}
	last := size - 1 - start
	if last < 0 {
		return 0, 0
	}
	hi = last/d + 1
	if hi > k {
		hi = k
	}
	if lo > hi {
		lo = hi
	}
	return lo, hi
}

// maxPoolPlane pools one plane x (H×W) into y (OH×OW), recording argmaxes
// (the first maximum in row-major window order).
// kj holds each output column's tap range (lo, hi), precomputed per call.
func maxPoolPlane(g *tensor.ConvGeom, x, y []float32, arg []int32, kj []int) {
	if g.KH == 2 && g.KW == 2 && g.DH == 1 && g.DW == 1 && g.PadT == 0 && g.PadL == 0 &&
		(g.OH-1)*g.SH+1 < g.H && (g.OW-1)*g.SW+1 < g.W {
		maxPool2x2Plane(g, x, y, arg)
		return
	}
	for oh := 0; oh < g.OH; oh++ {
		h0 := oh*g.SH - g.PadT
		kiLo, kiHi := nnTapRange(h0, g.DH, g.KH, g.H)
		yr, ar := y[oh*g.OW:(oh+1)*g.OW], arg[oh*g.OW:(oh+1)*g.OW]
		for ow := range yr {
			w0 := ow*g.SW - g.PadL
			kjLo, kjHi := kj[2*ow], kj[2*ow+1]
			if kiLo >= kiHi || kjLo >= kjHi {
				yr[ow], ar[ow] = float32(-math.MaxFloat32), -1
				continue
			}
			// Two branch-light passes: the maximum, then the first tap
			// (row-major) that holds it, scanning backwards so that each
			// step is a conditional move rather than a mispredicted branch.
			first := (h0+kiLo*g.DH)*g.W + w0 + kjLo*g.DW
			best := x[first]
			for ki := kiLo; ki < kiHi; ki++ {
				off := (h0+ki*g.DH)*g.W + w0
				for kj := kjLo; kj < kjHi; kj++ {
					best = max(best, x[off+kj*g.DW])
				}
			}
			bi := first
			for ki := kiHi - 1; ki >= kiLo; ki-- {
				off := (h0+ki*g.DH)*g.W + w0
				for kj := kjHi - 1; kj >= kjLo; kj-- {
					if x[off+kj*g.DW] == best {
						bi = off + kj*g.DW
					}
				}
			}
			yr[ow], ar[ow] = best, int32(bi)
		}
	}
}

// maxPool2x2Plane is maxPoolPlane for the common 2×2 window without
// padding or dilation, every window inside the plane.
func maxPool2x2Plane(g *tensor.ConvGeom, x, y []float32, arg []int32) {
	w := g.W
	for oh := 0; oh < g.OH; oh++ {
		top := oh * g.SH * w
		r0 := x[top : top+w]
		r1 := x[top+w : top+2*w]
		yr, ar := y[oh*g.OW:(oh+1)*g.OW], arg[oh*g.OW:(oh+1)*g.OW]
		for ow := range yr {
			j := ow * g.SW
			a, b, c, d := r0[j], r0[j+1], r1[j], r1[j+1]
			m := max(max(a, b), max(c, d))
			k := top + w + j + 1
			if c == m {
				k = top + w + j
			}
			if b == m {
				k = top + j + 1
			}
			if a == m {
				k = top + j
			}
			yr[ow], ar[ow] = m, int32(k)
		}
	}
}

// backwardReads: Backward reads the argmax it saved and the shapes of X
// and Y, not their data.
func (o *maxPoolOp) backwardReads(need []bool, nOut int) (in, out []bool) {
	return readsNone(need, nOut)
}

// Backward routes each output gradient to its window's argmax.
func (o *maxPoolOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	grads := make([]*tensor.Tensor, len(in))
	if !nnNeed(need, 0) {
		return grads, nil
	}
	sv, ok := saved.(*maxPoolSaved)
	if !ok || len(in) == 0 || in[0] == nil {
		return nil, errors.New("backward without its forward state")
	}
	x := in[0]
	if x.DType != tensor.Float32 {
		return grads, nil // an integer input has no gradient
	}
	dx := rc.Alloc(x.Shape...)
	grads[0] = dx
	dy, err := nnGradOut(gOut, out[0])
	if err != nil || dy == nil {
		return grads, err
	}
	planes := x.Shape[0] * x.Shape[1]
	hw := x.Len() / max(planes, 1)
	ohw := dy.Len() / max(planes, 1)
	if len(sv.arg) != planes*ohw {
		return nil, fmt.Errorf("forward state does not match the output gradient %v", dy.Shape)
	}
	tensor.ParallelFor(planes, nnPlaneChunk, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			dxp := dx.F[p*hw : (p+1)*hw]
			for j, a := range sv.arg[p*ohw : (p+1)*ohw] {
				if a >= 0 {
					dxp[a] += dy.F[p*ohw+j]
				}
			}
		}
	})
	return grads, nil
}

// ---------------------------------------------------------------- AveragePool

// averagePoolOp is ONNX AveragePool. With count_include_pad 0 (the default)
// a window's sum is divided by the number of input elements it covers; with
// 1, by the number of elements it covers within the padded input.
type averagePoolOp struct {
	sp         *nnSpatial
	includePad bool
}

func buildAveragePoolOp(n *NodeInfo) (Op, error) {
	sp, err := nnParseSpatial(n, true, true)
	if err != nil {
		return nil, err
	}
	cip, err := n.flag("count_include_pad", 0)
	if err != nil {
		return nil, err
	}
	if len(n.Inputs) < 1 || n.Inputs[0] == "" {
		return nil, n.errorf("expected input X")
	}
	return &averagePoolOp{sp: sp, includePad: cip}, nil
}

// avgAxis returns, for output position o on one axis, the number of window
// taps inside the input and inside the padded input.
func avgAxis(o, stride, pad, k, dil, size, padEnd int) (valid, padded int) {
	start := o*stride - pad
	for t := 0; t < k; t++ {
		i := start + t*dil
		if i >= 0 && i < size {
			valid++
		}
		if i >= -pad && i < size+padEnd {
			padded++
		}
	}
	return valid, padded
}

// divisor returns the averaging divisor of output (oh, ow).
func (s *poolSetup) divisor(oh, ow int, includePad bool) float32 {
	g := &s.g
	vh, ph := avgAxis(oh, g.SH, g.PadT, g.KH, g.DH, g.H, s.padB)
	vw, pw := avgAxis(ow, g.SW, g.PadL, g.KW, g.DW, g.W, s.padR)
	d := vh * vw
	if includePad {
		d = ph * pw
	}
	if d == 0 {
		return 0
	}
	return 1 / float32(d)
}

// Forward computes Y.
func (o *averagePoolOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	s, err := poolResolve(o.sp, in, false)
	if err != nil {
		return nil, nil, err
	}
	if s.nd {
		y, err := averagePoolND(rc, s, o.includePad)
		if err != nil {
			return nil, nil, err
		}
		return []*tensor.Tensor{y}, nil, nil
	}
	y := rc.Alloc(s.outShape...)
	g := s.g
	ohw, hw := g.OH*g.OW, g.H*g.W
	inv := o.invDivisors(s)
	tensor.ParallelFor(s.planes, nnPlaneChunk, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			x := s.x.F[p*hw : (p+1)*hw]
			yp := y.F[p*ohw : (p+1)*ohw]
			for oh := 0; oh < g.OH; oh++ {
				h0 := oh*g.SH - g.PadT
				for ow := 0; ow < g.OW; ow++ {
					w0 := ow*g.SW - g.PadL
					var sum float32
					for ki := 0; ki < g.KH; ki++ {
						ih := h0 + ki*g.DH
						if ih < 0 || ih >= g.H {
							continue
						}
						row := x[ih*g.W : (ih+1)*g.W]
						for kj := 0; kj < g.KW; kj++ {
							if iw := w0 + kj*g.DW; iw >= 0 && iw < g.W {
								sum += row[iw]
							}
						}
					}
					yp[oh*g.OW+ow] = sum * inv[oh*g.OW+ow]
				}
			}
		}
	})
	return []*tensor.Tensor{y}, nil, nil
}

// invDivisors returns 1/divisor for every output position of a plane.
func (o *averagePoolOp) invDivisors(s *poolSetup) []float32 {
	inv := make([]float32, s.g.OH*s.g.OW)
	for oh := 0; oh < s.g.OH; oh++ {
		for ow := 0; ow < s.g.OW; ow++ {
			inv[oh*s.g.OW+ow] = s.divisor(oh, ow, o.includePad)
		}
	}
	return inv
}

// Backward spreads each output gradient evenly over its window.
func (o *averagePoolOp) Backward(rc *RunContext, in, out []*tensor.Tensor, _ any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	grads := make([]*tensor.Tensor, len(in))
	if !nnNeed(need, 0) {
		return grads, nil
	}
	s, err := poolResolve(o.sp, in, false)
	if err != nil {
		return nil, err
	}
	dx := rc.Alloc(s.x.Shape...)
	grads[0] = dx
	dy, err := nnGradOut(gOut, out[0])
	if err != nil || dy == nil {
		return grads, err
	}
	if s.nd {
		return grads, averagePoolBackwardND(s, o.includePad, dy, dx)
	}
	g := s.g
	ohw, hw := g.OH*g.OW, g.H*g.W
	inv := o.invDivisors(s)
	tensor.ParallelFor(s.planes, nnPlaneChunk, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			dxp := dx.F[p*hw : (p+1)*hw]
			dyp := dy.F[p*ohw : (p+1)*ohw]
			for oh := 0; oh < g.OH; oh++ {
				h0 := oh*g.SH - g.PadT
				for ow := 0; ow < g.OW; ow++ {
					w0 := ow*g.SW - g.PadL
					v := dyp[oh*g.OW+ow] * inv[oh*g.OW+ow]
					for ki := 0; ki < g.KH; ki++ {
						ih := h0 + ki*g.DH
						if ih < 0 || ih >= g.H {
							continue
						}
						row := dxp[ih*g.W : (ih+1)*g.W]
						for kj := 0; kj < g.KW; kj++ {
							if iw := w0 + kj*g.DW; iw >= 0 && iw < g.W {
								row[iw] += v
							}
						}
					}
				}
			}
		}
	})
	return grads, nil
}

// ---------------------------------------------------------------- Global pools

// globalPoolOp is ONNX GlobalAveragePool or GlobalMaxPool: it reduces all
// spatial axes of an [N, C, ...] tensor to size 1.
type globalPoolOp struct {
	isMax bool
}

func buildGlobalPoolOp(isMax bool) builder {
	return func(n *NodeInfo) (Op, error) {
		if len(n.Inputs) < 1 || n.Inputs[0] == "" {
			return nil, n.errorf("expected input X")
		}
		return &globalPoolOp{isMax: isMax}, nil
	}
}

// Forward computes Y of shape [N, C, 1, ...].
func (o *globalPoolOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	x, err := nnFloatInput(in, 0, "X")
	if err == nil && x.Rank() < 3 {
		err = fmt.Errorf("input X has shape %v: expected [N, C, spatial...] with at least one spatial axis", x.Shape)
	}
	if err != nil {
		return nil, nil, err
	}
	shape := make([]int, x.Rank())
	shape[0], shape[1] = x.Shape[0], x.Shape[1]
	for i := 2; i < len(shape); i++ {
		shape[i] = 1
	}
	y := rc.Alloc(shape...)
	planes := x.Shape[0] * x.Shape[1]
	sz := tensor.Numel(x.Shape[2:])
	if sz == 0 {
		return nil, nil, fmt.Errorf("input X has shape %v: empty spatial axes", x.Shape)
	}
	var arg []int32
	if o.isMax {
		if sz > math.MaxInt32 {
			return nil, nil, fmt.Errorf("plane of %d elements is too large", sz)
		}
		arg = make([]int32, planes)
	}
	tensor.ParallelFor(planes, nnPlaneChunk, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			xp := x.F[p*sz : (p+1)*sz]
			if o.isMax {
				best, bi := xp[0], 0
				for j, v := range xp {
					if v > best {
						best, bi = v, j
					}
				}
				y.F[p], arg[p] = best, int32(bi)
				continue
			}
			var s float32
			for _, v := range xp {
				s += v
			}
			y.F[p] = s / float32(sz)
		}
	})
	if o.isMax {
		return []*tensor.Tensor{y}, &maxPoolSaved{arg: arg}, nil
	}
	return []*tensor.Tensor{y}, nil, nil
}

// Backward spreads (average) or routes (max) the gradient back.
func (o *globalPoolOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	grads := make([]*tensor.Tensor, len(in))
	if !nnNeed(need, 0) {
		return grads, nil
	}
	x := in[0]
	dx := rc.Alloc(x.Shape...)
	grads[0] = dx
	dy, err := nnGradOut(gOut, out[0])
	if err != nil || dy == nil {
		return grads, err
	}
	planes := x.Shape[0] * x.Shape[1]
	sz := tensor.Numel(x.Shape[2:])
	if o.isMax {
		sv, ok := saved.(*maxPoolSaved)
		if !ok || len(sv.arg) != planes {
			return nil, errors.New("backward without its forward state")
		}
		for p, a := range sv.arg {
			dx.F[p*sz+int(a)] = dy.F[p]
		}
		return grads, nil
	}
	inv := 1 / float32(sz)
	for p := 0; p < planes; p++ {
		v := dy.F[p] * inv
		row := dx.F[p*sz : (p+1)*sz]
		for j := range row {
			row[j] = v
		}
	}
	return grads, nil
}
