package onnxmodel

import (
	"fmt"
	"sync"

	"github.com/advtest/advtest/pkg/tensor"
)

// This file holds Conv and ConvTranspose, and the windowing attributes
// (kernel_shape, strides, pads, dilations, auto_pad) that they share with
// the pooling ops. Both run im2col + GEMM per sample, parallel over the
// batch; 1-D windows run as 2-D ones with a height of 1.

func init() {
	register("Conv", buildConvOp)
	register("ConvTranspose", buildConvTransposeOp)
}

// nnMaxSpatial is the largest number of spatial dimensions the windowed ops
// accept (1-D, 2-D and 3-D; 1-D and 2-D windows run on the 2-D kernels of
// pkg/tensor, 3-D ones on the N-d ones).
const nnMaxSpatial = 3

// nnSpatial holds a node's windowing attributes as given (nil when absent).
type nnSpatial struct {
	kernel    []int
	strides   []int
	pads      []int // begins, then ends
	dilations []int
	autoPad   string
	ceil      bool
}

// nnIntsAttr reads an int-list attribute and checks each value is >= min.
func nnIntsAttr(n *NodeInfo, name string, min int64) ([]int, error) {
	v, err := n.Ints(name, nil)
	if err != nil || v == nil {
		return nil, err
	}
	out := make([]int, len(v))
	for i, x := range v {
		if x < min || x > 1<<30 {
			return nil, n.errorf("attribute %s: expected values >= %d, got %v", name, min, v)
		}
		out[i] = int(x)
	}
	return out, nil
}

// nnParseSpatial reads and checks the windowing attributes of n.
func nnParseSpatial(n *NodeInfo, requireKernel, pool bool) (*nnSpatial, error) {
	s := &nnSpatial{}
	var err error
	if s.kernel, err = nnIntsAttr(n, "kernel_shape", 1); err != nil {
		return nil, err
	}
	if requireKernel && s.kernel == nil {
		return nil, n.errorf("attribute kernel_shape is required (a list of ints, one per spatial axis)")
	}
	if s.strides, err = nnIntsAttr(n, "strides", 1); err != nil {
		return nil, err
	}
	if s.pads, err = nnIntsAttr(n, "pads", 0); err != nil {
		return nil, err
	}
	if s.dilations, err = nnIntsAttr(n, "dilations", 1); err != nil {
		return nil, err
	}
	if s.autoPad, err = n.String("auto_pad", "NOTSET"); err != nil {
		return nil, err
	}
	switch s.autoPad {
	case "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID":
	case "":
		s.autoPad = "NOTSET"
	default:
		return nil, n.errorf("attribute auto_pad: expected NOTSET, SAME_UPPER, SAME_LOWER or VALID, got %q", s.autoPad)
	}
	if s.pads != nil && len(s.pads)%2 != 0 {
		return nil, n.errorf("attribute pads: expected 2 values per spatial axis (begins, then ends), got %v", s.pads)
	}
	rank := -1
	for _, a := range []struct {
		name string
		v    []int
		per  int
	}{{"kernel_shape", s.kernel, 1}, {"strides", s.strides, 1}, {"dilations", s.dilations, 1}, {"pads", s.pads, 2}} {
		if a.v == nil {
			continue
		}
		r := len(a.v) / a.per
		if r == 0 {
			return nil, n.errorf("attribute %s: expected one value per spatial axis, got an empty list", a.name)
		}
		if rank >= 0 && r != rank {
			return nil, n.errorf("attribute %s: %v is for %d spatial axes, other attributes are for %d", a.name, a.v, r, rank)
		}
		rank = r
	}
	if rank > nnMaxSpatial {
		return nil, n.errorf("%d-D windows are not supported (1-D, 2-D and 3-D are)", rank)
	}
	if pool {
		c, err := n.flag("ceil_mode", 0)
		if err != nil {
			return nil, err
		}
		s.ceil = c
	}
	return s, nil
}

// nnWindow is a resolved window over concrete spatial dimensions.
type nnWindow struct {
	in, k, s, d, pb, pe, out []int
}

