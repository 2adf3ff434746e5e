package onnxmodel

import (
	"errors"
	"fmt"
	"math"

	"github.com/advtest/advtest/pkg/tensor"
)

// This file holds the normalisation ops: BatchNormalization and
// LayerNormalization.

func init() {
	register("BatchNormalization", buildBatchNormOp)
	register("LayerNormalization", buildLayerNormOp)
}

// ---------------------------------------------------------------- BatchNormalization

// batchNormOp is ONNX BatchNormalization over [N, C, ...] tensors.
//
// In inference (the default) it normalises with the running mean and
// variance inputs. When the run trains (RunContext.Training) it normalises
// with the batch statistics over N and the spatial axes, differentiates
// through them, and updates the running mean and variance inputs in place:
// running = running·momentum + batch·(1−momentum), with the unbiased batch
// variance as PyTorch does; the node's running_var output (training_mode 1)
// uses the biased batch variance, as ONNX specifies. A node with training_mode 1 also uses batch
// statistics but updates nothing unless the run trains.
type batchNormOp struct {
	eps          float32
	momentum     float32
	trainingMode bool
	nOut         int
	opset        int64
}

// batchNormSaved carries the statistics Forward used to Backward.
type batchNormSaved struct {
	mean, invStd []float32
	batchStats   bool
}

func buildBatchNormOp(n *NodeInfo) (Op, error) {
	eps, err := n.Float("epsilon", 1e-5)
	if err != nil {
		return nil, err
	}
	if !(eps >= 0) {
		return nil, n.errorf("attribute epsilon: expected a float >= 0, got %g", eps)
	}
	mom, err := n.Float("momentum", 0.9)
	if err != nil {
		return nil, err
	}
	if !(mom >= 0 && mom <= 1) {
		return nil, n.errorf("attribute momentum: expected a float in [0, 1], got %g", mom)
	}
	sp, err := n.Int("spatial", 1)
	if err != nil {
		return nil, err
	}
	if sp != 1 {
		return nil, n.errorf("attribute spatial: only 1 (per-channel statistics) is supported, got %d", sp)
	}
	tm, err := n.flag("training_mode", 0)
	if err != nil {
		return nil, err
	}
	if len(n.Inputs) < 5 {
		return nil, n.errorf("expected inputs X, scale, B, input_mean and input_var, got %d inputs", len(n.Inputs))
	}
	for i, nm := range []string{"X", "scale", "B", "input_mean", "input_var"} {
		if n.Inputs[i] == "" {
			return nil, n.errorf("input %s is required", nm)
		}
	}
	nOut := 0
	for i, o := range n.Outputs {
		if o != "" {
			nOut = i + 1
		}
	}
	return &batchNormOp{eps: eps, momentum: mom, trainingMode: tm, nOut: max(nOut, 1), opset: n.Opset}, nil
}

func (o *batchNormOp) setup(in []*tensor.Tensor) (x *tensor.Tensor, p [4]*tensor.Tensor, err error) {
	if x, err = nnFloatInput(in, 0, "X"); err != nil {
		return
	}
	if x.Rank() < 2 {
		return nil, p, fmt.Errorf("input X has shape %v: expected [N, C, ...]", x.Shape)
	}
	c := x.Shape[1]
	for i, nm := range []string{"scale", "B", "input_mean", "input_var"} {
		if p[i], err = nnFloatInput(in, i+1, nm); err != nil {
			return
		}
		if p[i].Len() != c || p[i].Rank() > 1 {
			return nil, p, fmt.Errorf("%s has shape %v: expected [%d] (X's channels, X %v)", nm, p[i].Shape, c, x.Shape)
		}
	}
	return
}

