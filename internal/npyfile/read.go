package npyfile

import (
	"archive/zip"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/advtest/advtest/pkg/tensor"
)

var (
	descrRe   = regexp.MustCompile(`'descr':\s*'([^']*)'`)
	fortranRe = regexp.MustCompile(`'fortran_order':\s*(True|False)`)
	shapeRe   = regexp.MustCompile(`'shape':\s*\(([^)]*)\)`)
)

// elemSize is the size in bytes of each element type ReadArrays reads.
var elemSize = map[string]int{"<f4": 4, "<i8": 8, "|b1": 1}

// ReadArrays reads every array of the .npz archive at path as a float32
// tensor, by member name without the .npy suffix (int64 and bool values
// are converted as they are).
func ReadArrays(path string) (map[string]*tensor.Tensor, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable .npz (zip) archive: %v", path, err)
	}
	defer zr.Close()
	out := map[string]*tensor.Tensor{}
	for _, m := range zr.File {
		if strings.HasSuffix(m.Name, "/") {
			continue
		}
		t, err := readMember(m)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, m.Name, err)
		}
		out[strings.TrimSuffix(m.Name, ".npy")] = t
	}
	return out, nil
}

// readMember decodes one NPY member of an archive.
func readMember(m *zip.File) (*tensor.Tensor, error) {
	rc, err := m.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var pre [8]byte
	if _, err := io.ReadFull(rc, pre[:]); err != nil || string(pre[:6]) != magic {
		return nil, fmt.Errorf("not an NPY array (want the magic %q and a version)", magic)
	}
	var hlen int
	switch pre[6] {
	case 1:
		var n [2]byte
		if _, err := io.ReadFull(rc, n[:]); err != nil {
			return nil, fmt.Errorf("truncated header length: %v", err)
		}
		hlen = int(binary.LittleEndian.Uint16(n[:]))
	case 2, 3:
		var n [4]byte
		if _, err := io.ReadFull(rc, n[:]); err != nil {
			return nil, fmt.Errorf("truncated header length: %v", err)
		}
		hlen = int(binary.LittleEndian.Uint32(n[:]))
	default:
		return nil, fmt.Errorf("NPY version %d.%d; want 1.0, 2.0 or 3.0", pre[6], pre[7])
	}
	if uint64(hlen) > m.UncompressedSize64 {
		return nil, fmt.Errorf("header of %d bytes in a member of %d", hlen, m.UncompressedSize64)
	}
	h := make([]byte, hlen)
	if _, err := io.ReadFull(rc, h); err != nil {
		return nil, fmt.Errorf("truncated header: %v", err)
	}
	descr, fortran, shapeStr := descrRe.FindSubmatch(h), fortranRe.FindSubmatch(h), shapeRe.FindSubmatch(h)
	if descr == nil || fortran == nil || shapeStr == nil {
		return nil, fmt.Errorf("header %q; want descr, fortran_order and shape", h)
	}
	size, ok := elemSize[string(descr[1])]
	if !ok {
		return nil, fmt.Errorf("element type %q; want '<f4', '<i8' or '|b1'", descr[1])
	}
	if string(fortran[1]) != "False" {
		return nil, fmt.Errorf("a Fortran-ordered array; want C order")
	}
	var shape []int
	n := uint64(1)
	for _, s := range strings.Split(string(shapeStr[1]), ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		d, err := strconv.Atoi(s)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("shape (%s); want non-negative whole dimensions", shapeStr[1])
		}
		shape = append(shape, d)
		if n *= uint64(d); n > m.UncompressedSize64 {
			break // refused below, before n can overflow
		}
	}
	if n*uint64(size) > m.UncompressedSize64 {
		return nil, fmt.Errorf("shape (%s) of %s needs %d bytes; the member holds %d", shapeStr[1], descr[1], n*uint64(size), m.UncompressedSize64)
	}
	data := make([]byte, n*uint64(size))
	if _, err := io.ReadFull(rc, data); err != nil {
		return nil, fmt.Errorf("truncated data: %v", err)
	}
	f := make([]float32, n)
	for i := range f {
		switch size {
		case 4:
			f[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		case 8:
			f[i] = float32(int64(binary.LittleEndian.Uint64(data[8*i:])))
		case 1:
			if data[i] != 0 {
				f[i] = 1
			}
		}
	}
	return tensor.FromFloat32(f, shape...), nil
}
