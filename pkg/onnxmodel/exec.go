package onnxmodel

import (
	"context"
	"errors"
	"fmt"

	"github.com/advtest/advtest/pkg/tensor"
)

// tape is one run of the graph: every value it computed and what each op
// saved for its backward rule. Its buffers go back to the model's pool when
// it is released.
type tape struct {
	m     *Model
	rc    *RunContext
	vals  []*tensor.Tensor
	saved []any
	ran   []*compiledNode
	batch int // the input's batch size, for WorkingMemoryError
}

func (m *Model) getPool() *bufferPool {
	m.poolMu.Lock()
	defer m.poolMu.Unlock()
	if n := len(m.pools); n > 0 {
		p := m.pools[n-1]
		m.pools = m.pools[:n-1]
		return p
	}
	return newBufferPool()
}

func (t *tape) value(s int) *tensor.Tensor {
	if v := t.vals[s]; v != nil {
		return v
	}
	return t.m.consts[s]
}

// release returns the tape's buffers to the model. Nothing computed by the
// tape may be used afterwards.
func (t *tape) release() {
	if t.rc.pool != nil {
		t.rc.pool.releaseAll()
		t.m.poolMu.Lock()
		t.m.pools = append(t.m.pools, t.rc.pool)
		t.m.poolMu.Unlock()
		t.rc.pool = nil
	}
}

// plan returns the nodes needed to compute the target slots, in order.
func (m *Model) plan(targets []int) []*compiledNode {
	need := make([]bool, len(m.slots))
	for _, s := range targets {
		need[s] = true
	}
	keep := make([]bool, len(m.nodes))
	for i := len(m.nodes) - 1; i >= 0; i-- {
		cn := m.nodes[i]
		for _, s := range cn.out {
			if s >= 0 && need[s] {
				keep[i] = true
			}
		}
		if keep[i] {
			for _, s := range cn.in {
				if s >= 0 {
					need[s] = true
				}
			}
		}
	}
	var out []*compiledNode
	for i, cn := range m.nodes {
		if keep[i] {
			out = append(out, cn)
		}
	}
	return out
}

// execute runs the nodes of plan with the given feeds. With fixedRandom,
// random ops output their mean instead of drawing (see RunContext).
func (m *Model) execute(ctx context.Context, plan []*compiledNode, feeds map[int]*tensor.Tensor, training, fixedRandom bool) (*tape, error) {
	t := &tape{m: m, rc: &RunContext{Training: training, fixedRandom: fixedRandom, pool: m.getPool()}, vals: make([]*tensor.Tensor, len(m.slots)), saved: make([]any, len(plan)), ran: plan}
	for s, v := range feeds {
		t.vals[s] = v
		if len(v.Shape) > 0 {
			t.batch = max(t.batch, v.Shape[0])
		}
	}
	in := make([]*tensor.Tensor, 0, 8)
	for i, cn := range plan {
		if err := ctx.Err(); err != nil {
			t.release()
			return nil, err
		}
		in = in[:0]
		for _, s := range cn.in {
			if s < 0 {
				in = append(in, nil)
				continue
			}
			v := t.value(s)
			if v == nil {
				t.release()
				return nil, cn.info.errorf("input %q has no value (is a graph input missing?)", m.slots[s])
			}
			in = append(in, v)
		}
		out, saved, err := cn.op.Forward(t.rc, in)
		if err != nil {
			t.release()
			return nil, cn.info.errorf("%v", err)
		}
		if len(out) < countPresent(cn.out) {
			t.release()
			return nil, cn.info.errorf("produced %d outputs, the graph uses %d", len(out), countPresent(cn.out))
		}
		for j, s := range cn.out {
			if s >= 0 && j < len(out) {
				t.vals[s] = out[j]
			}
		}
		t.saved[i] = saved
		if err := t.checkWorking(); err != nil {
			t.release()
			return nil, err
		}
	}
	return t, nil
}

// checkWorking enforces Limits.WorkingBytes after each op: the run stops
// with a *WorkingMemoryError (its Suggest filled in by Backprop) once its
// buffers pass the limit.
func (t *tape) checkWorking() error {
	lim := limWorking.Load()
	if lim <= 0 || t.rc.pool == nil {
		return nil
	}
	if used := t.rc.pool.used(); used > lim {
		return &WorkingMemoryError{Batch: t.batch, Used: used, Limit: lim}
	}
	return nil
}

func countPresent(slots []int) int {
	n := 0
	for _, s := range slots {
		if s >= 0 {
			n++
		}
	}
	return n
}

