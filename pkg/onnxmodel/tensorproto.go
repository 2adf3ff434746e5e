package onnxmodel

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/tensor"
)

// maxTensorElements bounds how many elements one tensor may declare: the
// Limits.TensorBytes limit in float32 elements. Shapes declared in a file or
// computed from its values are checked against it before anything is
// allocated.
func maxTensorElements() int64 { return limTensor.Load() / 4 }

// checkedNumel multiplies dims, refusing negative dims, overflow and more
// than maxTensorElements elements.
func checkedNumel(dims []int64) (int, error) {
	return checkedNumelMax(dims, maxTensorElements())
}

func checkedNumelMax(dims []int64, limit int64) (int, error) {
	n := int64(1)
	for _, d := range dims {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension %d in %v", d, dims)
		}
		if d != 0 && n > limit/d {
			return 0, fmt.Errorf("dimensions %v declare more than %d elements (the %d-byte tensor limit)", dims, limit, limTensor.Load())
		}
		n *= d
	}
	return int(n), nil
}

// decodeTensor converts an ONNX TensorProto into a Tensor. Floating types
// become float32; integer and bool types become int64. baseDir is the
// model's folder, for tensors whose data is stored in an external file ("" refuses them).
//
// Every size is checked before anything is allocated: the element count
// against the TensorBytes limit (as the engine holds it: 4 bytes a float,
// 8 an integer), and the data present (raw, typed or external) against
// the declared shape.
func decodeTensor(tp *onnxpb.TensorProto, baseDir string) (*tensor.Tensor, error) {
	dt := onnxpb.TensorProto_DataType(tp.GetDataType())
	size, ok := elementSize[dt]
	if !ok {
		return nil, fmt.Errorf("unsupported tensor data type %s", dt)
	}
	isFloat := dt == onnxpb.TensorProto_FLOAT || dt == onnxpb.TensorProto_DOUBLE || dt == onnxpb.TensorProto_FLOAT16 || dt == onnxpb.TensorProto_BFLOAT16
	held := int64(8)
	if isFloat {
		held = 4
	}
	n, err := checkedNumelMax(tp.GetDims(), limTensor.Load()/held)
	if err != nil {
		return nil, err
	}
	shape := make([]int, len(tp.GetDims()))
	for i, d := range tp.GetDims() {
		shape[i] = int(d)
	}
	raw := tp.GetRawData()
	if tp.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		raw, err = readExternal(tp, baseDir, int64(n)*int64(size))
		if err != nil {
			return nil, err
		}
	}
	if raw != nil {
		if len(raw) != n*size {
			return nil, fmt.Errorf("raw data holds %d bytes, the %s shape %v needs %d", len(raw), dt, shape, n*size)
		}
	} else if have := typedLen(tp, dt); have != n {
		return nil, fmt.Errorf("holds %d %s values, its shape %v needs %d", have, dt, shape, n)
	}
	t := &tensor.Tensor{Shape: shape}
	if isFloat {
		t.F = make([]float32, n)
	} else {
		t.DType = tensor.Int64
		t.I = make([]int64, n)
	}
	if raw != nil {
		for i := 0; i < n; i++ {
			b := raw[i*size:]
			switch dt {
			case onnxpb.TensorProto_FLOAT:
				t.F[i] = math.Float32frombits(binary.LittleEndian.Uint32(b))
			case onnxpb.TensorProto_DOUBLE:
				t.F[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b)))
			case onnxpb.TensorProto_FLOAT16:
				t.F[i] = halfToFloat(binary.LittleEndian.Uint16(b))
			case onnxpb.TensorProto_BFLOAT16:
				t.F[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b)) << 16)
			case onnxpb.TensorProto_INT64:
				t.I[i] = int64(binary.LittleEndian.Uint64(b))
			case onnxpb.TensorProto_UINT64:
				t.I[i] = int64(binary.LittleEndian.Uint64(b))
			case onnxpb.TensorProto_INT32:
				t.I[i] = int64(int32(binary.LittleEndian.Uint32(b)))
			case onnxpb.TensorProto_UINT32:
				t.I[i] = int64(binary.LittleEndian.Uint32(b))
			case onnxpb.TensorProto_INT16:
				t.I[i] = int64(int16(binary.LittleEndian.Uint16(b)))
			case onnxpb.TensorProto_UINT16:
				t.I[i] = int64(binary.LittleEndian.Uint16(b))
			case onnxpb.TensorProto_INT8:
				t.I[i] = int64(int8(b[0]))
			case onnxpb.TensorProto_UINT8, onnxpb.TensorProto_BOOL:
				t.I[i] = int64(b[0])
			}
		}
		return t, nil
	}
	var have int
	switch dt {
	case onnxpb.TensorProto_FLOAT:
		have = len(tp.GetFloatData())
		if have == n {
			copy(t.F, tp.GetFloatData())
		}
	case onnxpb.TensorProto_DOUBLE:
		have = len(tp.GetDoubleData())
		if have == n {
			for i, v := range tp.GetDoubleData() {
				t.F[i] = float32(v)
			}
		}
	case onnxpb.TensorProto_FLOAT16, onnxpb.TensorProto_BFLOAT16:
		have = len(tp.GetInt32Data())
		if have == n {
			for i, v := range tp.GetInt32Data() {
				if dt == onnxpb.TensorProto_FLOAT16 {
					t.F[i] = halfToFloat(uint16(v))
				} else {
					t.F[i] = math.Float32frombits(uint32(v) << 16)
				}
			}
		}
	case onnxpb.TensorProto_INT64:
		have = len(tp.GetInt64Data())
		if have == n {
			copy(t.I, tp.GetInt64Data())
		}
	case onnxpb.TensorProto_UINT64, onnxpb.TensorProto_UINT32:
		have = len(tp.GetUint64Data())
		if have == n {
			for i, v := range tp.GetUint64Data() {
				t.I[i] = int64(v)
			}
		}
	default: // int32, int16, int8, uint16, uint8, bool are stored in int32_data
		have = len(tp.GetInt32Data())
		if have == n {
			for i, v := range tp.GetInt32Data() {
				t.I[i] = int64(v)
			}
		}
	}
	if have != n {
		return nil, fmt.Errorf("holds %d %s values, its shape %v needs %d", have, dt, shape, n)
	}
	return t, nil
}

