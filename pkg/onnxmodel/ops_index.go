package onnxmodel

// Index and data-movement ops: Range, ScatterND, GatherElements, GatherND,
// ArgMax, ArgMin, TopK, Tile, CumSum, Trilu, OneHot and NonZero. Index
// outputs are int64 and carry no gradient; the data paths (ScatterND's data
// and updates, the gathers, TopK's values, Tile, CumSum, Trilu, OneHot's
// values) have exact backward rules.

import (
	"fmt"
	"math"
	"sort"

	"github.com/advtest/advtest/pkg/tensor"
)

func init() {
	register("Range", func(n *NodeInfo) (Op, error) {
		if err := checkInputCount(n, 3, 3, "start, limit, delta"); err != nil {
			return nil, err
		}
		return rangeOp{}, nil
	})
	register("ScatterND", buildScatterND)
	register("GatherElements", func(n *NodeInfo) (Op, error) {
		if err := checkInputCount(n, 2, 2, "data, indices"); err != nil {
			return nil, err
		}
		axis, err := n.Int("axis", 0)
		if err != nil {
			return nil, err
		}
		return &gatherElementsOp{axis: axis}, nil
	})
	register("GatherND", func(n *NodeInfo) (Op, error) {
		if err := checkInputCount(n, 2, 2, "data, indices"); err != nil {
			return nil, err
		}
		b, err := n.Int("batch_dims", 0)
		if err != nil {
			return nil, err
		}
		if b < 0 {
			return nil, n.errorf("attribute batch_dims: expected a non-negative value, got %d", b)
		}
		return &gatherNDOp{batchDims: int(b)}, nil
	})
	register("ArgMax", func(n *NodeInfo) (Op, error) { return buildArgExt(n, true) })
	register("ArgMin", func(n *NodeInfo) (Op, error) { return buildArgExt(n, false) })
	register("TopK", buildTopK)
	register("Tile", func(n *NodeInfo) (Op, error) {
		if n.Opset < 6 {
			return nil, n.errorf("Tile before opset 6 (tiles and axis inputs) is not supported")
		}
		if err := checkInputCount(n, 2, 2, "input, repeats"); err != nil {
			return nil, err
		}
		return tileOp{}, nil
	})
	register("CumSum", buildCumSum)
	register("Trilu", func(n *NodeInfo) (Op, error) {
		if err := checkInputCount(n, 1, 2, "input, k"); err != nil {
			return nil, err
		}
		u, err := n.Int("upper", 1)
		if err != nil {
			return nil, err
		}
		if err := checkOneOf(n, "upper", u, 0, 1); err != nil {
			return nil, err
		}
		return &triluOp{upper: u == 1}, nil
	})
	register("OneHot", func(n *NodeInfo) (Op, error) {
		if err := checkInputCount(n, 3, 3, "indices, depth, values"); err != nil {
			return nil, err
		}
		axis, err := n.Int("axis", -1)
		if err != nil {
			return nil, err
		}
		return &oneHotOp{axis: axis}, nil
	})
	register("NonZero", func(n *NodeInfo) (Op, error) {
		if err := checkInputCount(n, 1, 1, "X"); err != nil {
			return nil, err
		}
		return nonZeroOp{}, nil
	})
}

// normIndex maps an index in [-dim, dim) to [0, dim).
func normIndex(v int64, dim int, what string) (int, error) {
	if v < 0 {
		v += int64(dim)
	}
	if v < 0 || v >= int64(dim) {
		return 0, fmt.Errorf("%s index %d is out of range for a dimension of size %d", what, v, dim)
	}
	return int(v), nil
}

// scalarInt returns the single element of a one-element integer tensor.
func scalarInt(t *tensor.Tensor, what string) (int64, error) {
	v, err := int64sOf(t, what)
	if err != nil {
		return 0, err
	}
	if len(v) != 1 {
		return 0, fmt.Errorf("%s must hold one element, got shape %v", what, t.Shape)
	}
	return v[0], nil
}

// ---- Range ----

// rangeOp is Range: start, start+delta, ... up to (excluding) limit. The
// output has the inputs' type.
type rangeOp struct{}

// Forward builds the sequence.
func (rangeOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	if err := checkInputs(in, 3); err != nil {
		return nil, nil, err
	}
	for i, name := range []string{"start", "limit", "delta"} {
		if in[i].Len() != 1 {
			return nil, nil, fmt.Errorf("%s must be a scalar, got shape %v", name, in[i].Shape)
		}
		if in[i].DType != in[0].DType {
			return nil, nil, fmt.Errorf("input types differ: start %s, %s %s", in[0], name, in[i])
		}
	}
	if in[0].DType == tensor.Int64 {
		start, limit, delta := in[0].I[0], in[1].I[0], in[2].I[0]
		if delta == 0 {
			return nil, nil, fmt.Errorf("delta is 0")
		}
		n := int64(math.Ceil((float64(limit) - float64(start)) / float64(delta)))
		n = max(n, 0)
		if _, err := checkedNumel([]int64{n}); err != nil {
			return nil, nil, fmt.Errorf("%v", err)
		}
		out := rc.AllocInt(int(n))
		for i := range out.I {
			out.I[i] = start + int64(i)*delta
		}
		return []*tensor.Tensor{out}, nil, nil
	}
	start, limit, delta := float64(in[0].F[0]), float64(in[1].F[0]), float64(in[2].F[0])
	if delta == 0 || math.IsNaN(start+limit+delta) || math.IsInf(start+limit+delta, 0) {
		return nil, nil, fmt.Errorf("start, limit and delta must be finite and delta non-zero, got %g, %g, %g", start, limit, delta)
	}
	n := int64(max(math.Ceil((limit-start)/delta), 0))
	if _, err := checkedNumel([]int64{n}); err != nil {
		return nil, nil, fmt.Errorf("%v", err)
	}
	out := rc.AllocNoZero(int(n))
	for i := range out.F {
		out.F[i] = float32(start + float64(i)*delta)
	}
	return []*tensor.Tensor{out}, nil, nil
}

