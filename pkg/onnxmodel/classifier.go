package onnxmodel

import (
	"context"
	"errors"
	"fmt"

	"github.com/advtest/advtest/pkg/tensor"
)

// input returns the model's single float input, or an error saying why the
// model cannot be used as a classifier.
func (m *Model) input() (ValueInfo, error) {
	if len(m.Inputs) == 0 {
		return ValueInfo{}, ErrNoInput
	}
	if len(m.Inputs) > 1 {
		return ValueInfo{}, fmt.Errorf("the model has %d graph inputs; advtest attacks classifiers with one input", len(m.Inputs))
	}
	in := m.Inputs[0]
	switch in.ElemType {
	case "", "FLOAT", "DOUBLE", "FLOAT16":
	default:
		return ValueInfo{}, fmt.Errorf("graph input %q has element type %s; advtest needs a float input", in.Name, in.ElemType)
	}
	return in, nil
}

// SampleShape returns the declared shape of one sample (the input's shape
// without its batch axis); -1 marks dimensions that are not fixed.
func (m *Model) SampleShape() []int {
	in, err := m.input()
	if err != nil || len(in.Shape) == 0 {
		return nil
	}
	return append([]int(nil), in.Shape[1:]...)
}

// CheckInput verifies that x fits the model's declared input: same rank and
// the same size in every fixed dimension but the batch axis.
func (m *Model) CheckInput(x *tensor.Tensor) error {
	in, err := m.input()
	if err != nil {
		return err
	}
	if x.DType != tensor.Float32 {
		return fmt.Errorf("input must be float32, got %s", x.DType)
	}
	if len(x.Shape) == 0 || x.Shape[0] == 0 {
		return fmt.Errorf("input has shape %v, want a non-empty batch", x.Shape)
	}
	if in.Shape == nil {
		return nil
	}
	if len(x.Shape) != len(in.Shape) {
		return fmt.Errorf("input %q: data has shape %v (rank %d), the model expects rank %d (%s)", in.Name, x.Shape, len(x.Shape), len(in.Shape), declaredShape(in))
	}
	for i := 1; i < len(x.Shape); i++ {
		if in.Shape[i] > 0 && in.Shape[i] != x.Shape[i] {
			return fmt.Errorf("input %q: data has shape %v, the model expects %s", in.Name, x.Shape, declaredShape(in))
		}
	}
	return nil
}

func declaredShape(v ValueInfo) string {
	s := "["
	for i, d := range v.Shape {
		if i > 0 {
			s += " "
		}
		switch {
		case d > 0:
			s += fmt.Sprint(d)
		case v.DimNames[i] != "":
			s += v.DimNames[i]
		default:
			s += "?"
		}
	}
	return s + "]"
}

// BackpropOptions selects what Backprop differentiates.
type BackpropOptions struct {
	// Input asks for the gradient with respect to the input batch.
	Input bool
	// Params asks for the gradients with respect to every float initializer.
	Params bool
	// Training runs the graph in training mode (BatchNormalization uses and
	// updates batch statistics).
	Training bool
	// fixedRandom runs random ops at their mean (the load-time self-check).
	fixedRandom bool
	// usage, when not nil, receives the run's peak working memory in bytes.
	usage *int64
}

// Grads holds what Backprop computed. Every tensor is the caller's own.
type Grads struct {
	// Logits are the [N, C] logits of the forward pass.
	Logits *tensor.Tensor
	// Input is dLoss/dx, when asked for.
	Input *tensor.Tensor
	// Params holds dLoss/dθ by initializer name, when asked for
	// (a parameter that the loss does not depend on gets zeros).
	Params map[string]*tensor.Tensor
}

// Logits runs the batch x ([N, sample shape...]) through the model and
// returns its [N, C] logits: the scores before a final Softmax or
// LogSoftmax, when the model ends with one.
func (m *Model) Logits(ctx context.Context, x *tensor.Tensor) (*tensor.Tensor, error) {
	g, err := m.Backprop(ctx, x, BackpropOptions{}, nil)
	if err != nil {
		return nil, err
	}
	return g.Logits, nil
}