// typedLen is how many values of type dt the tensor holds in its typed
// (not raw) data field.
func typedLen(tp *onnxpb.TensorProto, dt onnxpb.TensorProto_DataType) int {
	switch dt {
	case onnxpb.TensorProto_FLOAT:
		return len(tp.GetFloatData())
	case onnxpb.TensorProto_DOUBLE:
		return len(tp.GetDoubleData())
	case onnxpb.TensorProto_INT64:
		return len(tp.GetInt64Data())
	case onnxpb.TensorProto_UINT64, onnxpb.TensorProto_UINT32:
		return len(tp.GetUint64Data())
	default: // float16, bfloat16, int32, int16, int8, uint16, uint8, bool
		return len(tp.GetInt32Data())
	}
}

var elementSize = map[onnxpb.TensorProto_DataType]int{
	onnxpb.TensorProto_FLOAT: 4, onnxpb.TensorProto_DOUBLE: 8, onnxpb.TensorProto_FLOAT16: 2,
	onnxpb.TensorProto_BFLOAT16: 2, onnxpb.TensorProto_INT64: 8, onnxpb.TensorProto_UINT64: 8,
	onnxpb.TensorProto_INT32: 4, onnxpb.TensorProto_UINT32: 4, onnxpb.TensorProto_INT16: 2,
	onnxpb.TensorProto_UINT16: 2, onnxpb.TensorProto_INT8: 1, onnxpb.TensorProto_UINT8: 1,
	onnxpb.TensorProto_BOOL: 1,
}