// Backward returns no gradients (the output is a function of the bounds
// only through its length and spacing, which ONNX does not differentiate).
func (rangeOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	return make([]*tensor.Tensor, len(in)), nil
}

// ---- ScatterND ----

type scatterReduction int

const (
	scatterNone scatterReduction = iota
	scatterAdd
	scatterMul
	scatterMax
	scatterMin
)

// scatterNDOp is ScatterND: a copy of data with the slices that indices
// address replaced by (or, with reduction, combined with) updates.
type scatterNDOp struct {
	red scatterReduction
}

func buildScatterND(n *NodeInfo) (Op, error) {
	if err := checkInputCount(n, 3, 3, "data, indices, updates"); err != nil {
		return nil, err
	}
	r, err := n.String("reduction", "none")
	if err != nil {
		return nil, err
	}
	if r != "none" && n.Opset < 16 {
		return nil, n.errorf("attribute reduction: not defined before opset 16, got %q", r)
	}
	op := &scatterNDOp{}
	switch r {
	case "none":
	case "add":
		op.red = scatterAdd
	case "mul":
		op.red = scatterMul
	case "max", "min":
		if n.Opset < 18 {
			return nil, n.errorf("attribute reduction: %q needs opset 18, the model has %d", r, n.Opset)
		}
		op.red = scatterMax
		if r == "min" {
			op.red = scatterMin
		}
	default:
		return nil, n.errorf("attribute reduction: expected none, add, mul, max or min, got %q", r)
	}
	return op, nil
}

// scatterGeom resolves the indices of a ScatterND or GatherND: offsets[i]
// is the flat offset in data of the slice (of size slice) addressed by
// index tuple i.
type scatterGeom struct {
	offsets []int
	slice   int
}

// resolveND resolves index tuples of length k (the last dimension of
// indices) into data of shape dataShape, with batch dimensions shared.
func resolveND(dataShape []int, idx *tensor.Tensor, batchDims int) (*scatterGeom, error) {
	raw, err := int64sOf(idx, "indices")
	if err != nil {
		return nil, err
	}
	q := idx.Rank()
	if q < 1 {
		return nil, fmt.Errorf("indices must have rank >= 1, got shape %v", idx.Shape)
	}
	k := idx.Shape[q-1]
	if batchDims >= q || batchDims+k > len(dataShape) {
		return nil, fmt.Errorf("indices shape %v (batch_dims %d) does not fit data shape %v", idx.Shape, batchDims, dataShape)
	}
	for d := 0; d < batchDims; d++ {
		if idx.Shape[d] != dataShape[d] {
			return nil, fmt.Errorf("batch dimension %d: indices has %d, data has %d", d, idx.Shape[d], dataShape[d])
		}
	}
	st := tensor.Strides(dataShape)
	g := &scatterGeom{slice: tensor.Numel(dataShape[batchDims+k:])}
	tuples := tensor.Numel(idx.Shape[:q-1])
	perBatch := 1
	if batchDims > 0 {
		perBatch = tuples / max(1, tensor.Numel(idx.Shape[:batchDims]))
	}
	batchStride := tensor.Numel(dataShape[batchDims:])
	g.offsets = make([]int, tuples)
	for t := 0; t < tuples; t++ {
		off := (t / max(1, perBatch)) * batchStride
		if batchDims == 0 {
			off = 0
		}
		for j := 0; j < k; j++ {
			v, err := normIndex(raw[t*k+j], dataShape[batchDims+j], fmt.Sprintf("indices[...,%d]:", j))
			if err != nil {
				return nil, err
			}
			off += v * st[batchDims+j]
		}
		g.offsets[t] = off
	}
	return g, nil
}

func (o *scatterNDOp) geometry(in []*tensor.Tensor) (*scatterGeom, error) {
	if err := checkInputs(in, 3); err != nil {
		return nil, err
	}
	data, idx, upd := in[0], in[1], in[2]
	if upd.DType != data.DType {
		return nil, fmt.Errorf("updates type %s differs from data %s", upd, data)
	}
	g, err := resolveND(data.Shape, idx, 0)
	if err != nil {
		return nil, fmt.Errorf("%v", err)
	}
	q := idx.Rank()
	want := append(append([]int{}, idx.Shape[:q-1]...), data.Shape[idx.Shape[q-1]:]...)
	if !tensor.SameShape(upd.Shape, want) {
		return nil, fmt.Errorf("updates shape %v, expected %v", upd.Shape, want)
	}
	return g, nil
}