// InputGradient runs x forward, calls lossGrad with the logits to obtain
// dLoss/dLogits, and returns the logits and dLoss/dx. It makes Model an
// attack.Classifier.
func (m *Model) InputGradient(ctx context.Context, x *tensor.Tensor, lossGrad func(logits *tensor.Tensor) (*tensor.Tensor, error)) (logits, grad *tensor.Tensor, err error) {
	g, err := m.Backprop(ctx, x, BackpropOptions{Input: true}, lossGrad)
	if err != nil {
		return nil, nil, err
	}
	return g.Logits, g.Input, nil
}

// InputGradients runs x forward once, calls seeds with the logits to obtain
// k dLoss/dLogits seeds ([N, C] each) and returns the logits and, for each
// seed, its dLoss/dx: k vector-Jacobian products of one forward pass (the
// rows of a Jacobian, as DeepFool needs), each the gradient that
// InputGradient returns for that seed. It makes Model an
// attack.MultiGradientClassifier.
func (m *Model) InputGradients(ctx context.Context, x *tensor.Tensor, seeds func(logits *tensor.Tensor) ([]*tensor.Tensor, error)) (logits *tensor.Tensor, grads []*tensor.Tensor, err error) {
	if err := m.CheckInput(x); err != nil {
		return nil, nil, err
	}
	if m.PerSample && x.Shape[0] > 1 {
		return m.inputGradientsEach(ctx, x, seeds)
	}
	inSlot := m.slotOf[m.Inputs[0].Name]
	logitSlot := m.slotOf[m.LogitsName]
	wrt := []int{inSlot}
	t, err := m.execute(ctx, m.plan([]int{logitSlot}), map[int]*tensor.Tensor{inSlot: x}, []int{logitSlot}, false, false, wrt)
	if err != nil {
		var wm *WorkingMemoryError
		if errors.As(err, &wm) && wm.Suggest == 0 {
			wm.Batch = x.Shape[0]
			wm.Suggest = m.fittingBatch(ctx, x, BackpropOptions{Input: true}, true, wm.Limit)
		}
		return nil, nil, err
	}
	defer t.release()
	raw := t.value(logitSlot)
	if raw == nil || raw.DType != tensor.Float32 {
		return nil, nil, fmt.Errorf("the model's output %q is not a float tensor", m.LogitsName)
	}
	n := x.Shape[0]
	if len(raw.Shape) < 2 || raw.Shape[0] != n || raw.Len() != n*raw.Shape[1] {
		return nil, nil, fmt.Errorf("the model's output %q has shape %v; a classifier's output must be [batch, classes] = [%d, C]", m.LogitsName, raw.Shape, n)
	}
	c := raw.Shape[1]
	logits = tensor.FromFloat32(append([]float32(nil), raw.F...), n, c)
	ss, err := seeds(logits)
	if err != nil {
		return nil, nil, err
	}
	grads = make([]*tensor.Tensor, len(ss))
	for q, seed := range ss {
		if seed == nil || seed.Len() != n*c {
			return nil, nil, fmt.Errorf("loss gradient %d has shape %v, want [%d %d]", q, shapeOf(seed), n, c)
		}
		res, err := t.backward(ctx, map[int]*tensor.Tensor{logitSlot: seed.Reshaped(raw.Shape...)}, wrt, q < len(ss)-1)
		if err != nil {
			return nil, nil, err
		}
		if gx := res[inSlot]; gx != nil {
			grads[q] = gx.Clone()
		} else {
			grads[q] = tensor.New(x.Shape...)
		}
	}
	return logits, grads, nil
}

// inputGradientsEach is InputGradients for graphs that bake in a batch of
// one: one InputGradient per seed.
func (m *Model) inputGradientsEach(ctx context.Context, x *tensor.Tensor, seeds func(logits *tensor.Tensor) ([]*tensor.Tensor, error)) (*tensor.Tensor, []*tensor.Tensor, error) {
	logits, err := m.Logits(ctx, x)
	if err != nil {
		return nil, nil, err
	}
	ss, err := seeds(logits)
	if err != nil {
		return nil, nil, err
	}
	grads := make([]*tensor.Tensor, len(ss))
	for q, seed := range ss {
		_, g, err := m.InputGradient(ctx, x, func(*tensor.Tensor) (*tensor.Tensor, error) { return seed, nil })
		if err != nil {
			return nil, nil, err
		}
		grads[q] = g
	}
	return logits, grads, nil
}

