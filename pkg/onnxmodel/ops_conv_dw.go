package onnxmodel

import "github.com/advtest/advtest/pkg/tensor"

// Depthwise convolution: Conv with one input and one output channel per
// group (MobileNetV2's and EfficientNet's 3×3 and 5×5, ConvNeXt's 7×7).
// It runs plane by plane with tensor.DepthwisePlane and its gradients
// rather than as a one-row GEMM per channel over an im2col copy.

// depthwise reports whether the convolution is depthwise and 1-D or 2-D.
func (s *convSetup) depthwise(group int) bool {
	return s.nd == nil && group == s.c && s.cg == 1 && s.mg == 1
}

// dwPlaneChunk is the least number of planes one worker takes (a 7×7 plane
// is small: ConvNeXt's last stage has 7×7 planes).
const dwPlaneChunk = 4

// depthwiseForward writes Y (every element) plane by plane.
func (s *convSetup) depthwiseForward(y []float32) {
	kk := s.geom.KH * s.geom.KW
	tensor.ParallelFor(s.n*s.c, dwPlaneChunk, func(lo, hi int) {
		var scratch []float32
		for p := lo; p < hi; p++ {
			c := p % s.c
			var bias float32
			if s.b != nil {
				bias = s.b.F[c]
			}
			scratch = tensor.DepthwisePlane(&s.geom, s.x.F[p*s.inHW:(p+1)*s.inHW], s.w.F[c*kk:(c+1)*kk], bias, y[p*s.oHW:(p+1)*s.oHW], scratch)
		}
	})
}

// depthwiseBackward returns the gradients with respect to X, W and B
// (those needed): X's plane by plane, W's channel by channel (each worker
// owns its channels' kernels, summing over the batch), B's by
// nnBiasGrad.
func (s *convSetup) depthwiseBackward(rc *RunContext, in, out, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	grads := make([]*tensor.Tensor, len(in))
	dy, err := nnGradOut(gOut, out[0])
	if err != nil {
		return nil, err
	}
	needX, needW, needB := nnNeed(need, 0), nnNeed(need, 1), nnNeed(need, 2) && s.b != nil
	if dy == nil {
		if needX {
			grads[0] = rc.Alloc(s.x.Shape...)
		}
		if needW {
			grads[1] = rc.Alloc(s.w.Shape...)
		}
		if needB {
			grads[2] = rc.Alloc(s.m)
		}
		return grads, nil
	}
	kk := s.geom.KH * s.geom.KW
	if needX {
		dx := rc.AllocNoZero(s.x.Shape...) // DepthwisePlaneGradX writes every element
		tensor.ParallelFor(s.n*s.c, dwPlaneChunk, func(lo, hi int) {
			var scratch []float32
			for p := lo; p < hi; p++ {
				c := p % s.c
				scratch = tensor.DepthwisePlaneGradX(&s.geom, dy.F[p*s.oHW:(p+1)*s.oHW], s.w.F[c*kk:(c+1)*kk], dx.F[p*s.inHW:(p+1)*s.inHW], scratch)
			}
		})
		grads[0] = dx
	}
	if needW {
		dw := rc.Alloc(s.w.Shape...)
		tensor.ParallelFor(s.c, 1, func(lo, hi int) {
			for c := lo; c < hi; c++ {
				for i := 0; i < s.n; i++ {
					p := i*s.c + c
					tensor.DepthwisePlaneGradW(&s.geom, s.x.F[p*s.inHW:(p+1)*s.inHW], dy.F[p*s.oHW:(p+1)*s.oHW], dw.F[c*kk:(c+1)*kk])
				}
			}
		})
		grads[1] = dw
	}
	if needB {
		grads[2] = rc.Alloc(s.m)
		nnBiasGrad(dy.F, s.n, s.m, s.oHW, grads[2].F)
	}
	return grads, nil
}