func scatterCombine[T float32 | int64](red scatterReduction, dst, src []T) {
	for i, v := range src {
		switch red {
		case scatterNone:
			dst[i] = v
		case scatterAdd:
			dst[i] += v
		case scatterMul:
			dst[i] *= v
		case scatterMax:
			dst[i] = max(dst[i], v)
		case scatterMin:
			dst[i] = min(dst[i], v)
		}
	}
}

// Forward copies data and applies the updates in order.
func (o *scatterNDOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	g, err := o.geometry(in)
	if err != nil {
		return nil, nil, err
	}
	data, upd := in[0], in[2]
	out := allocLike(rc, data.DType, data.Shape)
	s := g.slice
	if data.DType == tensor.Int64 {
		copy(out.I, data.I)
		for t, off := range g.offsets {
			scatterCombine(o.red, out.I[off:off+s], upd.I[t*s:(t+1)*s])
		}
	} else {
		copy(out.F, data.F)
		for t, off := range g.offsets {
			scatterCombine(o.red, out.F[off:off+s], upd.F[t*s:(t+1)*s])
		}
	}
	return []*tensor.Tensor{out}, nil, nil
}

// Backward: with no reduction, data's gradient is the output gradient with
// the overwritten slices zeroed, and each update gets the gradient of the
// slice it wrote last (an update overwritten by a later duplicate gets
// zero). With add, data gets the gradient and each update the gradient of
// its slice; mul, max and min are in reduceGrads.
func (o *scatterNDOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	grads := make([]*tensor.Tensor, 3)
	if len(in) < 3 || in[0] == nil || in[0].DType != tensor.Float32 || (!wants(need, 0) && !wants(need, 2)) {
		return grads, nil
	}
	geo, err := o.geometry(in)
	if err != nil {
		return nil, err
	}
	data, upd := in[0], in[2]
	g, err := gradFor(gOut, 0, data.Shape)
	if err != nil {
		return nil, err
	}
	if g == nil {
		return zeroGrads(rc, in, need), nil
	}
	s := geo.slice
	if o.red != scatterNone && o.red != scatterAdd {
		gd, gu := o.reduceGrads(rc, geo, data, upd, g)
		if wants(need, 0) {
			grads[0] = gd
		}
		if wants(need, 2) {
			grads[2] = gu
		}
		return grads, nil
	}
	if wants(need, 2) {
		gu := rc.Alloc(upd.Shape...)
		last := map[int]int{}
		if o.red == scatterNone {
			for t, off := range geo.offsets {
				last[off] = t
			}
		}
		for t, off := range geo.offsets {
			if o.red == scatterNone && last[off] != t {
				continue
			}
			copy(gu.F[t*s:(t+1)*s], g.F[off:off+s])
		}
		grads[2] = gu
	}
	if wants(need, 0) {
		gd := rc.Alloc(data.Shape...)
		copy(gd.F, g.F)
		if o.red == scatterNone {
			for _, off := range geo.offsets {
				clear(gd.F[off : off+s])
			}
		}
		grads[0] = gd
	}
	return grads, nil
}

// reduceGrads is the backward rule of reductions mul, max and min. The
// updates that address one slice are applied in order: with mul the slice
// becomes data·Π u, so data's gradient is g·Π u and update t's is
// g·data·Π_{j≠t} u_j; with max (min) the gradient goes to the element that
// won (the earliest among equals, data first).
func (o *scatterNDOp) reduceGrads(rc *RunContext, geo *scatterGeom, data, upd, g *tensor.Tensor) (gd, gu *tensor.Tensor) {
	s := geo.slice
	gd = rc.Alloc(data.Shape...)
	copy(gd.F, g.F)
	gu = rc.Alloc(upd.Shape...)
	groups := map[int][]int{}
	var order []int
	for t, off := range geo.offsets {
		if _, ok := groups[off]; !ok {
			order = append(order, off)
		}
		groups[off] = append(groups[off], t)
	}
	for _, off := range order {
		ts := groups[off]
		for e := 0; e < s; e++ {
			gv, d := g.F[off+e], data.F[off+e]
			if o.red == scatterMul {
				// prefix[k] = Π_{j<k} u_j; the suffix runs backwards.
				prefix := make([]float32, len(ts)+1)
				prefix[0] = 1
				for k, t := range ts {
					prefix[k+1] = prefix[k] * upd.F[t*s+e]
				}
				gd.F[off+e] = gv * prefix[len(ts)]
				suffix := float32(1)
				for k := len(ts) - 1; k >= 0; k-- {
					gu.F[ts[k]*s+e] = gv * d * prefix[k] * suffix
					suffix *= upd.F[ts[k]*s+e]
				}
				continue
			}
			best, win := d, -1
			for _, t := range ts {
				u := upd.F[t*s+e]
				if (o.red == scatterMax && u > best) || (o.red == scatterMin && u < best) {
					best, win = u, t
				}
			}
			if win >= 0 {
				gd.F[off+e] = 0
				gu.F[win*s+e] = gv
			}
		}
	}
	return gd, gu
}

