package eval

import (
	"fmt"

	"github.com/advtest/advtest/pkg/tensor"
)

// Data is a labelled evaluation set read batch by batch: the labels are in
// memory, the samples are read on demand, so that what the pool holds
// follows the batch rather than the set. dataset.Source (and so
// *dataset.Stream, which streams image folders and plain .npy and IDX
// files) satisfies it; TensorData wraps samples already in memory.
type Data interface {
	// Len returns the number of samples.
	Len() int
	// SampleShape returns the shape of one sample.
	SampleShape() []int
	// Labels returns every sample's class id; callers do not modify it.
	Labels() []int
	// ReadBatch writes samples lo..hi-1 into dst, which holds
	// (hi-lo)*Numel(SampleShape()) values.
	ReadBatch(dst []float32, lo, hi int) error
}

// TensorData returns x [N, ...] and its labels y as Data; samples are
// copied out of x.
func TensorData(x *tensor.Tensor, y []int) Data {
	n := 0
	if x.Rank() > 0 {
		n = x.Shape[0]
	}
	return tensorData{x: x, y: y, per: x.Len() / max(n, 1)}
}

type tensorData struct {
	x   *tensor.Tensor
	y   []int
	per int
}

func (t tensorData) Len() int           { return len(t.y) }
func (t tensorData) SampleShape() []int { return t.x.Shape[1:] }
func (t tensorData) Labels() []int      { return t.y }
func (t tensorData) ReadBatch(dst []float32, lo, hi int) error {
	if lo < 0 || hi < lo || hi > t.Len() || hi*t.per > t.x.Len() {
		return fmt.Errorf("eval: batch [%d, %d) out of range [0, %d)", lo, hi, t.Len())
	}
	if len(dst) != (hi-lo)*t.per {
		return fmt.Errorf("eval: batch [%d, %d) needs %d values, got a buffer of %d", lo, hi, (hi-lo)*t.per, len(dst))
	}
	copy(dst, t.x.F[lo*t.per:hi*t.per])
	return nil
}

// ReadSamples reads the samples of d at positions ids (increasing) into a
// tensor [len(ids), SampleShape...]. Neighbouring ids are read by one
// ReadBatch over their span when at least half of the span is wanted (a
// decoded image folder then decodes a batch's files in parallel), so at
// most twice the wanted samples are read and held at once.
func ReadSamples(d Data, ids []int) (*tensor.Tensor, error) {
	shape := d.SampleShape()
	per := tensor.Numel(shape)
	out := tensor.New(append([]int{len(ids)}, shape...)...)
	var tmp []float32
	for j := 0; j < len(ids); {
		k := j
		for k+1 < len(ids) && ids[k+1] > ids[k] && ids[k+1]-ids[j]+1 <= 2*(k+2-j) {
			k++
		}
		lo, hi := ids[j], ids[k]+1
		if hi-lo == k+1-j {
			if err := d.ReadBatch(out.F[j*per:(k+1)*per], lo, hi); err != nil {
				return nil, err
			}
		} else {
			if cap(tmp) < (hi-lo)*per {
				tmp = make([]float32, (hi-lo)*per)
			}
			buf := tmp[:(hi-lo)*per]
			if err := d.ReadBatch(buf, lo, hi); err != nil {
				return nil, err
			}
			for m := j; m <= k; m++ {
				copy(out.F[m*per:(m+1)*per], buf[(ids[m]-lo)*per:(ids[m]-lo+1)*per])
			}
		}
		j = k + 1
	}
	return out, nil
}

// Subset returns the samples of d at positions ids (increasing) as Data:
// its sample j is d's sample ids[j], read from d when asked for.
func Subset(d Data, ids []int) Data {
	y := make([]int, len(ids))
	labels := d.Labels()
	for j, i := range ids {
		y[j] = labels[i]
	}
	return subset{d: d, ids: ids, y: y}
}

type subset struct {
	d   Data
	ids []int
	y   []int
}

func (s subset) Len() int           { return len(s.ids) }
func (s subset) SampleShape() []int { return s.d.SampleShape() }
func (s subset) Labels() []int      { return s.y }
func (s subset) ReadBatch(dst []float32, lo, hi int) error {
	if lo < 0 || hi < lo || hi > s.Len() {
		return fmt.Errorf("eval: batch [%d, %d) out of range [0, %d)", lo, hi, s.Len())
	}
	x, err := ReadSamples(s.d, s.ids[lo:hi])
	if err != nil {
		return err
	}
	if len(dst) != x.Len() {
		return fmt.Errorf("eval: batch [%d, %d) needs %d values, got a buffer of %d", lo, hi, x.Len(), len(dst))
	}
	copy(dst, x.F)
	return nil
}
