package dataset

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestIDX loads IDX files as MNIST ships them (ubyte images [N, H, W] with
// magic 0x00000803, ubyte labels with magic 0x00000801), plain and gzipped,
// with and without the .gz extension.
func TestIDX(t *testing.T) {
	img := idxRaw(0x08, []int{3, 2, 2}, []byte{0, 255, 51, 0, 1, 2, 3, 4, 255, 255, 0, 0})
	lab := idxRaw(0x08, []int{3}, []byte{7, 0, 9})
	want := []float32{0, 1, float32(51) / 255, 0, float32(1) / 255, float32(2) / 255, float32(3) / 255, float32(4) / 255, 1, 1, 0, 0}
	tests := []struct {
		name, xname, yname string
		x, y               []byte
		format             string
	}{
		{"plain", "t-images-idx3-ubyte", "t-labels-idx1-ubyte", img, lab, "idx"},
		{"gz", "t-images-idx3-ubyte.gz", "t-labels-idx1-ubyte.gz", gz(t, img), gz(t, lab), "idx.gz"},
		{"gz without extension", "images", "labels", gz(t, img), gz(t, lab), "idx.gz"},
		{"plain named .gz", "images.gz", "labels.gz", img, lab, "idx"},
		{"npy labels", "images", "labels.npy", img, npy1("|u1", "(3,)", []byte{7, 0, 9}), "idx"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Load(put(t, dir, tc.xname, tc.x), put(t, dir, tc.yname, tc.y), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.X.Shape, []int{3, 2, 2}) || !slices.Equal(s.X.F, want) || !slices.Equal(s.Y, []int{7, 0, 9}) {
				t.Errorf("got %v %v %v", s.X.Shape, s.X.F, s.Y)
			}
			if s.Format != tc.format || s.NumClasses() != 10 {
				t.Errorf("format %q, %d classes", s.Format, s.NumClasses())
			}
		})
	}
}

// TestIDXTypes reads the other IDX element types, all big-endian.
func TestIDXTypes(t *testing.T) {
	tests := []struct {
		typ  byte
		data []byte
		want []float32
	}{
		{0x09, []byte{0xff, 2, 3}, []float32{-1, 2, 3}},
		{0x0B, be16(-1, 2, 300), []float32{-1, 2, 300}},
		{0x0C, be32(0xfffffffe, 2, 70000), []float32{-2, 2, 70000}},
		{0x0D, be32(0x3f000000, 0x40000000, 0xbf800000), []float32{0.5, 2, -1}},
		{0x0E, be64(0x3fe0000000000000, 0x4000000000000000, 0xbff0000000000000), []float32{0.5, 2, -1}},
	}
	for _, tc := range tests {
		dir := t.TempDir()
		s, err := Load(put(t, dir, "x", idxRaw(tc.typ, []int{3}, tc.data)), put(t, dir, "y", idxRaw(0x08, []int{3}, []byte{1, 2, 3})), Options{})
		if err != nil {
			t.Fatalf("type 0x%02x: %v", tc.typ, err)
		}
		if !slices.Equal(s.X.F, tc.want) {
			t.Errorf("type 0x%02x: got %v, want %v", tc.typ, s.X.F, tc.want)
		}
	}
}