// ---- GatherND ----

// gatherNDOp is GatherND: slices of data addressed by index tuples.
type gatherNDOp struct {
	batchDims int
}

func (o *gatherNDOp) geometry(in []*tensor.Tensor) (*scatterGeom, []int, error) {
	if err := checkInputs(in, 2); err != nil {
		return nil, nil, err
	}
	data, idx := in[0], in[1]
	g, err := resolveND(data.Shape, idx, o.batchDims)
	if err != nil {
		return nil, nil, fmt.Errorf("%v", err)
	}
	q := idx.Rank()
	shape := append(append([]int{}, idx.Shape[:q-1]...), data.Shape[o.batchDims+idx.Shape[q-1]:]...)
	return g, shape, nil
}

// Forward copies the addressed slices.
func (o *gatherNDOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	g, shape, err := o.geometry(in)
	if err != nil {
		return nil, nil, err
	}
	data := in[0]
	out := allocLike(rc, data.DType, shape)
	s := g.slice
	for t, off := range g.offsets {
		if data.DType == tensor.Int64 {
			copy(out.I[t*s:(t+1)*s], data.I[off:off+s])
		} else {
			copy(out.F[t*s:(t+1)*s], data.F[off:off+s])
		}
	}
	return []*tensor.Tensor{out}, nil, nil
}

// Backward scatter-adds the gradient into the addressed slices.
func (o *gatherNDOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	var geo *scatterGeom
	return backwardAdd(rc, in, gOut, need, 2, gradFor, func() (shape []int, err error) {
		geo, shape, err = o.geometry(in)
		return shape, err
	}, func(gd, g *tensor.Tensor) {
		s := geo.slice
		for t, off := range geo.offsets {
			dst := gd.F[off : off+s]
			for i, v := range g.F[t*s : (t+1)*s] {
				dst[i] += v
			}
		}
	})
}

// ---- GatherElements ----

// gatherElementsOp is GatherElements: out[i…] = data[i… with the axis
// coordinate replaced by indices[i…]].
type gatherElementsOp struct {
	axis int64
}

// offsets returns, for every element of indices, the flat offset in data.
func (o *gatherElementsOp) offsets(in []*tensor.Tensor) ([]int, error) {
	if err := checkInputs(in, 2); err != nil {
		return nil, err
	}
	data, idx := in[0], in[1]
	raw, err := int64sOf(idx, "indices")
	if err != nil {
		return nil, err
	}
	r := data.Rank()
	if idx.Rank() != r || r == 0 {
		return nil, fmt.Errorf("indices rank %d must equal data rank %d (>= 1)", idx.Rank(), r)
	}
	ax, err := normAxis(o.axis, r)
	if err != nil {
		return nil, fmt.Errorf("attribute axis: %v", err)
	}
	for d := 0; d < r; d++ {
		if d != ax && idx.Shape[d] > data.Shape[d] {
			return nil, fmt.Errorf("indices shape %v exceeds data shape %v on axis %d", idx.Shape, data.Shape, d)
		}
	}
	st := tensor.Strides(data.Shape)
	offs := make([]int, len(raw))
	pos := make([]int, r)
	for i, v := range raw {
		unravel(i, idx.Shape, pos)
		k, err := normIndex(v, data.Shape[ax], "GatherElements:")
		if err != nil {
			return nil, err
		}
		off := 0
		for d := 0; d < r; d++ {
			c := pos[d]
			if d == ax {
				c = k
			}
			off += c * st[d]
		}
		offs[i] = off
	}
	return offs, nil
}

// Forward picks the elements.
func (o *gatherElementsOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	offs, err := o.offsets(in)
	if err != nil {
		return nil, nil, err
	}
	data := in[0]
	out := allocLike(rc, data.DType, in[1].Shape)
	for i, off := range offs {
		if data.DType == tensor.Int64 {
			out.I[i] = data.I[off]
		} else {
			out.F[i] = data.F[off]
		}
	}
	return []*tensor.Tensor{out}, nil, nil
}

// Backward scatter-adds the gradient to the picked elements.
func (o *gatherElementsOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	var offs []int
	return backwardAdd(rc, in, gOut, need, 2, gradFor, func() (shape []int, err error) {
		offs, err = o.offsets(in)
		if err != nil {
			return nil, err
		}
		return in[1].Shape, nil
	}, func(gd, g *tensor.Tensor) {
		for i, off := range offs {
			gd.F[off] += g.F[i]
		}
	})
}

// ---- ArgMax / ArgMin ----

// argExtOp is ArgMax or ArgMin along one axis; ties go to the first index,
// or the last with select_last_index=1.
type argExtOp struct {
	isMax, keep, last bool
	axis              int64
}

