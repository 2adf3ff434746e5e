package dataset

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/advtest/advtest/pkg/atomicfile"
	"github.com/advtest/advtest/pkg/tensor"
)

// EncodeNPY writes t to w in NPY format (version 1.0, or 2.0 for very long
// headers): a float32 tensor as '<f4', an int64 tensor as '<i8', in C order.
func EncodeNPY(w io.Writer, t *tensor.Tensor) error {
	if t == nil {
		return fmt.Errorf("dataset: EncodeNPY: nil tensor")
	}
	n := tensor.Numel(t.Shape)
	bw := bufio.NewWriterSize(w, 64<<10)
	var buf [8]byte
	switch t.DType {
	case tensor.Float32:
		if len(t.F) != n {
			return fmt.Errorf("dataset: EncodeNPY: %d elements for shape %v", len(t.F), t.Shape)
		}
		bw.Write(npyHeader("<f4", t.Shape))
		for _, v := range t.F {
			binary.LittleEndian.PutUint32(buf[:4], math.Float32bits(v))
			bw.Write(buf[:4])
		}
	case tensor.Int64:
		if len(t.I) != n {
			return fmt.Errorf("dataset: EncodeNPY: %d elements for shape %v", len(t.I), t.Shape)
		}
		bw.Write(npyHeader("<i8", t.Shape))
		for _, v := range t.I {
			binary.LittleEndian.PutUint64(buf[:], uint64(v))
			bw.Write(buf[:])
		}
	default:
		return fmt.Errorf("dataset: EncodeNPY: unsupported tensor type %v", t.DType)
	}
	return bw.Flush()
}

// WriteNPY saves t as an NPY file at path (see EncodeNPY). The file is
// written to a temporary file in the same folder and renamed into place, so
// that readers never see a partial file.
func WriteNPY(path string, t *tensor.Tensor) error {
	return atomicfile.Write(path, func(w io.Writer) error { return EncodeNPY(w, t) })
}

// WriteLabelsNPY saves class ids as an int64 NPY array of shape (len(y),),
// atomically as WriteNPY does.
func WriteLabelsNPY(path string, y []int) error {
	v := make([]int64, len(y))
	for i, c := range y {
		v[i] = int64(c)
	}
	return WriteNPY(path, tensor.FromInt64(v, len(y)))
}
