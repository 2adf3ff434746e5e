package tensor

// ConvGeom is the geometry of one 2-D sliding-window operation on a single
// image of C channels (one sample, one group): the input is C×H×W, the
// kernel KH×KW, and the output OH×OW. PadT and PadL are the zero padding
// before the first row and column; padding after the last row and column is
// implied by OH and OW. A 1-D window is the 2-D case with H, KH, OH, SH and
// DH equal to 1 and PadT 0.
type ConvGeom struct {
	C, H, W    int
	KH, KW     int
	PadT, PadL int
	SH, SW     int
	DH, DW     int
	OH, OW     int
}

// ColRows returns the number of rows of the im2col matrix, C·KH·KW.
func (g *ConvGeom) ColRows() int { return g.C * g.KH * g.KW }

// ColLen returns the number of elements of the im2col matrix,
// C·KH·KW·OH·OW.
func (g *ConvGeom) ColLen() int { return g.C * g.KH * g.KW * g.OH * g.OW }

// validRange returns the range [lo, hi) of output positions o in [0, n) for
// which o*stride+off lies in [0, size).
func validRange(n, stride, off, size int) (lo, hi int) {
	if off < 0 {
		lo = (-off + stride - 1) / stride
	}
	last := size - 1 - off
	if last < 0 {
		return 0, 0
	}
	hi = last/stride + 1
	if hi > n {
		hi = n
	}
	if lo > hi {
		lo = hi
	}
	return lo, hi
}

// Im2Col writes the im2col matrix of image x (C×H×W, row-major) to col,
// which must hold g.ColLen() elements: row (c·KH+i)·KW+j, column oh·OW+ow
// holds x[c, oh·SH−PadT+i·DH, ow·SW−PadL+j·DW], or 0 where that lies in the
// padding. Every element of col is written.
func Im2Col(g *ConvGeom, x, col []float32) {
	ohw := g.OH * g.OW
	hw := g.H * g.W
	col = col[:g.ColLen()]
	for c := 0; c < g.C; c++ {
		xc := x[c*hw : (c+1)*hw]
		for ki := 0; ki < g.KH; ki++ {
			for kj := 0; kj < g.KW; kj++ {
				row := col[((c*g.KH+ki)*g.KW+kj)*ohw:][:ohw]
				off := kj*g.DW - g.PadL
				lo, hi := validRange(g.OW, g.SW, off, g.W)
				if lo >= hi {
					// Every column of this kernel tap lies in the padding
					// (a kernel wider than the padded image allows).
					clear(row)
					continue
				}
				for oh := 0; oh < g.OH; oh++ {
					dst := row[oh*g.OW : (oh+1)*g.OW]
					ih := oh*g.SH - g.PadT + ki*g.DH
					if ih < 0 || ih >= g.H {
						clear(dst)
						continue
					}
					src := xc[ih*g.W : (ih+1)*g.W]
					clear(dst[:lo])
					clear(dst[hi:])
					if g.SW == 1 {
						copy(dst[lo:hi], src[lo+off:hi+off])
					} else {
						for ow := lo; ow < hi; ow++ {
							dst[ow] = src[ow*g.SW+off]
						}
					}
				}
			}
		}
	}
}

// Col2Im is the adjoint of Im2Col: it adds every element of col (laid out
// as Im2Col writes it) into the image position it was read from, in x
// (C×H×W). Elements that Im2Col took from the padding are dropped. x is
// accumulated into, not overwritten.
func Col2Im(g *ConvGeom, col, x []float32) {
	ohw := g.OH * g.OW
	hw := g.H * g.W
	col = col[:g.ColLen()]
	for c := 0; c < g.C; c++ {
		xc := x[c*hw : (c+1)*hw]
		for ki := 0; ki < g.KH; ki++ {
			for kj := 0; kj < g.KW; kj++ {
				row := col[((c*g.KH+ki)*g.KW+kj)*ohw:][:ohw]
				off := kj*g.DW - g.PadL
				lo, hi := validRange(g.OW, g.SW, off, g.W)
				if lo >= hi {
					continue
				}
				for oh := 0; oh < g.OH; oh++ {
					ih := oh*g.SH - g.PadT + ki*g.DH
					if ih < 0 || ih >= g.H {
						continue
					}
					src := row[oh*g.OW : (oh+1)*g.OW]
					dst := xc[ih*g.W : (ih+1)*g.W]
					if g.SW == 1 {
						d := dst[lo+off : hi+off]
						s := src[lo:hi]
						for i := range d {
							d[i] += s[i]
						}
					} else {
						for ow := lo; ow < hi; ow++ {
							dst[ow*g.SW+off] += src[ow]
						}
					}
				}
			}
		}
	}
}