func buildArgExt(n *NodeInfo, isMax bool) (Op, error) {
	if err := checkInputCount(n, 1, 1, "data"); err != nil {
		return nil, err
	}
	op := &argExtOp{isMax: isMax}
	var err error
	if op.axis, err = n.Int("axis", 0); err != nil {
		return nil, err
	}
	k, err := n.Int("keepdims", 1)
	if err != nil {
		return nil, err
	}
	if err := checkOneOf(n, "keepdims", k, 0, 1); err != nil {
		return nil, err
	}
	l, err := n.Int("select_last_index", 0)
	if err != nil {
		return nil, err
	}
	if err := checkOneOf(n, "select_last_index", l, 0, 1); err != nil {
		return nil, err
	}
	op.keep, op.last = k == 1, l == 1
	return op, nil
}

// lineGeom splits shape around axis into outer × n × inner.
func lineGeom(shape []int, ax int) (outer, n, inner int) {
	return tensor.Numel(shape[:ax]), shape[ax], tensor.Numel(shape[ax+1:])
}

// Forward finds the index of the extreme element of every line.
func (o *argExtOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	if err := checkInputs(in, 1); err != nil {
		return nil, nil, err
	}
	x := in[0]
	ax, err := normAxis(o.axis, x.Rank())
	if err != nil {
		return nil, nil, fmt.Errorf("attribute axis: %v", err)
	}
	outer, n, inner := lineGeom(x.Shape, ax)
	if n == 0 {
		return nil, nil, fmt.Errorf("cannot take the index of an extreme over the empty axis %d of shape %v", ax, x.Shape)
	}
	shape := append([]int{}, x.Shape...)
	if o.keep {
		shape[ax] = 1
	} else {
		shape = append(shape[:ax], shape[ax+1:]...)
	}
	out := rc.AllocInt(shape...)
	val := func(i int) float64 {
		if x.DType == tensor.Int64 {
			return float64(x.I[i])
		}
		return float64(x.F[i])
	}
	for a := 0; a < outer; a++ {
		for b := 0; b < inner; b++ {
			base := a*n*inner + b
			best, bi := val(base), 0
			for j := 1; j < n; j++ {
				v := val(base + j*inner)
				better := v > best
				if !o.isMax {
					better = v < best
				}
				if better || (o.last && v == best) || (math.IsNaN(v) && !math.IsNaN(best)) {
					best, bi = v, j
				}
			}
			out.I[a*inner+b] = int64(bi)
		}
	}
	return []*tensor.Tensor{out}, nil, nil
}

// Backward returns no gradient: the output is an index.
func (o *argExtOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	return make([]*tensor.Tensor, len(in)), nil
}

// ---- TopK ----

// topKOp is TopK: the k largest (or smallest) elements along axis and
// their indices, sorted, equal values in index order.
type topKOp struct {
	axis            int64
	largest, sorted bool
	kAttr           int64 // opset < 10: k is an attribute
}

func buildTopK(n *NodeInfo) (Op, error) {
	op := &topKOp{largest: true, sorted: true, kAttr: -1}
	var err error
	if op.axis, err = n.Int("axis", -1); err != nil {
		return nil, err
	}
	if n.Opset < 10 {
		if err := checkInputCount(n, 1, 1, "X"); err != nil {
			return nil, err
		}
		if !n.Has("k") {
			return nil, n.errorf("attribute k: required before opset 10")
		}
		if op.kAttr, err = n.Int("k", 0); err != nil {
			return nil, err
		}
		if op.kAttr < 0 {
			return nil, n.errorf("attribute k: expected a non-negative value, got %d", op.kAttr)
		}
	} else if err := checkInputCount(n, 2, 2, "X, K"); err != nil {
		return nil, err
	}
	if len(n.Outputs) != 2 {
		return nil, n.errorf("expected 2 outputs (Values, Indices), got %d", len(n.Outputs))
	}
	if n.Opset >= 11 {
		for _, a := range []struct {
			name string
			dst  *bool
		}{{"largest", &op.largest}, {"sorted", &op.sorted}} {
			v, err := n.Int(a.name, 1)
			if err != nil {
				return nil, err
			}
			if err := checkOneOf(n, a.name, v, 0, 1); err != nil {
				return nil, err
			}
			*a.dst = v == 1
		}
	}
	return op, nil
}

type topKSaved struct {
	ax int
	k  int
}