// readExternal reads a tensor's bytes from the file its external_data names,
// refusing paths that leave the model's folder (absolute paths, "..", and
// symbolic links that resolve outside it), files that are not regular files,
// and lengths other than want (the bytes the declared shape needs), before
// reading anything.
func readExternal(tp *onnxpb.TensorProto, baseDir string, want int64) ([]byte, error) {
	if baseDir == "" {
		return nil, fmt.Errorf("tensor %q keeps its data in an external file, which is not allowed here", tp.GetName())
	}
	var location string
	var offset, length int64 = 0, -1
	for _, kv := range tp.GetExternalData() {
		var err error
		switch kv.GetKey() {
		case "location":
			location = kv.GetValue()
		case "offset":
			offset, err = strconv.ParseInt(kv.GetValue(), 10, 64)
		case "length":
			length, err = strconv.ParseInt(kv.GetValue(), 10, 64)
		}
		if err != nil {
			return nil, fmt.Errorf("tensor %q: external_data %s: %v", tp.GetName(), kv.GetKey(), err)
		}
	}
	if location == "" || filepath.IsAbs(location) {
		return nil, fmt.Errorf("tensor %q: external data location %q must be a relative path inside the model's folder", tp.GetName(), location)
	}
	full := filepath.Join(baseDir, location)
	rel, err := filepath.Rel(baseDir, full)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil, fmt.Errorf("tensor %q: external data location %q escapes the model's folder", tp.GetName(), location)
	}
	// Resolve symbolic links on both sides: a link inside the folder may
	// point anywhere on the machine.
	realBase, err := filepath.EvalSymlinks(baseDir)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: external data: %v", tp.GetName(), err)
	}
	realFull, err := filepath.EvalSymlinks(full)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: external data: %v", tp.GetName(), err)
	}
	rel, err = filepath.Rel(realBase, realFull)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return nil, fmt.Errorf("tensor %q: external data location %q is a link that leaves the model's folder", tp.GetName(), location)
	}
	if st, err := os.Stat(realFull); err != nil {
		return nil, fmt.Errorf("tensor %q: external data: %v", tp.GetName(), err)
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("tensor %q: external data location %q is not a regular file", tp.GetName(), location)
	}
	f, err := os.Open(realFull)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: external data: %v", tp.GetName(), err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if offset < 0 || offset > st.Size() {
		return nil, fmt.Errorf("tensor %q: external data offset %d is outside %s (%d bytes)", tp.GetName(), offset, location, st.Size())
	}
	if length < 0 {
		length = st.Size() - offset
	}
	if length > st.Size()-offset {
		return nil, fmt.Errorf("tensor %q: external data asks for bytes %d..%d of %s, which has %d", tp.GetName(), offset, offset+length, location, st.Size())
	}
	if length != want {
		return nil, fmt.Errorf("tensor %q: external data holds %d bytes, its shape %v needs %d", tp.GetName(), length, tp.GetDims(), want)
	}
	buf := make([]byte, length)
	if _, err := f.ReadAt(buf, offset); err != nil {
		return nil, fmt.Errorf("tensor %q: external data: %v", tp.GetName(), err)
	}
	return buf, nil
}

// encodeFloatTensor writes a float32 tensor as a TensorProto with raw data.
func encodeFloatTensor(name string, t *tensor.Tensor) *onnxpb.TensorProto {
	dims := make([]int64, len(t.Shape))
	for i, d := range t.Shape {
		dims[i] = int64(d)
	}
	tp := &onnxpb.TensorProto{Name: &name, Dims: dims}
	if t.DType == tensor.Int64 {
		dt := int32(onnxpb.TensorProto_INT64)
		tp.DataType = &dt
		raw := make([]byte, 8*len(t.I))
		for i, v := range t.I {
			binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
		}
		tp.RawData = raw
		return tp
	}
	dt := int32(onnxpb.TensorProto_FLOAT)
	tp.DataType = &dt
	raw := make([]byte, 4*len(t.F))
	for i, v := range t.F {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	tp.RawData = raw
	return tp
}

// halfToFloat converts an IEEE 754 half-precision value to float32.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		f := float32(mant) / 1024 / 16384
		if sign != 0 {
			f = -f
		}
		return f
	case exp == 31:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
}
