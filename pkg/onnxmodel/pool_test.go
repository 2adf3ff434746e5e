package onnxmodel

import (
	"context"
	"errors"
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