// Forward selects the top k of every line.
func (o *topKOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	if err := checkInputs(in, 1); err != nil {
		return nil, nil, err
	}
	x := in[0]
	k := o.kAttr
	if k < 0 {
		if !present(in, 1) {
			return nil, nil, fmt.Errorf("input K is missing")
		}
		var err error
		if k, err = scalarInt(in[1], "TopK K"); err != nil {
			return nil, nil, err
		}
	}
	ax, err := normAxis(o.axis, x.Rank())
	if err != nil {
		return nil, nil, fmt.Errorf("attribute axis: %v", err)
	}
	outer, n, inner := lineGeom(x.Shape, ax)
	if k < 0 || k > int64(n) {
		return nil, nil, fmt.Errorf("input K = %d is out of range for axis %d of size %d", k, ax, n)
	}
	shape := append([]int{}, x.Shape...)
	shape[ax] = int(k)
	vals := allocLike(rc, x.DType, shape)
	idx := rc.AllocInt(shape...)
	val := func(i int) float64 {
		if x.DType == tensor.Int64 {
			return float64(x.I[i])
		}
		return float64(x.F[i])
	}
	order := make([]int, n)
	kk := int(k)
	for a := 0; a < outer; a++ {
		for b := 0; b < inner; b++ {
			base := a*n*inner + b
			for j := range order {
				order[j] = j
			}
			sort.SliceStable(order, func(p, q int) bool {
				vp, vq := val(base+order[p]*inner), val(base+order[q]*inner)
				if o.largest {
					return vp > vq || (math.IsNaN(vp) && !math.IsNaN(vq))
				}
				return vp < vq || (math.IsNaN(vq) && !math.IsNaN(vp))
			})
			ob := a*kk*inner + b
			for j := 0; j < kk; j++ {
				src := base + order[j]*inner
				dst := ob + j*inner
				if x.DType == tensor.Int64 {
					vals.I[dst] = x.I[src]
				} else {
					vals.F[dst] = x.F[src]
				}
				idx.I[dst] = int64(order[j])
			}
		}
	}
	return []*tensor.Tensor{vals, idx}, &topKSaved{ax: ax, k: kk}, nil
}

// Backward scatters the values' gradient to the selected positions.
func (o *topKOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	sv, ok := saved.(*topKSaved)
	return backwardAdd(rc, in, gOut, need, len(in), gradFor, func() ([]int, error) {
		if !ok || len(out) < 2 || out[1] == nil {
			return nil, fmt.Errorf("backward: forward state is missing")
		}
		return out[1].Shape, nil
	}, func(gx, g *tensor.Tensor) {
		outer, n, inner := lineGeom(in[0].Shape, sv.ax)
		for a := 0; a < outer; a++ {
			for b := 0; b < inner; b++ {
				for j := 0; j < sv.k; j++ {
					o := a*sv.k*inner + b + j*inner
					gx.F[a*n*inner+b+int(out[1].I[o])*inner] += g.F[o]
				}
			}
		}
	})
}

// ---- Tile ----

// tileOp is Tile: the input repeated repeats[d] times along each axis d.
type tileOp struct{}

func (tileOp) shape(in []*tensor.Tensor) ([]int, error) {
	if err := checkInputs(in, 2); err != nil {
		return nil, err
	}
	x := in[0]
	reps, err := int64sOf(in[1], "Tile repeats")
	if err != nil {
		return nil, err
	}
	if in[1].Rank() != 1 || len(reps) != x.Rank() {
		return nil, fmt.Errorf("repeats must be 1-D with one entry per input axis (%d), got shape %v", x.Rank(), in[1].Shape)
	}
	dims := make([]int64, len(reps))
	for i, r := range reps {
		if r < 0 {
			return nil, fmt.Errorf("repeats[%d] = %d is negative", i, r)
		}
		if r > 0 && int64(x.Shape[i]) > math.MaxInt64/r {
			return nil, fmt.Errorf("repeats[%d] = %d overflows dimension %d", i, r, x.Shape[i])
		}
		dims[i] = int64(x.Shape[i]) * r
	}
	s, err := shapeFromInts(dims)
	if err != nil {
		return nil, fmt.Errorf("%v", err)
	}
	return s, nil
}

// tileView returns the output viewed as (repeats[0], dim[0], repeats[1],
// dim[1], …) and the input's strides along that view (0 on the repeats).
func tileView(xShape, shape []int) (view, inStrides []int) {
	st := tensor.Strides(xShape)
	for d, n := range xShape {
		reps := 0
		if n > 0 {
			reps = shape[d] / n
		}
		view = append(view, reps, n)
		inStrides = append(inStrides, 0, st[d])
	}
	return view, inStrides
}

// Forward repeats the input.
func (t tileOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	shape, err := t.shape(in)
	if err != nil {
		return nil, nil, err
	}
	x := in[0]
	out := allocLike(rc, x.DType, shape)
	if out.Len() == 0 {
		return []*tensor.Tensor{out}, nil, nil
	}
	view, src := tileView(x.Shape, shape)
	copyTensor(NewLoopPlan(view, tensor.Strides(view), src), out, 0, x, 0)
	return []*tensor.Tensor{out}, nil, nil
}

// Backward sums the gradient over the repeats.
func (t tileOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	return backwardAdd(rc, in, gOut, need, 2, gradFor, func() ([]int, error) {
		return t.shape(in)
	}, func(gx, g *tensor.Tensor) {
		if g.Len() == 0 {
			return
		}
		view, _ := tileView(in[0].Shape, g.Shape)
		dst := make([]int, len(view))
		for i := range view {
			dst[i] = 1
			if i%2 == 1 {
				dst[i] = view[i]
			}
		}
		SumInto(gx.F, dst, g.F, view, 1)
	})
}

// ---- CumSum ----

// cumSumOp is CumSum along the axis given as input 1, optionally exclusive
// (each sum leaves its own element out) and reversed (sums run from the end).
type cumSumOp struct {
	exclusive, reverse bool
}