func TestIDXErrors(t *testing.T) {
	lab := idxRaw(0x08, []int{3}, []byte{1, 2, 3})
	img := idxRaw(0x08, []int{3, 2}, []byte{1, 2, 3, 4, 5, 6})
	gzImg := gz(t, img)
	tests := []struct {
		name   string
		x, y   []byte
		kind   error
		substr string
	}{
		{"truncated", img[:len(img)-2], lab, ErrTruncated, "x: truncated: shape (3, 2) of uint8 declares 6 bytes of data, but only 4 follow the header"},
		{"truncated dims", img[:9], lab, ErrTruncated, "x: truncated: the file ends inside the 2 IDX dimensions"},
		{"truncated gz", gz(t, img[:len(img)-2]), lab, ErrTruncated, "x: truncated: shape (3, 2) of uint8 declares 6 bytes of data, but the file ends after 4"},
		{"corrupt gz", append(gzImg[:len(gzImg)-12:len(gzImg)-12], 0, 0, 0, 0), lab, ErrFormat, "x: reading"},
		{"bad crc", badCRC(gzImg), lab, ErrFormat, "x: reading the gzip stream after the data: gzip: invalid checksum"},
		{"bad gzip header", []byte{0x1f, 0x8b, 0, 0}, lab, ErrFormat, "x: bad gzip stream"},
		{"no labels", img, nil, ErrNoLabels, "x: holds only the samples; pass the labels file with --labels"},
		{"length mismatch", img, idxRaw(0x08, []int{2}, []byte{1, 2}), ErrInvalid, "x: 3 samples, but "},
		{"labels truncated", img, lab[:len(lab)-1], ErrTruncated, "y: truncated"},
		{"absurd", idxRaw(0x0E, []int{1 << 30, 1 << 30, 4}, nil), lab, ErrTooLarge, "over the limit of 4 GiB"},
		{"empty", idxRaw(0x08, []int{0, 28, 28}, nil), idxRaw(0x08, []int{0}, nil), ErrInvalid, "x: no samples"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			y := ""
			if tc.y != nil {
				y = put(t, dir, "y", tc.y)
			}
			_, err := Load(put(t, dir, "x", tc.x), y, Options{})
			if !errors.Is(err, tc.kind) || !strings.Contains(strings.ReplaceAll(errString(err), dir+"/", ""), tc.substr) {
				t.Errorf("got %v\nwant %v containing %q", err, tc.kind, tc.substr)
			}
		})
	}
	// Unknown type bytes and ranks are refused by the header reader.
	for _, b := range [][]byte{{0, 0, 0x0A, 1}, {0, 0, 0x08, 0}, {0, 0, 0x08, 33}, {1, 0, 8, 1}, {0, 0}} {
		if _, _, err := readIDXHeader(bytes.NewReader(b), "f"); err == nil {
			t.Errorf("header % x accepted", b)
		}
	}
}

// badCRC returns a copy of a gzip stream with its CRC-32 trailer altered.
func badCRC(b []byte) []byte {
	c := slices.Clone(b)
	c[len(c)-8] ^= 0xff
	return c
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestCSV(t *testing.T) {
	tests := []struct {
		name, file, col string
		text            string
		limit           int
		wantX           []float32
		wantY           []int
		wantCols        []string
	}{
		{"default", "d.csv", "", "a,b,label\n1,2,0\n3.5,-4e-1,2\n", 0, []float32{1, 2, 3.5, -0.4}, []int{0, 2}, []string{"a", "b"}},
		{"label first", "d.csv", "", "label,a,b\n1,1,2\n0,3,4\n", 0, []float32{1, 2, 3, 4}, []int{1, 0}, []string{"a", "b"}},
		{"by name", "d.csv", "class", "a,class,b\n1,1,2\n3,0,4\n", 0, []float32{1, 2, 3, 4}, []int{1, 0}, []string{"a", "b"}},
		{"ignoring case", "d.csv", "", "a,b,Label\n1,2,0\n", 0, []float32{1, 2}, []int{0}, []string{"a", "b"}},
		{"by index", "d.csv", "0", "y,a,b\n1,1,2\n", 0, []float32{1, 2}, []int{1}, []string{"a", "b"}},
		{"last by -1", "d.csv", "-1", "a,b,target\n1,2,3\n", 0, []float32{1, 2}, []int{3}, []string{"a", "b"}},
		{"spaces BOM quotes", "d.csv", "", "\ufeff a , \"b\",label\r\n 1 , \"2\", 1.0 \r\n\r\n", 0, []float32{1, 2}, []int{1}, []string{"a", "b"}},
		{"tsv", "d.tsv", "", "a\tlabel\n1.5\t1\n", 0, []float32{1.5}, []int{1}, []string{"a"}},
		{"limit", "d.csv", "", "a,label\n1,0\n2,1\n3,x\n", 2, []float32{1, 2}, []int{0, 1}, []string{"a"}},
		{"txt", "d.txt", "", "a,label\n1,0\n", 0, []float32{1}, []int{0}, []string{"a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Load(put(t, t.TempDir(), tc.file, []byte(tc.text)), "", Options{LabelColumn: tc.col, Limit: tc.limit})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.X.F, tc.wantX) || !slices.Equal(s.Y, tc.wantY) || !slices.Equal(s.Columns, tc.wantCols) {
				t.Errorf("got %v %v %v %v", s.X.Shape, s.X.F, s.Y, s.Columns)
			}
			if !slices.Equal(s.X.Shape, []int{len(tc.wantY), len(tc.wantCols)}) || s.LabelsPath != "" || s.LabelsSHA256 != "" {
				t.Errorf("shape %v, labels %q %q", s.X.Shape, s.LabelsPath, s.LabelsSHA256)
			}
		})
	}
	// A gzipped CSV is read too.
	dir := t.TempDir()
	s, err := Load(put(t, dir, "d.csv.gz", gz(t, []byte("a,label\n1,0\n"))), "", Options{})
	if err != nil || s.Format != "csv.gz" || !slices.Equal(s.X.F, []float32{1}) {
		t.Errorf("gzipped csv: %v %v", s, err)
	}
}