// backward propagates the seed gradients back through the tape and returns
// the gradients of the wrt slots (nil where no gradient reaches one).
func (t *tape) backward(ctx context.Context, seeds map[int]*tensor.Tensor, wrt []int) (map[int]*tensor.Tensor, error) {
	m := t.m
	req := make([]bool, len(m.slots))
	for _, s := range wrt {
		req[s] = true
	}
	for _, cn := range t.ran {
		any := false
		for _, s := range cn.in {
			if s >= 0 && req[s] {
				any = true
			}
		}
		if any {
			for _, s := range cn.out {
				if s >= 0 {
					req[s] = true
				}
			}
		}
	}
	grads := make([]*tensor.Tensor, len(m.slots))
	owned := make([]bool, len(m.slots)) // grads[s] is a fresh tensor of ours that may be added into
	for s, g := range seeds {
		grads[s] = g
	}
	gOut := make([]*tensor.Tensor, 0, 4)
	in := make([]*tensor.Tensor, 0, 8)
	out := make([]*tensor.Tensor, 0, 4)
	for i := len(t.ran) - 1; i >= 0; i-- {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cn := t.ran[i]
		gOut, out = gOut[:0], out[:0]
		anyGrad := false
		for _, s := range cn.out {
			if s < 0 {
				gOut = append(gOut, nil)
				out = append(out, nil)
				continue
			}
			gOut = append(gOut, grads[s])
			out = append(out, t.vals[s])
			if grads[s] != nil {
				anyGrad = true
			}
		}
		if !anyGrad {
			continue
		}
		need := make([]bool, len(cn.in))
		anyNeed := false
		in = in[:0]
		for j, s := range cn.in {
			if s < 0 {
				in = append(in, nil)
				continue
			}
			v := t.value(s)
			in = append(in, v)
			if req[s] && v.DType == tensor.Float32 {
				need[j] = true
				anyNeed = true
			}
		}
		if !anyNeed {
			continue
		}
		gIn, err := cn.op.Backward(t.rc, in, out, t.saved[i], gOut, need)
		if err != nil {
			return nil, cn.info.errorf("backward: %v", err)
		}
		if err := t.checkWorking(); err != nil {
			return nil, err
		}
		for j, s := range cn.in {
			if s < 0 || !need[j] || j >= len(gIn) || gIn[j] == nil {
				continue
			}
			g := gIn[j]
			if !tensor.SameShape(g.Shape, in[j].Shape) {
				return nil, cn.info.errorf("backward: gradient for input %d has shape %v, the input %v", j, g.Shape, in[j].Shape)
			}
			switch {
			case grads[s] == nil:
				grads[s] = g
			case owned[s]:
				addInto(grads[s].F, g.F)
			default:
				sum := t.rc.Alloc(g.Shape...)
				copy(sum.F, grads[s].F)
				addInto(sum.F, g.F)
				grads[s] = sum
				owned[s] = true
			}
		}
	}
	res := make(map[int]*tensor.Tensor, len(wrt))
	for _, s := range wrt {
		res[s] = grads[s]
	}
	return res, nil
}

func addInto(dst, src []float32) {
	tensor.ParallelFor(len(dst), 1<<15, func(lo, hi int) {
		d, s := dst[lo:hi], src[lo:hi]
		for i := range d {
			d[i] += s[i]
		}
	})
}

// Run executes the whole graph on named inputs and returns every graph
// output by name. Inputs must include every graph input that is not an
// initializer; integer inputs are Int64 tensors.
func (m *Model) Run(ctx context.Context, inputs map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	feeds := map[int]*tensor.Tensor{}
	for _, in := range m.Inputs {
		v, ok := inputs[in.Name]
		if !ok {
			return nil, fmt.Errorf("graph input %q is not given", in.Name)
		}
		feeds[m.slotOf[in.Name]] = v
	}
	targets := make([]int, len(m.Outputs))
	for i, o := range m.Outputs {
		targets[i] = m.slotOf[o.Name]
	}
	t, err := m.execute(ctx, m.plan(targets), feeds, false, false)
	if err != nil {
		return nil, err
	}
	defer t.release()
	res := map[string]*tensor.Tensor{}
	for i, o := range m.Outputs {
		v := t.value(targets[i])
		if v == nil {
			return nil, fmt.Errorf("graph output %q was not computed", o.Name)
		}
		res[o.Name] = v.Clone()
	}
	return res, nil
}

// ErrNoInput is returned when a model has no float graph input to feed.
var ErrNoInput = errors.New("the model has no graph input")
