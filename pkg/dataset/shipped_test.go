package dataset

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The datasets shipped in testdata/ (made by testdata/gen/make_data.py).
const (
	mnistDir   = "../../testdata/mnist"
	tabularDir = "../../testdata/tabular"
)

// need returns the paths of the named files in dir, skipping the test when
// one is absent.
func need(t *testing.T, dir string, names ...string) []string {
	t.Helper()
	var paths []string
	for _, n := range names {
		p := filepath.Join(dir, n)
		if _, err := os.Stat(p); err != nil {
			t.Skipf("%s is absent", p)
		}
		paths = append(paths, p)
	}
	return paths
}

func mustLoad(t *testing.T, x, y string, opts Options) *Set {
	t.Helper()
	s, err := Load(x, y, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestShippedMNIST checks the MNIST test-1000 files: shapes, value ranges,
// hashes, and that the .npy, IDX.gz and .npz copies agree exactly (the .npz
// holds uint8/255 in float32, the same arithmetic the loader does).
func TestShippedMNIST(t *testing.T) {
	p := need(t, mnistDir, "test-1000-images.npy", "test-1000-labels.npy", "t1k-images-idx3-ubyte.gz", "t1k-labels-idx1-ubyte.gz", "test-100.npz")
	npy := mustLoad(t, p[0], p[1], Options{})
	if !slices.Equal(npy.X.Shape, []int{1000, 1, 28, 28}) || npy.Len() != 1000 || npy.Format != "npy" {
		t.Fatalf("npy: shape %v, format %s", npy.X.Shape, npy.Format)
	}
	// The first MNIST test labels are 7 2 1 0 4 1 4 9 5 9.
	if !slices.Equal(npy.Y[:10], []int{7, 2, 1, 0, 4, 1, 4, 9, 5, 9}) || npy.NumClasses() != 10 {
		t.Errorf("npy labels %v, %d classes", npy.Y[:10], npy.NumClasses())
	}
	lo, hi := npy.X.F[0], npy.X.F[0]
	for _, v := range npy.X.F {
		lo, hi = min(lo, v), max(hi, v)
	}
	if lo != 0 || hi != 1 {
		t.Errorf("npy pixels in [%v, %v], want [0, 1]", lo, hi)
	}
	for i, path := range p[:2] {
		b, _ := os.ReadFile(path)
		if got := []string{npy.DataSHA256, npy.LabelsSHA256}[i]; got != sum(b) {
			t.Errorf("%s: hash %s, want %s", path, got, sum(b))
		}
	}

	idx := mustLoad(t, p[2], p[3], Options{SampleShape: []int{1, 28, 28}})
	if !slices.Equal(idx.X.Shape, npy.X.Shape) || !slices.Equal(idx.X.F, npy.X.F) || !slices.Equal(idx.Y, npy.Y) || idx.Format != "idx.gz" {
		t.Errorf("IDX.gz and .npy differ (shape %v, format %s)", idx.X.Shape, idx.Format)
	}
	if raw := mustLoad(t, p[2], p[3], Options{}); !slices.Equal(raw.X.Shape, []int{1000, 28, 28}) {
		t.Errorf("IDX shape %v, want [1000 28 28]", raw.X.Shape)
	}
	// Mixed: IDX images with .npy labels.
	if mixed := mustLoad(t, p[2], p[1], Options{}); !slices.Equal(mixed.Y, npy.Y) {
		t.Error("IDX images with .npy labels")
	}

	npz := mustLoad(t, p[4], "", Options{})
	first := mustLoad(t, p[0], p[1], Options{Limit: 100})
	if !slices.Equal(npz.X.Shape, []int{100, 1, 28, 28}) || !slices.Equal(npz.X.F, first.X.F) || !slices.Equal(npz.Y, first.Y) {
		t.Errorf(".npz and the first 100 of .npy differ (shape %v)", npz.X.Shape)
	}
	if b, _ := os.ReadFile(p[4]); npz.Hash() != sum(b) {
		t.Errorf(".npz hash %s", npz.Hash())
	}
	// Shards of the set cover it in order.
	var all []int
	for i := range 4 {
		sh, err := npy.Shard(i, 4)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, sh.Y...)
	}
	if !slices.Equal(all, npy.Y) {
		t.Error("shards do not cover the set")
	}
}

// TestShippedTabular checks that tabular.csv and x.npy/y.npy hold the same
// 600 samples (the generator writes the CSV with 4 decimals from the
// float32 values, so that they parse back exactly).
func TestShippedTabular(t *testing.T) {
	p := need(t, tabularDir, "tabular.csv", "x.npy", "y.npy", "x_train.npy", "y_train.npy")
	csv := mustLoad(t, p[0], "", Options{})
	npy := mustLoad(t, p[1], p[2], Options{})
	if !slices.Equal(csv.X.Shape, []int{600, 8}) || !slices.Equal(npy.X.Shape, []int{600, 8}) {
		t.Fatalf("shapes %v %v", csv.X.Shape, npy.X.Shape)
	}
	if !slices.Equal(csv.X.F, npy.X.F) || !slices.Equal(csv.Y, npy.Y) {
		t.Error("CSV and .npy differ")
	}
	if !slices.Equal(csv.Columns, []string{"f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7"}) || csv.NumClasses() != 3 {
		t.Errorf("columns %v, %d classes", csv.Columns, csv.NumClasses())
	}
	byIndex := mustLoad(t, p[0], "", Options{LabelColumn: "8"})
	if !slices.Equal(byIndex.Y, csv.Y) {
		t.Error("label column by index")
	}
	train := mustLoad(t, p[3], p[4], Options{})
	if !slices.Equal(train.X.Shape, []int{600, 8}) || train.NumClasses() != 3 {
		t.Errorf("train: %v, %d classes", train.X.Shape, train.NumClasses())
	}
}