func TestCSVErrors(t *testing.T) {
	tests := []struct {
		name, text, col string
		maxBytes        int64
		kind            error
		substr          string
	}{
		{"no label column", "a,b,c\n1,2,3\n", "", 0, ErrInvalid, `d.csv: no label column "label" in the header (columns: a, b, c); choose one by name or 0-based index`},
		{"index out of range", "a,b\n1,2\n", "5", 0, ErrInvalid, "label column index 5 is out of range (the header has 2 columns)"},
		{"not a number", "a,label\n1,0\nx1,1\n", "", 0, ErrInvalid, `d.csv: line 3, column "a": "x1" is not a number`},
		{"empty cell", "a,label\n,0\n", "", 0, ErrInvalid, `line 2, column "a": "" is not a number`},
		{"NaN", "a,b,label\n1,2,0\n1,NaN,1\n", "", 0, ErrInvalid, `line 3, column "b": NaN is not finite (sample 1); data must be finite`},
		{"Inf", "a,label\n-inf,0\n", "", 0, ErrInvalid, "-inf is not finite"},
		{"overflow f32", "a,label\n1e39,0\n", "", 0, ErrInvalid, "1e39 is not finite"},
		{"fractional label", "a,label\n1,0.5\n", "", 0, ErrInvalid, `d.csv: line 2, label column "label": "0.5" is not an integer class id`},
		{"string label", "a,label\n1,setosa\n", "", 0, ErrInvalid, `"setosa" is not an integer class id`},
		{"negative label", "a,label\n1,0\n1,-2\n", "", 0, ErrInvalid, "d.csv: label 1 is -2, negative"},
		{"field count", "a,label\n1,0\n1,2,3\n", "", 0, ErrFormat, "d.csv: line 3: wrong number of fields"},
		{"bad quote", "a,label\n\"1,0\n", "", 0, ErrFormat, "d.csv: line 2"},
		{"empty file", "", "", 0, ErrInvalid, "d.csv: empty file (want a header row, then one row per sample)"},
		{"header only", "a,label\n", "", 0, ErrInvalid, "d.csv: no samples"},
		{"label only", "label\n1\n", "", 0, ErrInvalid, `only the label column "label"; want at least one feature column`},
		{"too large", "a,b,label\n1,2,0\n3,4,1\n5,6,2\n", "", 16, ErrTooLarge, "d.csv: more than 4 values"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := Load(put(t, dir, "d.csv", []byte(tc.text)), "", Options{LabelColumn: tc.col, MaxBytes: tc.maxBytes})
			if !errors.Is(err, tc.kind) || !strings.Contains(strings.ReplaceAll(errString(err), dir+"/", ""), tc.substr) {
				t.Errorf("got %v\nwant %v containing %q", err, tc.kind, tc.substr)
			}
		})
	}
	dir := t.TempDir()
	_, err := Load(put(t, dir, "d.csv", []byte("a,label\n1,0\n")), put(t, dir, "y.npy", labels3()), Options{})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(errString(err), "takes its labels from its label column") {
		t.Errorf("CSV with a labels file: %v", err)
	}
}

