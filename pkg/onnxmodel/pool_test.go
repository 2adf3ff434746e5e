package onnxmodel

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/tensor"
)

// TestBufferPoolBounded checks that the pool keeps about one run's working
// set: a shrinking batch reuses the larger buffers, and sizes no recent
// run used are dropped.
func TestBufferPoolBounded(t *testing.T) {
	p := newBufferPool()
	run := func(sizes ...int) {
		for _, n := range sizes {
			if b := p.get(n); len(b) != n {
				t.Fatalf("get(%d) has length %d", n, len(b))
			}
		}
		p.releaseAll()
	}
	run(1000, 4000)
	first := p.freeBytes
	for n := 999; n > 600; n -= 7 { // a batch shrinking by a few samples a run
		run(n, 4*n)
	}
	if p.freeBytes != first {
		t.Errorf("shrinking batches: pool holds %d bytes, want the first run's %d (reused)", p.freeBytes, first)
	}
	for range staleRuns + 1 {
		run(10)
	}
	if want := int64(4 * sizeClass(10)); p.freeBytes != want {
		t.Errorf("after %d runs of one small buffer: pool holds %d bytes, want %d", staleRuns+1, p.freeBytes, want)
	}
}

// TestWorkingMemoryLimit checks that Limits.WorkingBytes stops a run that
// needs more, with an error naming a batch size that fits, and that the
// suggested batch does run.
func TestWorkingMemoryLimit(t *testing.T) {
	m, err := Load(filepath.Join(modelsDir, "mnist_cnn.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	old := CurrentLimits()
	defer SetLimits(old)
	lim := old
	lim.WorkingBytes = 8 << 20
	SetLimits(lim)
	x := tensor.New(64, 1, 28, 28)
	ones := func(l *tensor.Tensor) (*tensor.Tensor, error) { return tensor.New(l.Shape...), nil }
	_, _, err = m.InputGradient(context.Background(), x, ones)
	var wm *WorkingMemoryError
	if !errors.As(err, &wm) {
		t.Fatalf("batch 64 under an 8 MiB working limit: err %v, want a *WorkingMemoryError", err)
	}
	if wm.Batch != 64 || wm.Suggest < 1 || wm.Suggest >= 64 || !strings.Contains(err.Error(), "--batch-size") {
		t.Fatalf("error %+v (%v): want batch 64 and a smaller batch size to use", wm, err)
	}
	if _, _, err := m.InputGradient(context.Background(), tensor.New(wm.Suggest, 1, 28, 28), ones); err != nil {
		t.Errorf("the suggested batch %d: %v", wm.Suggest, err)
	}
	lim.WorkingBytes = 1 << 10
	SetLimits(lim)
	if _, err := m.Logits(context.Background(), x); !errors.As(err, &wm) || wm.Suggest != 0 || !strings.Contains(err.Error(), "raise --max-memory") {
		t.Errorf("1 KiB limit: err %v, want one that says even one sample does not fit", err)
	}
}

// TestBufferPoolRefs checks the mid-run return of buffers: a buffer goes
// back to the free list (and serves the next get) only once its op hold
// and every reference are gone, a view into a buffer counts as a
// reference to it, and memory that is not the run's is not counted.
func TestBufferPoolRefs(t *testing.T) {
	p := newBufferPool()
	b := p.get(1000)
	held := p.takeRecent()
	view := p.retain(b[100:200]) // a value aliasing part of b
	whole := p.retain(b)         // the value that owns b
	if view == nil || view != whole {
		t.Fatalf("retain of a view found %p, of the buffer %p: want the same buffer", view, whole)
	}
	if p.retain(make([]float32, 10)) != nil || p.retain(b[:0]) != nil {
		t.Error("retain counted memory that is not the run's (or an empty slice)")
	}
	steps := []struct {
		name     string
		release  func()
		wantFree bool
	}{
		{"op hold ended", func() { p.unhold(held) }, false},
		{"owner dropped", func() { p.drop(whole) }, false},
		{"view dropped", func() { p.drop(view) }, true},
	}
	for _, st := range steps {
		st.release()
		if free := p.freeBytes > 0; free != st.wantFree {
			t.Fatalf("after %s: buffer free %v, want %v", st.name, free, st.wantFree)
		}
	}
	if p.used() != 0 || p.peak() != 4*int64(sizeClass(1000)) {
		t.Errorf("used %d, peak %d: want 0 and one buffer", p.used(), p.peak())
	}
	if c := p.get(900); &c[0] != &b[0] {
		t.Error("the returned buffer did not serve the next get of the run")
	}
	p.releaseAll()
	if p.freeBytes != 4*int64(sizeClass(1000)) || len(p.taken) != 0 {
		t.Errorf("after release: %d bytes free, %d taken; want the one buffer free", p.freeBytes, len(p.taken))
	}
}

// TestRunFreesAsItGoes checks that a forward-only run holds a few values at
// a time and that the backward pass returns what it has passed: the peak
// working memory of a gradient run of the MNIST CNN stays below the sum of
// its forward values and gradients, and a forward run's below a gradient
// run's, with the same logits and gradient on every repeat.
func TestRunFreesAsItGoes(t *testing.T) {
	m, err := Load(filepath.Join(modelsDir, "mnist_cnn.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 16
	x := tensor.New(n, 1, 28, 28)
	for i := range x.F {
		x.F[i] = float32(i%89) / 89
	}
	y := make([]int, n)
	for i := range y {
		y[i] = i % 10
	}
	seed := func(l *tensor.Tensor) (*tensor.Tensor, error) { return crossEntropyGrad(l, y), nil }
	ctx := context.Background()
	var fwd, grad int64
	var first *Grads
	for rep := range 3 {
		if _, err := m.backprop(ctx, x, BackpropOptions{usage: &fwd}, nil); err != nil {
			t.Fatal(err)
		}
		g, err := m.backprop(ctx, x, BackpropOptions{Input: true, usage: &grad}, seed)
		if err != nil {
			t.Fatal(err)
		}
		if rep == 0 {
			first = g
			continue
		}
		if !sameFloats(g.Logits.F, first.Logits.F) || !sameFloats(g.Input.F, first.Input.F) {
			t.Fatalf("repeat %d: logits or gradient differ from the first run's", rep)
		}
	}
	// Conv1 and its Relu: 32·26·26 floats, Conv2 and its Relu: 64·24·24,
	// per sample; kept to the end of the run, these values and their
	// gradients alone take all bytes (the run took about 17 MB at batch 16
	// before it freed as it goes).
	all := int64(2 * 4 * n * (2*32*26*26 + 2*64*24*24))
	if fwd >= grad || grad >= all {
		t.Errorf("peak working memory: forward %d, gradient %d bytes; want forward < gradient < %d (keeping everything)", fwd, grad, all)
	}
}

func sameFloats(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}
