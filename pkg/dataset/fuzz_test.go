package dataset

import (
	"bytes"
	"compress/gzip"
	"io"
	"testing"
)

// fuzzOpts bounds what a fuzzed input may make the loader allocate.
var fuzzOpts = Options{MaxBytes: 1 << 20, Limit: 0}

// checkDecoded checks the invariants of a successful decode.
func checkDecoded(t *testing.T, d *decoded, tg target) {
	if d == nil || len(d.shape) == 0 || d.rows < 0 || d.rows > d.shape[0] {
		t.Fatalf("bad decode %+v", d)
	}
	n, ok := checkedNumel(d.keptShape(), fuzzOpts.MaxBytes/4)
	if !ok {
		t.Fatalf("decoded over the limit: %v", d.shape)
	}
	if tg == asData && int64(len(d.f)) != n || tg == asLabels && int64(len(d.i)) != n {
		t.Fatalf("%d/%d elements for shape %v", len(d.f), len(d.i), d.keptShape())
	}
}

func FuzzNPY(f *testing.F) {
	for _, b := range [][]byte{
		npy1("<f4", "(3, 2)", f32le(1, 2, 3, 4, 5, 6)),
		npy1(">f8", "(2,)", be64(1, 2)),
		npy1("|u1", "(2, 2)", []byte{0, 1, 2, 255}),
		npy1("<i8", "(3,)", i64le(0, 2, 1)),
		npy1("<i4", "(1,)", []byte{1, 0, 0, 0}),
		npy1("|i1", "(2,)", []byte{1, 0xff}),
		npy1("|b1", "(2,)", []byte{1, 0}),
		npy1("<f4", "(0, 3)", nil),
		npy1("<f4", "()", f32le(1)),
		npyRaw(2, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", f32le(1, 2, 3, 4, 5, 6)),
		npyRaw(3, "{'shape': (3L,), 'fortran_order': False, 'descr': '<f8'}", f64le(1, 2, 3)),
		npy1("<f4", "(1000000000, 1000000000)", nil),
	} {
		f.Add(b, uint8(0))
		f.Add(b, uint8(1))
	}
	f.Fuzz(func(t *testing.T, b []byte, mode uint8) {
		opts := fuzzOpts
		opts.Limit = int(mode >> 2)
		tg := target(mode & 1)
		size, trusted := int64(len(b)), true
		if mode&2 != 0 {
			size, trusted = -1, false
		}
		d, err := decodeNPY(bytes.NewReader(b), "f.npy", size, trusted, true, tg, &opts)
		if err == nil {
			checkDecoded(t, d, tg)
		}
	})
}

func FuzzNPZ(f *testing.F) {
	x := npy1("<f4", "(3, 2)", f32le(1, 2, 3, 4, 5, 6))
	y := labels3()
	f.Add(npzRaw(f, false, member{"x.npy", x}, member{"y.npy", y}))
	f.Add(npzRaw(f, true, member{"y.npy", y}, member{"x.npy", x}))
	f.Add(npzRaw(f, true, member{"arr_0.npy", x}, member{"arr_1.npy", y}))
	f.Add(npzRaw(f, false, member{"x.npy", x}))
	f.Add(npzRaw(f, true, member{"x.npy", npy1("|u1", "(2, 2)", []byte{1, 2, 3, 4})}, member{"y.npy", npy1("|u1", "(2,)", []byte{1, 0})}))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := decodeNPZ(bytes.NewReader(b), int64(len(b)), "f.npz", true, &fuzzOpts)
		if err == nil {
			checkDecoded(t, a.x, asData)
			checkDecoded(t, a.y, asLabels)
		}
	})
}

func FuzzIDX(f *testing.F) {
	img := idxRaw(0x08, []int{3, 2, 2}, []byte{0, 255, 51, 0, 1, 2, 3, 4, 255, 255, 0, 0})
	for _, b := range [][]byte{
		img,
		gz(f, img),
		idxRaw(0x08, []int{3}, []byte{7, 0, 9}),
		idxRaw(0x0D, []int{2}, be32(0x3f000000, 0x40000000)),
		idxRaw(0x0E, []int{1}, be64(0x3fe0000000000000)),
		idxRaw(0x0B, []int{2}, be16(-1, 2)),
		idxRaw(0x0C, []int{1, 1}, be32(5)),
		idxRaw(0x09, []int{2}, []byte{0xff, 1}),
		idxRaw(0x08, []int{1 << 30, 1 << 30}, nil),
	} {
		f.Add(b, uint8(0))
		f.Add(b, uint8(1))
	}
	f.Fuzz(func(t *testing.T, b []byte, mode uint8) {
		opts := fuzzOpts
		opts.Limit = int(mode >> 2)
		tg := target(mode & 1)
		var r io.Reader = bytes.NewReader(b)
		size, trusted := int64(len(b)), true
		if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
			zr, err := gzip.NewReader(r)
			if err != nil {
				return
			}
			r, size, trusted = zr, -1, false
		}
		d, err := decodeIDX(r, "f", size, trusted, true, tg, &opts)
		if err == nil {
			checkDecoded(t, d, tg)
		}
	})
}

func FuzzCSV(f *testing.F) {
	for _, s := range []string{
		"a,b,label\n1,2,0\n3.5,-4e-1,2\n",
		"label,a\n1,1\n0,3\n",
		"\ufeffa,label\r\n1,\"2\"\r\n",
		"a,label\n1,0\n1,2,3\n",
		"a,label\nNaN,0\n",
		"a,label\n1,0.5\n",
		"",
	} {
		f.Add([]byte(s), "", uint8(0))
		f.Add([]byte(s), "0", uint8(1))
	}
	f.Fuzz(func(t *testing.T, b []byte, col string, limit uint8) {
		opts := fuzzOpts
		opts.LabelColumn = col
		opts.Limit = int(limit)
		tab, err := decodeCSV(bytes.NewReader(b), "f.csv", ',', &opts)
		if err != nil {
			return
		}
		if len(tab.y) != tab.rows || len(tab.x) != tab.rows*len(tab.cols) || len(tab.cols) == 0 {
			t.Fatalf("%d rows, %d labels, %d values, %d columns", tab.rows, len(tab.y), len(tab.x), len(tab.cols))
		}
		if opts.Limit > 0 && tab.rows > opts.Limit {
			t.Fatalf("%d rows over the limit %d", tab.rows, opts.Limit)
		}
	})
}