// resolve computes the padding and output size for input spatial dims in and
// kernel dims k (len(in) == len(k)).
func (sp *nnSpatial) resolve(in, k []int) (*nnWindow, error) {
	r := len(in)
	if r == 0 || r > nnMaxSpatial {
		return nil, fmt.Errorf("%d spatial axes: only 1-D, 2-D and 3-D windows are supported", r)
	}
	for _, a := range []struct {
		name string
		v    []int
		per  int
	}{{"kernel_shape", sp.kernel, 1}, {"strides", sp.strides, 1}, {"dilations", sp.dilations, 1}, {"pads", sp.pads, 2}} {
		if a.v != nil && len(a.v) != a.per*r {
			return nil, fmt.Errorf("attribute %s %v does not fit an input with %d spatial axes", a.name, a.v, r)
		}
	}
	w := &nnWindow{in: in, k: k, s: make([]int, r), d: make([]int, r), pb: make([]int, r), pe: make([]int, r), out: make([]int, r)}
	for i := 0; i < r; i++ {
		w.s[i], w.d[i] = 1, 1
		if sp.strides != nil {
			w.s[i] = sp.strides[i]
		}
		if sp.dilations != nil {
			w.d[i] = sp.dilations[i]
		}
		keff := (k[i]-1)*w.d[i] + 1
		switch sp.autoPad {
		case "SAME_UPPER", "SAME_LOWER":
			out := (in[i] + w.s[i] - 1) / w.s[i]
			total := (out-1)*w.s[i] + keff - in[i]
			if total < 0 {
				total = 0
			}
			small := total / 2
			if sp.autoPad == "SAME_UPPER" {
				w.pb[i], w.pe[i] = small, total-small
			} else {
				w.pb[i], w.pe[i] = total-small, small
			}
			w.out[i] = out
		case "VALID":
			if in[i] < keff {
				return nil, fmt.Errorf("spatial axis %d: input size %d is smaller than the dilated kernel %d", i, in[i], keff)
			}
			w.out[i] = (in[i]-keff)/w.s[i] + 1
		default:
			if sp.pads != nil {
				w.pb[i], w.pe[i] = sp.pads[i], sp.pads[i+r]
			}
			span := in[i] + w.pb[i] + w.pe[i] - keff
			if span < 0 {
				return nil, fmt.Errorf("spatial axis %d: padded input size %d is smaller than the dilated kernel %d", i, in[i]+w.pb[i]+w.pe[i], keff)
			}
			if sp.ceil {
				w.out[i] = (span+w.s[i]-1)/w.s[i] + 1
				// A window must start inside the input or the begin padding.
				if (w.out[i]-1)*w.s[i] >= in[i]+w.pb[i] {
					w.out[i]--
				}
			} else {
				w.out[i] = span/w.s[i] + 1
			}
		}
		if w.out[i] < 1 {
			return nil, fmt.Errorf("spatial axis %d: empty output", i)
		}
	}
	return w, nil
}

// geom returns the 2-D geometry of the window for c channels (1-D windows
// become 2-D ones of height 1).
func (w *nnWindow) geom(c int) tensor.ConvGeom {
	if len(w.in) == 1 {
		return tensor.ConvGeom{C: c, H: 1, W: w.in[0], KH: 1, KW: w.k[0], SH: 1, SW: w.s[0], DH: 1, DW: w.d[0],
			PadL: w.pb[0], OH: 1, OW: w.out[0]}
	}
	return tensor.ConvGeom{C: c, H: w.in[0], W: w.in[1], KH: w.k[0], KW: w.k[1], SH: w.s[0], SW: w.s[1],
		DH: w.d[0], DW: w.d[1], PadT: w.pb[0], PadL: w.pb[1], OH: w.out[0], OW: w.out[1]}
}

// geomND returns the N-d geometry of the window for c channels.
func (w *nnWindow) geomND(c int) *tensor.ConvGeomND {
	return &tensor.ConvGeomND{C: c, In: w.in, K: w.k, Pad: w.pb, Stride: w.s, Dil: w.d, Out: w.out}
}

// nnScratchPool holds reusable float32 scratch buffers (im2col matrices,
// per-worker gradient accumulators) shared by all ops and runs.
var nnScratchPool sync.Pool

