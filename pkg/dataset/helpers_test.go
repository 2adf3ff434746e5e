package dataset

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// npyRaw builds an NPY file by hand, per the format spec: magic, version,
// little-endian header length (2 bytes for 1.0, 4 for 2.0 and 3.0), the
// header dict padded with spaces and ended with '\n' so that the preamble
// and header fill a multiple of 64 bytes, then the data.
func npyRaw(major byte, dict string, data []byte) []byte {
	var b bytes.Buffer
	b.WriteString("\x93NUMPY")
	b.Write([]byte{major, 0})
	pre := 10
	if major > 1 {
		pre = 12
	}
	pad := (64 - (pre+len(dict)+1)%64) % 64
	hdr := dict + string(bytes.Repeat([]byte(" "), pad)) + "\n"
	if major == 1 {
		b.Write(binary.LittleEndian.AppendUint16(nil, uint16(len(hdr))))
	} else {
		b.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(hdr))))
	}
	b.WriteString(hdr)
	b.Write(data)
	return b.Bytes()
}

// npy1 builds a version 1.0 NPY file with the usual numpy header.
func npy1(descr, shape string, data []byte) []byte {
	return npyRaw(1, "{'descr': '"+descr+"', 'fortran_order': False, 'shape': "+shape+", }", data)
}

func f32le(v ...float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func f64le(v ...float64) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	return b
}

func i64le(v ...int64) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint64(b, uint64(x))
	}
	return b
}

// idxRaw builds an IDX file: 0, 0, type, rank, big-endian uint32 dims, data.
func idxRaw(typ byte, dims []int, data []byte) []byte {
	b := []byte{0, 0, typ, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, uint32(d))
	}
	return append(b, data...)
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type member struct {
	name string
	data []byte
}

// npzRaw builds a .npz archive (deflated members, like np.savez_compressed,
// when deflate is set; stored otherwise, like np.savez).
func npzRaw(t testing.TB, deflate bool, members ...member) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range members {
		method := zip.Store
		if deflate {
			method = zip.Deflate
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: m.name, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(m.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// put writes b to a file named name in dir and returns its path.
func put(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// labels3 is a valid labels file for three samples: 0, 2, 1.
func labels3() []byte { return npy1("<i8", "(3,)", i64le(0, 2, 1)) }
