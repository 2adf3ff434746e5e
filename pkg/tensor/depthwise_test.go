package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestDepthwisePlane compares the depthwise kernels with a naive
// definition over geometries covering every unrolled width, strides,
// dilations, asymmetric padding and kernels wider than the input.
func TestDepthwisePlane(t *testing.T) {
	defer func(v bool) { dwUseAVX512 = v }(dwUseAVX512)
	for _, asm := range []bool{dwUseAVX512, false} {
		dwUseAVX512 = asm
		testDepthwisePlane(t)
	}
}

func testDepthwisePlane(t *testing.T) {
	type geo struct{ h, w, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr int }
	var cases []geo
	for _, k := range []int{1, 2, 3, 4, 5, 7, 8} {
		for _, s := range []int{1, 2, 3} {
			for _, d := range []int{1, 2} {
				cases = append(cases, geo{9, 11, k, k, s, s, d, d, k / 2, k / 2, k / 2, k / 2})
			}
		}
	}
	cases = append(cases,
		geo{5, 4, 7, 7, 1, 1, 1, 1, 3, 3, 3, 3},
		geo{7, 7, 7, 7, 1, 1, 1, 1, 3, 3, 3, 3},
		geo{6, 10, 3, 5, 2, 1, 1, 2, 0, 1, 2, 3},
		geo{3, 3, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0},
		geo{12, 12, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1},
		// Rows of 16 and more outputs: whole AVX-512 steps and a masked tail.
		geo{4, 37, 7, 7, 1, 1, 1, 1, 3, 3, 3, 3},
		geo{3, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
		geo{5, 40, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2},
		geo{3, 50, 3, 9, 2, 1, 1, 1, 0, 4, 0, 4},
	)
	rng := rand.New(rand.NewPCG(5, 6))
	randn := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	for _, c := range cases {
		oh := (c.h+c.pt+c.pb-((c.kh-1)*c.dh+1))/c.sh + 1
		ow := (c.w+c.pl+c.pr-((c.kw-1)*c.dw+1))/c.sw + 1
		if oh < 1 || ow < 1 {
			continue
		}
		g := &ConvGeom{C: 1, H: c.h, W: c.w, KH: c.kh, KW: c.kw, SH: c.sh, SW: c.sw, DH: c.dh, DW: c.dw, PadT: c.pt, PadL: c.pl, OH: oh, OW: ow}
		x, w, dy := randn(c.h*c.w), randn(c.kh*c.kw), randn(oh*ow)
		// Naive forward and gradients in float64.
		y := make([]float64, oh*ow)
		dx := make([]float64, c.h*c.w)
		dw := make([]float64, c.kh*c.kw)
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				y[i*ow+j] = 0.5
				for a := 0; a < c.kh; a++ {
					for b := 0; b < c.kw; b++ {
						ih, iw := i*c.sh-c.pt+a*c.dh, j*c.sw-c.pl+b*c.dw
						if ih < 0 || ih >= c.h || iw < 0 || iw >= c.w {
							continue
						}
						y[i*ow+j] += float64(w[a*c.kw+b]) * float64(x[ih*c.w+iw])
						dx[ih*c.w+iw] += float64(w[a*c.kw+b]) * float64(dy[i*ow+j])
						dw[a*c.kw+b] += float64(x[ih*c.w+iw]) * float64(dy[i*ow+j])
					}
				}
			}
		}
		gotY := randn(oh * ow)                       // garbage: every element must be written
		DepthwisePlane(g, x, w, 0.5, gotY, randn(3)) // a dirty scratch, too small
		gotDX := randn(c.h * c.w)
		DepthwisePlaneGradX(g, dy, w, gotDX, randn(1000)) // a dirty scratch
		gotDW := make([]float32, len(w))
		for i := range gotDW {
			gotDW[i] = 1
		}
		DepthwisePlaneGradW(g, x, dy, gotDW)
		for _, cmp := range []struct {
			name string
			got  []float32
			want []float64
			add  float64
		}{{"y", gotY, y, 0}, {"dx", gotDX, dx, 0}, {"dw", gotDW, dw, 1}} {
			for i, v := range cmp.want {
				if d := math.Abs(float64(cmp.got[i]) - v - cmp.add); d > 1e-4*(1+math.Abs(v)) {
					t.Fatalf("%+v (assembly %v): %s[%d] = %g, want %g", c, dwUseAVX512, cmp.name, i, cmp.got[i], v+cmp.add)
				}
			}
		}
	}
}