// Forward computes Y (and the optional statistics outputs).
func (o *batchNormOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	x, p, err := o.setup(in)
	if err != nil {
		return nil, nil, err
	}
	scale, bias, rMean, rVar := p[0].F, p[1].F, p[2].F, p[3].F
	n, c := x.Shape[0], x.Shape[1]
	sz := tensor.Numel(x.Shape[2:])
	training := rc != nil && rc.Training
	sv := &batchNormSaved{mean: make([]float32, c), invStd: make([]float32, c), batchStats: training || o.trainingMode}
	var bVar []float32
	if sv.batchStats {
		bVar = make([]float32, c)
	}
	y := rc.Alloc(x.Shape...)
	cnt := n * sz
	tensor.ParallelFor(c, 1, func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			mean, variance := float64(rMean[ch]), float64(rVar[ch])
			if sv.batchStats {
				var s float64
				for i := 0; i < n; i++ {
					var r float32
					for _, v := range x.F[(i*c+ch)*sz : (i*c+ch+1)*sz] {
						r += v
					}
					s += float64(r)
				}
				mean = s / float64(max(cnt, 1))
				var q float64
				for i := 0; i < n; i++ {
					var r float32
					mf := float32(mean)
					for _, v := range x.F[(i*c+ch)*sz : (i*c+ch+1)*sz] {
						d := v - mf
						r += d * d
					}
					q += float64(r)
				}
				variance = q / float64(max(cnt, 1))
				bVar[ch] = float32(variance)
			}
			inv := 1 / math.Sqrt(variance+float64(o.eps))
			sv.mean[ch], sv.invStd[ch] = float32(mean), float32(inv)
			a := scale[ch] * float32(inv)
			b := bias[ch] - float32(mean)*a
			for i := 0; i < n; i++ {
				off := (i*c + ch) * sz
				src, dst := x.F[off:off+sz], y.F[off:off+sz]
				for j, v := range src {
					dst[j] = v*a + b
				}
			}
		}
	})
	var newMean, newVar []float32
	if sv.batchStats {
		// The node's running_var output is ONNX's: the biased (population)
		// batch variance. The in-place update of the model's statistics
		// when the engine trains follows PyTorch's BatchNorm, which the
		// models come from: the unbiased batch variance.
		newMean, newVar = make([]float32, c), make([]float32, c)
		for ch := 0; ch < c; ch++ {
			newMean[ch] = rMean[ch]*o.momentum + sv.mean[ch]*(1-o.momentum)
			newVar[ch] = rVar[ch]*o.momentum + bVar[ch]*(1-o.momentum)
		}
		if training {
			copy(rMean, newMean)
			for ch := 0; ch < c; ch++ {
				unbiased := bVar[ch]
				if cnt > 1 {
					unbiased = bVar[ch] * float32(cnt) / float32(cnt-1)
				}
				rVar[ch] = rVar[ch]*o.momentum + unbiased*(1-o.momentum)
			}
		}
	} else {
		newMean, newVar = append([]float32(nil), rMean...), append([]float32(nil), rVar...)
	}
	out := []*tensor.Tensor{y}
	if o.nOut > 1 {
		// Opset >= 14: running_mean, running_var. Opset < 14: mean, var,
		// saved_mean, saved_var (saved_var as the inverse standard deviation).
		extra := [][]float32{newMean, newVar, sv.mean, sv.invStd}
		for i := 1; i < o.nOut && i <= len(extra); i++ {
			out = append(out, tensor.FromFloat32(append([]float32(nil), extra[i-1]...), c))
		}
	}
	return out, sv, nil
}

// Backward returns the gradients with respect to X, scale and B (and, in
// inference, input_mean and input_var).
func (o *batchNormOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	x, p, err := o.setup(in)
	if err != nil {
		return nil, err
	}
	sv, ok := saved.(*batchNormSaved)
	if !ok {
		return nil, errors.New("backward without its forward state")
	}
	grads := make([]*tensor.Tensor, len(in))
	for i := 0; i < len(in) && i < 5; i++ {
		if nnNeed(need, i) {
			grads[i] = rc.Alloc(in[i].Shape...)
		}
	}
	dy, err := nnGradOut(gOut, out[0])
	if err != nil || dy == nil {
		return grads, err
	}
	n, c := x.Shape[0], x.Shape[1]
	sz := tensor.Numel(x.Shape[2:])
	cnt := float32(max(n*sz, 1))
	scale := p[0].F
	tensor.ParallelFor(c, 1, func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			mean, inv := sv.mean[ch], sv.invStd[ch]
			var sumDy, sumDyXh float64
			for i := 0; i < n; i++ {
				off := (i*c + ch) * sz
				var a, b float32
				dyr := dy.F[off : off+sz]
				for j, v := range x.F[off : off+sz] {
					a += dyr[j]
					b += dyr[j] * (v - mean)
				}
				sumDy += float64(a)
				sumDyXh += float64(b)
			}
			sumDyXh *= float64(inv) // Σ dy·x̂
			if grads[1] != nil {
				grads[1].F[ch] = float32(sumDyXh)
			}
			if grads[2] != nil {
				grads[2].F[ch] = float32(sumDy)
			}
			if !sv.batchStats {
				if len(grads) > 3 && grads[3] != nil {
					grads[3].F[ch] = -scale[ch] * inv * float32(sumDy)
				}
				if len(grads) > 4 && grads[4] != nil {
					// d/dvar of (x−mean)·(var+eps)^(−1/2) = −½·(x−mean)·inv³
					grads[4].F[ch] = -0.5 * scale[ch] * inv * inv * float32(sumDyXh)
				}
			}
			if grads[0] == nil {
				continue
			}
			k := scale[ch] * inv
			var mDy, mDyXh float32
			if sv.batchStats {
				mDy, mDyXh = float32(sumDy)/cnt, float32(sumDyXh)/cnt
			}
			for i := 0; i < n; i++ {
				off := (i*c + ch) * sz
				dyr, dxr := dy.F[off:off+sz], grads[0].F[off:off+sz]
				if !sv.batchStats {
					for j, v := range dyr {
						dxr[j] = v * k
					}
					continue
				}
				for j, v := range x.F[off : off+sz] {
					xh := (v - mean) * inv
					dxr[j] = k * (dyr[j] - mDy - xh*mDyXh)
				}
			}
		}
	})
	return grads, nil
}

