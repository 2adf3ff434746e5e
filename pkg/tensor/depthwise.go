package tensor

// Depthwise convolution (one filter per channel, ONNX Conv with group equal
// to the channel count) computed directly on one channel's plane. Through
// im2col each channel was a 1×K² by K²×OH·OW product: a K²-fold copy of
// the input and a GEMM with one row, which no GEMM runs well. Here every
// output element keeps its sum in a register over a kernel row (the
// kernel widths 3, 5 and 7 of MobileNetV2, EfficientNet and ConvNeXt have
// unrolled loops), and the borders, where part of the window lies in the
// padding, take a checked loop. The geometry is ConvGeom's with C = 1.

// DepthwisePlane writes y (g.OH×g.OW) = bias + the cross-correlation of
// the plane x (g.H×g.W) with the kernel w (g.KH×g.KW), zero padded, with
// g's strides and dilations. Every element of y is written. The plane is
// first copied into scratch with its padding made explicit, so that no
// window needs a bounds test; scratch is grown when too small and
// returned for the next call.
func DepthwisePlane(g *ConvGeom, x, w []float32, bias float32, y, scratch []float32) []float32 {
	y = y[:g.OH*g.OW]
	x = x[:g.H*g.W]
	w = w[:g.KH*g.KW]
	// The padded plane: the rows and columns the windows reach.
	xp, hp, wp, scratch := paddedPlane(g, scratch)
	// Columns [c0, c1) of x land at c0+PadL.
	c0, c1 := max(0, -g.PadL), min(g.W, wp-g.PadL)
	for r := max(0, -g.PadT); r < min(g.H, hp-g.PadT); r++ {
		if c0 < c1 {
			copy(xp[(r+g.PadT)*wp+c0+g.PadL:], x[r*g.W+c0:r*g.W+c1])
		}
	}
	for oh := 0; oh < g.OH; oh++ {
		yrow := y[oh*g.OW : (oh+1)*g.OW]
		for i := range yrow {
			yrow[i] = bias
		}
		for kh := 0; kh < g.KH; kh++ {
			r := oh*g.SH + kh*g.DH
			dwRow(yrow, xp[r*wp:(r+1)*wp], w[kh*g.KW:(kh+1)*g.KW], g.SW, g.DW)
		}
	}
	return scratch
}

// dwRow adds to yrow[ow] Σ_kw wr[kw]·xrow[ow·sw + kw·dw]; every window
// lies inside xrow.
// paddedPlane returns the zeroed padded plane the windows of g reach (hp
// rows of wp), carved from scratch, which is grown when too small and
// returned for the next call.
func paddedPlane(g *ConvGeom, scratch []float32) (xp []float32, hp, wp int, grown []float32) {
	hp = (g.OH-1)*g.SH + (g.KH-1)*g.DH + 1
	wp = (g.OW-1)*g.SW + (g.KW-1)*g.DW + 1
	if cap(scratch) < hp*wp {
		scratch = make([]float32, hp*wp)
	}
	xp = scratch[:hp*wp]
	clear(xp)
	return xp, hp, wp, scratch
}

func dwRow(yrow, xrow, wr []float32, sw, dw int) {
	kw := len(wr)
	if sw == 1 && dw == 1 && dwRowS1Fast(yrow, xrow, wr) {
		return
	}
	if dw != 1 {
		for o := range yrow {
			i := o * sw
			var acc float32
			for k, wv := range wr {
				acc += wv * xrow[i+k*dw]
			}
			yrow[o] += acc
		}
		return
	}
	switch kw {
	case 3:
		w0, w1, w2 := wr[0], wr[1], wr[2]
		for o := range yrow {
			i := o * sw
			xs := xrow[i : i+3 : i+3]
			yrow[o] += w0*xs[0] + w1*xs[1] + w2*xs[2]
		}
	case 5:
		w0, w1, w2, w3, w4 := wr[0], wr[1], wr[2], wr[3], wr[4]
		for o := range yrow {
			i := o * sw
			xs := xrow[i : i+5 : i+5]
			yrow[o] += (w0*xs[0] + w1*xs[1]) + (w2*xs[2] + w3*xs[3]) + w4*xs[4]
		}
	case 7:
		w0, w1, w2, w3, w4, w5, w6 := wr[0], wr[1], wr[2], wr[3], wr[4], wr[5], wr[6]
		for o := range yrow {
			i := o * sw
			xs := xrow[i : i+7 : i+7]
			yrow[o] += ((w0*xs[0] + w1*xs[1]) + (w2*xs[2] + w3*xs[3])) + ((w4*xs[4] + w5*xs[5]) + w6*xs[6])
		}
	default:
		for o := range yrow {
			i := o * sw
			xs := xrow[i : i+kw : i+kw]
			var acc float32
			for k, wv := range wr {
				acc += wv * xs[k]
			}
			yrow[o] += acc
		}
	}
}

