package eval

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/advtest/advtest/internal/attacktest"
	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/tensor"
)

// countingData is Data that records the largest batch it was asked for
// and the samples it read.
type countingData struct {
	Data
	maxBatch, read int
}

func (c *countingData) ReadBatch(dst []float32, lo, hi int) error {
	c.maxBatch = max(c.maxBatch, hi-lo)
	c.read += hi - lo
	return c.Data.ReadBatch(dst, lo, hi)
}

// TestReadSamples reads sets of positions with and without gaps and checks
// the samples against the tensor, and that no ReadBatch reads more than
// twice the samples asked for.
func TestReadSamples(t *testing.T) {
	const n, per = 40, 3
	x := tensor.New(n, per)
	for i := range x.F {
		x.F[i] = float32(i)
	}
	y := make([]int, n)
	for _, tc := range []struct {
		name string
		ids  []int
	}{
		{"one", []int{7}},
		{"contiguous", []int{3, 4, 5, 6, 7}},
		{"small gaps", []int{0, 2, 3, 5, 6, 8}},
		{"large gaps", []int{1, 20, 39}},
		{"mixed", []int{0, 1, 2, 10, 11, 30, 32, 33}},
		{"none", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &countingData{Data: TensorData(x, y)}
			got, err := ReadSamples(d, tc.ids)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Shape, []int{len(tc.ids), per}) {
				t.Fatalf("shape %v, want [%d %d]", got.Shape, len(tc.ids), per)
			}
			for j, i := range tc.ids {
				if !slices.Equal(got.F[j*per:(j+1)*per], x.F[i*per:(i+1)*per]) {
					t.Errorf("sample %d (position %d) is %v, want %v", j, i, got.F[j*per:(j+1)*per], x.F[i*per:(i+1)*per])
				}
			}
			if d.read > 2*len(tc.ids) {
				t.Errorf("read %d samples for %d wanted, want at most twice", d.read, len(tc.ids))
			}
		})
	}
}

// TestRunPoolDataReadsPerBatch runs a pool on MNIST through Data and
// through the tensor, and checks that the outcomes are identical and that
// no read was larger than the batch (twice it for the gathered attack
// batches).
func TestRunPoolDataReadsPerBatch(t *testing.T) {
	_, set := loadMNIST(t, 60)
	m, err := onnxmodel.Load("../../testdata/models/mnist_mlp.onnx")
	if err != nil {
		t.Fatal(err)
	}
	var pool []attack.Attack
	for _, s := range []string{"fgsm:eps=0.1", "pgd:eps=0.1,steps=3"} {
		a, err := attacktest.New(s)
		if err != nil {
			t.Fatal(err)
		}
		pool = append(pool, a)
	}
	ctx := context.Background()
	const batch = 8
	whole, err := RunPool(ctx, m, set.X, set.Y, pool, PoolOptions{BatchSize: batch, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	d := &countingData{Data: TensorData(set.X, set.Y)}
	streamed, err := RunPoolData(ctx, m, d, pool, PoolOptions{BatchSize: batch, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if d.maxBatch > 2*batch {
		t.Errorf("a read of %d samples, want at most %d (twice the batch)", d.maxBatch, 2*batch)
	}
	if !slices.Equal(whole.Clean.Pred, streamed.Clean.Pred) {
		t.Fatalf("clean predictions differ")
	}
	for j, w := range whole.Attacks {
		s := streamed.Attacks[j]
		for i := range w.Attacked {
			if w.Attacked[i] != s.Attacked[i] || w.Fooled[i] != s.Fooled[i] ||
				math.Float64bits(w.L2[i]) != math.Float64bits(s.L2[i]) || math.Float64bits(w.Linf[i]) != math.Float64bits(s.Linf[i]) {
				t.Fatalf("%s sample %d: outcome differs", w.Attack.Name(), i)
			}
		}
	}
}
