package npyfile

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/advtest/advtest/pkg/atomicfile"
	"github.com/advtest/advtest/pkg/tensor"
)

// magic starts every NPY file.
const magic = "\x93NUMPY"

// Header returns the preamble and header of an NPY file (version 1.0, or
// 2.0 when the header does not fit in 65535 bytes), padded so that the data
// starts at a multiple of 64 bytes.
func Header(descr string, shape []int) []byte {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = fmt.Sprint(d)
	}
	tuple := "(" + strings.Join(parts, ", ") + ")"
	if len(shape) == 1 {
		tuple = "(" + parts[0] + ",)"
	}
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, tuple)
	var b bytes.Buffer
	pre := 10
	if len(dict)+1+pre > 65535 {
		pre = 12
	}
	pad := 64 - (pre+len(dict)+1)%64
	if pad == 64 {
		pad = 0
	}
	hlen := len(dict) + pad + 1
	b.WriteString(magic)
	if pre == 10 {
		b.Write([]byte{1, 0})
		b.Write(binary.LittleEndian.AppendUint16(nil, uint16(hlen)))
	} else {
		b.Write([]byte{2, 0})
		b.Write(binary.LittleEndian.AppendUint32(nil, uint32(hlen)))
	}
	b.WriteString(dict)
	b.WriteString(strings.Repeat(" ", pad))
	b.WriteByte('\n')
	return b.Bytes()
}

// Encode writes t to w in NPY format: a float32 tensor as '<f4', an int64
// tensor as '<i8', in C order.
func Encode(w io.Writer, t *tensor.Tensor) error {
	if t == nil {
		return fmt.Errorf("npyfile: Encode: nil tensor")
	}
	n := tensor.Numel(t.Shape)
	bw := bufio.NewWriterSize(w, 64<<10)
	var buf [8]byte
	switch t.DType {
	case tensor.Float32:
		if len(t.F) != n {
			return fmt.Errorf("npyfile: Encode: %d elements for shape %v", len(t.F), t.Shape)
		}
		bw.Write(Header("<f4", t.Shape))
		for _, v := range t.F {
			binary.LittleEndian.PutUint32(buf[:4], math.Float32bits(v))
			bw.Write(buf[:4])
		}
	case tensor.Int64:
		if len(t.I) != n {
			return fmt.Errorf("npyfile: Encode: %d elements for shape %v", len(t.I), t.Shape)
		}
		bw.Write(Header("<i8", t.Shape))
		for _, v := range t.I {
			binary.LittleEndian.PutUint64(buf[:], uint64(v))
			bw.Write(buf[:])
		}
	default:
		return fmt.Errorf("npyfile: Encode: unsupported tensor type %v", t.DType)
	}
	return bw.Flush()
}

// Write saves t as an NPY file at path (see Encode). The file is written to
// a temporary file in the same folder and renamed into place, so that
// readers never see a partial file.
func Write(path string, t *tensor.Tensor) error {
	return atomicfile.Write(path, func(w io.Writer) error { return Encode(w, t) })
}

// WriteLabels saves class ids as an int64 NPY array of shape (len(y),),
// atomically as Write does.
func WriteLabels(path string, y []int) error {
	v := make([]int64, len(y))
	for i, c := range y {
		v[i] = int64(c)
	}
	return Write(path, tensor.FromInt64(v, len(y)))
}
