package dataset

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// maxRank bounds the number of dimensions an array may declare.
const maxRank = 32

// arrayHeader is what a file's header says about the array that follows.
type arrayHeader struct {
	dt      dtype
	shape   []int
	fortran bool // column-major (NPY fortran_order True)
}

// source is the byte stream that holds an array's elements.
type source struct {
	name  string    // for errors
	r     io.Reader // positioned at the first element
	avail int64     // bytes known to follow the header, or -1 when unknown
	// trusted says that avail is the real size (a regular file), so that the
	// whole buffer may be allocated up front; otherwise buffers grow with
	// the bytes actually read.
	trusted bool
	// drain makes readBody read past the rows it keeps (Options.Limit), to
	// check that the file holds every row it declares.
	drain bool
}

// target says what an array is read as.
type target int

const (
	asData   target = iota // float32 samples
	asLabels               // int64 class ids
)

// decoded is an array read from a file. Only the first rows of shape[0]
// are kept when Options.Limit asks for fewer.
type decoded struct {
	shape []int // as declared in the file
	rows  int   // rows kept
	f     []float32
	i     []int64
}

// keptShape returns shape with the first dimension replaced by rows.
func (d *decoded) keptShape() []int {
	s := slices.Clone(d.shape)
	s[0] = d.rows
	return s
}

// shapeTuple formats a shape the way numpy prints it: (3, 4) or (3,).
func shapeTuple(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = fmt.Sprint(d)
	}
	if len(shape) == 1 {
		return "(" + parts[0] + ",)"
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// checkedNumel returns the number of elements of shape, and false when it
// is over maxElems (without overflowing).
func checkedNumel(shape []int, maxElems int64) (int64, bool) {
	for _, d := range shape {
		if d == 0 {
			return 0, true
		}
	}
	n := int64(1)
	for _, d := range shape {
		if int64(d) > maxElems/n {
			return 0, false
		}
		n *= int64(d)
	}
	return n, n <= maxElems
}

// chunkBytes is the size of the read buffer used while decoding.
const chunkBytes = 64 << 10

// readBody reads the elements that h declares from src as t.
func readBody(src source, h arrayHeader, t target, opts *Options) (*decoded, error) {
	if len(h.shape) == 0 {
		return nil, errf(src.name, ErrInvalid, "array is a scalar (shape ()); want one row per sample, shape (N, ...)")
	}
	for _, d := range h.shape {
		if d < 0 {
			return nil, errf(src.name, ErrFormat, "shape %s has a negative dimension", shapeTuple(h.shape))
		}
	}
	maxElems := opts.maxBytes() / 4
	n, ok := checkedNumel(h.shape, maxElems)
	if !ok {
		total := 1.0
		for _, d := range h.shape {
			total *= float64(d)
		}
		return nil, errf(src.name, ErrTooLarge, "shape %s declares %.4g elements (%s as float32), over the limit of %s (Options.MaxBytes)",
			shapeTuple(h.shape), total, humanBytes(4*total), humanBytes(float64(opts.maxBytes())))
	}
	size := int64(h.dt.size)
	if src.avail >= 0 && n*size > src.avail {
		return nil, errf(src.name, ErrTruncated, "truncated: shape %s of %s declares %d bytes of data, but only %d follow the header",
			shapeTuple(h.shape), h.dt, n*size, src.avail)
	}
	rows := h.shape[0]
	keep := rows
	if opts.Limit > 0 && opts.Limit < rows && !h.fortran {
		keep = opts.Limit
	}
	rowElems := int64(0)
	if rows > 0 {
		rowElems = n / int64(rows)
	}
	keepElems := int64(keep) * rowElems

	// Allocate everything now only when the file is known to hold it.
	capElems := keepElems
	if !src.trusted {
		capElems = min(keepElems, chunkBytes)
	}
	out := &decoded{shape: slices.Clone(h.shape), rows: keep}
	if t == asData {
		out.f = make([]float32, 0, capElems)
	} else {
		out.i = make([]int64, 0, capElems)
	}
	buf := make([]byte, min(int64(chunkBytes), max(keepElems*size, 1)))
	per := int64(len(buf)) / size
	var done int64 // elements decoded
	for done < keepElems {
		k := min(per, keepElems-done)
		if m, err := io.ReadFull(src.r, buf[:k*size]); err != nil {
			return nil, readError(src.name, err, h, n*size, done*size+int64(m))
		}
		if t == asData {
			out.f = slices.Grow(out.f, int(k))[:done+k]
			decodeFloat32(out.f[done:], buf[:k*size], h.dt, !opts.NoScale)
		} else {
			out.i = slices.Grow(out.i, int(k))[:done+k]
			if bad, v := decodeInt64(out.i[done:], buf[:k*size], h.dt); bad >= 0 {
				return nil, errf(src.name, ErrInvalid, "label %d is %v, not an integer class id", done+int64(bad), v)
			}
		}
		done += k
	}
	if src.drain && keepElems < n {
		rest := (n - keepElems) * size
		if m, err := io.CopyN(io.Discard, src.r, rest); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, readError(src.name, err, h, n*size, keepElems*size+m)
		}
	}
	if h.fortran && len(h.shape) > 1 {
		if t == asData {
			out.f = fortranToC(out.f, h.shape)
		} else {
			out.i = fortranToC(out.i, h.shape)
		}
	}
	if h.fortran && opts.Limit > 0 && opts.Limit < rows {
		out.rows = opts.Limit
		if t == asData {
			out.f = out.f[:int64(out.rows)*rowElems]
		} else {
			out.i = out.i[:int64(out.rows)*rowElems]
		}
	}
	return out, nil
}

// readError turns an error met while reading the data into a FileError.
func readError(name string, err error, h arrayHeader, want, got int64) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errf(name, ErrTruncated, "truncated: shape %s of %s declares %d bytes of data, but the file ends after %d",
			shapeTuple(h.shape), h.dt, want, got)
	}
	return errf(name, ErrFormat, "reading data: %v", err)
}

// fortranToC returns the elements of a column-major array of the given shape
// in row-major order.
func fortranToC[T any](src []T, shape []int) []T {
	dst := make([]T, len(src))
	if len(src) == 0 {
		return dst
	}
	k := len(shape)
	fstride := make([]int, k)
	acc := 1
	for i := 0; i < k; i++ {
		fstride[i] = acc
		acc *= shape[i]
	}
	idx := make([]int, k)
	off := 0
	for c := range dst {
		dst[c] = src[off]
		for d := k - 1; d >= 0; d-- {
			idx[d]++
			off += fstride[d]
			if idx[d] < shape[d] {
				break
			}
			off -= fstride[d] * shape[d]
			idx[d] = 0
		}
	}
	return dst
}