// nnGetScratch returns a buffer of n elements (contents undefined). A
// pooled buffer too small for n is dropped, not put back: put back, it was
// the next Get's answer again, so that every call of a larger op allocated
// a new buffer and the pool grew by one until the next collections (45 MB
// of im2col buffers live at one point of README's first command, the MNIST
// CNN at batch 128). Dropping it leaves the pool with buffers large enough
// for the largest op, about one per worker.
func nnGetScratch(n int) *[]float32 {
	if p, ok := nnScratchPool.Get().(*[]float32); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	b := make([]float32, n)
	return &b
}

// nnPutScratch returns a buffer to the pool.
func nnPutScratch(p *[]float32) { nnScratchPool.Put(p) }

// nnFloatInput checks that input i is present and a float tensor.
func nnFloatInput(in []*tensor.Tensor, i int, name string) (*tensor.Tensor, error) {
	if i >= len(in) || in[i] == nil {
		return nil, fmt.Errorf("input %s is missing", name)
	}
	if in[i].DType != tensor.Float32 || len(in[i].F) != in[i].Len() {
		return nil, fmt.Errorf("input %s: expected float32 data, got %s", name, in[i])
	}
	return in[i], nil
}

// nnFloatInputShape is nnFloatInput when data is set; otherwise, for a
// backward rule that reads only the input's shape (see backwardReader), it
// checks that the input is present and a float tensor, not its data.
func nnFloatInputShape(in []*tensor.Tensor, i int, name string, data bool) (*tensor.Tensor, error) {
	if data {
		return nnFloatInput(in, i, name)
	}
	if i >= len(in) || in[i] == nil {
		return nil, fmt.Errorf("input %s is missing", name)
	}
	if in[i].DType != tensor.Float32 {
		return nil, fmt.Errorf("input %s: expected float32 data, got %s", name, in[i])
	}
	return in[i], nil
}

// nnOptFloatInput is nnFloatInput for an optional input: nil when absent.
func nnOptFloatInput(in []*tensor.Tensor, i int, name string) (*tensor.Tensor, error) {
	if i >= len(in) || in[i] == nil {
		return nil, nil
	}
	return nnFloatInput(in, i, name)
}

// nnGradOut returns gOut[0] or, when no gradient reaches the output, nil.
func nnGradOut(gOut []*tensor.Tensor, out *tensor.Tensor) (*tensor.Tensor, error) {
	if len(gOut) == 0 || gOut[0] == nil {
		return nil, nil
	}
	if !tensor.SameShape(gOut[0].Shape, out.Shape) {
		return nil, fmt.Errorf("output gradient has shape %v, output has shape %v", gOut[0].Shape, out.Shape)
	}
	return gOut[0], nil
}

// nnNeed reports need[i], false when need is short.
func nnNeed(need []bool, i int) bool { return i < len(need) && need[i] }

// nnBatchChunk is the least number of samples one worker takes.
const nnBatchChunk = 1

// nnConvBatchParallel selects how convolutions use the cores: true splits
// the batch over GOMAXPROCS workers, each running im2col and its own GEMMs
// on its samples; false runs the samples in turn and leaves the
// parallelism to tensor.Gemm. BenchmarkConv measures both.
var nnConvBatchParallel = true

// nnBatchFor runs fn over the samples [0, n) as nnConvBatchParallel says.
func nnBatchFor(n int, fn func(lo, hi int)) {
	if nnConvBatchParallel {
		tensor.ParallelFor(n, nnBatchChunk, fn)
		return
	}
	fn(0, n)
}

// ---------------------------------------------------------------- Conv

// convOp is ONNX Conv: Y = X ⋆ W + B over 1-D, 2-D or 3-D NC... tensors.
type convOp struct {
	sp    *nnSpatial
	group int
}

func buildConvOp(n *NodeInfo) (Op, error) {
	sp, err := nnParseSpatial(n, false, false)
	if err != nil {
		return nil, err
	}
	g, err := n.Int("group", 1)
	if err != nil {
		return nil, err
	}
	if g < 1 || g > 1<<30 {
		return nil, n.errorf("attribute group: expected a positive int, got %d", g)
	}
	if len(n.Inputs) < 2 || n.Inputs[0] == "" || n.Inputs[1] == "" {
		return nil, n.errorf("expected inputs X and W (and optional B), got %d inputs", len(n.Inputs))
	}
	return &convOp{sp: sp, group: int(g)}, nil
}

