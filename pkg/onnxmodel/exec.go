package onnxmodel

import (
	"context"
	"errors"
	"fmt"

	"github.com/advtest/advtest/pkg/tensor"
)

// tape is one run of the graph: every value it computed and what each op
// saved for its backward rule. Its buffers go back to the model's pool when
// it is released, and during the run as soon as nothing can use them any
// more (see valRef, holds and backward).
type tape struct {
	m     *Model
	rc    *RunContext
	vals  []*tensor.Tensor
	saved []any
	ran   []*compiledNode
	batch int // the input's batch size, for WorkingMemoryError
	// valRef[s] is the pool buffer that vals[s] holds a reference to (nil
	// when vals[s] is not from the pool: a feed, a constant).
	valRef []*takenBuf
	// holds[i] are the buffers taken while ran[i] ran forward, when it
	// saved a value for its backward rule: its outputs, what it saved and
	// its scratch. They are held until that rule has run, since saved may
	// point into any of them.
	holds [][]*takenBuf
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
//
// With wrt not nil (keep), the tape keeps what each op saved and every
// value whose data a backward rule reads (see backwardReader) when backward
// differentiates with respect to the wrt slots, for backward; a value whose
// data none reads keeps only its shape once its last forward reader has
// run. Without keep, each value goes once its last reader has run, so that
// a forward-only run holds a few values at a time; the targets' values
// stay. Buffers go back to the pool as soon as nothing uses them.
func (m *Model) execute(ctx context.Context, plan []*compiledNode, feeds map[int]*tensor.Tensor, targets []int, training, fixedRandom bool, wrt []int) (*tape, error) {
	keep := wrt != nil
	t := &tape{m: m, rc: &RunContext{Training: training, fixedRandom: fixedRandom, pool: m.getPool()}, vals: make([]*tensor.Tensor, len(m.slots)), saved: make([]any, len(plan)), ran: plan, valRef: make([]*takenBuf, len(m.slots))}
	// lastUse[s] is the index in plan of the last node that reads slot s;
	// -1 for a slot that no node reads, len(plan) for the targets.
	lastUse := make([]int, len(m.slots))
	for s := range lastUse {
		lastUse[s] = -1
	}
	for i, cn := range plan {
		for _, s := range cn.in {
			if s >= 0 {
				lastUse[s] = i
			}
		}
	}
	for _, s := range targets {
		lastUse[s] = len(plan)
	}
	// With keep, readData[s] says whether a backward rule reads the data
	// of slot s (see backwardReader): a value that none reads keeps only
	// its shape once the forward pass is past its last reader.
	var readData []bool
	if keep {
		t.holds = make([][]*takenBuf, len(plan))
		readData = make([]bool, len(m.slots))
		for _, s := range targets {
			readData[s] = true
		}
		req := required(m, plan, wrt)
		for _, cn := range plan {
			var rin, rout []bool
			if br, ok := cn.op.(backwardReader); ok {
				need := make([]bool, len(cn.in))
				for j, s := range cn.in {
					need[j] = s >= 0 && req[s]
				}
				rin, rout = br.backwardReads(need, len(cn.out))
			}
			for j, s := range cn.in {
				if s >= 0 && (rin == nil || j >= len(rin) || rin[j]) {
					readData[s] = true
				}
			}
			for j, s := range cn.out {
				if s >= 0 && (rout == nil || j >= len(rout) || rout[j]) {
					readData[s] = true
				}
			}
		}
	}
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
				t.setVal(s, out[j])
			}
		}
		held := t.rc.pool.takeRecent()
		if keep && saved != nil {
			t.saved[i] = saved
			t.holds[i] = held
		} else {
			// No backward rule will read a saved value: only the values
			// keep the op's buffers now.
			t.rc.pool.unhold(held)
		}
		// Values that no later node reads go back, or, when backward
		// will read their shape only, keep only that.
		for _, s := range cn.in {
			if s >= 0 && lastUse[s] == i {
				t.forget(s, keep && readData[s])
			}
		}
		for _, s := range cn.out {
			if s >= 0 && lastUse[s] < i {
				t.forget(s, keep && readData[s])
			}
		}
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

// setVal makes v the value of slot s, holding a reference to its pool
// buffer (which it may share with other values: views alias their input).
func (t *tape) setVal(s int, v *tensor.Tensor) {
	t.dropVal(s)
	t.vals[s] = v
	if v != nil && v.DType == tensor.Float32 {
		t.valRef[s] = t.rc.pool.retain(v.F)
	}
}

// dropVal forgets the value of slot s, returning its buffer to the pool
// when no other value, gradient or op hold uses it. Feeds are kept (they
// are the caller's).
func (t *tape) dropVal(s int) {
	if ref := t.valRef[s]; ref != nil {
		t.valRef[s] = nil
		t.vals[s] = nil
		t.rc.pool.drop(ref)
	}
}

