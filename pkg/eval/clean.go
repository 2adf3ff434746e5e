package eval

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/advtest/advtest/pkg/tensor"
)

// Logitser is anything that maps a batch to [N, C] logits.
type Logitser interface {
	Logits(ctx context.Context, x *tensor.Tensor) (*tensor.Tensor, error)
}

// ClassAccuracy is one class's share of correct predictions.
type ClassAccuracy struct {
	Class    int     `json:"class"`
	N        int     `json:"n"`
	Correct  int     `json:"correct"`
	Accuracy float64 `json:"accuracy"`
}

// CleanResult is a model's accuracy on unperturbed data.
type CleanResult struct {
	N        int
	Pred     []int
	Correct  []bool
	NCorrect int
	// Accuracy is NCorrect / N.
	Accuracy float64
	PerClass []ClassAccuracy
	Seconds  float64
}

// SamplesPerSecond is N over the wall time of the forward passes.
func (r *CleanResult) SamplesPerSecond() float64 {
	if r.Seconds <= 0 {
		return 0
	}
	return float64(r.N) / r.Seconds
}

// Argmax returns the index of the largest logit of each row of [N, C]
// logits (the first one on ties, as numpy and PyTorch do). NaN logits never
// win over numbers.
func Argmax(logits *tensor.Tensor) []int {
	n, c := logits.Shape[0], logits.Shape[1]
	out := make([]int, n)
	for i := 0; i < n; i++ {
		row := logits.F[i*c : (i+1)*c]
		best := 0
		for j := 1; j < c; j++ {
			if row[j] > row[best] || (row[best] != row[best] && row[j] == row[j]) {
				best = j
			}
		}
		out[i] = best
	}
	return out
}

// NonFiniteError says that a model's output is NaN or infinite on a clean
// sample: the model is broken (a bad export, a wrong input scale), and no
// figure measured on it means anything.
type NonFiniteError struct {
	// Sample is the first such sample's index in the data, Class the
	// output's column and Value the value.
	Sample, Class int
	Value         float32
}

func (e *NonFiniteError) Error() string {
	return fmt.Sprintf("the model's output is not finite: sample %d, class %d is %v (a broken export, or inputs on the wrong scale); no figure can be measured", e.Sample, e.Class, e.Value)
}

// checkFinite returns a *NonFiniteError for the first NaN or infinite
// logit of a batch that starts at sample offset.
func checkFinite(logits *tensor.Tensor, offset int) error {
	c := logits.Shape[len(logits.Shape)-1]
	for k, v := range logits.F {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return &NonFiniteError{Sample: offset + k/max(c, 1), Class: k % max(c, 1), Value: v}
		}
	}
	return nil
}

// Clean classifies the samples of d in batches of batchSize, read one
// batch at a time into one buffer, and compares with d's labels; a sample
// that cannot be read is the error.
func Clean(ctx context.Context, m Logitser, d Data, batchSize int) (*CleanResult, error) {
	if batchSize <= 0 {
		return nil, fmt.Errorf("eval: batch size %d, want > 0", batchSize)
	}
	n, y, shape := d.Len(), d.Labels(), d.SampleShape()
	per := tensor.Numel(shape)
	r := &CleanResult{N: n, Pred: make([]int, n), Correct: make([]bool, n)}
	buf := make([]float32, min(batchSize, n)*per)
	start := time.Now()
	for lo := 0; lo < n; lo += batchSize {
		hi := min(lo+batchSize, n)
		if err := d.ReadBatch(buf[:(hi-lo)*per], lo, hi); err != nil {
			return nil, err
		}
		xb := tensor.FromFloat32(buf[:(hi-lo)*per], append([]int{hi - lo}, shape...)...)
		logits, err := m.Logits(ctx, xb)
		if err != nil {
			return nil, err
		}
		if err := checkFinite(logits, lo); err != nil {
			return nil, err
		}
		copy(r.Pred[lo:hi], Argmax(logits))
	}
	r.Seconds = time.Since(start).Seconds()
	classes := 0
	for i, p := range r.Pred {
		if y[i]+1 > classes {
			classes = y[i] + 1
		}
		if p+1 > classes {
			classes = p + 1
		}
	}
	r.PerClass = make([]ClassAccuracy, classes)
	for c := range r.PerClass {
		r.PerClass[c].Class = c
	}
	for i, p := range r.Pred {
		pc := &r.PerClass[y[i]]
		pc.N++
		if p == y[i] {
			r.Correct[i] = true
			r.NCorrect++
			pc.Correct++
		}
	}
	for c := range r.PerClass {
		if r.PerClass[c].N > 0 {
			r.PerClass[c].Accuracy = float64(r.PerClass[c].Correct) / float64(r.PerClass[c].N)
		}
	}
	if n > 0 {
		r.Accuracy = float64(r.NCorrect) / float64(n)
	}
	return r, nil
}

// checkXY checks that x [N, ...] has one label in y per sample.
func checkXY(x *tensor.Tensor, y []int) error {
	n := 0
	if x.Rank() > 0 {
		n = x.Shape[0]
	}
	if x.Rank() == 0 || n != len(y) {
		return fmt.Errorf("eval: %d samples but %d labels", n, len(y))
	}
	return nil
}