// ---------------------------------------------------------------- LayerNormalization

// layerNormOp is ONNX LayerNormalization (opset 17): it normalises over the
// axes from axis to the last, then applies Scale and the optional B. Scale
// and B must have the normalised axes' shape (leading 1s allowed) or a
// single element.
type layerNormOp struct {
	axis int
	eps  float32
	nOut int
}

// layerNormSaved carries the per-row statistics to Backward.
type layerNormSaved struct {
	mean, invStd []float32
}

func buildLayerNormOp(n *NodeInfo) (Op, error) {
	axis, err := n.Int("axis", -1)
	if err != nil {
		return nil, err
	}
	eps, err := n.Float("epsilon", 1e-5)
	if err != nil {
		return nil, err
	}
	if !(eps >= 0) {
		return nil, n.errorf("attribute epsilon: expected a float >= 0, got %g", eps)
	}
	st, err := n.Int("stash_type", 1)
	if err != nil {
		return nil, err
	}
	if st != 1 {
		return nil, n.errorf("attribute stash_type: only 1 (float32 statistics) is supported, got %d", st)
	}
	if len(n.Inputs) < 2 || n.Inputs[0] == "" || n.Inputs[1] == "" {
		return nil, n.errorf("expected inputs X and Scale (and optional B), got %d inputs", len(n.Inputs))
	}
	nOut := 0
	for i, o := range n.Outputs {
		if o != "" {
			nOut = i + 1
		}
	}
	return &layerNormOp{axis: int(axis), eps: eps, nOut: max(nOut, 1)}, nil
}

func (o *layerNormOp) setup(in []*tensor.Tensor) (x, scale, bias *tensor.Tensor, axis, rows, d int, err error) {
	if x, err = nnFloatInput(in, 0, "X"); err != nil {
		return
	}
	if scale, err = nnFloatInput(in, 1, "Scale"); err != nil {
		return
	}
	if bias, err = nnOptFloatInput(in, 2, "B"); err != nil {
		return
	}
	axis = o.axis
	if axis < 0 {
		axis += x.Rank()
	}
	if axis < 0 || axis >= x.Rank() {
		err = fmt.Errorf("attribute axis %d is out of range for X %v", o.axis, x.Shape)
		return
	}
	rows, d = tensor.Numel(x.Shape[:axis]), tensor.Numel(x.Shape[axis:])
	for _, t := range []*tensor.Tensor{scale, bias} {
		if t == nil {
			continue
		}
		if t.Len() != 1 && t.Len() != d {
			err = fmt.Errorf("Scale/B shape %v does not match the normalised axes %v of X %v", t.Shape, x.Shape[axis:], x.Shape)
			return
		}
	}
	return
}

// Forward computes Y (and Mean and InvStdDev when the node asks for them).
func (o *layerNormOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	x, scale, bias, axis, rows, d, err := o.setup(in)
	if err != nil {
		return nil, nil, err
	}
	y := rc.AllocNoZero(x.Shape...) // every row is written below
	sv := &layerNormSaved{mean: make([]float32, rows), invStd: make([]float32, rows)}
	gs, bs := lnExpand(scale, d), lnExpand(bias, d)
	tensor.ParallelFor(rows, 16, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, yr := x.F[r*d:(r+1)*d], y.F[r*d:(r+1)*d]
			var s float64
			for _, v := range xr {
				s += float64(v)
			}
			mean := float32(s / float64(max(d, 1)))
			var q float64
			for _, v := range xr {
				q += float64((v - mean) * (v - mean))
			}
			inv := float32(1 / math.Sqrt(q/float64(max(d, 1))+float64(o.eps)))
			sv.mean[r], sv.invStd[r] = mean, inv
			yr, gs, bs := yr[:len(xr)], gs[:len(xr)], bs[:len(xr)]
			for j, v := range xr {
				yr[j] = (v-mean)*inv*gs[j] + bs[j]
			}
		}
	})
	out := []*tensor.Tensor{y}
	if o.nOut > 1 {
		st := append([]int(nil), x.Shape...)
		for i := axis; i < len(st); i++ {
			st[i] = 1
		}
		out = append(out, tensor.FromFloat32(append([]float32(nil), sv.mean...), st...))
		if o.nOut > 2 {
			out = append(out, tensor.FromFloat32(append([]float32(nil), sv.invStd...), st...))
		}
	}
	return out, sv, nil
}