func buildCumSum(n *NodeInfo) (Op, error) {
	if err := checkInputCount(n, 2, 2, "x, axis"); err != nil {
		return nil, err
	}
	op := &cumSumOp{}
	for _, a := range []struct {
		name string
		dst  *bool
	}{{"exclusive", &op.exclusive}, {"reverse", &op.reverse}} {
		v, err := n.Int(a.name, 0)
		if err != nil {
			return nil, err
		}
		if err := checkOneOf(n, a.name, v, 0, 1); err != nil {
			return nil, err
		}
		*a.dst = v == 1
	}
	return op, nil
}

func (o *cumSumOp) axis(in []*tensor.Tensor) (int, error) {
	if err := checkInputs(in, 2); err != nil {
		return 0, err
	}
	a, err := scalarInt(in[1], "CumSum axis")
	if err != nil {
		return 0, err
	}
	ax, err := normAxis(a, in[0].Rank())
	if err != nil {
		return 0, fmt.Errorf("input axis: %v", err)
	}
	return ax, nil
}

// cumsumLines runs the scan over every line of shape along ax.
func cumsumLines[T float32 | int64](dst, src []T, shape []int, ax int, exclusive, reverse bool) {
	outer, n, inner := lineGeom(shape, ax)
	for a := 0; a < outer; a++ {
		for b := 0; b < inner; b++ {
			base := a*n*inner + b
			var acc T
			for j := 0; j < n; j++ {
				jj := j
				if reverse {
					jj = n - 1 - j
				}
				p := base + jj*inner
				if exclusive {
					dst[p] = acc
					acc += src[p]
				} else {
					acc += src[p]
					dst[p] = acc
				}
			}
		}
	}
}

// Forward computes the running sums.
func (o *cumSumOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	ax, err := o.axis(in)
	if err != nil {
		return nil, nil, err
	}
	x := in[0]
	out := allocLike(rc, x.DType, x.Shape)
	if x.DType == tensor.Int64 {
		cumsumLines(out.I, x.I, x.Shape, ax, o.exclusive, o.reverse)
	} else {
		cumsumLines(out.F, x.F, x.Shape, ax, o.exclusive, o.reverse)
	}
	return []*tensor.Tensor{out}, nil, nil
}

// Backward is the cumulative sum of the gradient in the other direction.
func (o *cumSumOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	var ax int
	return backwardAdd(rc, in, gOut, need, 2, gradFor, func() (_ []int, err error) {
		ax, err = o.axis(in)
		if err != nil {
			return nil, err
		}
		return in[0].Shape, nil
	}, func(gx, g *tensor.Tensor) {
		cumsumLines(gx.F, g.F, in[0].Shape, ax, o.exclusive, !o.reverse)
	})
}

// ---- Trilu ----

// triluOp is Trilu: the upper (j - i >= k) or lower (j - i <= k) triangle
// of the last two axes, the rest zeroed.
type triluOp struct {
	upper bool
}

func (o *triluOp) k(in []*tensor.Tensor) (int64, error) {
	if err := checkInputs(in, 1); err != nil {
		return 0, err
	}
	if in[0].Rank() < 2 {
		return 0, fmt.Errorf("input must have rank >= 2, got shape %v", in[0].Shape)
	}
	if !present(in, 1) {
		return 0, nil
	}
	return scalarInt(in[1], "Trilu k")
}

// keep calls fn(i) for every kept element.
func (o *triluOp) keep(shape []int, k int64, fn func(i int)) {
	r := len(shape)
	rows, cols := shape[r-2], shape[r-1]
	mats := tensor.Numel(shape[:r-2])
	for m := 0; m < mats; m++ {
		for i := 0; i < rows; i++ {
			for j := 0; j < cols; j++ {
				d := int64(j - i)
				if (o.upper && d >= k) || (!o.upper && d <= k) {
					fn((m*rows+i)*cols + j)
				}
			}
		}
	}
}

// Forward keeps one triangle.
func (o *triluOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	k, err := o.k(in)
	if err != nil {
		return nil, nil, err
	}
	x := in[0]
	out := allocLike(rc, x.DType, x.Shape)
	if x.DType == tensor.Int64 {
		o.keep(x.Shape, k, func(i int) { out.I[i] = x.I[i] })
	} else {
		o.keep(x.Shape, k, func(i int) { out.F[i] = x.F[i] })
	}
	return []*tensor.Tensor{out}, nil, nil
}

// Backward passes the gradient through the kept triangle.
func (o *triluOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	var k int64
	return backwardAdd(rc, in, gOut, need, len(in), gradFor, func() (_ []int, err error) {
		k, err = o.k(in)
		if err != nil {
			return nil, err
		}
		return in[0].Shape, nil
	}, func(gx, g *tensor.Tensor) {
		o.keep(in[0].Shape, k, func(i int) { gx.F[i] = g.F[i] })
	})
}

// ---- OneHot ----

// oneHotOp is OneHot: a new axis of size depth holding values[1] at each
// index and values[0] elsewhere. Indices outside [-depth, depth) give a
// line of values[0].
type oneHotOp struct {
	axis int64
}

