package dataset

import (
	"encoding/binary"
	"math"
)

// dtype is an element type as it is stored in a file.
type dtype struct {
	kind byte // 'f' float, 'i' signed integer, 'u' unsigned integer, 'b' bool
	size int  // bytes per element
	big  bool // big-endian (only meaningful when size > 1)
}

var (
	dtF32  = dtype{kind: 'f', size: 4}
	dtF64  = dtype{kind: 'f', size: 8}
	dtU8   = dtype{kind: 'u', size: 1}
	dtI8   = dtype{kind: 'i', size: 1}
	dtI16  = dtype{kind: 'i', size: 2}
	dtI32  = dtype{kind: 'i', size: 4}
	dtI64  = dtype{kind: 'i', size: 8}
	dtBool = dtype{kind: 'b', size: 1}
)

// supportedDtypes is the list printed when a dtype is refused.
const supportedDtypes = "float32, float64, uint8, int64, int32, int16, int8 or bool"

// String returns the numpy name of the type, e.g. "float32".
func (d dtype) String() string {
	switch d.kind {
	case 'f':
		return map[int]string{4: "float32", 8: "float64"}[d.size]
	case 'i':
		return map[int]string{1: "int8", 2: "int16", 4: "int32", 8: "int64"}[d.size]
	case 'u':
		return "uint8"
	case 'b':
		return "bool"
	}
	return "unknown"
}

// valid reports whether d is one of the supported element types.
func (d dtype) valid() bool {
	switch d.kind {
	case 'f':
		return d.size == 4 || d.size == 8
	case 'i':
		return d.size == 1 || d.size == 2 || d.size == 4 || d.size == 8
	case 'u', 'b':
		return d.size == 1
	}
	return false
}

func (d dtype) order() binary.ByteOrder {
	if d.big {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// decodeFloat32 converts len(dst) elements of type d from src into dst.
// uint8 elements are divided by 255 when scale is set (in float32
// arithmetic, as numpy's x.astype(np.float32) / np.float32(255) does).
func decodeFloat32(dst []float32, src []byte, d dtype, scale bool) {
	switch {
	case d == dtF32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case d.kind == 'u':
		if scale {
			for i := range dst {
				dst[i] = float32(src[i]) / 255
			}
		} else {
			for i := range dst {
				dst[i] = float32(src[i])
			}
		}
	case d.kind == 'b':
		for i := range dst {
			if src[i] != 0 {
				dst[i] = 1
			} else {
				dst[i] = 0
			}
		}
	case d.kind == 'i' && d.size == 1:
		for i := range dst {
			dst[i] = float32(int8(src[i]))
		}
	default:
		bo := d.order()
		switch {
		case d.kind == 'f' && d.size == 4:
			for i := range dst {
				dst[i] = math.Float32frombits(bo.Uint32(src[4*i:]))
			}
		case d.kind == 'f':
			for i := range dst {
				dst[i] = float32(math.Float64frombits(bo.Uint64(src[8*i:])))
			}
		case d.size == 2:
			for i := range dst {
				dst[i] = float32(int16(bo.Uint16(src[2*i:])))
			}
		case d.size == 4:
			for i := range dst {
				dst[i] = float32(int32(bo.Uint32(src[4*i:])))
			}
		default:
			for i := range dst {
				dst[i] = float32(int64(bo.Uint64(src[8*i:])))
			}
		}
	}
}

// maxExactFloat is the largest float magnitude below which every whole
// number converts to int64 exactly (2^53).
const maxExactFloat = 1 << 53

// decodeInt64 converts len(dst) elements of type d from src into dst, for
// labels. Float elements must be whole numbers of magnitude below 2^53; the
// index of the first that is not is returned with its value, else -1.
func decodeInt64(dst []int64, src []byte, d dtype) (bad int, badVal float64) {
	switch {
	case d.kind == 'u':
		for i := range dst {
			dst[i] = int64(src[i])
		}
	case d.kind == 'b':
		for i := range dst {
			if src[i] != 0 {
				dst[i] = 1
			} else {
				dst[i] = 0
			}
		}
	case d.kind == 'i' && d.size == 1:
		for i := range dst {
			dst[i] = int64(int8(src[i]))
		}
	default:
		bo := d.order()
		switch {
		case d.kind == 'f':
			for i := range dst {
				var v float64
				if d.size == 4 {
					v = float64(math.Float32frombits(bo.Uint32(src[4*i:])))
				} else {
					v = math.Float64frombits(bo.Uint64(src[8*i:]))
				}
				if v != math.Trunc(v) || math.Abs(v) >= maxExactFloat { // NaN fails v != v's trunc too
					return i, v
				}
				dst[i] = int64(v)
			}
		case d.size == 2:
			for i := range dst {
				dst[i] = int64(int16(bo.Uint16(src[2*i:])))
			}
		case d.size == 4:
			for i := range dst {
				dst[i] = int64(int32(bo.Uint32(src[4*i:])))
			}
		default:
			for i := range dst {
				dst[i] = int64(bo.Uint64(src[8*i:]))
			}
		}
	}
	return -1, 0
}
