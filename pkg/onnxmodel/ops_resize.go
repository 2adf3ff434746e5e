package onnxmodel

// Resampling and rearranging ops: Resize (opsets 10 to 19: nearest, linear
// and cubic modes, every coordinate transformation, antialias, axes and
// keep_aspect_ratio_policy), Upsample (opsets 7 and 9), DepthToSpace and
// SpaceToDepth.
//
// Resize is separable: along every resized axis each output position reads
// a few input positions (taps) with fixed weights, so the op runs as one
// 1-D pass per resized axis, and its backward rule is the transposed passes
// in reverse order. The taps follow ONNX's reference implementation
// (onnx/reference/ops/op_resize.py): the source coordinate x of an output
// position comes from the coordinate transformation; with i = floor(x) and
// r = x - i, nearest and linear read positions i and i+1 and cubic reads i-1
// to i+2, positions outside the input being clamped to its edge (or, with
// exclude_outside, dropped and the weights renormalised).

import (
	"fmt"
	"math"

	"github.com/advtest/advtest/pkg/tensor"
)

func init() {
	register("Resize", buildResize)
	register("Upsample", buildUpsample)
	register("DepthToSpace", func(n *NodeInfo) (Op, error) { return buildSpaceDepth(n, true) })
	register("SpaceToDepth", func(n *NodeInfo) (Op, error) { return buildSpaceDepth(n, false) })
}

type resizeMode int

const (
	resizeNearest resizeMode = iota
	resizeLinear
	resizeCubic
)

// resizeOp is Resize or Upsample.
type resizeOp struct {
	name  string
	mode  resizeMode
	coord string
	// nearest is the nearest_mode, or "simple" for Upsample and Resize-10
	// (floor when upsampling, ceil when downsampling, as onnxruntime).
	nearest     string
	cubicA      float64
	exclude     bool
	extrapolate float32
	antialias   bool
	axes        []int64
	policy      string
	// Input positions: roi, scales and sizes (-1 when the op lacks it);
	// attrScales holds Upsample-7's scales attribute.
	roiIn, scalesIn, sizesIn int
	attrScales               []float32
}

func buildResize(n *NodeInfo) (Op, error) {
	op := &resizeOp{name: "Resize", roiIn: 1, scalesIn: 2, sizesIn: 3, cubicA: -0.75, policy: "stretch"}
	if n.Opset < 11 {
		if err := checkInputCount(n, 2, 2, "X, scales"); err != nil {
			return nil, err
		}
		op.roiIn, op.scalesIn, op.sizesIn = -1, 1, -1
		op.coord, op.nearest = "asymmetric", "simple"
		m, err := n.String("mode", "nearest")
		if err != nil {
			return nil, err
		}
		switch m {
		case "nearest":
		case "linear":
			op.mode = resizeLinear
		default:
			return nil, n.errorf("attribute mode: expected nearest or linear, got %q", m)
		}
		return op, nil
	}
	if err := checkInputCount(n, 1, 4, "X, roi, scales, sizes"); err != nil {
		return nil, err
	}
	m, err := n.String("mode", "nearest")
	if err != nil {
		return nil, err
	}
	switch m {
	case "nearest":
	case "linear":
		op.mode = resizeLinear
	case "cubic":
		op.mode = resizeCubic
	default:
		return nil, n.errorf("attribute mode: expected nearest, linear or cubic, got %q", m)
	}
	if op.coord, err = n.String("coordinate_transformation_mode", "half_pixel"); err != nil {
		return nil, err
	}
	switch op.coord {
	case "half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_crop_and_resize":
	case "tf_half_pixel_for_nn":
		if n.Opset >= 13 {
			return nil, n.errorf("attribute coordinate_transformation_mode: tf_half_pixel_for_nn was removed in opset 13")
		}
	case "half_pixel_symmetric":
		if n.Opset < 19 {
			return nil, n.errorf("attribute coordinate_transformation_mode: half_pixel_symmetric needs opset 19, the model has %d", n.Opset)
		}
	default:
		return nil, n.errorf("attribute coordinate_transformation_mode: expected half_pixel, half_pixel_symmetric, pytorch_half_pixel, align_corners, asymmetric, tf_half_pixel_for_nn or tf_crop_and_resize, got %q", op.coord)
	}
	if op.nearest, err = n.String("nearest_mode", "round_prefer_floor"); err != nil {
		return nil, err
	}
	switch op.nearest {
	case "round_prefer_floor", "round_prefer_ceil", "floor", "ceil":
	default:
		return nil, n.errorf("attribute nearest_mode: expected round_prefer_floor, round_prefer_ceil, floor or ceil, got %q", op.nearest)
	}
	a, err := n.Float("cubic_coeff_a", -0.75)
	if err != nil {
		return nil, err
	}
	op.cubicA = float64(a)
	ex, err := n.Int("exclude_outside", 0)
	if err != nil {
		return nil, err
	}
	if err := checkOneOf(n, "exclude_outside", ex, 0, 1); err != nil {
		return nil, err
	}
	op.exclude = ex == 1
	if op.extrapolate, err = n.Float("extrapolation_value", 0); err != nil {
		return nil, err
	}
	for _, a := range []string{"antialias", "axes", "keep_aspect_ratio_policy"} {
		if n.Opset < 18 && n.Has(a) {
			return nil, n.errorf("attribute %s: needs opset 18, the model has %d", a, n.Opset)
		}
	}
	aa, err := n.Int("antialias", 0)
	if err != nil {
		return nil, err
	}
	if err := checkOneOf(n, "antialias", aa, 0, 1); err != nil {
		return nil, err
	}
	op.antialias = aa == 1
	if op.axes, err = n.Ints("axes", nil); err != nil {
		return nil, err
	}
	if op.policy, err = n.String("keep_aspect_ratio_policy", "stretch"); err != nil {
		return nil, err
	}
	switch op.policy {
	case "stretch", "not_larger", "not_smaller":
	default:
		return nil, n.errorf("attribute keep_aspect_ratio_policy: expected stretch, not_larger or not_smaller, got %q", op.policy)
	}
	return op, nil
}