// convSetup is what Forward and Backward of a convolution both derive.
type convSetup struct {
	x, w, b   *tensor.Tensor
	n, c, m   int
	cg, mg    int
	geom      tensor.ConvGeom    // per group, per sample (1-D and 2-D)
	nd        *tensor.ConvGeomND // per group, per sample (3-D); geom is then unused
	outShape  []int
	inHW, oHW int
	ckk       int
	pointwise bool
}

// setup checks the inputs and works out the geometry; with dataX false it
// does not check X's data (Backward computing no weight gradient reads only
// X's shape).
func (o *convOp) setup(in []*tensor.Tensor, dataX bool) (*convSetup, error) {
	x, err := nnFloatInputShape(in, 0, "X", dataX)
	if err != nil {
		return nil, err
	}
	w, err := nnFloatInput(in, 1, "W")
	if err != nil {
		return nil, err
	}
	b, err := nnOptFloatInput(in, 2, "B")
	if err != nil {
		return nil, err
	}
	if x.Rank() < 3 || x.Rank() > 2+nnMaxSpatial {
		return nil, fmt.Errorf("input X has shape %v: expected [N, C, W], [N, C, H, W] or [N, C, D, H, W]", x.Shape)
	}
	if w.Rank() != x.Rank() {
		return nil, fmt.Errorf("input W has shape %v: expected rank %d like X %v", w.Shape, x.Rank(), x.Shape)
	}
	s := &convSetup{x: x, w: w, b: b, n: x.Shape[0], c: x.Shape[1], m: w.Shape[0]}
	if s.c%o.group != 0 || s.m%o.group != 0 {
		return nil, fmt.Errorf("group %d does not divide X's channels %d and W's output channels %d", o.group, s.c, s.m)
	}
	s.cg, s.mg = s.c/o.group, s.m/o.group
	if w.Shape[1] != s.cg {
		return nil, fmt.Errorf("input W has shape %v: expected %d input channels per group (X has %d channels, group %d)", w.Shape, s.cg, s.c, o.group)
	}
	kernel := w.Shape[2:]
	if o.sp.kernel != nil && !tensor.SameShape(o.sp.kernel, kernel) {
		return nil, fmt.Errorf("attribute kernel_shape %v does not match W's shape %v", o.sp.kernel, w.Shape)
	}
	if b != nil && (b.Rank() != 1 || b.Shape[0] != s.m) {
		return nil, fmt.Errorf("input B has shape %v: expected [%d]", b.Shape, s.m)
	}
	win, err := o.sp.resolve(x.Shape[2:], kernel)
	if err != nil {
		return nil, err
	}
	s.outShape = append([]int{s.n, s.m}, win.out...)
	s.setGeom(win, s.cg)
	return s, nil
}

// setGeom sets the im2col geometry of window win over c channels (per
// group) and the sizes derived from it.
func (s *convSetup) setGeom(win *nnWindow, c int) {
	if len(win.in) > 2 {
		s.nd = win.geomND(c)
		s.inHW, s.oHW, s.ckk = tensor.Numel(win.in), tensor.Numel(win.out), s.nd.ColRows()
		return
	}
	s.geom = win.geom(c)
	s.inHW = s.geom.H * s.geom.W
	s.oHW = s.geom.OH * s.geom.OW
	s.ckk = s.geom.ColRows()
	g := &s.geom
	s.pointwise = g.KH == 1 && g.KW == 1 && g.SH == 1 && g.SW == 1 && g.PadT == 0 && g.PadL == 0 && g.OH == g.H && g.OW == g.W
}

// colLen is the length of the im2col matrix.
func (s *convSetup) colLen() int {
	if s.nd != nil {
		return s.nd.ColLen()
	}
	return s.geom.ColLen()
}

// im2col writes the im2col matrix of x (one group of one sample) to col.
func (s *convSetup) im2col(x, col []float32) {
	if s.nd != nil {
		tensor.Im2ColND(s.nd, x, col)
		return
	}
	tensor.Im2Col(&s.geom, x, col)
}

// col2im adds col back into the image x (the adjoint of im2col).
func (s *convSetup) col2im(col, x []float32) {
	if s.nd != nil {
		tensor.Col2ImND(s.nd, col, x)
		return
	}
	tensor.Col2Im(&s.geom, col, x)
}

