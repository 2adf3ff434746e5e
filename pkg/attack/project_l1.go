package attack

import (
	"math"
	"slices"
)

// L1Dist returns ‖a − b‖₁.
func L1Dist(a, b []float32) float64 {
	s := 0.0
	for i, v := range a {
		s += math.Abs(float64(v) - float64(b[i]))
	}
	return s
}

// ProjectL1 projects xadv onto the intersection of the L1 ball of radius
// eps around x and the clip range b, in place: the Euclidean projection
// onto {δ : ‖δ‖₁ ≤ eps, b.Min ≤ x+δ ≤ b.Max} (Croce & Hein 2021, "Mind
// the box", Sec. 3.2). With z = xadv − x the solution is, per element,
// δᵢ = sign(zᵢ)·min(max(|zᵢ| − λ, 0), capᵢ), capᵢ the room to the box in
// the direction of zᵢ, and λ ≥ 0 the smallest value giving ‖δ‖₁ ≤ eps
// (found exactly by sweeping the sorted breakpoints). float32 rounding is
// corrected so that ‖xadv − x‖₁ ≤ eps holds exactly in float64.
func ProjectL1(xadv, x []float32, eps float64, b Bounds) {
	for i, v := range xadv {
		if v != v {
			xadv[i] = x[i]
		}
	}
	lam := l1Threshold(xadv, x, eps, b)
	if lam > 0 {
		for i, v := range xadv {
			z := float64(v) - float64(x[i])
			a := math.Max(math.Abs(z)-lam, 0)
			if z < 0 {
				xadv[i] = float32(float64(x[i]) - a)
			} else {
				xadv[i] = float32(float64(x[i]) + a)
			}
		}
	}
	Clip(xadv, b)
	for k := 0; k < 8; k++ {
		n := L1Dist(xadv, x)
		if n <= eps {
			return
		}
		scaleToward(xadv, x, eps/n*(1-1e-7*float64(int(1)<<(2*k))))
		Clip(xadv, b)
	}
	copy(xadv, x) // unreachable in practice: fall back to the centre
}

// l1Threshold returns the smallest λ ≥ 0 with
// F(λ) = Σ min(max(aᵢ − λ, 0), capᵢ) ≤ eps, aᵢ = |xadvᵢ − xᵢ| and capᵢ
// the room to the box in the direction of the change. Each term is capᵢ
// up to λ = aᵢ − capᵢ, then falls with slope −1 to 0 at λ = aᵢ, so F is
// piecewise linear and decreasing; the sweep visits its breakpoints in
// order.
func l1Threshold(xadv, x []float32, eps float64, b Bounds) float64 {
	type event struct {
		pos   float64
		slope int
	}
	evs := make([]event, 0, 2*len(xadv))
	f, slope := 0.0, 0
	for i, v := range xadv {
		z := float64(v) - float64(x[i])
		cp := float64(b.Max) - float64(x[i])
		if z < 0 {
			cp = float64(x[i]) - float64(b.Min)
		}
		a := math.Abs(z)
		if a == 0 || cp <= 0 {
			continue
		}
		f += math.Min(a, cp)
		if a-cp > 0 {
			evs = append(evs, event{a - cp, -1})
		} else {
			slope--
		}
		evs = append(evs, event{a, +1})
	}
	if f <= eps {
		return 0
	}
	slices.SortFunc(evs, func(p, q event) int {
		switch {
		case p.pos < q.pos:
			return -1
		case p.pos > q.pos:
			return 1
		}
		return 0
	})
	cur := 0.0
	for _, e := range evs {
		next := f + float64(slope)*(e.pos-cur)
		if next <= eps && slope < 0 {
			return cur + (f-eps)/float64(-slope)
		}
		f, cur = next, e.pos
		slope += e.slope
	}
	return cur
}

// hyperplaneStep computes FAB's projection (Croce & Hein 2020, Sec. 3.1,
// eq. 5-6; the reference's projection_linf/l2/l1): the perturbation δ of
// smallest norm with ⟨w, δ⟩ = c that keeps p + δ inside b, written into
// delta. Only the element moves that advance ⟨w, δ⟩ towards c are useful,
// so with eᵢ ≥ 0 the distance moved along dirᵢ = sign(c)·sign(wᵢ) and
// roomᵢ the distance to the box in that direction the problems are
//
//	Linf: min t      s.t. Σ |wᵢ| min(t, roomᵢ) = |c|  (eᵢ = min(t, roomᵢ))
//	L2:   eᵢ = min(λ|wᵢ|, roomᵢ) with λ solving Σ |wᵢ| eᵢ = |c|
//	L1:   fill eᵢ up to roomᵢ in decreasing order of |wᵢ| until Σ |wᵢ| eᵢ = |c|
//
// each solved exactly after one sort. When the hyperplane cannot be
// reached inside the box, every useful element moves to the box (the
// reference does the same). scratch must hold len(p) entries.
func hyperplaneStep(norm Norm, delta []float64, p []float32, w []float64, c float64, b Bounds, scratch []hpItem) {
	clear(delta)
	if c == 0 || c != c {
		return
	}
	sc := 1.0
	if c < 0 {
		sc = -1
	}
	target := math.Abs(c)
	items := scratch[:0]
	for i, wi := range w {
		if wi == 0 || wi != wi {
			continue
		}
		dir := sc
		if wi < 0 {
			dir = -sc
		}
		room := float64(b.Max) - float64(p[i])
		if dir < 0 {
			room = float64(p[i]) - float64(b.Min)
		}
		if room <= 0 {
			continue
		}
		aw := math.Abs(wi)
		it := hpItem{i: i, aw: aw, room: room, dir: dir}
		switch norm {
		case Linf:
			it.key = room
		case L2:
			it.key = room / aw
		default: // L1: largest |w| first
			it.key = -aw
		}
		items = append(items, it)
	}
	slices.SortFunc(items, func(a, b hpItem) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
	switch norm {
	case Linf:
		// g(t) = Σ_{saturated} |w| room + t·Σ_{free} |w|.
		sat, free := 0.0, 0.0
		for _, it := range items {
			free += it.aw
		}
		t := math.Inf(1)
		for _, it := range items {
			if sat+free*it.room >= target {
				t = (target - sat) / free
				break
			}
			sat += it.aw * it.room
			free -= it.aw
		}
		for _, it := range items {
			delta[it.i] = it.dir * math.Min(t, it.room)
		}
	case L2:
		// h(λ) = Σ_{saturated} |w| room + λ·Σ_{free} w².
		sat, free := 0.0, 0.0
		for _, it := range items {
			free += it.aw * it.aw
		}
		lam := math.Inf(1)
		for _, it := range items {
			if sat+free*it.key >= target {
				lam = (target - sat) / free
				break
			}
			sat += it.aw * it.room
			free -= it.aw * it.aw
		}
		for _, it := range items {
			delta[it.i] = it.dir * math.Min(lam*it.aw, it.room)
		}
	default:
		rest := target
		for _, it := range items {
			if rest <= 0 {
				break
			}
			e := math.Min(it.room, rest/it.aw)
			delta[it.i] = it.dir * e
			rest -= e * it.aw
		}
	}
}

// hpItem is one element in hyperplaneStep's sort.
type hpItem struct {
	i             int
	key, aw, room float64
	dir           float64
}