// Backprop runs x forward and, when lossGrad is not nil, calls it with the
// logits to obtain dLoss/dLogits ([N, C]) and propagates that back to the
// input and/or the parameters, as opts asks.
func (m *Model) Backprop(ctx context.Context, x *tensor.Tensor, opts BackpropOptions, lossGrad func(logits *tensor.Tensor) (*tensor.Tensor, error)) (*Grads, error) {
	if err := m.CheckInput(x); err != nil {
		return nil, err
	}
	var g *Grads
	var err error
	if m.PerSample && x.Shape[0] > 1 {
		g, err = m.backpropPerSample(ctx, x, opts, lossGrad)
	} else {
		g, err = m.backprop(ctx, x, opts, lossGrad)
	}
	var wm *WorkingMemoryError
	if errors.As(err, &wm) && wm.Suggest == 0 {
		wm.Batch = x.Shape[0]
		wm.Suggest = m.fittingBatch(ctx, x, opts, lossGrad != nil, wm.Limit)
	}
	return g, err
}

// fittingBatch measures the working memory of one sample of x run as opts
// asks (with a gradient when grad) and returns the largest batch that,
// growing linearly from it, fits in limit: at most x's batch less one, 0
// when one sample does not fit.
func (m *Model) fittingBatch(ctx context.Context, x *tensor.Tensor, opts BackpropOptions, grad bool, limit int64) int {
	n := x.Shape[0]
	if n <= 1 {
		return 0
	}
	per := x.Len() / n
	x1 := tensor.FromFloat32(x.F[:per], append([]int{1}, x.Shape[1:]...)...)
	var used int64
	opts.usage = &used
	var seed func(*tensor.Tensor) (*tensor.Tensor, error)
	if grad {
		seed = func(logits *tensor.Tensor) (*tensor.Tensor, error) {
			g := tensor.New(logits.Shape...)
			for i := range g.F {
				g.F[i] = 1
			}
			return g, nil
		}
	}
	if _, err := m.backprop(ctx, x1, opts, seed); err != nil || used <= 0 {
		return 0
	}
	return int(min(limit/used, int64(n-1)))
}

func (m *Model) backprop(ctx context.Context, x *tensor.Tensor, opts BackpropOptions, lossGrad func(logits *tensor.Tensor) (*tensor.Tensor, error)) (*Grads, error) {
	inSlot := m.slotOf[m.Inputs[0].Name]
	logitSlot := m.slotOf[m.LogitsName]
	grad := lossGrad != nil && (opts.Input || opts.Params)
	var wrt []int // the slots to differentiate with respect to; nil: none
	paramSlots := map[string]int{}
	if grad {
		wrt = []int{}
		if opts.Input {
			wrt = append(wrt, inSlot)
		}
		if opts.Params {
			for _, name := range m.ParamNames {
				s := m.slotOf[name]
				paramSlots[name] = s
				wrt = append(wrt, s)
			}
		}
	}
	t, err := m.execute(ctx, m.plan([]int{logitSlot}), map[int]*tensor.Tensor{inSlot: x}, []int{logitSlot}, opts.Training, opts.fixedRandom, wrt)
	if err != nil {
		return nil, err
	}
	defer func() {
		if opts.usage != nil {
			*opts.usage = t.rc.pool.peak()
		}
		t.release()
	}()
	raw := t.value(logitSlot)
	if raw == nil || raw.DType != tensor.Float32 {
		return nil, fmt.Errorf("the model's output %q is not a float tensor", m.LogitsName)
	}
	n := x.Shape[0]
	if len(raw.Shape) < 2 || raw.Shape[0] != n || raw.Len() != n*raw.Shape[1] {
		return nil, fmt.Errorf("the model's output %q has shape %v; a classifier's output must be [batch, classes] = [%d, C]", m.LogitsName, raw.Shape, n)
	}
	c := raw.Shape[1]
	logits := tensor.FromFloat32(append([]float32(nil), raw.F...), n, c)
	g := &Grads{Logits: logits}
	if !grad {
		return g, nil
	}
	seed, err := lossGrad(logits)
	if err != nil {
		return nil, err
	}
	if seed == nil || seed.Len() != n*c {
		return nil, fmt.Errorf("loss gradient has shape %v, want [%d %d]", shapeOf(seed), n, c)
	}
	seed = seed.Reshaped(raw.Shape...)
	res, err := t.backward(ctx, map[int]*tensor.Tensor{logitSlot: seed}, wrt, false)
	if err != nil {
		return nil, err
	}
	if opts.Input {
		if gx := res[inSlot]; gx != nil {
			g.Input = gx.Clone()
		} else {
			g.Input = tensor.New(x.Shape...)
		}
	}
	if opts.Params {
		g.Params = map[string]*tensor.Tensor{}
		for name, s := range paramSlots {
			if gp := res[s]; gp != nil {
				g.Params[name] = gp.Clone()
			} else {
				g.Params[name] = tensor.New(m.Params[name].Shape...)
			}
		}
	}
	return g, nil
}