// Forward computes Y = Conv(X, W) + B.
func (o *convOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	s, err := o.setup(in, true)
	if err != nil {
		return nil, nil, err
	}
	y := rc.AllocNoZero(s.outShape...) // every element is written by a GEMM with beta 0
	if s.depthwise(o.group) {
		s.depthwiseForward(y.F)
		return []*tensor.Tensor{y}, nil, nil
	}
	xs, ys := s.c*s.inHW, s.m*s.oHW
	nnBatchFor(s.n, func(lo, hi int) {
		var col *[]float32
		if !s.pointwise {
			col = nnGetScratch(s.colLen())
			defer nnPutScratch(col)
		}
		for i := lo; i < hi; i++ {
			x := s.x.F[i*xs : (i+1)*xs]
			yy := y.F[i*ys : (i+1)*ys]
			for g := 0; g < o.group; g++ {
				xg := x[g*s.cg*s.inHW : (g+1)*s.cg*s.inHW]
				cm := xg
				if !s.pointwise {
					s.im2col(xg, *col)
					cm = *col
				}
				tensor.Gemm(false, false, s.mg, s.oHW, s.ckk, 1, s.w.F[g*s.mg*s.ckk:], s.ckk, cm, s.oHW, 0, yy[g*s.mg*s.oHW:], s.oHW)
			}
			if s.b != nil {
				nnAddBias(yy, s.b.F, s.oHW)
			}
		}
	})
	return []*tensor.Tensor{y}, nil, nil
}

// backwardReads: X's data only for the weight gradient, W's always (a
// constant, as a rule), never Y's; B's when it is a value (setup checks it).
func (o *convOp) backwardReads(need []bool, nOut int) (in, out []bool) {
	in, out = make([]bool, len(need)), make([]bool, nOut)
	for i := range in {
		in[i] = i != 0 || nnNeed(need, 1)
	}
	return in, out
}

// Backward returns the gradients with respect to X, W and B (those needed).
func (o *convOp) Backward(rc *RunContext, in, out []*tensor.Tensor, _ any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	s, err := o.setup(in, nnNeed(need, 1))
	if err != nil {
		return nil, err
	}
	if s.depthwise(o.group) {
		return s.depthwiseBackward(rc, in, out, gOut, need)
	}
	xs, ys := s.c*s.inHW, s.m*s.oHW
	return convBackward(rc, in, out, gOut, need, s.b != nil, convShape{x: s.x.Shape, w: s.w.Shape, n: s.n, m: s.m, yHW: s.oHW, colLen: s.colLen(), pointwise: s.pointwise},
		func(i int, b *convBackwardBatch) {
			dyy := b.dy.F[i*ys : (i+1)*ys]
			for g := 0; g < o.group; g++ {
				wg := s.w.F[g*s.mg*s.ckk:]
				dyg := dyy[g*s.mg*s.oHW:]
				if b.dw != nil {
					x := s.x.F[i*xs : (i+1)*xs]
					xg := x[g*s.cg*s.inHW : (g+1)*s.cg*s.inHW]
					cm := xg
					if !s.pointwise {
						s.im2col(xg, b.col)
						cm = b.col
					}
					tensor.Gemm(false, true, s.mg, s.ckk, s.oHW, 1, dyg, s.oHW, cm, s.oHW, 1, b.acc[g*s.mg*s.ckk:], s.ckk)
				}
				if b.dx != nil {
					dxg := b.dx.F[i*xs+g*s.cg*s.inHW : i*xs+(g+1)*s.cg*s.inHW]
					if s.pointwise {
						tensor.Gemm(true, false, s.ckk, s.oHW, s.mg, 1, wg, s.ckk, dyg, s.oHW, 0, dxg, s.oHW)
					} else {
						tensor.Gemm(true, false, s.ckk, s.oHW, s.mg, 1, wg, s.ckk, dyg, s.oHW, 0, b.col, s.oHW)
						s.col2im(b.col, dxg)
					}
				}
			}
		})
}

// convShape is what convBackward needs of a Conv-like op: the shapes of
// X and W as the op sees them (its gradients'), the batch size, output
// channels and per-channel output size (for the bias gradient), and the
// im2col buffer's length (none when pointwise).
type convShape struct {
	x, w      []int
	n, m, yHW int
	colLen    int
	pointwise bool
}