// lnExpand returns LayerNormalization's scale or bias t as d values, one
// per normalised element: t's own when it has d, t's one value repeated
// when it has one, zeros when t is absent (no bias).
func lnExpand(t *tensor.Tensor, d int) []float32 {
	if t != nil && len(t.F) == d {
		return t.F
	}
	v := make([]float32, d)
	if t != nil && len(t.F) > 0 {
		for j := range v {
			v[j] = t.F[0]
		}
	}
	return v
}

// Backward returns the gradients with respect to X, Scale and B.
func (o *layerNormOp) Backward(rc *RunContext, in, out []*tensor.Tensor, saved any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	x, scale, bias, _, rows, d, err := o.setup(in)
	if err != nil {
		return nil, err
	}
	sv, ok := saved.(*layerNormSaved)
	if !ok || len(sv.mean) != rows {
		return nil, errors.New("backward without its forward state")
	}
	grads := make([]*tensor.Tensor, len(in))
	if nnNeed(need, 1) {
		grads[1] = rc.Alloc(scale.Shape...)
	}
	if nnNeed(need, 2) && bias != nil {
		grads[2] = rc.Alloc(bias.Shape...)
	}
	dy, err := nnGradOut(gOut, out[0])
	if err != nil {
		return grads, err
	}
	// Gradients that reach the optional Mean and InvStdDev outputs.
	var gMean, gInv []float32
	if len(gOut) > 1 && gOut[1] != nil && gOut[1].Len() == rows {
		gMean = gOut[1].F
	}
	if len(gOut) > 2 && gOut[2] != nil && gOut[2].Len() == rows {
		gInv = gOut[2].F
	}
	if dy == nil && gMean == nil && gInv == nil {
		if nnNeed(need, 0) {
			grads[0] = rc.Alloc(x.Shape...)
		}
		return grads, nil
	}
	if nnNeed(need, 0) {
		grads[0] = rc.AllocNoZero(x.Shape...) // every row is written below
	}
	if dy == nil {
		dy = rc.Alloc(x.Shape...)
	}
	gs := lnExpand(scale, d)
	if grads[0] != nil {
		tensor.ParallelFor(rows, 16, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				xr, dyr, dxr := x.F[r*d:(r+1)*d], dy.F[r*d:(r+1)*d], grads[0].F[r*d:(r+1)*d]
				dyr, dxr, gs := dyr[:len(xr)], dxr[:len(xr)], gs[:len(xr)]
				mean, inv := sv.mean[r], sv.invStd[r]
				var sg, sgx float32
				for j, v := range xr {
					g := dyr[j] * gs[j]
					sg += g
					sgx += g * (v - mean) * inv
				}
				sg /= float32(d)
				sgx /= float32(d)
				var gm, gi float32
				if gMean != nil {
					gm = gMean[r] / float32(d)
				}
				if gInv != nil {
					gi = -gInv[r] * inv * inv * inv / float32(d)
				}
				for j, v := range xr {
					xh := (v - mean) * inv
					dxr[j] = inv*(dyr[j]*gs[j]-sg-xh*sgx) + gm + gi*(v-mean)
				}
			}
		})
	}
	var dScale, dBias *tensor.Tensor
	if len(grads) > 1 {
		dScale = grads[1]
	}
	if len(grads) > 2 {
		dBias = grads[2]
	}
	if dScale != nil || dBias != nil {
		for r := 0; r < rows; r++ {
			xr, dyr := x.F[r*d:(r+1)*d], dy.F[r*d:(r+1)*d]
			mean, inv := sv.mean[r], sv.invStd[r]
			for j, v := range xr {
				if dScale != nil {
					k := j
					if len(dScale.F) == 1 {
						k = 0
					}
					dScale.F[k] += dyr[j] * (v - mean) * inv
				}
				if dBias != nil {
					k := j
					if len(dBias.F) == 1 {
						k = 0
					}
					dBias.F[k] += dyr[j]
				}
			}
		}
	}
	return grads, nil
}
