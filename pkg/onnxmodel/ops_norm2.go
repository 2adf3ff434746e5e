package onnxmodel

// Normalisations added for newer exports: InstanceNormalization,
// GroupNormalization (opset 18: scale and bias per group; opset 21: per
// channel) and LRN (local response normalisation across channels). Means and
// variances are accumulated in float64 (GroupNormalization-21's stash_type
// asks for at least float32 statistics).

import (
	"fmt"
	"math"

	"github.com/advtest/advtest/pkg/tensor"
)

func init() {
	register("InstanceNormalization", func(n *NodeInfo) (Op, error) {
		if err := checkInputCount(n, 3, 3, "input, scale, B"); err != nil {
			return nil, err
		}
		eps, err := normEpsilon(n)
		if err != nil {
			return nil, err
		}
		return &groupNormOp{name: "InstanceNormalization", eps: float64(eps), instance: true, perChannel: true}, nil
	})
	register("GroupNormalization", func(n *NodeInfo) (Op, error) {
		if err := checkInputCount(n, 3, 3, "X, scale, bias"); err != nil {
			return nil, err
		}
		eps, err := normEpsilon(n)
		if err != nil {
			return nil, err
		}
		g, err := n.positiveInt("num_groups")
		if err != nil {
			return nil, err
		}
		st, err := n.Int("stash_type", 1)
		if err != nil {
			return nil, err
		}
		if n.Has("stash_type") && n.Opset < 21 {
			return nil, n.errorf("attribute stash_type: needs opset 21, the model has %d", n.Opset)
		}
		// stash_type names an ONNX data type for the statistics: float,
		// double, float16 or bfloat16; float64 accumulation covers them all.
		if err := checkOneOf(n, "stash_type", st, 1, 10, 11, 16); err != nil {
			return nil, err
		}
		return &groupNormOp{name: "GroupNormalization", eps: float64(eps), groups: int(g), perChannel: n.Opset >= 21}, nil
	})
	register("LRN", buildLRN)
}

func normEpsilon(n *NodeInfo) (float32, error) {
	eps, err := n.Float("epsilon", 1e-5)
	if err != nil {
		return 0, err
	}
	if !(eps >= 0) || math.IsInf(float64(eps), 0) {
		return 0, n.errorf("attribute epsilon: expected a finite non-negative value, got %g", eps)
	}
	return eps, nil
}

// groupNormOp normalises each group of channels of each sample over the
// group's channels and spatial positions, then applies scale and bias.
// InstanceNormalization is the case of one channel per group.
type groupNormOp struct {
	name       string
	eps        float64
	groups     int
	instance   bool
	perChannel bool // scale and bias have C entries (else one per group)
}

type groupNormGeom struct {
	n, c, g, spatial int
	seg              int // elements per group: c/g · spatial
}

func (o *groupNormOp) geometry(in []*tensor.Tensor) (*groupNormGeom, error) {
	if err := checkInputs(in, 3); err != nil {
		return nil, err
	}
	x := in[0]
	for i, what := range []string{"input", "scale", "bias"} {
		if in[i].DType != tensor.Float32 {
			return nil, fmt.Errorf("%s: %s must be a float tensor, got %s", o.name, what, in[i])
		}
	}
	if x.Rank() < 2 || (o.instance && x.Rank() < 3) {
		return nil, fmt.Errorf("%s: input must be (N, C, D1, ...), got shape %v", o.name, x.Shape)
	}
	g := &groupNormGeom{n: x.Shape[0], c: x.Shape[1], spatial: tensor.Numel(x.Shape[2:])}
	g.g = o.groups
	if o.instance {
		g.g = g.c
	}
	if g.g == 0 || g.c%g.g != 0 {
		return nil, fmt.Errorf("%s: %d channels do not split into %d groups", o.name, g.c, g.g)
	}
	g.seg = g.c / g.g * g.spatial
	want := g.g
	if o.perChannel {
		want = g.c
	}
	for i, what := range []string{"scale", "bias"} {
		if in[i+1].Rank() != 1 || in[i+1].Len() != want {
			return nil, fmt.Errorf("%s: %s must be 1-D of length %d, got shape %v", o.name, what, want, in[i+1].Shape)
		}
	}
	return g, nil
}