// convBackwardBatch is one goroutine's view of a Conv-like Backward: the
// output gradient, the input and weight gradients (nil when not needed),
// its im2col scratch and its private weight-gradient accumulator (summed
// into dw after its samples).
type convBackwardBatch struct {
	dy, dx, dw *tensor.Tensor
	col, acc   []float32
}

// convBackward is the part Conv's and ConvTranspose's Backward share: it
// allocates the gradients need asks for (X, W, and B when the op has a
// bias), fills B's, and runs sample(i, b) for every sample of the batch
// in parallel, each goroutine with its own scratch and weight-gradient
// accumulator, which it adds into dW under a lock at the end.
func convBackward(rc *RunContext, in, out, gOut []*tensor.Tensor, need []bool, hasBias bool, sh convShape, sample func(i int, b *convBackwardBatch)) ([]*tensor.Tensor, error) {
	grads := make([]*tensor.Tensor, len(in))
	dy, err := nnGradOut(gOut, out[0])
	if err != nil {
		return nil, err
	}
	needX, needW, needB := nnNeed(need, 0), nnNeed(need, 1), nnNeed(need, 2) && hasBias
	var dx, dw *tensor.Tensor
	if needX {
		dx = rc.Alloc(sh.x...)
		grads[0] = dx
	}
	if needW {
		dw = rc.Alloc(sh.w...)
		grads[1] = dw
	}
	if needB {
		grads[2] = rc.Alloc(sh.m)
	}
	if dy == nil {
		return grads, nil
	}
	if needB {
		nnBiasGrad(dy.F, sh.n, sh.m, sh.yHW, grads[2].F)
	}
	if !needX && !needW {
		return grads, nil
	}
	var mu sync.Mutex
	nnBatchFor(sh.n, func(lo, hi int) {
		b := &convBackwardBatch{dy: dy, dx: dx, dw: dw}
		if !sh.pointwise {
			col := nnGetScratch(sh.colLen)
			defer nnPutScratch(col)
			b.col = *col
		}
		if needW {
			acc := nnGetScratch(len(dw.F))
			defer nnPutScratch(acc)
			clear(*acc)
			b.acc = *acc
		}
		for i := lo; i < hi; i++ {
			sample(i, b)
		}
		if needW {
			mu.Lock()
			for j, v := range b.acc {
				dw.F[j] += v
			}
			mu.Unlock()
		}
	})
	return grads, nil
}

// nnAddBias adds bias[m] to every element of channel m of one sample's
// output y ([m, hw]).
func nnAddBias(y, bias []float32, hw int) {
	for m, bv := range bias {
		row := y[m*hw : (m+1)*hw]
		for j := range row {
			row[j] += bv
		}
	}
}

// nnBiasGrad sums dy ([n, m, hw]) over n and hw into db ([m]).
func nnBiasGrad(dy []float32, n, m, hw int, db []float32) {
	for c := 0; c < m; c++ {
		var s float64
		for i := 0; i < n; i++ {
			row := dy[(i*m+c)*hw : (i*m+c+1)*hw]
			var r float32
			for _, v := range row {
				r += v
			}
			s += float64(r)
		}
		db[c] = float32(s)
	}
}

// ---------------------------------------------------------------- ConvTranspose

// convTransposeOp is ONNX ConvTranspose, the adjoint of Conv with respect
// to its input (plus bias): W is [C, M/group, k...].
type convTransposeOp struct {
	sp          *nnSpatial
	group       int
	outPadding  []int
	outputShape []int
}

func buildConvTransposeOp(n *NodeInfo) (Op, error) {
	sp, err := nnParseSpatial(n, false, false)
	if err != nil {
		return nil, err
	}
	g, err := n.Int("group", 1)
	if err != nil {
		return nil, err
	}
	if g < 1 || g > 1<<30 {
		return nil, n.errorf("attribute group: expected a positive int, got %d", g)
	}
	op := &convTransposeOp{sp: sp, group: int(g)}
	if op.outPadding, err = nnIntsAttr(n, "output_padding", 0); err != nil {
		return nil, err
	}
	if op.outputShape, err = nnIntsAttr(n, "output_shape", 1); err != nil {
		return nil, err
	}
	if len(op.outPadding) > nnMaxSpatial {
		return nil, n.errorf("attribute output_padding %v: only 1-D, 2-D and 3-D windows are supported", op.outPadding)
	}
	if len(n.Inputs) < 2 || n.Inputs[0] == "" || n.Inputs[1] == "" {
		return nil, n.errorf("expected inputs X and W (and optional B), got %d inputs", len(n.Inputs))
	}
	return op, nil
}