func buildUpsample(n *NodeInfo) (Op, error) {
	op := &resizeOp{name: "Upsample", roiIn: -1, scalesIn: 1, sizesIn: -1, coord: "asymmetric", nearest: "simple", policy: "stretch"}
	if n.Opset < 7 {
		return nil, n.errorf("Upsample before opset 7 (height_scale, width_scale) is not supported")
	}
	if n.Opset < 9 {
		if err := checkInputCount(n, 1, 1, "X"); err != nil {
			return nil, err
		}
		s, err := n.Floats("scales", nil)
		if err != nil {
			return nil, err
		}
		if len(s) == 0 {
			return nil, n.errorf("attribute scales: required before opset 9")
		}
		for _, v := range s {
			if !(v >= 1) {
				return nil, n.errorf("attribute scales: expected values >= 1, got %v", s)
			}
		}
		op.scalesIn, op.attrScales = -1, s
	} else if err := checkInputCount(n, 2, 2, "X, scales"); err != nil {
		return nil, err
	}
	m, err := n.String("mode", "nearest")
	if err != nil {
		return nil, err
	}
	switch m {
	case "nearest":
	case "linear", "bilinear":
		op.mode = resizeLinear
	default:
		return nil, n.errorf("attribute mode: expected nearest or linear, got %q", m)
	}
	return op, nil
}

// resizeTaps is one axis's 1-D resampling: output position o reads input
// positions idx[o*k : o*k+k] with weights w[o*k : o*k+k]; outside[o] marks
// positions that take the extrapolation value (tf_crop_and_resize).
type resizeTaps struct {
	axis, in, out, k int
	idx              []int
	w                []float64
	outside          []bool
}

// resizePlan is the per-run geometry: the output shape and the passes.
type resizePlan struct {
	shape  []int
	passes []*resizeTaps
	anyOut bool
}

// optionalIn returns in[i] when present and non-empty, else nil.
func optionalIn(in []*tensor.Tensor, i int) *tensor.Tensor {
	if i < 0 || i >= len(in) || in[i] == nil || in[i].Len() == 0 {
		return nil
	}
	return in[i]
}

// floats64 returns a tensor's elements as float64.
func floats64(t *tensor.Tensor) []float64 {
	out := make([]float64, t.Len())
	for i := range out {
		if t.DType == tensor.Int64 {
			out[i] = float64(t.I[i])
		} else {
			out[i] = float64(t.F[i])
		}
	}
	return out
}