func TestNPZ(t *testing.T) {
	x := npy1("<f4", "(3, 2)", f32le(1, 2, 3, 4, 5, 6))
	y := labels3()
	other := npy1("<f4", "(1,)", f32le(9))
	tests := []struct {
		name    string
		deflate bool
		members []member
		labels  []byte
		wantX   []float32
		wantY   []int
	}{
		{"x y", false, []member{{"x.npy", x}, {"y.npy", y}}, nil, []float32{1, 2, 3, 4, 5, 6}, []int{0, 2, 1}},
		{"y x compressed", true, []member{{"y.npy", y}, {"x.npy", x}}, nil, []float32{1, 2, 3, 4, 5, 6}, []int{0, 2, 1}},
		{"named among others", false, []member{{"meta.npy", other}, {"y.npy", y}, {"x.npy", x}}, nil, []float32{1, 2, 3, 4, 5, 6}, []int{0, 2, 1}},
		{"without .npy", false, []member{{"x", x}, {"y", y}}, nil, []float32{1, 2, 3, 4, 5, 6}, []int{0, 2, 1}},
		{"arr_0 arr_1", true, []member{{"arr_0.npy", x}, {"arr_1.npy", y}, {"arr_2.npy", other}}, nil, []float32{1, 2, 3, 4, 5, 6}, []int{0, 2, 1}},
		{"x only, labels file", false, []member{{"x.npy", x}}, npy1("<i8", "(3,)", i64le(1, 1, 1)), []float32{1, 2, 3, 4, 5, 6}, []int{1, 1, 1}},
		{"labels file overrides y", false, []member{{"x.npy", x}, {"y.npy", y}}, npy1("<i8", "(3,)", i64le(1, 1, 1)), []float32{1, 2, 3, 4, 5, 6}, []int{1, 1, 1}},
		{"folder entry", false, []member{{"d/", nil}, {"x.npy", x}, {"y.npy", y}}, nil, []float32{1, 2, 3, 4, 5, 6}, []int{0, 2, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			lp := ""
			if tc.labels != nil {
				lp = put(t, dir, "labels.npy", tc.labels)
			}
			s, err := Load(put(t, dir, "d.npz", npzRaw(t, tc.deflate, tc.members...)), lp, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.X.F, tc.wantX) || !slices.Equal(s.Y, tc.wantY) || !slices.Equal(s.X.Shape, []int{3, 2}) || s.Format != "npz" {
				t.Errorf("got %v %v %v %q", s.X.Shape, s.X.F, s.Y, s.Format)
			}
			if (lp == "") != (s.LabelsSHA256 == "") {
				t.Errorf("labels hash %q with labels file %q", s.LabelsSHA256, lp)
			}
		})
	}
}

func TestNPZErrors(t *testing.T) {
	x := npy1("<f4", "(3, 2)", f32le(1, 2, 3, 4, 5, 6))
	tests := []struct {
		name    string
		archive []byte
		kind    error
		substr  string
	}{
		{"one array", npzRaw(t, false, member{"x.npy", x}), ErrNoLabels, "d.npz: the archive holds one array, x.npy; want the labels as a second array y (or pass a labels file)"},
		{"no arrays", npzRaw(t, false), ErrInvalid, "d.npz: the archive holds no arrays"},
		{"not npy", npzRaw(t, false, member{"x.npy", []byte("hello")}, member{"y.npy", labels3()}), ErrFormat, "d.npz: x.npy: member is not an NPY array"},
		{"bad y", npzRaw(t, true, member{"x.npy", x}, member{"y.npy", npy1("<f4", "(3,)", f32le(0, 0.5, 1))}), ErrInvalid, "d.npz: y.npy: label 1 is 0.5, not an integer class id"},
		{"short y", npzRaw(t, true, member{"x.npy", x}, member{"y.npy", npy1("<i8", "(2,)", i64le(0, 1))}), ErrInvalid, "d.npz: 3 samples, but its member y.npy has 2 labels"},
		{"truncated member", npzRaw(t, true, member{"x.npy", x[:len(x)-4]}, member{"y.npy", labels3()}), ErrTruncated, "d.npz: x.npy: truncated"},
		{"NaN", npzRaw(t, true, member{"x.npy", npy1("<f4", "(3,)", f32le(0, 1, float32(-1*zero()/zero())))}, member{"y.npy", labels3()}), ErrInvalid, "sample 2 (element 2) is NaN"},
		{"corrupt zip", []byte("PK\x03\x04garbage"), ErrFormat, "d.npz: not a readable .npz (zip) archive"},
		{"absurd header", npzRaw(t, true, member{"x.npy", npy1("<f4", "(1000000000000,)", nil)}, member{"y.npy", labels3()}), ErrTooLarge, "d.npz: x.npy: shape (1000000000000,) declares"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := Load(put(t, dir, "d.npz", tc.archive), "", Options{})
			if !errors.Is(err, tc.kind) || !strings.Contains(strings.ReplaceAll(errString(err), dir+"/", ""), tc.substr) {
				t.Errorf("got %v\nwant %v containing %q", err, tc.kind, tc.substr)
			}
		})
	}
	dir := t.TempDir()
	if _, err := Load(put(t, dir, "d.npz.gz", gz(t, npzRaw(t, false, member{"x.npy", x}))), "", Options{}); !errors.Is(err, ErrFormat) {
		t.Errorf("gzipped npz: %v", err)
	}
}

func zero() float32 { return 0 }