// setup derives the shapes. The geometry is that of the Conv whose input
// gradient this op computes: its "image" is Y (per group: M/group channels
// of the output size) and its output is X.
func (o *convTransposeOp) setup(in []*tensor.Tensor) (*convSetup, error) {
	x, err := nnFloatInput(in, 0, "X")
	if err != nil {
		return nil, err
	}
	w, err := nnFloatInput(in, 1, "W")
	if err != nil {
		return nil, err
	}
	b, err := nnOptFloatInput(in, 2, "B")
	if err != nil {
		return nil, err
	}
	if x.Rank() < 3 || x.Rank() > 2+nnMaxSpatial {
		return nil, fmt.Errorf("input X has shape %v: expected [N, C, W], [N, C, H, W] or [N, C, D, H, W]", x.Shape)
	}
	if w.Rank() != x.Rank() {
		return nil, fmt.Errorf("input W has shape %v: expected rank %d like X %v", w.Shape, x.Rank(), x.Shape)
	}
	s := &convSetup{x: x, w: w, b: b, n: x.Shape[0], c: x.Shape[1]}
	if w.Shape[0] != s.c || s.c%o.group != 0 {
		return nil, fmt.Errorf("input W has shape %v: expected [C=%d, M/group, k...] with C divisible by group %d", w.Shape, s.c, o.group)
	}
	s.cg, s.mg = s.c/o.group, w.Shape[1]
	s.m = s.mg * o.group
	r := x.Rank() - 2
	kernel := w.Shape[2:]
	if o.sp.kernel != nil && !tensor.SameShape(o.sp.kernel, kernel) {
		return nil, fmt.Errorf("attribute kernel_shape %v does not match W's shape %v", o.sp.kernel, w.Shape)
	}
	if b != nil && (b.Rank() != 1 || b.Shape[0] != s.m) {
		return nil, fmt.Errorf("input B has shape %v: expected [%d]", b.Shape, s.m)
	}
	for _, a := range []struct {
		name string
		v    []int
		per  int
	}{{"strides", o.sp.strides, 1}, {"dilations", o.sp.dilations, 1}, {"pads", o.sp.pads, 2}, {"output_padding", o.outPadding, 1}} {
		if a.v != nil && len(a.v) != a.per*r {
			return nil, fmt.Errorf("attribute %s %v does not fit an input with %d spatial axes", a.name, a.v, r)
		}
	}
	inSp := x.Shape[2:]
	win := &nnWindow{k: kernel, s: make([]int, r), d: make([]int, r), pb: make([]int, r), pe: make([]int, r), in: make([]int, r), out: inSp}
	var target []int
	switch {
	case o.outputShape != nil && len(o.outputShape) == r:
		target = o.outputShape
	case o.outputShape != nil && len(o.outputShape) == r+2:
		target = o.outputShape[2:]
	case o.outputShape != nil:
		return nil, fmt.Errorf("attribute output_shape %v does not fit an input with %d spatial axes", o.outputShape, r)
	}
	for i := 0; i < r; i++ {
		win.s[i], win.d[i] = 1, 1
		if o.sp.strides != nil {
			win.s[i] = o.sp.strides[i]
		}
		if o.sp.dilations != nil {
			win.d[i] = o.sp.dilations[i]
		}
		op := 0
		if o.outPadding != nil {
			op = o.outPadding[i]
		}
		if op >= win.s[i] && op >= win.d[i] {
			return nil, fmt.Errorf("attribute output_padding %v: must be smaller than the stride or the dilation", o.outPadding)
		}
		keff := (kernel[i]-1)*win.d[i] + 1
		full := win.s[i]*(inSp[i]-1) + op + keff
		t := -1
		if target != nil {
			t = target[i]
		} else if o.sp.autoPad == "SAME_UPPER" || o.sp.autoPad == "SAME_LOWER" {
			t = inSp[i] * win.s[i]
		}
		if t >= 0 {
			// A negative total (an output_shape larger than the full
			// output) pads with negative amounts: the extra positions get
			// only the bias. Halves round down, as ONNX's reference does.
			total := full - t
			half := total / 2
			if total < 0 && total%2 != 0 {
				half--
			}
			if o.sp.autoPad == "SAME_UPPER" {
				win.pb[i], win.pe[i] = half, total-half
			} else {
				win.pb[i], win.pe[i] = total-half, half
			}
			win.in[i] = t
		} else {
			if o.sp.pads != nil && o.sp.autoPad == "NOTSET" {
				win.pb[i], win.pe[i] = o.sp.pads[i], o.sp.pads[i+r]
			}
			win.in[i] = full - win.pb[i] - win.pe[i]
		}
		if win.in[i] < 1 {
			return nil, fmt.Errorf("spatial axis %d: empty output (pads %v are too large)", i, o.sp.pads)
		}
	}
	s.outShape = append([]int{s.n, s.m}, win.in...)
	// inHW is then the per-channel size of Y, oHW that of X, ckk Mg·k...
	s.setGeom(win, s.mg)
	return s, nil
}

