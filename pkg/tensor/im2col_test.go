package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestIm2ColCol2Im checks Im2Col element by element against its definition
// and Col2Im as its adjoint: <col, Im2Col(x)> = <Col2Im(col), x>.
func TestIm2ColCol2Im(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, g := range []ConvGeom{
		{C: 2, H: 5, W: 6, KH: 3, KW: 3, SH: 1, SW: 1, DH: 1, DW: 1, OH: 3, OW: 4},
		{C: 1, H: 5, W: 6, KH: 3, KW: 2, PadT: 1, PadL: 2, SH: 2, SW: 3, DH: 1, DW: 2, OH: 3, OW: 3},
		{C: 3, H: 4, W: 4, KH: 2, KW: 2, PadT: 1, PadL: 1, SH: 1, SW: 1, DH: 2, DW: 2, OH: 4, OW: 4},
		{C: 2, H: 1, W: 9, KH: 1, KW: 3, PadL: 1, SH: 1, SW: 2, DH: 1, DW: 1, OH: 1, OW: 5},
		// A window that lies entirely in the padding on some rows and columns.
		{C: 1, H: 3, W: 3, KH: 1, KW: 1, PadT: 2, PadL: 2, SH: 1, SW: 1, DH: 1, DW: 1, OH: 6, OW: 6},
		// Negative padding (ConvTranspose with an output_shape beyond the full output).
		{C: 1, H: 6, W: 6, KH: 2, KW: 2, PadT: -1, PadL: -1, SH: 2, SW: 2, DH: 1, DW: 1, OH: 2, OW: 2},
		// A kernel wider than the image (kernel 7, padding 3, 2x2 input, as
		// convnext_tiny's depthwise convolutions meet at 64x64): some taps
		// see only padding. Im2Col once sliced src[-1:-1] here.
		{C: 2, H: 2, W: 2, KH: 7, KW: 7, PadT: 3, PadL: 3, SH: 1, SW: 1, DH: 1, DW: 1, OH: 2, OW: 2},
		{C: 1, H: 2, W: 2, KH: 7, KW: 7, PadT: 3, PadL: 3, SH: 2, SW: 2, DH: 1, DW: 1, OH: 1, OW: 1},
		{C: 1, H: 1, W: 3, KH: 1, KW: 5, PadL: 4, SH: 1, SW: 1, DH: 1, DW: 2, OH: 1, OW: 3},
	} {
		x := make([]float32, g.C*g.H*g.W)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		col := make([]float32, g.ColLen())
		for i := range col {
			col[i] = float32(math.NaN()) // every element must be written
		}
		Im2Col(&g, x, col)
		ohw := g.OH * g.OW
		for c := 0; c < g.C; c++ {
			for ki := 0; ki < g.KH; ki++ {
				for kj := 0; kj < g.KW; kj++ {
					for oh := 0; oh < g.OH; oh++ {
						for ow := 0; ow < g.OW; ow++ {
							ih, iw := oh*g.SH-g.PadT+ki*g.DH, ow*g.SW-g.PadL+kj*g.DW
							var want float32
							if ih >= 0 && ih < g.H && iw >= 0 && iw < g.W {
								want = x[(c*g.H+ih)*g.W+iw]
							}
							if got := col[((c*g.KH+ki)*g.KW+kj)*ohw+oh*g.OW+ow]; got != want {
								t.Fatalf("geom %+v: col[c=%d ki=%d kj=%d oh=%d ow=%d] = %g, want %g", g, c, ki, kj, oh, ow, got, want)
							}
						}
					}
				}
			}
		}
		r := make([]float32, len(col))
		for i := range r {
			r[i] = float32(rng.NormFloat64())
		}
		back := make([]float32, len(x))
		Col2Im(&g, r, back)
		var lhs, rhs float64
		for i := range col {
			lhs += float64(col[i]) * float64(r[i])
		}
		for i := range x {
			rhs += float64(back[i]) * float64(x[i])
		}
		if math.Abs(lhs-rhs) > 1e-4*(1+math.Abs(lhs)) {
			t.Fatalf("geom %+v: <col, Im2Col(x)> = %g, <Col2Im(col), x> = %g", g, lhs, rhs)
		}
	}
}
