package dataset

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/advtest/advtest/internal/npyfile"
	"github.com/advtest/advtest/pkg/tensor"
)

// set5 is a Set of five samples of shape [2], sample i = (i, 10i), label i%3.
func set5() *Set {
	x := make([]float32, 10)
	for i := range 5 {
		x[2*i], x[2*i+1] = float32(i), float32(10*i)
	}
	return &Set{X: tensor.FromFloat32(x, 5, 2), Y: []int{0, 1, 2, 0, 1}, Path: "p"}
}

func TestBatch(t *testing.T) {
	s := set5()
	x, y := s.Batch(1, 3)
	if !slices.Equal(x.Shape, []int{2, 2}) || !slices.Equal(x.F, []float32{1, 10, 2, 20}) || !slices.Equal(y, []int{1, 2}) {
		t.Errorf("got %v %v %v", x.Shape, x.F, y)
	}
	x.F[0] = -1 // a view: writes go through
	if s.X.F[2] != -1 {
		t.Error("Batch copied")
	}
	if x, y := s.Batch(5, 5); x.Shape[0] != 0 || len(y) != 0 {
		t.Error("empty batch")
	}
	// Appending to a batch must not overwrite the next sample.
	_, y = s.Batch(0, 1)
	_ = append(y, 99)
	if s.Y[1] != 1 {
		t.Error("append to batch labels overwrote the set")
	}
	for _, r := range [][2]int{{-1, 1}, {2, 1}, {0, 6}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Batch(%d, %d) did not panic", r[0], r[1])
				}
			}()
			s.Batch(r[0], r[1])
		}()
	}
}

func TestSubset(t *testing.T) {
	s := set5()
	c, err := s.Subset([]int{4, 0, 4})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.X.F, []float32{4, 40, 0, 0, 4, 40}) || !slices.Equal(c.Y, []int{1, 0, 1}) || !slices.Equal(c.Index, []int{4, 0, 4}) {
		t.Errorf("got %v %v %v", c.X.F, c.Y, c.Index)
	}
	c.X.F[0] = -1
	if s.X.F[8] != 4 {
		t.Error("Subset shares memory")
	}
	// A subset of a subset keeps the file positions.
	cc, _ := c.Subset([]int{1})
	if !slices.Equal(cc.Index, []int{0}) || cc.Path != "p" {
		t.Errorf("nested: %v %q", cc.Index, cc.Path)
	}
	for _, bad := range [][]int{nil, {5}, {-1}} {
		if _, err := s.Subset(bad); err == nil {
			t.Errorf("Subset(%v) accepted", bad)
		}
	}
}

func TestShard(t *testing.T) {
	s := set5()
	// Contiguous shards [i*N/n, (i+1)*N/n): for N=5, n=3: [0,1) [1,3) [3,5).
	want := [][]int{{0}, {1, 2}, {3, 4}}
	var all []int
	for i := range 3 {
		c, err := s.Shard(i, 3)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.Index, want[i]) || c.Len() != len(want[i]) || c.X.Shape[0] != len(want[i]) {
			t.Errorf("shard %d: %v", i, c.Index)
		}
		for k, j := range c.Index {
			if c.X.F[2*k] != float32(j) || c.Y[k] != s.Y[j] {
				t.Errorf("shard %d sample %d is not sample %d", i, k, j)
			}
		}
		all = append(all, c.Index...)
	}
	if !slices.Equal(all, []int{0, 1, 2, 3, 4}) {
		t.Errorf("shards do not partition: %v", all)
	}
	one, _ := s.Shard(0, 1)
	if one.Len() != 5 {
		t.Error("one shard")
	}
	for _, bad := range [][2]int{{0, 0}, {3, 3}, {-1, 2}, {0, 6}} {
		if _, err := s.Shard(bad[0], bad[1]); err == nil {
			t.Errorf("Shard(%d, %d) accepted", bad[0], bad[1])
		}
	}
}