// Forward computes Y = ConvTranspose(X, W) + B.
func (o *convTransposeOp) Forward(rc *RunContext, in []*tensor.Tensor) ([]*tensor.Tensor, any, error) {
	s, err := o.setup(in)
	if err != nil {
		return nil, nil, err
	}
	y := rc.Alloc(s.outShape...)
	xs, ys := s.c*s.oHW, s.m*s.inHW
	nnBatchFor(s.n, func(lo, hi int) {
		var col *[]float32
		if !s.pointwise {
			col = nnGetScratch(s.colLen())
			defer nnPutScratch(col)
		}
		for i := lo; i < hi; i++ {
			x := s.x.F[i*xs : (i+1)*xs]
			yy := y.F[i*ys : (i+1)*ys]
			for g := 0; g < o.group; g++ {
				xg := x[g*s.cg*s.oHW:]
				wg := s.w.F[g*s.cg*s.ckk:]
				yg := yy[g*s.mg*s.inHW : (g+1)*s.mg*s.inHW]
				if s.pointwise {
					tensor.Gemm(true, false, s.ckk, s.oHW, s.cg, 1, wg, s.ckk, xg, s.oHW, 0, yg, s.oHW)
				} else {
					tensor.Gemm(true, false, s.ckk, s.oHW, s.cg, 1, wg, s.ckk, xg, s.oHW, 0, *col, s.oHW)
					s.col2im(*col, yg)
				}
			}
			if s.b != nil {
				nnAddBias(yy, s.b.F, s.inHW)
			}
		}
	})
	return []*tensor.Tensor{y}, nil, nil
}

// Backward returns the gradients with respect to X, W and B (those needed).
func (o *convTransposeOp) Backward(rc *RunContext, in, out []*tensor.Tensor, _ any, gOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	s, err := o.setup(in)
	if err != nil {
		return nil, err
	}
	xs, ys := s.c*s.oHW, s.m*s.inHW
	return convBackward(rc, in, out, gOut, need, s.b != nil, convShape{x: s.x.Shape, w: s.w.Shape, n: s.n, m: s.m, yHW: s.inHW, colLen: s.colLen(), pointwise: s.pointwise},
		func(i int, b *convBackwardBatch) {
			x := s.x.F[i*xs : (i+1)*xs]
			dyy := b.dy.F[i*ys : (i+1)*ys]
			for g := 0; g < o.group; g++ {
				dyg := dyy[g*s.mg*s.inHW : (g+1)*s.mg*s.inHW]
				cm := dyg
				if !s.pointwise {
					s.im2col(dyg, b.col)
					cm = b.col
				}
				if b.dx != nil {
					tensor.Gemm(false, false, s.cg, s.oHW, s.ckk, 1, s.w.F[g*s.cg*s.ckk:], s.ckk, cm, s.oHW, 0, b.dx.F[i*xs+g*s.cg*s.oHW:], s.oHW)
				}
				if b.dw != nil {
					tensor.Gemm(false, true, s.cg, s.ckk, s.oHW, 1, x[g*s.cg*s.oHW:], s.oHW, cm, s.oHW, 1, b.acc[g*s.cg*s.ckk:], s.ckk)
				}
			}
		})
}