type oneHotGeom struct {
	shape        []int
	outer, depth int
	inner        int
	hot          []int // per index element: its position on the new axis, or -1
}

func (o *oneHotOp) geometry(in []*tensor.Tensor) (*oneHotGeom, error) {
	if err := checkInputs(in, 3); err != nil {
		return nil, err
	}
	idx, dep, vals := in[0], in[1], in[2]
	if vals.Len() != 2 || vals.Rank() != 1 {
		return nil, fmt.Errorf("values must be 1-D with 2 elements (off, on), got shape %v", vals.Shape)
	}
	df, err := scalarFloat(dep, "OneHot depth")
	if err != nil {
		return nil, err
	}
	if df < 1 || df != math.Trunc(df) {
		return nil, fmt.Errorf("depth must be a positive integer, got %g", df)
	}
	r := idx.Rank()
	ax := int(o.axis)
	if ax < 0 {
		ax += r + 1
	}
	if ax < 0 || ax > r {
		return nil, fmt.Errorf("attribute axis %d is out of range for output rank %d", o.axis, r+1)
	}
	depth := int64(df)
	dims := make([]int64, 0, r+1)
	for _, d := range idx.Shape[:ax] {
		dims = append(dims, int64(d))
	}
	dims = append(dims, depth)
	for _, d := range idx.Shape[ax:] {
		dims = append(dims, int64(d))
	}
	shape, err := shapeFromInts(dims)
	if err != nil {
		return nil, fmt.Errorf("%v", err)
	}
	g := &oneHotGeom{shape: shape, outer: tensor.Numel(idx.Shape[:ax]), depth: int(depth), inner: tensor.Numel(idx.Shape[ax:])}
	g.hot = make([]int, idx.Len())
	for i := range g.hot {
		var v int64
		if idx.DType == tensor.Int64 {
			v = idx.I[i]
		} else {
			v = int64(idx.F[i])
		}
		if v < 0 {
			v += depth
		}
		if v < 0 || v >= depth {
			g.hot[i] = -1
		} else {
			g.hot[i] = int(v)
		}
	}
	return g, nil
}

// Forward writes the one-hot encoding.
func (o *oneHotOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	g, err := o.geometry(in)
	if err != nil {
		return nil, nil, err
	}
	vals := in[2]
	out := allocLike(rc, vals.DType, g.shape)
	for a := 0; a < g.outer; a++ {
		for d := 0; d < g.depth; d++ {
			for b := 0; b < g.inner; b++ {
				p := (a*g.depth+d)*g.inner + b
				k := 0
				if g.hot[a*g.inner+b] == d {
					k = 1
				}
				if vals.DType == tensor.Int64 {
					out.I[p] = vals.I[k]
				} else {
					out.F[p] = vals.F[k]
				}
			}
		}
	}
	return []*tensor.Tensor{out}, nil, nil
}

// Backward: values[1] gets the gradient summed over the hot positions,
// values[0] over the others.
func (o *oneHotOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	grads := make([]*tensor.Tensor, 3)
	if !wants(need, 2) || len(in) < 3 || in[2] == nil || in[2].DType != tensor.Float32 {
		return grads, nil
	}
	geo, err := o.geometry(in)
	if err != nil {
		return nil, err
	}
	g, err := gradFor(gOut, 0, geo.shape)
	if err != nil {
		return nil, err
	}
	gv := rc.Alloc(in[2].Shape...)
	grads[2] = gv
	if g == nil {
		return grads, nil
	}
	var on, off float64
	for a := 0; a < geo.outer; a++ {
		for d := 0; d < geo.depth; d++ {
			for b := 0; b < geo.inner; b++ {
				v := float64(g.F[(a*geo.depth+d)*geo.inner+b])
				if geo.hot[a*geo.inner+b] == d {
					on += v
				} else {
					off += v
				}
			}
		}
	}
	gv.F[0], gv.F[1] = float32(off), float32(on)
	return grads, nil
}

// ---- NonZero ----

// nonZeroOp is NonZero: the indices of the non-zero elements, one row per
// axis, in row-major order (a scalar counts as a 1-element vector).
type nonZeroOp struct{}

// Forward lists the non-zero positions.
func (nonZeroOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	if err := checkInputs(in, 1); err != nil {
		return nil, nil, err
	}
	x := in[0]
	shape := x.Shape
	if len(shape) == 0 {
		shape = []int{1}
	}
	var nz []int
	n := x.Len()
	for i := 0; i < n; i++ {
		if (x.DType == tensor.Int64 && x.I[i] != 0) || (x.DType == tensor.Float32 && x.F[i] != 0) {
			nz = append(nz, i)
		}
	}
	r := len(shape)
	out := rc.AllocInt(r, len(nz))
	pos := make([]int, r)
	for j, i := range nz {
		unravel(i, shape, pos)
		for d := 0; d < r; d++ {
			out.I[d*len(nz)+j] = int64(pos[d])
		}
	}
	return []*tensor.Tensor{out}, nil, nil
}

// Backward returns no gradient: the output is an index.
func (nonZeroOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	return make([]*tensor.Tensor, len(in)), nil
}
