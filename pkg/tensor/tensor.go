package tensor

import (
	"fmt"
	"strings"
)

// DType is the element type of a Tensor.
type DType uint8

const (
	// Float32 tensors keep their elements in Tensor.F.
	Float32 DType = iota
	// Int64 tensors keep their elements in Tensor.I (ONNX int64, int32, bool
	// and other integer types are all held as int64).
	Int64
)

// String returns the ONNX-style name of the type.
func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Int64:
		return "int64"
	}
	return fmt.Sprintf("dtype(%d)", d)
}

// Tensor is a dense, row-major tensor of float32 or int64 elements.
type Tensor struct {
	Shape []int
	DType DType
	F     []float32
	I     []int64
}

// New returns a zeroed float32 tensor of the given shape.
func New(shape ...int) *Tensor {
	return &Tensor{Shape: append([]int(nil), shape...), F: make([]float32, Numel(shape))}
}

// NewInt returns a zeroed int64 tensor of the given shape.
func NewInt(shape ...int) *Tensor {
	return &Tensor{Shape: append([]int(nil), shape...), DType: Int64, I: make([]int64, Numel(shape))}
}

// FromFloat32 wraps data (not copied) as a float32 tensor of the given shape.
// It panics if the lengths do not match.
func FromFloat32(data []float32, shape ...int) *Tensor {
	if len(data) != Numel(shape) {
		panic(fmt.Sprintf("tensor: %d elements for shape %v", len(data), shape))
	}
	return &Tensor{Shape: append([]int(nil), shape...), F: data}
}

// FromInt64 wraps data (not copied) as an int64 tensor of the given shape.
// It panics if the lengths do not match.
func FromInt64(data []int64, shape ...int) *Tensor {
	if len(data) != Numel(shape) {
		panic(fmt.Sprintf("tensor: %d elements for shape %v", len(data), shape))
	}
	return &Tensor{Shape: append([]int(nil), shape...), DType: Int64, I: data}
}

// Numel returns the number of elements of a shape (1 for a scalar).
func Numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Len returns the number of elements of t.
func (t *Tensor) Len() int { return Numel(t.Shape) }

// Rank returns the number of dimensions of t.
func (t *Tensor) Rank() int { return len(t.Shape) }

// Clone returns a deep copy of t.
func (t *Tensor) Clone() *Tensor {
	c := &Tensor{Shape: append([]int(nil), t.Shape...), DType: t.DType}
	if t.F != nil {
		c.F = append([]float32(nil), t.F...)
	}
	if t.I != nil {
		c.I = append([]int64(nil), t.I...)
	}
	return c
}

// Reshaped returns a tensor that shares t's data under another shape with
// the same number of elements. It panics if the element counts differ.
func (t *Tensor) Reshaped(shape ...int) *Tensor {
	if Numel(shape) != t.Len() {
		panic(fmt.Sprintf("tensor: cannot reshape %v to %v", t.Shape, shape))
	}
	return &Tensor{Shape: append([]int(nil), shape...), DType: t.DType, F: t.F, I: t.I}
}

// Ints returns the elements of an int64 tensor as ints, or of a float tensor
// truncated to ints.
func (t *Tensor) Ints() []int {
	out := make([]int, t.Len())
	if t.DType == Int64 {
		for i, v := range t.I {
			out[i] = int(v)
		}
	} else {
		for i, v := range t.F {
			out[i] = int(v)
		}
	}
	return out
}

// String describes t's type and shape (not its data).
func (t *Tensor) String() string {
	return fmt.Sprintf("%s%s", t.DType, ShapeString(t.Shape))
}

// ShapeString formats a shape as [2 3 4].
func ShapeString(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// Strides returns the row-major strides of shape, in elements.
func Strides(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}

// SameShape reports whether a and b have identical shapes.
func SameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// BroadcastShape returns the numpy-style broadcast of shapes a and b, or an
// error when they are incompatible.
func BroadcastShape(a, b []int) ([]int, error) {
	n := len(a)
	if len(b) > n {
		n = len(b)
	}
	out := make([]int, n)
	for i := 0; i < n; i++ {
		da, db := 1, 1
		if j := len(a) - n + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - n + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db:
			out[i] = da
		case da == 1:
			out[i] = db
		case db == 1:
			out[i] = da
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast", a, b)
		}
	}
	return out, nil
}