// zeros64MiB is 64 MiB of zeros deflated (about 64 KiB).
func deflatedZeros(t *testing.T, prefix []byte, n int) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	w.Write(prefix)
	chunk := make([]byte, 1<<20)
	for n > 0 {
		k := min(n, len(chunk))
		w.Write(chunk[:k])
		n -= k
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rawZip builds a one-or-more-member zip whose members' compressed bytes and
// declared uncompressed sizes are given as they are, without checking them.
func rawZip(t *testing.T, members []rawMember) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range members {
		w, err := zw.CreateRaw(&zip.FileHeader{Name: m.name, Method: zip.Deflate,
			CompressedSize64: uint64(len(m.deflated)), UncompressedSize64: m.declared, CRC32: 0})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(m.deflated)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type rawMember struct {
	name     string
	deflated []byte
	declared uint64
}

// TestNPZZipBomb checks that a member is refused unopened when its declared
// uncompressed size is over the limit, and that a member that inflates to
// far more than it declares (or than its NPY header declares) is never
// inflated in full.
func TestNPZZipBomb(t *testing.T) {
	const big = 64 << 20
	small := npy1("<f4", "(3,)", f32le(1, 2, 3))
	bomb := deflatedZeros(t, small, big)
	y := deflatedZeros(t, labels3(), 0)
	opts := Options{MaxBytes: 1 << 20}
	dir := t.TempDir()

	// 1. Declared size over the limit: refused before opening.
	declared := put(t, dir, "declared.npz", rawZip(t, []rawMember{{"x.npy", bomb, big + uint64(len(small))}, {"y.npy", y, uint64(len(labels3()))}}))
	var err error
	n := allocated(func() { _, err = Load(declared, "", opts) })
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "x.npy: member declares 64 MiB uncompressed, over the limit of 3 MiB") {
		t.Errorf("declared bomb: %v", err)
	}
	if n > 4<<20 {
		t.Errorf("declared bomb: allocated %d bytes", n)
	}

	// 2. Declared size small (a lie), actual size 64 MiB: only the bytes the
	// NPY header declares are inflated. The member's CRC is never checked
	// (it is wrong here), which shows it was not read to the end.
	lying := put(t, dir, "lying.npz", rawZip(t, []rawMember{{"x.npy", bomb, uint64(len(small))}, {"y.npy", y, uint64(len(labels3()))}}))
	var s *Set
	n = allocated(func() { s, err = Load(lying, "", opts) })
	if err != nil {
		// archive/zip may report the CRC mismatch only at EOF, which a
		// bounded read never reaches.
		t.Fatalf("lying bomb: %v", err)
	}
	if !slices.Equal(s.X.F, []float32{1, 2, 3}) {
		t.Errorf("lying bomb: got %v", s.X.F)
	}
	if n > 4<<20 {
		t.Errorf("lying bomb: allocated %d bytes", n)
	}

	// 3. An NPY header inside a member that declares more than the limit.
	hdr := put(t, dir, "header.npz", npzRaw(t, true, member{"x.npy", npy1("<f4", "(1000000,)", nil)}, member{"y.npy", labels3()}))
	if _, err := Load(hdr, "", opts); !errors.Is(err, ErrTooLarge) {
		t.Errorf("header bomb: %v", err)
	}
}

// TestCSVSkipColumns: columns named in SkipColumns (a targeted attack's
// target column) are neither features nor labels; a missing one, the label
// column, or skipping every feature is an error naming the file.
func TestCSVSkipColumns(t *testing.T) {
	tests := []struct {
		name, text string
		skip       []string
		wantCols   []string
		wantX      []float32
		substr     string
	}{
		{"by name", "a,target,b,label\n1,7,2,0\n3,8,4,1\n", []string{"target"}, []string{"a", "b"}, []float32{1, 2, 3, 4}, ""},
		{"by index", "a,target,b,label\n1,7,2,0\n3,8,4,1\n", []string{"1"}, []string{"a", "b"}, []float32{1, 2, 3, 4}, ""},
		{"none", "a,b,label\n1,2,0\n", nil, []string{"a", "b"}, []float32{1, 2}, ""},
		{"missing", "a,b,label\n1,2,0\n", []string{"target"}, nil, nil, `d.csv: no skipped column "target" in the header (columns: a, b, label)`},
		{"label column", "a,b,label\n1,2,0\n", []string{"label"}, nil, nil, `d.csv: column "label" is the label column`},
		{"every feature", "target,label\n1,0\n", []string{"target"}, nil, nil, `d.csv: no feature column besides the label column "label" and the skipped ones`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			set, err := Load(put(t, dir, "d.csv", []byte(tc.text)), "", Options{SkipColumns: tc.skip})
			if tc.substr != "" {
				if err == nil || !strings.Contains(errString(err), tc.substr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.substr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(set.Columns, tc.wantCols) || !slices.Equal(set.X.F, tc.wantX) {
				t.Errorf("columns %v, x %v; want %v, %v", set.Columns, set.X.F, tc.wantCols, tc.wantX)
			}
		})
	}
}
