package npyfile

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/tensor"
)

// writeNPZ stores members (name -> NPY bytes) as a .npz archive in a
// temporary folder and returns its path.
func writeNPZ(t *testing.T, members map[string][]byte) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, b := range members {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "a.npz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func encoded(t *testing.T, x *tensor.Tensor) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Encode(&b, x); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestReadArrays reads back what Encode writes (and a bool array as numpy
// writes it), every array as float32.
func TestReadArrays(t *testing.T) {
	p := writeNPZ(t, map[string][]byte{
		"x.npy":      encoded(t, tensor.FromFloat32([]float32{0.5, -1, 3.25, 1e-7, 0, 2}, 3, 1, 2)),
		"y.npy":      encoded(t, tensor.FromInt64([]int64{2, 0, -1}, 3)),
		"mask.npy":   append(Header("|b1", []int{2, 2}), 1, 0, 0, 1),
		"scalar.npy": encoded(t, tensor.FromFloat32([]float32{7})),
	})
	got, err := ReadArrays(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		shape []int
		data  []float32
	}{
		{"x", []int{3, 1, 2}, []float32{0.5, -1, 3.25, 1e-7, 0, 2}},
		{"y", []int{3}, []float32{2, 0, -1}},
		{"mask", []int{2, 2}, []float32{1, 0, 0, 1}},
		{"scalar", nil, []float32{7}},
	} {
		a := got[c.name]
		if a == nil || a.DType != tensor.Float32 || len(a.Shape) != len(c.shape) || !slices.Equal(a.Shape[:len(c.shape)], c.shape) || !slices.Equal(a.F, c.data) {
			t.Errorf("%s: %+v, want shape %v data %v", c.name, a, c.shape, c.data)
		}
	}
	if len(got) != 4 {
		t.Errorf("%d arrays, want 4", len(got))
	}
}

func TestReadArraysErrors(t *testing.T) {
	f4 := encoded(t, tensor.FromFloat32([]float32{1, 2}, 2))
	for _, c := range []struct {
		name   string
		member []byte
		want   string
	}{
		{"magic", []byte("not an array"), "want the magic"},
		{"version", append([]byte("\x93NUMPY\x09\x00"), f4[8:]...), "want 1.0, 2.0 or 3.0"},
		{"dtype", Header("<f8", []int{1}), "want '<f4', '<i8' or '|b1'"},
		{"fortran", []byte(strings.Replace(string(f4), "False", "True ", 1)), "want C order"},
		{"shape", []byte(strings.Replace(string(f4), "(2,)", "(x,)", 1)), "want non-negative whole dimensions"},
		{"truncated", f4[:len(f4)-1], "truncated data"},
		{"huge", Header("<f4", []int{1 << 40, 1 << 40}), "the member holds"},
	} {
		_, err := ReadArrays(writeNPZ(t, map[string][]byte{"a.npy": c.member}))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "a.npz: a.npy: ") {
			t.Errorf("%s: error %v, want one naming a.npz: a.npy and %q", c.name, err, c.want)
		}
	}
	if _, err := ReadArrays(filepath.Join(t.TempDir(), "missing.npz")); err == nil || !strings.Contains(err.Error(), "missing.npz") {
		t.Errorf("missing archive: %v", err)
	}
}
