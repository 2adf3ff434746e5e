package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestIm2ColNDMatches2D checks Im2ColND and Col2ImND against Im2Col and
// Col2Im on 2-D geometries (including taps that see only padding).
func TestIm2ColNDMatches2D(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, g := range []ConvGeom{
		{C: 2, H: 5, W: 6, KH: 3, KW: 3, SH: 1, SW: 1, DH: 1, DW: 1, OH: 3, OW: 4},
		{C: 1, H: 5, W: 6, KH: 3, KW: 2, PadT: 1, PadL: 2, SH: 2, SW: 3, DH: 1, DW: 2, OH: 3, OW: 3},
		{C: 2, H: 2, W: 2, KH: 7, KW: 7, PadT: 3, PadL: 3, SH: 1, SW: 1, DH: 1, DW: 1, OH: 2, OW: 2},
		{C: 1, H: 6, W: 6, KH: 2, KW: 2, PadT: -1, PadL: -1, SH: 2, SW: 2, DH: 1, DW: 1, OH: 2, OW: 2},
	} {
		nd := ConvGeomND{C: g.C, In: []int{g.H, g.W}, K: []int{g.KH, g.KW}, Pad: []int{g.PadT, g.PadL},
			Stride: []int{g.SH, g.SW}, Dil: []int{g.DH, g.DW}, Out: []int{g.OH, g.OW}}
		x := make([]float32, g.C*g.H*g.W)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		want, got := make([]float32, g.ColLen()), make([]float32, nd.ColLen())
		Im2Col(&g, x, want)
		for i := range got {
			got[i] = float32(math.NaN())
		}
		Im2ColND(&nd, x, got)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("geom %+v: Im2ColND element %d = %g, Im2Col %g", g, i, got[i], want[i])
			}
		}
		backWant, backGot := make([]float32, len(x)), make([]float32, len(x))
		Col2Im(&g, want, backWant)
		Col2ImND(&nd, want, backGot)
		for i := range backWant {
			if math.Abs(float64(backGot[i]-backWant[i])) > 1e-5 {
				t.Fatalf("geom %+v: Col2ImND element %d = %g, Col2Im %g", g, i, backGot[i], backWant[i])
			}
		}
	}
}

// TestIm2ColND3D checks a 3-D Im2ColND element by element against its
// definition and Col2ImND as its adjoint.
func TestIm2ColND3D(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, g := range []ConvGeomND{
		{C: 2, In: []int{3, 4, 5}, K: []int{2, 3, 2}, Pad: []int{0, 1, 1}, Stride: []int{1, 2, 1}, Dil: []int{1, 1, 2}, Out: []int{2, 2, 4}},
		{C: 1, In: []int{2, 2, 2}, K: []int{5, 5, 5}, Pad: []int{2, 2, 2}, Stride: []int{1, 1, 1}, Dil: []int{1, 1, 1}, Out: []int{2, 2, 2}},
	} {
		x := make([]float32, g.C*Numel(g.In))
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		col := make([]float32, g.ColLen())
		for i := range col {
			col[i] = float32(math.NaN())
		}
		Im2ColND(&g, x, col)
		on := Numel(g.Out)
		k, o := make([]int, 3), make([]int, 3)
		for c := 0; c < g.C; c++ {
			for ki := 0; ki < Numel(g.K); ki++ {
				k[0], k[1], k[2] = ki/(g.K[1]*g.K[2]), ki/g.K[2]%g.K[1], ki%g.K[2]
				for oi := 0; oi < on; oi++ {
					o[0], o[1], o[2] = oi/(g.Out[1]*g.Out[2]), oi/g.Out[2]%g.Out[1], oi%g.Out[2]
					var want float32
					off, inside := c, true
					for a := 0; a < 3; a++ {
						i := o[a]*g.Stride[a] - g.Pad[a] + k[a]*g.Dil[a]
						if i < 0 || i >= g.In[a] {
							inside = false
						}
						off = off*g.In[a] + i
					}
					if inside {
						want = x[off]
					}
					if got := col[(c*Numel(g.K)+ki)*on+oi]; got != want {
						t.Fatalf("geom %+v: col[c=%d k=%v o=%v] = %g, want %g", g, c, k, o, got, want)
					}
				}
			}
		}
		r := make([]float32, len(col))
		for i := range r {
			r[i] = float32(rng.NormFloat64())
		}
		back := make([]float32, len(x))
		Col2ImND(&g, r, back)
		var lhs, rhs float64
		for i := range col {
			lhs += float64(col[i]) * float64(r[i])
		}
		for i := range x {
			rhs += float64(back[i]) * float64(x[i])
		}
		if math.Abs(lhs-rhs) > 1e-4*(1+math.Abs(lhs)) {
			t.Fatalf("geom %+v: <col, Im2ColND(x)> = %g, <Col2ImND(col), x> = %g", g, lhs, rhs)
		}
	}
}
