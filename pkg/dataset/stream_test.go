package dataset

import (
	"bytes"
	"compress/gzip"
	"errors"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/tensor"
)

// readAll reads every sample of src in batches of the given sizes, cycling
// through them, so that uneven batch boundaries are exercised.
func readAll(t *testing.T, src Source, sizes ...int) []float32 {
	t.Helper()
	per := tensor.Numel(src.SampleShape())
	out := make([]float32, src.Len()*per)
	for lo, k := 0, 0; lo < src.Len(); k++ {
		hi := min(src.Len(), lo+sizes[k%len(sizes)])
		if err := src.ReadBatch(out[lo*per:hi*per], lo, hi); err != nil {
			t.Fatalf("ReadBatch(%d, %d): %v", lo, hi, err)
		}
		lo = hi
	}
	return out
}

// TestOpenMatchesLoad opens each kind of input with Open and with Load and
// checks that both give the same samples, labels, shape and digest, and
// that plain .npy and IDX files are streamed while the others are not.
func TestOpenMatchesLoad(t *testing.T) {
	dir := t.TempDir()
	mnist := filepath.Join("..", "..", "testdata", "mnist")
	idxImages, err := os.ReadFile(filepath.Join(mnist, "t1k-images-idx3-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	plainIDX := put(t, dir, "images.idx", gunzip(t, idxImages))
	labels := put(t, dir, "labels.npy", labels3())
	u8 := put(t, dir, "u8.npy", npy1("|u1", "(3, 2, 2)", []byte{0, 255, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}))
	f64be := put(t, dir, "f64be.npy", npy1(">f8", "(3, 2)", f64be(1, -2, 3.5, 4, 5, 6)))
	i16 := put(t, dir, "i16.npy", npy1("<i2", "(3, 1)", []byte{1, 0, 0xff, 0xff, 7, 0}))
	fortran := put(t, dir, "fortran.npy", npyRaw(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (3, 2), }", f32le(1, 2, 3, 4, 5, 6)))

	for _, tc := range []struct {
		name, data, labels string
		opts               Options
		streamed           bool
		sizes              []int
	}{
		{"npy float32 (shipped)", filepath.Join(mnist, "test-1000-images.npy"), filepath.Join(mnist, "test-1000-labels.npy"), Options{}, true, []int{7, 128, 1}},
		{"npy float32 limit", filepath.Join(mnist, "test-1000-images.npy"), filepath.Join(mnist, "test-1000-labels.npy"), Options{Limit: 50}, true, []int{16}},
		{"npy uint8 scaled", u8, labels, Options{}, true, []int{2}},
		{"npy uint8 unscaled, viewed", u8, labels, Options{NoScale: true, SampleShape: []int{4}}, true, []int{1}},
		{"npy float64 big-endian", f64be, labels, Options{}, true, []int{3}},
		{"npy int16", i16, labels, Options{}, true, []int{1, 2}},
		{"IDX plain", plainIDX, filepath.Join(mnist, "t1k-labels-idx1-ubyte.gz"), Options{SampleShape: []int{1, 28, 28}}, true, []int{100, 33}},
		{"IDX gzip (read whole)", filepath.Join(mnist, "t1k-images-idx3-ubyte.gz"), filepath.Join(mnist, "t1k-labels-idx1-ubyte.gz"), Options{Limit: 20}, false, []int{5}},
		{"npz (read whole)", filepath.Join(mnist, "test-100.npz"), "", Options{}, false, []int{64}},
		{"npy Fortran order (read whole)", fortran, labels, Options{}, false, []int{2}},
		{"csv (read whole)", filepath.Join("..", "..", "testdata", "tabular", "tabular.csv"), "", Options{}, false, []int{10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := Load(tc.data, tc.labels, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Open(tc.data, tc.labels, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Streamed() != tc.streamed {
				t.Errorf("Streamed() = %v, want %v", s.Streamed(), tc.streamed)
			}
			if !slices.Equal(s.SampleShape(), want.SampleShape()) || s.Len() != want.Len() {
				t.Fatalf("shape %v × %d, want %v × %d", s.SampleShape(), s.Len(), want.SampleShape(), want.Len())
			}
			if !slices.Equal(s.Labels(), want.Y) {
				t.Errorf("labels differ from Load's")
			}
			if got := readAll(t, s, tc.sizes...); !slices.Equal(got, want.X.F) {
				t.Errorf("samples differ from Load's")
			}
			if s.Hash() != want.Hash() || s.Format != want.Format {
				t.Errorf("hash %s format %s, want %s %s", s.Hash(), s.Format, want.Hash(), want.Format)
			}
		})
	}
}

// TestOpenErrors checks that Open refuses what Load refuses, before
// reading samples, and that a sample that is not finite fails the batch
// that reads it with the file and the sample named.
func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	labels := put(t, dir, "labels.npy", labels3())
	for _, tc := range []struct {
		name, data string
		labels     string
		kind       error
		want       string
	}{
		{"truncated", put(t, dir, "short.npy", npy1("<f4", "(3, 2)", f32le(1, 2, 3))), labels, ErrTruncated, "truncated"},
		{"label count", put(t, dir, "four.npy", npy1("<f4", "(4, 1)", f32le(1, 2, 3, 4))), labels, ErrInvalid, "4 samples, but"},
		{"scalar", put(t, dir, "scalar.npy", npy1("<f4", "()", f32le(1))), labels, ErrInvalid, "scalar"},
		{"no samples", put(t, dir, "empty.npy", npy1("<f4", "(0, 2)", nil)), labels, ErrInvalid, "no samples"},
		{"negative label", put(t, dir, "ok.npy", npy1("<f4", "(3, 1)", f32le(1, 2, 3))), put(t, dir, "neg.npy", npy1("<i8", "(3,)", i64le(0, -1, 1))), ErrInvalid, "negative"},
		{"no labels file", put(t, dir, "ok2.npy", npy1("<f4", "(3, 1)", f32le(1, 2, 3))), "", ErrNoLabels, "--labels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(tc.data, tc.labels, Options{})
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open: %v, want %v containing %q", err, tc.kind, tc.want)
			}
		})
	}

	nan := put(t, dir, "nan.npy", npy1("<f4", "(3, 2)", f32le(1, 2, 3, float32(math.NaN()), 5, 6)))
	s, err := Open(nan, labels, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dst := make([]float32, 2)
	if err := s.ReadBatch(dst, 0, 1); err != nil {
		t.Fatalf("sample 0 is finite: %v", err)
	}
	err = s.ReadBatch(make([]float32, 4), 0, 2)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), nan) || !strings.Contains(err.Error(), "sample 1") {
		t.Fatalf("ReadBatch over a NaN: %v, want an error naming %s and sample 1", err, nan)
	}
	if err := s.ReadBatch(dst, 2, 4); err == nil {
		t.Fatal("ReadBatch past the end succeeded")
	}
}

func f64be(v ...float64) []byte {
	var b []byte
	for _, x := range v {
		u := math.Float64bits(x)
		for s := 56; s >= 0; s -= 8 {
			b = append(b, byte(u>>s))
		}
	}
	return b
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOpenImageFolderBudgetAndIndex checks that Options.MaxBytes bounds
// one sample of a streamed image folder, not the folder (Load still
// bounds the folder), and that a limited folder's Stream carries the
// samples' positions in the full listing, as Load's Set does.
func TestOpenImageFolderBudgetAndIndex(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"a/0.png", "a/1.png", "a/2.png", "b/0.png"} {
		writePNG(t, filepath.Join(dir, p), 4, 4, solid(color.NRGBA{9, 9, 9, 255}))
	}
	one := int64(3 * 4 * 4 * 4) // a sample as float32
	for _, tc := range []struct {
		name     string
		maxBytes int64
		openErr  bool
		loadErr  bool
	}{
		{"the folder fits", 4 * one, false, false},
		{"one sample fits, the folder does not", 2 * one, false, true},
		{"no sample fits", one - 1, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(dir, "", Options{MaxBytes: tc.maxBytes})
			if (err != nil) != tc.openErr || err != nil && !errors.Is(err, ErrTooLarge) {
				t.Errorf("Open: %v, want an ErrTooLarge error: %v", err, tc.openErr)
			}
			if err == nil && (!s.Streamed() || s.Len() != 4) {
				t.Errorf("Open: streamed %v, %d samples; want streamed, 4", s.Streamed(), s.Len())
			}
			if _, err := Load(dir, "", Options{MaxBytes: tc.maxBytes}); (err != nil) != tc.loadErr || err != nil && !errors.Is(err, ErrTooLarge) {
				t.Errorf("Load: %v, want an ErrTooLarge error: %v", err, tc.loadErr)
			}
		})
	}
	s, err := Open(dir, "", Options{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	set, err := Load(dir, "", Options{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Index, set.Index) || s.Index == nil || s.Format != set.Format || s.Hash() != set.Hash() {
		t.Errorf("Open: index %v format %s hash %s; Load: %v %s %s", s.Index, s.Format, s.Hash(), set.Index, set.Format, set.Hash())
	}
}