// dwRowAdjoint adds wr[kw]·dyrow[ow] to xrow[ow·sw + kw·dw] for every ow
// and kw: the adjoint of dwRow.
func dwRowAdjoint(xrow, dyrow, wr []float32, sw, dw int) {
	kw := len(wr)
	if dw == 1 && kw == 3 {
		w0, w1, w2 := wr[0], wr[1], wr[2]
		for o, v := range dyrow {
			i := o * sw
			xs := xrow[i : i+3 : i+3]
			xs[0] += w0 * v
			xs[1] += w1 * v
			xs[2] += w2 * v
		}
		return
	}
	for o, v := range dyrow {
		i := o * sw
		for k, wv := range wr {
			xrow[i+k*dw] += wv * v
		}
	}
}

// DepthwisePlaneGradX writes dx (g.H×g.W), the gradient of a loss with
// respect to DepthwisePlane's x given dy (g.OH×g.OW), its gradient with
// respect to y. Every element of dx is written. With unit strides and
// dilations it is itself a depthwise correlation, of dy with the kernel
// flipped (padding K−1−pad), which uses scratch as DepthwisePlane does;
// otherwise each dy element is scattered through the kernel.
func DepthwisePlaneGradX(g *ConvGeom, dy, w []float32, dx, scratch []float32) []float32 {
	dx = dx[:g.H*g.W]
	dy = dy[:g.OH*g.OW]
	w = w[:g.KH*g.KW]
	if g.SH == 1 && g.SW == 1 && g.DH == 1 && g.DW == 1 {
		var flipped [49]float32
		var wf []float32
		if len(w) <= len(flipped) {
			wf = flipped[:len(w)]
		} else {
			wf = make([]float32, len(w))
		}
		for i, v := range w {
			wf[len(w)-1-i] = v
		}
		tg := ConvGeom{C: 1, H: g.OH, W: g.OW, KH: g.KH, KW: g.KW, SH: 1, SW: 1, DH: 1, DW: 1,
			PadT: g.KH - 1 - g.PadT, PadL: g.KW - 1 - g.PadL, OH: g.H, OW: g.W}
		return DepthwisePlane(&tg, dy, wf, 0, dx, scratch)
	}
	// The adjoint of DepthwisePlane's padded correlation: scatter into the
	// padded plane, then keep its interior.
	xp, hp, wp, scratch := paddedPlane(g, scratch)
	for oh := 0; oh < g.OH; oh++ {
		dyrow := dy[oh*g.OW : (oh+1)*g.OW]
		for kh := 0; kh < g.KH; kh++ {
			r := oh*g.SH + kh*g.DH
			dwRowAdjoint(xp[r*wp:(r+1)*wp], dyrow, w[kh*g.KW:(kh+1)*g.KW], g.SW, g.DW)
		}
	}
	clear(dx)
	c0, c1 := max(0, -g.PadL), min(g.W, wp-g.PadL)
	for r := max(0, -g.PadT); r < min(g.H, hp-g.PadT); r++ {
		if c0 < c1 {
			copy(dx[r*g.W+c0:r*g.W+c1], xp[(r+g.PadT)*wp+c0+g.PadL:])
		}
	}
	return scratch
}

// DepthwisePlaneGradW adds to dw (g.KH×g.KW) the gradient of a loss with
// respect to DepthwisePlane's w, given its input x and dy, the loss's
// gradient with respect to y. Each kernel element's sum over the plane
// runs in float32 per output row and in float64 across rows.
func DepthwisePlaneGradW(g *ConvGeom, x, dy []float32, dw []float32) {
	x = x[:g.H*g.W]
	dy = dy[:g.OH*g.OW]
	dw = dw[:g.KH*g.KW]
	var acc64 [49]float64
	var acc []float64
	if len(dw) <= len(acc64) {
		acc = acc64[:len(dw)]
	} else {
		acc = make([]float64, len(dw))
	}
	for oh := 0; oh < g.OH; oh++ {
		dyrow := dy[oh*g.OW : (oh+1)*g.OW]
		for kh := 0; kh < g.KH; kh++ {
			ih := oh*g.SH - g.PadT + kh*g.DH
			if ih < 0 || ih >= g.H {
				continue
			}
			xrow := x[ih*g.W : (ih+1)*g.W]
			for kw := 0; kw < g.KW; kw++ {
				off := kw*g.DW - g.PadL
				lo, hi := validRange(g.OW, g.SW, off, g.W)
				var s float32
				if g.SW == 1 && lo < hi {
					xs := xrow[lo+off : hi+off]
					ds := dyrow[lo:hi]
					ds = ds[:len(xs)]
					for i, v := range xs {
						s += v * ds[i]
					}
				} else {
					for o := lo; o < hi; o++ {
						s += dyrow[o] * xrow[o*g.SW+off]
					}
				}
				acc[kh*g.KW+kw] += float64(s)
			}
		}
	}
	for i, v := range acc {
		dw[i] += float32(v)
	}
}