// param returns the scale/bias index of channel c.
func (o *groupNormOp) param(g *groupNormGeom, c int) int {
	if o.perChannel {
		return c
	}
	return c / (g.c / g.g)
}

type groupNormSaved struct {
	inv []float64 // per (sample, group)
}

// Forward normalises every group.
func (o *groupNormOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	geo, err := o.geometry(in)
	if err != nil {
		return nil, nil, err
	}
	x, scale, bias := in[0], in[1], in[2]
	y := rc.AllocNoZero(x.Shape...)
	sv := &groupNormSaved{inv: make([]float64, geo.n*geo.g)}
	tensor.ParallelFor(geo.n*geo.g, 1, func(lo, hi int) {
		for s := lo; s < hi; s++ {
			base := s * geo.seg
			seg := x.F[base : base+geo.seg]
			var sum float64
			for _, v := range seg {
				sum += float64(v)
			}
			mean := sum / float64(max(1, geo.seg))
			var vs float64
			for _, v := range seg {
				d := float64(v) - mean
				vs += d * d
			}
			inv := 1 / math.Sqrt(vs/float64(max(1, geo.seg))+o.eps)
			sv.inv[s] = inv
			c0 := (s % geo.g) * (geo.c / geo.g)
			for i, v := range seg {
				p := o.param(geo, c0+i/max(1, geo.spatial))
				y.F[base+i] = float32((float64(v)-mean)*inv)*scale.F[p] + bias.F[p]
			}
		}
	})
	return []*tensor.Tensor{y}, sv, nil
}

// Backward: with x̂ the normalised input and ĝ = g·scale, over each group
// of M elements gx = inv·(ĝ - mean(ĝ) - x̂·mean(ĝ·x̂)); gscale = Σ g·x̂,
// gbias = Σ g over the elements each parameter touches.
func (o *groupNormOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	grads := make([]*tensor.Tensor, 3)
	geo, err := o.geometry(in)
	if err != nil {
		return nil, err
	}
	sv, ok := saved.(*groupNormSaved)
	if !ok || len(sv.inv) != geo.n*geo.g {
		return nil, fmt.Errorf("%s backward: forward state is missing", o.name)
	}
	x, scale, bias := in[0], in[1], in[2]
	g, err := gradFor(gOut, 0, x.Shape)
	if err != nil {
		return nil, err
	}
	if g == nil {
		return zeroGrads(rc, in, need), nil
	}
	// x̂ is recomputed from x and the saved statistics (recovering it from
	// the output, (y - bias)/scale, is unstable when scale is small).
	var gx, gs, gb *tensor.Tensor
	if wants(need, 0) {
		gx = rc.Alloc(x.Shape...)
	}
	if wants(need, 1) {
		gs = rc.Alloc(scale.Shape...)
	}
	if wants(need, 2) {
		gb = rc.Alloc(bias.Shape...)
	}
	xhat := make([]float64, geo.seg)
	for s := 0; s < geo.n*geo.g; s++ {
		base := s * geo.seg
		seg := x.F[base : base+geo.seg]
		var sum float64
		for _, v := range seg {
			sum += float64(v)
		}
		mean := sum / float64(max(1, geo.seg))
		inv := sv.inv[s]
		c0 := (s % geo.g) * (geo.c / geo.g)
		var sg, sgx float64
		for i, v := range seg {
			xh := (float64(v) - mean) * inv
			xhat[i] = xh
			p := o.param(geo, c0+i/max(1, geo.spatial))
			gv := float64(g.F[base+i])
			gh := gv * float64(scale.F[p])
			sg += gh
			sgx += gh * xh
			if gs != nil {
				gs.F[p] += float32(gv * xh)
			}
			if gb != nil {
				gb.F[p] += float32(gv)
			}
		}
		if gx == nil {
			continue
		}
		m := float64(max(1, geo.seg))
		for i := range seg {
			p := o.param(geo, c0+i/max(1, geo.spatial))
			gh := float64(g.F[base+i]) * float64(scale.F[p])
			gx.F[base+i] = float32(inv * (gh - sg/m - xhat[i]*sgx/m))
		}
	}
	grads[0], grads[1], grads[2] = gx, gs, gb
	return grads, nil
}