// forget ends the forward pass's use of slot s: with keepData the value
// stays for backward; otherwise a kept tape (backward reads at most its
// shape) keeps a tensor with its shape and dtype and no data, and a
// forward-only tape drops it.
func (t *tape) forget(s int, keepData bool) {
	ref := t.valRef[s]
	if keepData || ref == nil {
		return
	}
	v := t.vals[s]
	if t.holds != nil {
		t.vals[s] = &tensor.Tensor{Shape: v.Shape, DType: v.DType}
	} else {
		t.vals[s] = nil
	}
	t.valRef[s] = nil
	t.rc.pool.drop(ref)
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
//
// It frees as it goes: once ran[i]'s backward rule has run, nothing reads
// ran[i]'s outputs, their gradients or what it saved, so their buffers go
// back to the pool (unless another live value or gradient shares them) and
// serve the gradients of the nodes before it. The gradients of the wrt
// slots (graph inputs and initializers, which no node produces) stay.
//
// With again, the forward values and what the ops saved stay instead, so
// that another backward pass (another seed) can run over the same tape;
// only the gradients go as they are used. Backward rules never write into
// their inputs, outputs or saved values (checkGradients runs every rule
// twice to hold them to it).
func (t *tape) backward(ctx context.Context, seeds map[int]*tensor.Tensor, wrt []int, again bool) (map[int]*tensor.Tensor, error) {
	m := t.m
	req := required(m, t.ran, wrt)
	b := &backwardState{
		t:       t,
		req:     req,
		grads:   make([]*tensor.Tensor, len(m.slots)),
		gradRef: make([]*takenBuf, len(m.slots)),
		owned:   make([]bool, len(m.slots)),
	}
	for s, g := range seeds {
		b.setGrad(s, g)
	}
	for i := len(t.ran) - 1; i >= 0; i-- {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := b.node(i); err != nil {
			return nil, err
		}
		// Nothing after this reads ran[i]'s outputs, their gradients or
		// its saved value.
		cn := t.ran[i]
		for _, s := range cn.out {
			if s >= 0 {
				b.setGrad(s, nil)
				if !again {
					t.dropVal(s)
				}
			}
		}
		if again {
			continue
		}
		t.saved[i] = nil
		t.rc.pool.unhold(t.holds[i])
		t.holds[i] = nil
	}
	res := make(map[int]*tensor.Tensor, len(wrt))
	for _, s := range wrt {
		res[s] = b.grads[s]
	}
	return res, nil
}

// required returns which slots depend on the wrt slots through plan: the
// values whose gradients a backward pass with respect to wrt computes.
func required(m *Model, plan []*compiledNode, wrt []int) []bool {
	req := make([]bool, len(m.slots))
	for _, s := range wrt {
		req[s] = true
	}
	for _, cn := range plan {
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
	return req
}

// backwardState is one backward pass over a tape.
type backwardState struct {
	t     *tape
	req   []bool
	grads []*tensor.Tensor
	// gradRef[s] is the pool buffer grads[s] holds a reference to.
	gradRef []*takenBuf
	owned   []bool // grads[s] is a fresh tensor of ours that may be added into
	gOut    []*tensor.Tensor
	in, out []*tensor.Tensor
}

// setGrad makes g the gradient of slot s (nil: none), moving the buffer
// reference from the old gradient to g's.
func (b *backwardState) setGrad(s int, g *tensor.Tensor) {
	old := b.gradRef[s]
	b.grads[s], b.gradRef[s], b.owned[s] = g, nil, false
	if g != nil {
		b.gradRef[s] = b.t.rc.pool.retain(g.F)
	}
	b.t.rc.pool.drop(old)
}

// node runs the backward rule of ran[i] and adds its input gradients into
// grads.
func (b *backwardState) node(i int) error {
	t := b.t
	cn := t.ran[i]
	gOut, out := b.gOut[:0], b.out[:0]
	anyGrad := false
	for _, s := range cn.out {
		if s < 0 {
			gOut = append(gOut, nil)
			out = append(out, nil)
			continue
		}
		gOut = append(gOut, b.grads[s])
		out = append(out, t.vals[s])
		if b.grads[s] != nil {
			anyGrad = true
		}
	}
	b.gOut, b.out = gOut, out
	if !anyGrad {
		return nil
	}
	need := make([]bool, len(cn.in))
	anyNeed := false
	in := b.in[:0]
	for j, s := range cn.in {
		if s < 0 {
			in = append(in, nil)
			continue
		}
		v := t.value(s)
		in = append(in, v)
		if b.req[s] && v.DType == tensor.Float32 {
			need[j] = true
			anyNeed = true
		}
	}
	b.in = in
	if !anyNeed {
		return nil
	}
	gIn, err := cn.op.Backward(t.rc, in, out, t.saved[i], gOut, need)
	if err != nil {
		return cn.info.errorf("backward: %v", err)
	}
	if err := t.checkWorking(); err != nil {
		return err
	}
	// The buffers the rule took are held by the gradients that use them;
	// its scratch goes back once these are in grads.
	held := t.rc.pool.takeRecent()
	defer t.rc.pool.unhold(held)
	for j, s := range cn.in {
		if s < 0 || !need[j] || j >= len(gIn) || gIn[j] == nil {
			continue
		}
		g := gIn[j]
		if !tensor.SameShape(g.Shape, in[j].Shape) {
			return cn.info.errorf("backward: gradient for input %d has shape %v, the input %v", j, g.Shape, in[j].Shape)
		}
		switch {
		case b.grads[s] == nil:
			b.setGrad(s, g)
		case b.owned[s]:
			addInto(b.grads[s].F, g.F)
		default:
			sum := t.rc.Alloc(g.Shape...)
			copy(sum.F, b.grads[s].F)
			addInto(sum.F, g.F)
			b.setGrad(s, sum)
			b.owned[s] = true
			t.rc.pool.unhold(t.rc.pool.takeRecent())
		}
	}
	return nil
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
	t, err := m.execute(ctx, m.plan(targets), feeds, targets, false, false, nil)
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
