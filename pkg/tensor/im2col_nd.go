package tensor

// ConvGeomND is the geometry of a sliding-window operation over any number
// of spatial axes on one image of C channels: per axis the input size In,
// kernel size K, padding before the first element Pad, stride, dilation and
// output size Out. Padding after the last element is implied by Out. All
// slices have the same length (the spatial rank).
//
// Im2ColND and Col2ImND are the N-d counterparts of Im2Col and Col2Im,
// written for clarity rather than speed; the engine uses them for 3-D
// windows and keeps the 2-D ones for 1-D and 2-D windows.
type ConvGeomND struct {
	C                            int
	In, K, Pad, Stride, Dil, Out []int
}

// ColRows returns the number of rows of the im2col matrix, C·ΠK.
func (g *ConvGeomND) ColRows() int { return g.C * Numel(g.K) }

// ColCols returns the number of columns of the im2col matrix, ΠOut.
func (g *ConvGeomND) ColCols() int { return Numel(g.Out) }

// ColLen returns the number of elements of the im2col matrix.
func (g *ConvGeomND) ColLen() int { return g.ColRows() * g.ColCols() }

// taps returns, for each axis a, a table of length K[a]·Out[a] whose
// element k·Out[a]+o is the input coordinate o·Stride−Pad+k·Dil, or −1
// where that lies in the padding.
func (g *ConvGeomND) taps() [][]int {
	tab := make([][]int, len(g.In))
	for a := range g.In {
		t := make([]int, g.K[a]*g.Out[a])
		for k := 0; k < g.K[a]; k++ {
			for o := 0; o < g.Out[a]; o++ {
				i := o*g.Stride[a] - g.Pad[a] + k*g.Dil[a]
				if i < 0 || i >= g.In[a] {
					i = -1
				}
				t[k*g.Out[a]+o] = i
			}
		}
		tab[a] = t
	}
	return tab
}

// next advances the row-major multi-index idx within shape and reports
// whether it wrapped around to all zeros.
func next(idx, shape []int) bool {
	for a := len(idx) - 1; a >= 0; a-- {
		idx[a]++
		if idx[a] < shape[a] {
			return false
		}
		idx[a] = 0
	}
	return true
}

// walkND calls fn(row, col, src) for every element of the im2col matrix:
// src is the element's offset within one channel of the image, or −1 for
// padding; row counts kernel taps (without the channel), col output
// positions, both row-major.
func (g *ConvGeomND) walkND(fn func(row, col, src int)) {
	r := len(g.In)
	tab := g.taps()
	inStr := Strides(g.In)
	kn, on := Numel(g.K), Numel(g.Out)
	kidx, oidx := make([]int, r), make([]int, r)
	for ki := 0; ki < kn; ki++ {
		clear(oidx)
		for j := 0; j < on; j++ {
			pos := 0
			for a := 0; a < r; a++ {
				v := tab[a][kidx[a]*g.Out[a]+oidx[a]]
				if v < 0 {
					pos = -1
					break
				}
				pos += v * inStr[a]
			}
			fn(ki, j, pos)
			next(oidx, g.Out)
		}
		next(kidx, g.K)
	}
}

// Im2ColND writes the im2col matrix of image x (C×In..., row-major) to col,
// which must hold g.ColLen() elements: row c·ΠK+k (k the row-major kernel
// tap), column o (the row-major output position) holds
// x[c, o·Stride−Pad+k·Dil], or 0 in the padding. Every element is written.
func Im2ColND(g *ConvGeomND, x, col []float32) {
	in, kn, on := Numel(g.In), Numel(g.K), Numel(g.Out)
	col = col[:g.ColLen()]
	g.walkND(func(row, j, src int) {
		for c := 0; c < g.C; c++ {
			v := float32(0)
			if src >= 0 {
				v = x[c*in+src]
			}
			col[(c*kn+row)*on+j] = v
		}
	})
}

// Col2ImND is the adjoint of Im2ColND: it adds every element of col into
// the image position it was read from, in x (C×In...), dropping those
// taken from the padding. x is accumulated into, not overwritten.
func Col2ImND(g *ConvGeomND, col, x []float32) {
	in, kn, on := Numel(g.In), Numel(g.K), Numel(g.Out)
	col = col[:g.ColLen()]
	g.walkND(func(row, j, src int) {
		if src < 0 {
			return
		}
		for c := 0; c < g.C; c++ {
			x[c*in+src] += col[(c*kn+row)*on+j]
		}
	})
}