func shapeOf(t *tensor.Tensor) []int {
	if t == nil {
		return nil
	}
	return t.Shape
}

// backpropPerSample runs a batch one sample at a time, for graphs that bake
// in a batch of one. The loss sees the whole batch's logits at once (so that
// callbacks indexing labels by row stay right): a first pass collects the
// logits, lossGrad runs once, and a second pass back-propagates each row of
// its gradient. Input gradients are stacked and parameter gradients summed.
func (m *Model) backpropPerSample(ctx context.Context, x *tensor.Tensor, opts BackpropOptions, lossGrad func(logits *tensor.Tensor) (*tensor.Tensor, error)) (*Grads, error) {
	n := x.Shape[0]
	per := x.Len() / n
	sampleShape := append([]int{1}, x.Shape[1:]...)
	sample := func(i int) *tensor.Tensor {
		return tensor.FromFloat32(x.F[i*per:(i+1)*per], sampleShape...)
	}
	var out *Grads
	var c int
	for i := 0; i < n; i++ {
		gi, err := m.backprop(ctx, sample(i), BackpropOptions{Training: opts.Training, fixedRandom: opts.fixedRandom}, nil)
		if err != nil {
			return nil, fmt.Errorf("sample %d: %w", i, err)
		}
		if out == nil {
			c = gi.Logits.Shape[1]
			out = &Grads{Logits: tensor.New(n, c)}
		}
		copy(out.Logits.F[i*c:(i+1)*c], gi.Logits.F)
	}
	if lossGrad == nil || (!opts.Input && !opts.Params) {
		return out, nil
	}
	seed, err := lossGrad(out.Logits)
	if err != nil {
		return nil, err
	}
	if seed == nil || seed.Len() != n*c {
		return nil, fmt.Errorf("loss gradient has shape %v, want [%d %d]", shapeOf(seed), n, c)
	}
	if opts.Input {
		out.Input = tensor.New(x.Shape...)
	}
	for i := 0; i < n; i++ {
		row := tensor.FromFloat32(seed.F[i*c:(i+1)*c], 1, c)
		gi, err := m.backprop(ctx, sample(i), opts, func(*tensor.Tensor) (*tensor.Tensor, error) { return row, nil })
		if err != nil {
			return nil, fmt.Errorf("sample %d: %w", i, err)
		}
		if gi.Input != nil {
			copy(out.Input.F[i*per:(i+1)*per], gi.Input.F)
		}
		if gi.Params != nil && out.Params == nil {
			out.Params = map[string]*tensor.Tensor{}
			for k, v := range gi.Params {
				out.Params[k] = tensor.New(v.Shape...)
			}
		}
		for k, v := range gi.Params {
			addInto(out.Params[k].F, v.F)
		}
	}
	return out, nil
}

// NumClasses returns the number of classes, found by running one sample
// when the declared output shape does not say. It returns 0 when the input
// shape is not fully declared and no run has happened.
func (m *Model) NumClasses() int {
	if m.numClasses > 0 {
		return m.numClasses
	}
	for _, o := range m.Outputs {
		if o.Name == m.Outputs[0].Name && len(o.Shape) == 2 && o.Shape[1] > 0 {
			m.numClasses = o.Shape[1]
			return m.numClasses
		}
	}
	return 0
}

// InputShape returns the declared per-sample input shape (see SampleShape).
func (m *Model) InputShape() []int { return m.SampleShape() }