func (o *resizeOp) plan(in []*tensor.Tensor) (*resizePlan, error) {
	if err := checkInputs(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	r := x.Rank()
	axes := make([]int, r)
	for i := range axes {
		axes[i] = i
	}
	if o.axes != nil {
		var err error
		if axes, err = normAxes(o.axes, r); err != nil {
			return nil, fmt.Errorf("%s: attribute axes: %v", o.name, err)
		}
	}
	scale := make([]float64, r) // per axis of x
	outSize := make([]int, r)
	for d := 0; d < r; d++ {
		scale[d], outSize[d] = 1, x.Shape[d]
	}
	scales, sizes := optionalIn(in, o.scalesIn), optionalIn(in, o.sizesIn)
	var sv []float64
	switch {
	case o.attrScales != nil:
		sv = make([]float64, len(o.attrScales))
		for i, v := range o.attrScales {
			sv[i] = float64(v)
		}
	case scales != nil && sizes != nil:
		return nil, fmt.Errorf("%s: give scales or sizes, not both", o.name)
	case scales != nil:
		if scales.DType != tensor.Float32 {
			return nil, fmt.Errorf("%s: scales must be a float tensor, got %s", o.name, scales)
		}
		sv = floats64(scales)
	case sizes == nil:
		return nil, fmt.Errorf("%s: one of scales and sizes must be given", o.name)
	}
	if sv != nil {
		if len(sv) != len(axes) {
			return nil, fmt.Errorf("%s: %d scales for %d axes", o.name, len(sv), len(axes))
		}
		for i, d := range axes {
			s := sv[i]
			if !(s > 0) || math.IsInf(s, 0) {
				return nil, fmt.Errorf("%s: scale %g for axis %d must be positive and finite", o.name, s, d)
			}
			if o.name == "Upsample" && s < 1 {
				return nil, fmt.Errorf("%s: scale %g for axis %d must be >= 1", o.name, s, d)
			}
			scale[d] = s
			outSize[d] = int(math.Floor(s * float64(x.Shape[d])))
		}
	} else {
		zv, err := int64sOf(sizes, o.name+" sizes")
		if err != nil {
			return nil, err
		}
		if len(zv) != len(axes) {
			return nil, fmt.Errorf("%s: %d sizes for %d axes", o.name, len(zv), len(axes))
		}
		for i, d := range axes {
			if zv[i] < 0 || (zv[i] > 0 && x.Shape[d] == 0) {
				return nil, fmt.Errorf("%s: size %d for axis %d of length %d is invalid", o.name, zv[i], d, x.Shape[d])
			}
		}
		if o.policy == "stretch" {
			for i, d := range axes {
				outSize[d] = int(zv[i])
				if x.Shape[d] > 0 {
					scale[d] = float64(zv[i]) / float64(x.Shape[d])
				}
			}
		} else {
			s := math.Inf(1)
			if o.policy == "not_smaller" {
				s = math.Inf(-1)
			}
			for i, d := range axes {
				v := float64(zv[i]) / float64(x.Shape[d])
				if o.policy == "not_larger" {
					s = math.Min(s, v)
				} else {
					s = math.Max(s, v)
				}
			}
			for _, d := range axes {
				scale[d] = s
				outSize[d] = int(math.Floor(s*float64(x.Shape[d]) + 0.5))
			}
		}
	}
	var roi []float64
	if o.coord == "tf_crop_and_resize" {
		rt := optionalIn(in, o.roiIn)
		if rt == nil {
			return nil, fmt.Errorf("%s: tf_crop_and_resize needs the roi input", o.name)
		}
		rv := floats64(rt)
		if len(rv) != 2*len(axes) {
			return nil, fmt.Errorf("%s: roi has %d values, expected %d (starts then ends of %d axes)", o.name, len(rv), 2*len(axes), len(axes))
		}
		roi = make([]float64, 2*r)
		for d := 0; d < r; d++ {
			roi[2*d], roi[2*d+1] = 0, 1
		}
		for i, d := range axes {
			roi[2*d], roi[2*d+1] = rv[i], rv[len(axes)+i]
		}
	}
	dims := make([]int64, r)
	for d := range dims {
		dims[d] = int64(outSize[d])
	}
	if _, err := checkedNumel(dims); err != nil {
		return nil, fmt.Errorf("%s: output %v: %v", o.name, outSize, err)
	}
	p := &resizePlan{shape: outSize}
	for d := 0; d < r; d++ {
		var rd []float64
		if roi != nil {
			rd = roi[2*d : 2*d+2]
		}
		t := o.taps(d, x.Shape[d], outSize[d], scale[d], rd)
		if t == nil {
			continue // identity along this axis
		}
		if t.outside != nil {
			p.anyOut = true
		}
		p.passes = append(p.passes, t)
	}
	if x.DType == tensor.Int64 && o.mode != resizeNearest {
		return nil, fmt.Errorf("%s: integer input needs mode nearest", o.name)
	}
	return p, nil
}

// source maps output position x to the input coordinate.
func (o *resizeOp) source(x float64, in, out int, scale float64, roi []float64) float64 {
	outW := scale * float64(in)
	switch o.coord {
	case "align_corners":
		if outW == 1 {
			return 0
		}
		return x * float64(in-1) / (outW - 1)
	case "asymmetric":
		return x / scale
	case "tf_crop_and_resize":
		if outW == 1 {
			return (roi[1]-roi[0])*float64(in-1)/2 + roi[0]*float64(in-1)
		}
		return x*(roi[1]-roi[0])*float64(in-1)/(outW-1) + roi[0]*float64(in-1)
	case "pytorch_half_pixel":
		if outW == 1 {
			return -0.5 // as ONNX's reference implementation
		}
		return (x+0.5)/scale - 0.5
	case "tf_half_pixel_for_nn":
		return (x + 0.5) / scale
	case "half_pixel_symmetric":
		adj := float64(out) / outW
		off := float64(in) / 2 * (1 - adj)
		return off + (x+0.5)/scale - 0.5
	}
	return (x+0.5)/scale - 0.5 // half_pixel
}

// cubicW is the cubic convolution kernel with parameter a at distance t.
func cubicW(t, a float64) float64 {
	t = math.Abs(t)
	switch {
	case t <= 1:
		return ((a+2)*t-(a+3))*t*t + 1
	case t < 2:
		return ((a*t-5*a)*t+8*a)*t - 4*a
	}
	return 0
}

// taps builds one axis's pass, or nil when it is the identity.
func (o *resizeOp) taps(axis, in, out int, scale float64, roi []float64) *resizeTaps {
	t := &resizeTaps{axis: axis, in: in, out: out}
	if in == 0 || out == 0 {
		if in == out {
			return nil
		}
		t.k = 0
		return t
	}
	var offs []int
	aa := o.antialias && scale < 1 && o.mode != resizeNearest
	switch {
	case o.mode == resizeCubic && aa:
		start := int(math.Floor(-2/scale) + 1)
		for j := start; j < 2-start; j++ {
			offs = append(offs, j)
		}
	case o.mode == resizeCubic:
		offs = []int{-1, 0, 1, 2}
	case aa:
		start := int(math.Floor(-1/scale) + 1)
		for j := start; j < 2-start; j++ {
			offs = append(offs, j)
		}
	default:
		offs = []int{0, 1}
	}
	k := len(offs)
	if o.mode == resizeNearest {
		k = 1
	}
	t.k = k
	t.idx = make([]int, out*k)
	t.w = make([]float64, out*k)
	identity := in == out
	clampI := func(i int) int { return min(max(i, 0), in-1) }
	for p := 0; p < out; p++ {
		x := o.source(float64(p), in, out, scale, roi)
		if o.coord == "tf_crop_and_resize" && (x < 0 || x > float64(in-1)) {
			if t.outside == nil {
				t.outside = make([]bool, out)
			}
			t.outside[p] = true
			identity = false
		}
		i0 := math.Floor(x)
		rr := x - i0
		base := int(i0)
		if o.mode == resizeNearest {
			var up bool
			switch o.nearest {
			case "round_prefer_floor":
				up = rr > 0.5
			case "round_prefer_ceil":
				up = rr >= 0.5
			case "floor":
				up = false
			case "ceil":
				up = rr > 0
			case "simple":
				up = scale < 1 && rr > 0
			}
			j := base
			if up {
				j++
			}
			t.idx[p] = clampI(j)
			t.w[p] = 1
			if t.idx[p] != p {
				identity = false
			}
			continue
		}
		ws := t.w[p*k : (p+1)*k]
		var sum float64
		for j, off := range offs {
			d := float64(off) - rr
			switch {
			case o.mode == resizeCubic && aa:
				ws[j] = cubicW(d*scale, o.cubicA)
			case o.mode == resizeCubic:
				ws[j] = cubicW(d, o.cubicA)
			case aa:
				ws[j] = math.Max(0, 1-math.Abs(d*scale))
			default:
				ws[j] = math.Max(0, 1-math.Abs(d))
			}
			sum += ws[j]
		}
		if aa && sum != 0 {
			for j := range ws {
				ws[j] /= sum
			}
		}
		if o.exclude {
			sum = 0
			for j, off := range offs {
				if i := base + off; i < 0 || i >= in {
					ws[j] = 0
				}
				sum += ws[j]
			}
			if sum != 0 {
				for j := range ws {
					ws[j] /= sum
				}
			}
		}
		for j, off := range offs {
			t.idx[p*k+j] = clampI(base + off)
			if ws[j] != 0 && (t.idx[p*k+j] != p || math.Abs(ws[j]-1) > 1e-12) {
				identity = false
			}
		}
	}
	if identity {
		return nil
	}
	return t
}

// apply runs one pass forward on a float tensor: y = W·x along the axis.
func (t *resizeTaps) apply(rc *RunContext, x *tensor.Tensor) *tensor.Tensor {
	return t.run(rc, x, false)
}

// transpose runs one pass backward: gx = Wᵀ·gy.
func (t *resizeTaps) transpose(rc *RunContext, gy *tensor.Tensor) *tensor.Tensor {
	return t.run(rc, gy, true)
}

// run is apply (back false: x has t.in positions along the axis, the
// result t.out) and transpose (back true: the other way round). Both visit
// the taps in the same order, output position p then tap j, so each
// accumulates its sums in a fixed order.
func (t *resizeTaps) run(rc *RunContext, x *tensor.Tensor, back bool) *tensor.Tensor {
	n := t.out
	if back {
		n = t.in
	}
	shape := append([]int{}, x.Shape...)
	shape[t.axis] = n
	y := rc.Alloc(shape...)
	// in is the taps' source side (t.in positions), out their target side.
	in, out := x, y
	if back {
		in, out = y, x
	}
	outer, _, inner := lineGeom(x.Shape, t.axis)
	for a := 0; a < outer; a++ {
		ib := a * t.in * inner
		ob := a * t.out * inner
		for p := 0; p < t.out; p++ {
			o := out.F[ob+p*inner : ob+(p+1)*inner]
			for j := 0; j < t.k; j++ {
				w := float32(t.w[p*t.k+j])
				if w == 0 {
					continue
				}
				src := in.F[ib+t.idx[p*t.k+j]*inner : ib+t.idx[p*t.k+j]*inner+inner]
				if back {
					for i, v := range o {
						src[i] += w * v
					}
				} else {
					for i := range o {
						o[i] += w * src[i]
					}
				}
			}
		}
	}
	return y
}

// applyInt runs a nearest pass on an integer tensor.
func (t *resizeTaps) applyInt(rc *RunContext, x *tensor.Tensor) *tensor.Tensor {
	shape := append([]int{}, x.Shape...)
	shape[t.axis] = t.out
	y := rc.AllocInt(shape...)
	outer, _, inner := lineGeom(x.Shape, t.axis)
	for a := 0; a < outer; a++ {
		for p := 0; p < t.out; p++ {
			if t.k == 0 {
				continue
			}
			src := (a*t.in + t.idx[p*t.k]) * inner
			copy(y.I[(a*t.out+p)*inner:(a*t.out+p+1)*inner], x.I[src:src+inner])
		}
	}
	return y
}

// outsideMask calls fn for every output element that some axis marks as
// outside the crop.
func (p *resizePlan) outsideMask(fn func(i int)) {
	if !p.anyOut {
		return
	}
	st := tensor.Strides(p.shape)
	n := tensor.Numel(p.shape)
	for i := 0; i < n; i++ {
		for _, t := range p.passes {
			if t.outside != nil && t.outside[(i/st[t.axis])%p.shape[t.axis]] {
				fn(i)
				break
			}
		}
	}
}

// Forward resamples the input.
func (o *resizeOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	p, err := o.plan(in)
	if err != nil {
		return nil, nil, err
	}
	y := in[0]
	for _, t := range p.passes {
		if y.DType == tensor.Int64 {
			y = t.applyInt(rc, y)
		} else {
			y = t.apply(rc, y)
		}
	}
	if y == in[0] {
		y = y.Clone()
	}
	if y.DType == tensor.Float32 {
		p.outsideMask(func(i int) { y.F[i] = o.extrapolate })
	} else {
		p.outsideMask(func(i int) { y.I[i] = int64(o.extrapolate) })
	}
	return []*tensor.Tensor{y}, nil, nil
}

// Backward applies the transposed passes in reverse order.
func (o *resizeOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	grads := make([]*tensor.Tensor, len(in))
	if !wants(need, 0) || in[0].DType != tensor.Float32 {
		return grads, nil
	}
	p, err := o.plan(in)
	if err != nil {
		return nil, err
	}
	g, err := gradFor(gOut, 0, p.shape)
	if err != nil {
		return nil, err
	}
	if g == nil {
		grads[0] = rc.Alloc(in[0].Shape...)
		return grads, nil
	}
	if p.anyOut {
		g = g.Clone()
		p.outsideMask(func(i int) { g.F[i] = 0 })
	}
	for k := len(p.passes) - 1; k >= 0; k-- {
		g = p.passes[k].transpose(rc, g)
	}
	if len(p.passes) == 0 && !p.anyOut {
		g = g.Clone()
	}
	grads[0] = g
	return grads, nil
}

// spaceDepthOp is DepthToSpace (DCR or CRD order) or SpaceToDepth: a
// reshape, a transpose and a reshape.
type spaceDepthOp struct {
	toSpace bool
	crd     bool
	b       int
}

func buildSpaceDepth(n *NodeInfo, toSpace bool) (Op, error) {
	if err := checkInputCount(n, 1, 1, "input"); err != nil {
		return nil, err
	}
	b, err := n.positiveInt("blocksize")
	if err != nil {
		return nil, err
	}
	if b > 1<<16 {
		return nil, n.errorf("attribute blocksize: expected a positive value, got %d", b)
	}
	op := &spaceDepthOp{toSpace: toSpace, b: int(b)}
	if toSpace {
		m, err := n.String("mode", "DCR")
		if err != nil {
			return nil, err
		}
		switch m {
		case "DCR":
		case "CRD":
			op.crd = true
		default:
			return nil, n.errorf("attribute mode: expected DCR or CRD, got %q", m)
		}
	} else if n.Has("mode") {
		return nil, n.errorf("attribute mode: SpaceToDepth has no mode attribute")
	}
	return op, nil
}

// layout returns the 6-D view of the input, the permutation, and the
// output shape.
func (o *spaceDepthOp) layout(x *tensor.Tensor) (view, perm, shape []int, err error) {
	if x.Rank() != 4 {
		return nil, nil, nil, fmt.Errorf("expected a 4-D input, got shape %v", x.Shape)
	}
	N, C, H, W, b := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3], o.b
	if o.toSpace {
		if C%(b*b) != 0 {
			return nil, nil, nil, fmt.Errorf("channels %d are not a multiple of blocksize² = %d", C, b*b)
		}
		c := C / (b * b)
		shape = []int{N, c, H * b, W * b}
		if o.crd {
			return []int{N, c, b, b, H, W}, []int{0, 1, 4, 2, 5, 3}, shape, nil
		}
		return []int{N, b, b, c, H, W}, []int{0, 3, 4, 1, 5, 2}, shape, nil
	}
	if H%b != 0 || W%b != 0 {
		return nil, nil, nil, fmt.Errorf("height %d and width %d must be multiples of blocksize %d", H, W, b)
	}
	return []int{N, C, H / b, b, W / b, b}, []int{0, 3, 5, 1, 2, 4}, []int{N, C * b * b, H / b, W / b}, nil
}

// Forward rearranges the elements.
func (o *spaceDepthOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	if err := checkInputs(in, 1); err != nil {
		return nil, nil, err
	}
	view, perm, shape, err := o.layout(in[0])
	if err != nil {
		return nil, nil, err
	}
	y := permuteTensor(rc, in[0].Reshaped(view...), perm)
	return []*tensor.Tensor{y.Reshaped(shape...)}, nil, nil
}

// Backward applies the inverse rearrangement to the gradient.
func (o *spaceDepthOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	grads := make([]*tensor.Tensor, 1)
	if !wants(need, 0) || in[0].DType != tensor.Float32 {
		return grads, nil
	}
	view, perm, shape, err := o.layout(in[0])
	if err != nil {
		return nil, err
	}
	g, err := gradFor(gOut, 0, shape)
	if err != nil {
		return nil, err
	}
	if g == nil {
		grads[0] = rc.Alloc(in[0].Shape...)
		return grads, nil
	}
	pv := make([]int, len(perm))
	for i, p := range perm {
		pv[i] = view[p]
	}
	gx := permuteTensor(rc, g.Reshaped(pv...), inversePerm(perm))
	grads[0] = gx.Reshaped(in[0].Shape...)
	return grads, nil
}
