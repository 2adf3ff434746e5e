package dataset

import (
	"encoding/binary"
	"errors"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func be16(v ...int16) []byte {
	var b []byte
	for _, x := range v {
		b = binary.BigEndian.AppendUint16(b, uint16(x))
	}
	return b
}

func be32(v ...uint32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.BigEndian.AppendUint32(b, x)
	}
	return b
}

func be64(v ...uint64) []byte {
	var b []byte
	for _, x := range v {
		b = binary.BigEndian.AppendUint64(b, x)
	}
	return b
}

// TestNPYDataDtypes loads a (3, 2) array of every supported dtype as data.
// The expected values are the file's values converted as numpy's
// astype(np.float32) does, with uint8 divided by 255 in float32.
func TestNPYDataDtypes(t *testing.T) {
	f := func(v float32) uint32 { return math.Float32bits(v) }
	d := func(v float64) uint64 { return math.Float64bits(v) }
	tests := []struct {
		descr string
		data  []byte
		want  []float32
	}{
		{"<f4", f32le(0.5, -1, 2, 3.25, 1e-3, 5), []float32{0.5, -1, 2, 3.25, 1e-3, 5}},
		{"f4", f32le(0.5, -1, 2, 3.25, 1e-3, 5), []float32{0.5, -1, 2, 3.25, 1e-3, 5}},
		{"=f4", f32le(0.5, -1, 2, 3.25, 1e-3, 5), []float32{0.5, -1, 2, 3.25, 1e-3, 5}},
		{">f4", be32(f(0.5), f(-1), f(2), f(3.25), f(1e-3), f(5)), []float32{0.5, -1, 2, 3.25, 1e-3, 5}},
		{"<f8", f64le(0.1, -1, 2, 3, 1e30, 5), []float32{0.1, -1, 2, 3, 1e30, 5}},
		{">f8", be64(d(0.1), d(-1), d(2), d(3), d(4), d(5)), []float32{0.1, -1, 2, 3, 4, 5}},
		{"|u1", []byte{0, 255, 51, 1, 128, 254}, []float32{0, 1, float32(51) / 255, float32(1) / 255, float32(128) / 255, float32(254) / 255}},
		{"<u1", []byte{0, 255, 0, 0, 0, 0}, []float32{0, 1, 0, 0, 0, 0}},
		{"|i1", []byte{0xff, 2, 0x80, 4, 5, 127}, []float32{-1, 2, -128, 4, 5, 127}},
		{"<i2", []byte{0xff, 0xff, 2, 0, 0, 0x80, 4, 0, 5, 0, 6, 0}, []float32{-1, 2, -32768, 4, 5, 6}},
		{">i2", be16(-1, 2, -32768, 4, 5, 6), []float32{-1, 2, -32768, 4, 5, 6}},
		{"<i4", []byte{0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6, 0, 0, 0}, []float32{-1, 2, 3, 4, 5, 6}},
		{">i4", be32(0xffffffff, 2, 3, 4, 5, 6), []float32{-1, 2, 3, 4, 5, 6}},
		{"<i8", i64le(-1, 2, 3, 4, 5, 1<<40), []float32{-1, 2, 3, 4, 5, 1 << 40}},
		{">i8", be64(math.MaxUint64, 2, 3, 4, 5, 6), []float32{-1, 2, 3, 4, 5, 6}},
		{"|b1", []byte{0, 1, 1, 0, 2, 0}, []float32{0, 1, 1, 0, 1, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.descr, func(t *testing.T) {
			dir := t.TempDir()
			x := put(t, dir, "x.npy", npy1(tc.descr, "(3, 2)", tc.data))
			y := put(t, dir, "y.npy", labels3())
			s, err := Load(x, y, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.X.Shape, []int{3, 2}) || !slices.Equal(s.X.F, tc.want) {
				t.Errorf("got %v %v, want [3 2] %v", s.X.Shape, s.X.F, tc.want)
			}
			if !slices.Equal(s.Y, []int{0, 2, 1}) || s.Format != "npy" {
				t.Errorf("got labels %v format %q", s.Y, s.Format)
			}
		})
	}
}

func TestNPYNoScale(t *testing.T) {
	dir := t.TempDir()
	x := put(t, dir, "x.npy", npy1("|u1", "(3,)", []byte{0, 7, 255}))
	y := put(t, dir, "y.npy", labels3())
	s, err := Load(x, y, Options{NoScale: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.X.F, []float32{0, 7, 255}) {
		t.Errorf("got %v, want [0 7 255]", s.X.F)
	}
}

// TestNPYLabelDtypes loads labels 0, 2, 1 stored as every supported dtype.
func TestNPYLabelDtypes(t *testing.T) {
	tests := []struct {
		descr, shape string
		data         []byte
		want         []int
	}{
		{"<i8", "(3,)", i64le(0, 2, 1), []int{0, 2, 1}},
		{">i8", "(3,)", be64(0, 2, 1), []int{0, 2, 1}},
		{"<i8", "(3, 1)", i64le(0, 2, 1), []int{0, 2, 1}},
		{"<i4", "(3,)", []byte{0, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0}, []int{0, 2, 1}},
		{">i4", "(3,)", be32(0, 2, 1), []int{0, 2, 1}},
		{"<i2", "(3,)", []byte{0, 0, 2, 0, 1, 0}, []int{0, 2, 1}},
		{"|u1", "(3,)", []byte{0, 2, 1}, []int{0, 2, 1}},
		{"|i1", "(3,)", []byte{0, 2, 1}, []int{0, 2, 1}},
		{"|b1", "(3,)", []byte{0, 1, 1}, []int{0, 1, 1}},
		{"<f4", "(3,)", f32le(0, 2, 1), []int{0, 2, 1}},
		{"<f8", "(3,)", f64le(0, 2, 1), []int{0, 2, 1}},
		{">f8", "(3,)", be64(0, math.Float64bits(2), math.Float64bits(1)), []int{0, 2, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.descr+tc.shape, func(t *testing.T) {
			dir := t.TempDir()
			x := put(t, dir, "x.npy", npy1("<f4", "(3,)", f32le(1, 2, 3)))
			y := put(t, dir, "y.npy", npy1(tc.descr, tc.shape, tc.data))
			s, err := Load(x, y, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.Y, tc.want) {
				t.Errorf("got %v, want %v", s.Y, tc.want)
			}
		})
	}
}

// TestNPYHeaders checks header variants that numpy and other writers
// produce: versions 2.0 and 3.0, other key orders, no trailing comma,
// Python 2 long dimensions, extra spaces, '"' quotes.
func TestNPYHeaders(t *testing.T) {
	data := f32le(1, 2, 3, 4, 5, 6)
	tests := []struct {
		name  string
		major byte
		dict  string
	}{
		{"v1", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }"},
		{"v2", 2, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }"},
		{"v3", 3, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }"},
		{"order", 1, "{'shape': (3, 2), 'fortran_order': False, 'descr': '<f4'}"},
		{"long", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 2L), }"},
		{"spaces", 1, "  {  'descr' :'<f4' ,'fortran_order':False,'shape':(3,2)}  "},
		{"dquote", 1, `{"descr": "<f4", "fortran_order": False, "shape": (3, 2)}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			x := put(t, dir, "x.npy", npyRaw(tc.major, tc.dict, data))
			y := put(t, dir, "y.npy", labels3())
			s, err := Load(x, y, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.X.Shape, []int{3, 2}) || !slices.Equal(s.X.F, []float32{1, 2, 3, 4, 5, 6}) {
				t.Errorf("got %v %v", s.X.Shape, s.X.F)
			}
		})
	}
}

// TestNPYFortran checks that a Fortran-ordered array is transposed to C
// order. numpy: a = np.arange(24, dtype=np.float32).reshape(3, 2, 4);
// np.asfortranarray(a) is stored as a.flatten(order='F'); loading it must
// give a again.
func TestNPYFortran(t *testing.T) {
	shape := []int{3, 2, 4}
	var fdata []float32
	for k := 0; k < 4; k++ {
		for j := 0; j < 2; j++ {
			for i := 0; i < 3; i++ {
				fdata = append(fdata, float32(i*8+j*4+k))
			}
		}
	}
	dir := t.TempDir()
	x := put(t, dir, "x.npy", npyRaw(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (3, 2, 4), }", f32le(fdata...)))
	// Fortran-ordered labels of shape (3, 1) are the same bytes as C order.
	y := put(t, dir, "y.npy", npyRaw(1, "{'descr': '<i8', 'fortran_order': True, 'shape': (3, 1), }", i64le(2, 0, 1)))
	for _, limit := range []int{0, 2} {
		s, err := Load(x, y, Options{Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		n := 3
		if limit > 0 {
			n = limit
		}
		for i := range n * 8 {
			if s.X.F[i] != float32(i) {
				t.Fatalf("limit %d: element %d is %v, want %d (all %v)", limit, i, s.X.F[i], i, s.X.F)
			}
		}
		if !slices.Equal(s.X.Shape, []int{n, shape[1], shape[2]}) || !slices.Equal(s.Y, []int{2, 0, 1}[:n]) {
			t.Errorf("limit %d: got %v %v", limit, s.X.Shape, s.Y)
		}
	}
}

// TestLoadErrors checks that every kind of bad input gives one clear line
// that names the file.
func TestLoadErrors(t *testing.T) {
	good := npy1("<f4", "(3, 2)", f32le(1, 2, 3, 4, 5, 6))
	tests := []struct {
		name   string
		x, y   []byte // y nil: no labels file
		kind   error
		substr string // part of the message after "x.npy: " or "y.npy: "
		file   string // the file the message must start with; "x.npy" if empty
	}{
		{"complex dtype", npy1("<c8", "(3,)", make([]byte, 24)), labels3(), ErrFormat,
			`x.npy: dtype "<c8" is not supported (want float32, float64, uint8, int64, int32, int16, int8 or bool)`, ""},
		{"float16", npy1("<f2", "(3,)", make([]byte, 6)), labels3(), ErrFormat, `dtype "<f2" is not supported`, ""},
		{"unicode", npy1("<U3", "(3,)", make([]byte, 36)), labels3(), ErrFormat, `dtype "<U3" is not supported`, ""},
		{"object", npy1("|O", "(3,)", make([]byte, 24)), labels3(), ErrFormat, `dtype "|O" is not supported`, ""},
		{"pipe f4", npy1("|f4", "(3,)", make([]byte, 12)), labels3(), ErrFormat, `dtype "|f4" is not supported`, ""},
		{"structured", npyRaw(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,), }", make([]byte, 12)), labels3(), ErrFormat, "structured dtypes", ""},
		{"bad magic", []byte("\x93NUMPX\x01\x00\x00\x00"), labels3(), ErrFormat, "unrecognised format", ""},
		{"version 4", append([]byte("\x93NUMPY\x04\x00"), good[8:]...), labels3(), ErrFormat, "version 4.0 is not supported (want 1.0, 2.0 or 3.0)", ""},
		{"version 1.1", append([]byte("\x93NUMPY\x01\x01"), good[8:]...), labels3(), ErrFormat, "version 1.1", ""},
		{"preamble cut", good[:9], labels3(), ErrTruncated, "preamble", ""},
		{"header cut", good[:40], labels3(), ErrTruncated, "header declares 118 bytes", ""},
		{"data cut", good[:len(good)-1], labels3(), ErrTruncated, "truncated: shape (3, 2) of float32 declares 24 bytes of data, but only 23 follow the header", ""},
		{"no data", good[:128], labels3(), ErrTruncated, "declares 24 bytes of data, but only 0 follow", ""},
		{"absurd shape", npy1("<f4", "(1000000000, 1000000000)", nil), labels3(), ErrTooLarge, "shape (1000000000, 1000000000) declares 1e+18 elements (3.47 EiB as float32), over the limit of 4 GiB", ""},
		{"absurd dim", npy1("<f4", "(99999999999999999999,)", nil), labels3(), ErrFormat, "absurdly large", ""},
		{"negative dim", npy1("<f4", "(-3,)", nil), labels3(), ErrFormat, "want a non-negative integer", ""},
		{"missing key", npyRaw(1, "{'descr': '<f4', 'shape': (3,), }", f32le(1, 2, 3)), labels3(), ErrFormat, `key "fortran_order" is missing`, ""},
		{"duplicate key", npyRaw(1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3,)}", f32le(1, 2, 3)), labels3(), ErrFormat, "appears twice", ""},
		{"extra key", npyRaw(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1}", f32le(1, 2, 3)), labels3(), ErrFormat, `unexpected key "x"`, ""},
		{"trailing text", npyRaw(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,)} x", f32le(1, 2, 3)), labels3(), ErrFormat, "after the dict", ""},
		{"bad bool", npyRaw(1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (3,)}", f32le(1, 2, 3)), labels3(), ErrFormat, "want True or False", ""},
		{"not a dict", npyRaw(1, "descr", f32le(1, 2, 3)), labels3(), ErrFormat, "dict literal", ""},
		{"scalar", npy1("<f4", "()", f32le(1)), labels3(), ErrInvalid, "array is a scalar", ""},
		{"too many dims", npy1("<f4", "("+strings.Repeat("1, ", 33)+")", f32le(1)), labels3(), ErrFormat, "more than 32 dimensions", ""},
		{"no labels", good, nil, ErrNoLabels, "x.npy: holds only the samples; pass the labels file with --labels", ""},
		{"length mismatch", good, npy1("<i8", "(2,)", i64le(0, 1)), ErrInvalid, "x.npy: 3 samples, but y.npy has 2 labels", ""},
		{"NaN", npy1("<f4", "(3, 2)", f32le(1, 2, 3, float32(math.NaN()), 5, 6)), labels3(), ErrInvalid, "x.npy: sample 1 (element 3) is NaN; data must be finite", ""},
		{"Inf f8", npy1("<f8", "(3, 2)", f64le(1, 2, 3, 4, 5, math.Inf(-1))), labels3(), ErrInvalid, "sample 2 (element 5) is -Inf", ""},
		{"f8 overflows f32", npy1("<f8", "(3, 2)", f64le(1e300, 2, 3, 4, 5, 6)), labels3(), ErrInvalid, "sample 0 (element 0) is +Inf", ""},
		{"fractional label", good, npy1("<f4", "(3,)", f32le(0, 1.5, 2)), ErrInvalid, "y.npy: label 1 is 1.5, not an integer class id", "y.npy"},
		{"NaN label", good, npy1("<f8", "(3,)", f64le(0, 1, math.NaN())), ErrInvalid, "label 2 is NaN", "y.npy"},
		{"huge float label", good, npy1("<f8", "(3,)", f64le(0, 1, 1e20)), ErrInvalid, "label 2 is 1e+20", "y.npy"},
		{"negative label", good, npy1("<i8", "(3,)", i64le(0, 1, -1)), ErrInvalid, "y.npy: label 2 is -1, negative", "y.npy"},
		{"negative i1 label", good, npy1("|i1", "(3,)", []byte{0, 0xff, 1}), ErrInvalid, "label 1 is -1, negative", "y.npy"},
		{"huge label", good, npy1("<i8", "(3,)", i64le(0, 1, 1<<40)), ErrInvalid, "label 2 is 1099511627776, over the largest class id allowed", "y.npy"},
		{"label matrix", good, npy1("<i8", "(3, 2)", i64le(0, 1, 1, 0, 0, 1)), ErrInvalid, "labels have shape (3, 2); want one class id per sample", "y.npy"},
		{"scalar labels", good, npy1("<i8", "()", i64le(1)), ErrInvalid, "array is a scalar", "y.npy"},
		{"labels cut", good, npy1("<i8", "(3,)", i64le(0, 1)), ErrTruncated, "declares 24 bytes of data, but only 16 follow", "y.npy"},
		{"labels bad dtype", good, npy1("<c16", "(3,)", make([]byte, 48)), ErrFormat, `y.npy: dtype "<c16" is not supported`, "y.npy"},
		{"labels csv", good, []byte("label\n1\n"), ErrFormat, "a labels file must be .npy or IDX (found csv)", "y.npy"},
		{"empty", npy1("<f4", "(0, 2)", nil), npy1("<i8", "(0,)", nil), ErrInvalid, "x.npy: no samples (shape (0, 2))", ""},
		{"no features", npy1("<f4", "(3, 0)", nil), labels3(), ErrInvalid, "samples have no elements (shape (3, 0))", ""},
		{"garbage", []byte("hello"), labels3(), ErrFormat, "unrecognised format (want .npy, .npz, IDX, IDX.gz or .csv with a header row)", ""},
		{"empty file", []byte{}, labels3(), ErrFormat, "unrecognised format", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			x := put(t, dir, "x.npy", tc.x)
			y := ""
			if tc.y != nil {
				yname := "y.npy"
				if tc.name == "labels csv" {
					yname = "y.csv"
				}
				y = put(t, dir, yname, tc.y)
			}
			_, err := Load(x, y, Options{})
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, tc.kind) {
				t.Errorf("error %q is not %v", err, tc.kind)
			}
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("error %q is not a *FileError", err)
			}
			file := tc.file
			if file == "" {
				file = "x.npy"
			}
			msg := strings.ReplaceAll(err.Error(), dir+"/", "")
			if !strings.HasPrefix(msg, strings.TrimSuffix(file, ".npy")) || !strings.Contains(msg, tc.substr) {
				t.Errorf("error\n  %s\nwant it to start with %s and contain\n  %s", msg, file, tc.substr)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error %q spans lines", msg)
			}
		})
	}
}

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// TestAbsurdSizesDoNotAllocate checks that sizes declared in headers are
// refused before anything of that size is allocated: over the limit, longer
// than the file, or (in a gzip stream, whose size is unknown) longer than
// the data present.
func TestAbsurdSizesDoNotAllocate(t *testing.T) {
	dir := t.TempDir()
	y := put(t, dir, "y.npy", labels3())
	cases := []struct {
		name string
		b    []byte
		kind error
	}{
		{"over limit", npy1("<f4", "(100000, 100000, 100000)", nil), ErrTooLarge},
		{"longer than file", npy1("<f8", "(3, 100000000)", f64le(1, 2, 3)), ErrTruncated},
		{"gzip stream", gz(t, npy1("<f8", "(3, 100000000)", f64le(1, 2, 3))), ErrTruncated},
		{"idx gzip stream", gz(t, idxRaw(0x08, []int{3, 100000, 1000}, []byte{1, 2, 3})), ErrTruncated},
	}
	for _, tc := range cases {
		x := put(t, dir, "x-"+strings.ReplaceAll(tc.name, " ", "-"), tc.b)
		var err error
		n := allocated(func() { _, err = Load(x, y, Options{}) })
		if !errors.Is(err, tc.kind) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.kind)
		}
		if n > 2<<20 {
			t.Errorf("%s: allocated %d bytes", tc.name, n)
		}
	}
}

func TestLimit(t *testing.T) {
	dir := t.TempDir()
	x := put(t, dir, "x.npy", npy1("<f4", "(3, 2)", f32le(1, 2, 3, 4, 5, 6)))
	y := put(t, dir, "y.npy", labels3())
	for _, tc := range []struct {
		limit int
		wantX []float32
		wantY []int
	}{
		{0, []float32{1, 2, 3, 4, 5, 6}, []int{0, 2, 1}},
		{1, []float32{1, 2}, []int{0}},
		{2, []float32{1, 2, 3, 4}, []int{0, 2}},
		{3, []float32{1, 2, 3, 4, 5, 6}, []int{0, 2, 1}},
		{99, []float32{1, 2, 3, 4, 5, 6}, []int{0, 2, 1}},
	} {
		s, err := Load(x, y, Options{Limit: tc.limit})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(s.X.F, tc.wantX) || !slices.Equal(s.Y, tc.wantY) || s.X.Shape[0] != len(tc.wantY) {
			t.Errorf("limit %d: got %v %v %v", tc.limit, s.X.Shape, s.X.F, s.Y)
		}
	}
	// A limit does not hide a truncated file: the rest is still read.
	cut := put(t, dir, "cut.npy", npy1("<f4", "(3, 2)", f32le(1, 2, 3, 4, 5, 6))[:128+20])
	if _, err := Load(cut, y, Options{Limit: 1}); !errors.Is(err, ErrTruncated) {
		t.Errorf("truncated with limit: got %v", err)
	}
	gzcut := put(t, dir, "cut.npy.gz", gz(t, npy1("<f4", "(3, 2)", f32le(1, 2, 3, 4, 5))))
	if _, err := Load(gzcut, y, Options{Limit: 1}); !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "ends after 20") {
		t.Errorf("truncated gzip with limit: got %v", err)
	}
	if _, err := Load(x, y, Options{Limit: -1}); err == nil {
		t.Error("negative limit accepted")
	}
}

func TestSampleShape(t *testing.T) {
	dir := t.TempDir()
	x := put(t, dir, "x.npy", npy1("<f4", "(3, 2, 2)", f32le(make([]float32, 12)...)))
	y := put(t, dir, "y.npy", labels3())
	s, err := Load(x, y, Options{SampleShape: []int{1, 4}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.X.Shape, []int{3, 1, 4}) || !slices.Equal(s.SampleShape(), []int{1, 4}) {
		t.Errorf("got %v", s.X.Shape)
	}
	for _, bad := range [][]int{{3}, {2, 3}, {-1, -4}, {0}} {
		if _, err := Load(x, y, Options{SampleShape: bad}); !errors.Is(err, ErrInvalid) {
			t.Errorf("shape %v: got %v", bad, err)
		}
	}
}

// TestParseDescr pins the descr strings accepted and their meaning.
func TestParseDescr(t *testing.T) {
	ok := map[string]dtype{
		"<f4": dtF32, "=f4": dtF32, "f4": dtF32, ">f4": {kind: 'f', size: 4, big: true},
		"<f8": dtF64, "|u1": dtU8, "<u1": dtU8, ">u1": dtU8, "|i1": dtI8, "|b1": dtBool,
		"<i2": dtI16, "<i4": dtI32, "<i8": dtI64, ">i8": {kind: 'i', size: 8, big: true},
	}
	for s, want := range ok {
		got, err := parseDescr(s)
		if err != nil || got != want {
			t.Errorf("parseDescr(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "<", "<f", "<f16", "<u2", "<u4", "<u8", "|f8", "|i4", "<c8", "<m8", "<M8[ns]", "S5", "<b2", "?", "xf4"} {
		if _, err := parseDescr(s); err == nil {
			t.Errorf("parseDescr(%q) accepted", s)
		}
	}
}