// lrnOp is LRN: y = x / (bias + alpha/size · Σ x²)^beta, the sum over the
// channels c - ⌊(size-1)/2⌋ … c + ⌈(size-1)/2⌉ that exist.
type lrnOp struct {
	alpha, beta, bias float64
	size              int
}

func buildLRN(n *NodeInfo) (Op, error) {
	if err := checkInputCount(n, 1, 1, "X"); err != nil {
		return nil, err
	}
	size, err := n.positiveInt("size")
	if err != nil {
		return nil, err
	}
	op := &lrnOp{size: int(size)}
	for _, a := range []struct {
		name string
		def  float32
		dst  *float64
	}{{"alpha", 1e-4, &op.alpha}, {"beta", 0.75, &op.beta}, {"bias", 1, &op.bias}} {
		v, err := n.Float(a.name, a.def)
		if err != nil {
			return nil, err
		}
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, n.errorf("attribute %s: expected a finite value, got %g", a.name, v)
		}
		*a.dst = float64(v)
	}
	return op, nil
}

// denom returns bias + alpha/size·Σx² for every element.
func (o *lrnOp) denom(x *tensor.Tensor) ([]float64, int, int, int, error) {
	if x.Rank() < 2 {
		return nil, 0, 0, 0, fmt.Errorf("input must be (N, C, ...), got shape %v", x.Shape)
	}
	n, c, s := x.Shape[0], x.Shape[1], tensor.Numel(x.Shape[2:])
	lo, hi := (o.size-1)/2, o.size/2 // ⌊(size-1)/2⌋, ⌈(size-1)/2⌉
	d := make([]float64, len(x.F))
	for b := 0; b < n; b++ {
		for ch := 0; ch < c; ch++ {
			for p := 0; p < s; p++ {
				var sq float64
				for k := max(0, ch-lo); k <= min(c-1, ch+hi); k++ {
					v := float64(x.F[(b*c+k)*s+p])
					sq += v * v
				}
				d[(b*c+ch)*s+p] = o.bias + o.alpha/float64(o.size)*sq
			}
		}
	}
	return d, n, c, s, nil
}

// Forward normalises across channels.
func (o *lrnOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	if err := checkInputs(in, 1); err != nil {
		return nil, nil, err
	}
	x, err := floatInput(in, 0, "X")
	if err != nil {
		return nil, nil, fmt.Errorf("%v", err)
	}
	d, _, _, _, err := o.denom(x)
	if err != nil {
		return nil, nil, err
	}
	y := rc.AllocNoZero(x.Shape...)
	for i, v := range x.F {
		y.F[i] = float32(float64(v) * math.Pow(d[i], -o.beta))
	}
	return []*tensor.Tensor{y}, nil, nil
}

// Backward: gx[c'] = g[c']·d[c']^-β - 2αβ/size · x[c'] · Σ g[c]·x[c]·d[c]^(-β-1)
// over the channels c whose window holds c'.
func (o *lrnOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	grads, x, g, gx, err := backwardUnary(rc, in, gOut, need, 1, "X")
	if err != nil || g == nil {
		return grads, err
	}
	d, n, c, s, err := o.denom(x)
	if err != nil {
		return nil, err
	}
	t := make([]float64, len(d)) // g·x·d^(-β-1)
	for i := range d {
		t[i] = float64(g.F[i]) * float64(x.F[i]) * math.Pow(d[i], -o.beta-1)
	}
	lo, hi := (o.size-1)/2, o.size/2
	k2 := 2 * o.alpha * o.beta / float64(o.size)
	for b := 0; b < n; b++ {
		for ch := 0; ch < c; ch++ {
			for p := 0; p < s; p++ {
				i := (b*c+ch)*s + p
				var acc float64
				// Channel ch lies in the window of channels ch-hi … ch+lo.
				for k := max(0, ch-hi); k <= min(c-1, ch+lo); k++ {
					acc += t[(b*c+k)*s+p]
				}
				gx.F[i] = float32(float64(g.F[i])*math.Pow(d[i], -o.beta) - k2*float64(x.F[i])*acc)
			}
		}
	}
	return grads, nil
}
