package run

import (
	"fmt"

	"github.com/advtest/advtest/pkg/dataset"
	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/tensor"
)

// evalData is the evaluation set as attack, eval and harden read it (an
// eval.Data): samples read batch by batch from a dataset.Stream (image
// folders and plain .npy/IDX from disk, other formats from memory), in the
// sample shape fitted to the model, cut to the shard, and — when clip is
// set — checked against the plan's clip range as they are read.
type evalData struct {
	src    dataset.Source
	shape  []int
	lo     int   // the first sample of src this view holds (a shard's start)
	labels []int // the view's labels
	// Path, LabelsPath and the digests identify the files, as in
	// dataset.Set; Index gives each sample's global index (nil: identity).
	Path, LabelsPath, DataSHA256, LabelsSHA256 string
	Index                                      []int
	// clip, when set, refuses a sample outside [clipLo, clipHi] on read.
	clip           bool
	clipLo, clipHi float32
	close          func() error
}

// streamData is the view of a whole stream.
func streamData(st *dataset.Stream) *evalData {
	return &evalData{src: st, shape: st.SampleShape(), labels: st.Labels(), Path: st.Path, LabelsPath: st.LabelsPath,
		DataSHA256: st.DataSHA256, LabelsSHA256: st.LabelsSHA256, Index: st.Index, close: st.Close}
}

func (d *evalData) Len() int           { return len(d.labels) }
func (d *evalData) SampleShape() []int { return d.shape }
func (d *evalData) Labels() []int      { return d.labels }

// ReadBatch reads samples lo..hi-1 of the view; with clip set, a value
// outside the clip range is an error naming the file and the sample (its
// index in the view, as the check of a whole set named it).
func (d *evalData) ReadBatch(dst []float32, lo, hi int) error {
	if lo < 0 || hi < lo || hi > d.Len() {
		return fmt.Errorf("%s: batch [%d, %d) out of range [0, %d)", d.Path, lo, hi, d.Len())
	}
	if err := d.src.ReadBatch(dst, d.lo+lo, d.lo+hi); err != nil {
		return err
	}
	if d.clip {
		per := tensor.Numel(d.shape)
		for i, v := range dst {
			if v < d.clipLo || v > d.clipHi {
				return clipError(d.Path, "sample", lo+i/per, v, d.clipLo, d.clipHi)
			}
		}
	}
	return nil
}

// Close releases the stream's open file, if any.
func (d *evalData) Close() error {
	if d.close == nil {
		return nil
	}
	return d.close()
}

// shard cuts the view to part i of n as dataset.Set.Shard does: a
// contiguous block [i*N/n, (i+1)*N/n) keeping global indices.
func (d *evalData) shard(i, n int) error {
	if n < 1 || i < 0 || i >= n {
		return fmt.Errorf("dataset: shard %d of %d: want 0 <= shard < count", i, n)
	}
	if n > d.Len() {
		return fmt.Errorf("dataset: %d shards of %d samples would leave some empty", n, d.Len())
	}
	lo, hi := i*d.Len()/n, (i+1)*d.Len()/n
	index := make([]int, hi-lo)
	for k := range index {
		index[k] = lo + k
		if d.Index != nil {
			index[k] = d.Index[lo+k]
		}
	}
	d.lo += lo
	d.labels = d.labels[lo:hi:hi]
	d.Index = index
	return nil
}

// readAll reads the whole view into one tensor (the detector's clean
// false-positive rate needs every sample at once).
func (d *evalData) readAll() (*tensor.Tensor, error) {
	x := tensor.New(append([]int{d.Len()}, d.shape...)...)
	if err := d.ReadBatch(x.F, 0, d.Len()); err != nil {
		return nil, err
	}
	return x, nil
}

// openModelAndData loads the model and opens the data for streaming, with
// its sample shape fitted to the model's input and its labels checked
// against the model's classes, as loadModelAndData does for a whole set.
func openModelAndData(modelPath, dataPath, labelsPath string, opts dataset.Options) (*onnxmodel.Model, *evalData, error) {
	m, err := onnxmodel.Load(modelPath)
	if err != nil {
		return nil, nil, err
	}
	st, err := dataset.Open(dataPath, labelsPath, opts)
	if err != nil {
		return nil, nil, err
	}
	d := streamData(st)
	if err := fitStream(m, d); err != nil {
		st.Close()
		return nil, nil, err
	}
	return m, d, nil
}

// fitStream is fitData for a streamed set: the shape is fitted on the
// view (no sample is read, but for a model whose class count is unknown
// the first one).
func fitStream(m *onnxmodel.Model, d *evalData) error {
	shape, err := fitShape(m, d.Path, d.shape)
	if err != nil {
		return err
	}
	d.shape = shape
	if m.NumClasses() <= 0 && d.Len() > 0 {
		x := tensor.New(append([]int{1}, d.shape...)...)
		if err := d.ReadBatch(x.F, 0, 1); err != nil {
			return err
		}
		if err := noClassError(m, x); err != nil {
			return err
		}
	}
	return checkModelClasses(m, labelsPathOr(d.LabelsPath, d.Path), d.labels)
}