func TestNumClasses(t *testing.T) {
	for _, tc := range []struct {
		y    []int
		want int
	}{{nil, 0}, {[]int{0}, 1}, {[]int{3, 1}, 4}, {[]int{0, 9, 2}, 10}} {
		if got := NumClasses(tc.y); got != tc.want {
			t.Errorf("NumClasses(%v) = %d, want %d", tc.y, got, tc.want)
		}
	}
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestHash checks that the hashes are those of the whole files, whatever
// part of them was kept, for every format.
func TestHash(t *testing.T) {
	dir := t.TempDir()
	xb := npy1("<f4", "(3, 2)", f32le(1, 2, 3, 4, 5, 6))
	xb = append(xb, "trailing bytes are hashed too"...)
	yb := labels3()
	x, y := put(t, dir, "x.npy", xb), put(t, dir, "y.npy", yb)
	for _, limit := range []int{0, 1} {
		s, err := Load(x, y, Options{Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		if s.DataSHA256 != sum(xb) || s.LabelsSHA256 != sum(yb) {
			t.Errorf("limit %d: hashes %s %s", limit, s.DataSHA256, s.LabelsSHA256)
		}
		if s.Hash() != sum([]byte(sum(xb)+"\n"+sum(yb)+"\n")) {
			t.Errorf("limit %d: Hash %s", limit, s.Hash())
		}
	}
	// Files over the bufio size, gzipped, npz and CSV.
	big := npy1("|u1", "(3, 100000)", bytes.Repeat([]byte{7}, 300000))
	files := map[string][]byte{
		"big.npy":    big,
		"big.npy.gz": gz(t, big),
		"d.npz":      npzRaw(t, true, member{"x.npy", big}, member{"y.npy", yb}),
		"d.csv":      []byte("a,label\n" + strings.Repeat("1,0\n", 30000)),
	}
	for name, b := range files {
		p := put(t, dir, name, b)
		lp := y
		if name == "d.npz" || name == "d.csv" {
			lp = ""
		}
		for _, limit := range []int{0, 2} {
			s, err := Load(p, lp, Options{Limit: limit})
			if err != nil {
				t.Fatal(err)
			}
			if s.DataSHA256 != sum(b) {
				t.Errorf("%s limit %d: hash %s, want %s", name, limit, s.DataSHA256, sum(b))
			}
			if lp == "" && s.Hash() != sum(b) {
				t.Errorf("%s: Hash %s", name, s.Hash())
			}
		}
	}
}

// TestWriteNPY checks that Load reads what internal/npyfile writes: it
// round-trips float32 and int64 arrays and pins the header bytes (golden:
// the header numpy 1.26 writes for these shapes).
func TestWriteNPY(t *testing.T) {
	dir := t.TempDir()
	xp, yp := filepath.Join(dir, "x.npy"), filepath.Join(dir, "y.npy")
	x := tensor.FromFloat32([]float32{0.5, -1, 3.25, 1e-7, 0, 2}, 3, 1, 2)
	if err := npyfile.Write(xp, x); err != nil {
		t.Fatal(err)
	}
	if err := npyfile.WriteLabels(yp, []int{2, 0, 1}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(xp)
	dict := "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 1, 2), }"
	golden := "\x93NUMPY\x01\x00v\x00" + dict + strings.Repeat(" ", 128-10-1-len(dict)) + "\n"
	if string(b[:128]) != golden || len(b) != 128+24 {
		t.Errorf("header %q", b[:128])
	}
	yb, _ := os.ReadFile(yp)
	ydict := "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }"
	if string(yb[:128]) != "\x93NUMPY\x01\x00v\x00"+ydict+strings.Repeat(" ", 128-10-1-len(ydict))+"\n" {
		t.Errorf("labels header %q", yb[:128])
	}
	s, err := Load(xp, yp, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.X.F, x.F) || !slices.Equal(s.X.Shape, x.Shape) || !slices.Equal(s.Y, []int{2, 0, 1}) {
		t.Errorf("round trip: %v %v %v", s.X.Shape, s.X.F, s.Y)
	}
	// Overwriting replaces the file and leaves no temporary file behind.
	if err := npyfile.Write(xp, tensor.FromFloat32([]float32{1, 2, 3}, 3)); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("folder holds %v", ents)
	}
	s, err = Load(xp, yp, Options{})
	if err != nil || !slices.Equal(s.X.F, []float32{1, 2, 3}) {
		t.Errorf("after overwrite: %v %v", s, err)
	}
	// Every header length is a multiple of 64, including long shapes.
	for rank := 1; rank < 30; rank++ {
		shape := make([]int, rank)
		for i := range shape {
			shape[i] = 1
		}
		h := npyfile.Header("<f4", shape)
		if len(h)%64 != 0 || h[len(h)-1] != '\n' {
			t.Errorf("rank %d: header of %d bytes", rank, len(h))
		}
		if _, _, err := readNPYHeader(bytes.NewReader(h), "h"); err != nil {
			t.Errorf("rank %d: %v", rank, err)
		}
	}
	// Errors: a missing folder, a tensor whose data does not match its shape.
	if err := npyfile.Write(filepath.Join(dir, "no", "x.npy"), x); err == nil {
		t.Error("wrote into a missing folder")
	}
	if err := npyfile.Write(filepath.Join(dir, "bad.npy"), &tensor.Tensor{Shape: []int{4}, F: []float32{1}}); err == nil {
		t.Error("wrote a malformed tensor")
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.npy")); !os.IsNotExist(err) {
		t.Error("a failed write left a file")
	}
	// int64 tensors round-trip as labels.
	if err := npyfile.Write(yp, tensor.FromInt64([]int64{5, 6, 7}, 3)); err != nil {
		t.Fatal(err)
	}
	if s, err := Load(xp, yp, Options{}); err != nil || !slices.Equal(s.Y, []int{5, 6, 7}) {
		t.Errorf("int64 tensor: %v %v", s, err)
	}
}

func TestDirectoryAndMissing(t *testing.T) {
	dir := t.TempDir()
	// A folder is read as an image folder; an empty one says what it needs.
	if _, err := Load(dir, "", Options{}); err == nil || !strings.Contains(err.Error(), "no class subfolders") {
		t.Errorf("folder: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "none.npy"), "", Options{}); !os.IsNotExist(errUnwrapAll(err)) {
		t.Errorf("missing: %v", err)
	}
}

func errUnwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}
