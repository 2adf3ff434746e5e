package tensor

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// gemmKernelFunc is the signature of a micro-kernel: it computes an h×nr
// tile C = alpha·Ap·Bp + beta·C, where Ap is a packed panel of A (h floats
// per step of k; or, for the direct variants, h rows of A lda floats apart),
// Bp a panel of B (nr floats per step, ldb floats apart) and C has row
// stride ldc. With beta ±0 C is not read. Kernels that store partial tiles
// (gemmKernel.masked) write only the columns set in mask.
type gemmKernelFunc func(k int, a, b *float32, ldb int, c *float32, ldc int, alpha, beta float32, mask uint32, lda int)

// gemmKernel describes one micro-kernel family and its cache blocking.
type gemmKernel struct {
	name   string
	mr, nr int  // tile size: mr rows (the tallest kernel) × nr columns
	masked bool // stores partial-width tiles directly (under a column mask)
	// fn[h-1] computes tiles of height h from packed A; fnD[h-1] reads a
	// row-major A in place.
	fn, fnD []gemmKernelFunc
	// Blocking: a kc×nc block of B and an mc×kc block of A are packed at a time.
	mc, kc, nc int
	// A row-major A is read in place when n is at most directAMaxN (its
	// packing would be reused by few micro-panels of B); a row-major B is
	// read in place when k is at most directBMaxK.
	directAMaxN, directBMaxK int
}

// gemmTranspose8, where the CPU has one, transposes blocks consecutive 8×8
// blocks: dst[(8b+c)*ldd + r] = src[r*lds + 8b + c] for b < blocks and
// r, c < 8. The packing routines use it for the transposing copies.
var gemmTranspose8 func(src *float32, lds int, dst *float32, ldd int, blocks int)

// gemmKernels lists the kernels this CPU can run, fastest first;
// gemmActive is the one Gemm uses (nil: the portable path).
var (
	gemmKernels = archGemmKernels()
	gemmActive  = firstKernel(gemmKernels)
)

func firstKernel(ks []*gemmKernel) *gemmKernel {
	if len(ks) == 0 {
		return nil
	}
	return ks[0]
}

// Thresholds (in multiply-adds, m·n·k) of the drivers.
const (
	gemmTinyMax     = 128     // up to this: plain loops, no packing
	gemmParallelMin = 1 << 21 // from here (about 128³): split over GOMAXPROCS goroutines
)

// gemmOperand is a strided view of a matrix: element (i, j) is d[i*rs+j*cs].
type gemmOperand struct {
	d      []float32
	rs, cs int
}

// t returns the transposed view.
func (o gemmOperand) t() gemmOperand { return gemmOperand{o.d, o.cs, o.rs} }

// rows returns the view starting at row i.
func (o gemmOperand) rows(i int) gemmOperand { return gemmOperand{o.d[i*o.rs:], o.rs, o.cs} }

// cols returns the view starting at column j.
func (o gemmOperand) cols(j int) gemmOperand { return gemmOperand{o.d[j*o.cs:], o.rs, o.cs} }

// gemmWork holds one goroutine's packing buffers, 64-byte aligned.
type gemmWork struct {
	a, b, t []float32
	ab, bb  []float32 // backing arrays
}

var gemmPool sync.Pool

func alignedFloats(backing *[]float32, n int) []float32 {
	if cap(*backing) < n+16 {
		*backing = make([]float32, n+16)
	}
	s := *backing
	off := 0
	if r := uintptr(unsafe.Pointer(&s[0])) & 63; r != 0 {
		off = int(64-r) / 4
	}
	return s[off : off+n : off+n]
}

func getGemmWork(kn *gemmKernel) *gemmWork {
	w, _ := gemmPool.Get().(*gemmWork)
	if w == nil {
		w = new(gemmWork)
	}
	if len(w.a) < kn.mc*kn.kc {
		w.a = alignedFloats(&w.ab, kn.mc*kn.kc)
	}
	if len(w.b) < kn.kc*kn.nc {
		w.b = alignedFloats(&w.bb, kn.kc*kn.nc)
	}
	if len(w.t) < kn.mr*kn.nr {
		w.t = make([]float32, kn.mr*kn.nr)
	}
	return w
}

// colMask enables the first w columns.
func colMask(w int) uint32 {
	if w >= 32 {
		return ^uint32(0)
	}
	return 1<<uint(w) - 1
}

// gemm computes C = alpha·A·B + beta·C with kernel kn, where A is m×k, B is
// k×n and C is m×n (all strided views), on up to GOMAXPROCS goroutines.
func (kn *gemmKernel) gemm(m, n, k int, A, B, C gemmOperand, alpha, beta float32) {
	// Few columns of a transposed B: compute Cᵀ = op(B)ᵀ·op(A)ᵀ instead,
	// whose A (B as stored) is row-major and read in place and whose
	// columns fill the vector lanes; its tiles go through the scratch tile.
	if n <= kn.nr/2 && m >= 2*n && k >= 32 && B.rs == 1 && kn.fnD != nil {
		m, n, A, B, C = n, m, B.t(), A.t(), C.t()
	}
	workers := runtime.GOMAXPROCS(0)
	if workers == 1 || m*n*k < gemmParallelMin {
		w := getGemmWork(kn)
		kn.serial(m, n, k, A, B, C, alpha, beta, w)
		gemmPool.Put(w)
		return
	}
	// Split N into pieces of whole micro-panels (each goroutine packs only
	// its own columns of B; row-major A is read in place), unless N is too
	// narrow to give every goroutine a few panels: then split M (and each
	// piece packs all of B). Pieces are handed out dynamically, a few per
	// goroutine, so that a core slowed by other work takes fewer of them.
	sp := gemmSplits.Get().(*gemmSplit)
	*sp = gemmSplit{kn: kn, m: m, n: n, k: k, A: A, B: B, C: C, alpha: alpha, beta: beta}
	// A piece that must pack the whole of the other operand is kept large
	// enough to repay it (packing an element costs about as much as 16-40
	// multiply-adds).
	uN := (n + kn.nr - 1) / kn.nr
	if uN >= 2*workers {
		sp.splitN, sp.unit, sp.units = true, kn.nr, uN
		minUnits := 16 // 512 columns (AVX-512) per packing of A
		if A.cs == 1 {
			minUnits = 4 // A read in place: nothing repacked
		}
		sp.chunk = max((uN+4*workers-1)/(4*workers), min(minUnits, (uN+workers-1)/workers))
	} else {
		uM := (m + kn.mr - 1) / kn.mr
		sp.unit, sp.units = kn.mr, uM
		minUnits := 12 // 144 rows (AVX-512) per packing of B
		if B.cs == 1 && k <= kn.directBMaxK {
			minUnits = 4 // B read in place
		}
		sp.chunk = max((uM+4*workers-1)/(4*workers), min(minUnits, (uM+workers-1)/workers))
	}
	parts := min(workers, (sp.units+sp.chunk-1)/sp.chunk)
	ensureGemmWorkers(parts - 1)
	for i := 1; i < parts; i++ {
		sp.wg.Add(1)
		select {
		case gemmTasks <- sp:
		default:
			sp.wg.Done() // every worker is busy (other Gemm calls): do it here
		}
	}
	sp.work()
	sp.wg.Wait()
	*sp = gemmSplit{} // drop the references to the caller's slices
	gemmSplits.Put(sp)
}

// gemmSplit is a GEMM shared out in pieces among the caller and workers.
type gemmSplit struct {
	kn          *gemmKernel
	m, n, k     int
	A, B, C     gemmOperand
	alpha, beta float32
	splitN      bool // pieces are columns (else rows)
	unit        int  // columns or rows per unit: the tile size
	units       int  // units in all
	chunk       int  // units per piece
	next        atomic.Int64
	wg          sync.WaitGroup // the workers that joined in
}

// work computes pieces until none is left.
func (sp *gemmSplit) work() {
	w := getGemmWork(sp.kn)
	for {
		lo := (int(sp.next.Add(1)) - 1) * sp.chunk
		if lo >= sp.units {
			break
		}
		i0, i1 := lo*sp.unit, min(lo+sp.chunk, sp.units)*sp.unit
		if sp.splitN {
			i1 = min(i1, sp.n)
			sp.kn.serial(sp.m, i1-i0, sp.k, sp.A, sp.B.cols(i0), sp.C.cols(i0), sp.alpha, sp.beta, w)
		} else {
			i1 = min(i1, sp.m)
			sp.kn.serial(i1-i0, sp.n, sp.k, sp.A.rows(i0), sp.B, sp.C.rows(i0), sp.alpha, sp.beta, w)
		}
	}
	gemmPool.Put(w)
}

// Split GEMMs are handed to long-lived worker goroutines over gemmTasks
// (the gemmSplit comes from a pool, so that a call allocates nothing);
// there are as many workers as the largest split so far needed.
var (
	gemmTasks     = make(chan *gemmSplit)
	gemmSplits    = sync.Pool{New: func() any { return new(gemmSplit) }}
	gemmWorkersMu sync.Mutex
	gemmWorkers   int
)

func ensureGemmWorkers(n int) {
	gemmWorkersMu.Lock()
	for ; gemmWorkers < n; gemmWorkers++ {
		go func() {
			for sp := range gemmTasks {
				sp.work()
				sp.wg.Done()
			}
		}()
	}
	gemmWorkersMu.Unlock()
}

// serial is the blocked GEMM on one goroutine (Goto/BLIS loop order: a
// kc×nc block of B packed for L3/L2, an mc×kc block of A packed for L2, one
// nr-wide micro-panel of B reused from L1 across the mc rows).
func (kn *gemmKernel) serial(m, n, k int, A, B, C gemmOperand, alpha, beta float32, w *gemmWork) {
	mr, nr := kn.mr, kn.nr
	full := colMask(nr)
	// Blocks of each dimension are of (nearly) equal size, so that no
	// thin remainder block is left: a short k block costs a pass over C,
	// a short m block a pass over the packed B.
	nc := evenBlock(n, kn.nc, nr)
	kc := evenBlock(k, kn.kc, 1)
	mc := evenBlock(m, kn.mc, 1)
	// Row-major operands may be read in place instead of packed (see
	// directAMaxN, directBMaxK); only a partial last panel of B is then
	// packed, to w.b.
	directA := A.cs == 1 && kn.fnD != nil && n <= kn.directAMaxN
	directB := B.cs == 1 && k <= kn.directBMaxK
	fn := kn.fn
	if directA {
		fn = kn.fnD
	}
	for jc := 0; jc < n; jc += nc {
		ncur := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kcur := min(kc, k-pc)
			bet := beta
			if pc > 0 {
				bet = 1
			}
			if directB {
				if rem := ncur % nr; rem != 0 {
					packB(w.b, B, pc, kcur, jc+ncur-rem, rem, nr)
				}
			} else {
				packB(w.b, B, pc, kcur, jc, ncur, nr)
			}
			for ic := 0; ic < m; ic += mc {
				mcur := min(mc, m-ic)
				if !directA {
					packA(w.a, A, ic, mcur, pc, kcur, mr)
				}
				for jr := 0; jr < ncur; jr += nr {
					wd := min(nr, ncur-jr)
					bp, ldb := &w.b[jr*kcur], nr
					if directB {
						if wd == nr {
							bp, ldb = &B.d[pc*B.rs+jc+jr], B.rs
						} else {
							bp = &w.b[0]
						}
					}
					np, hBase, hExtra := panels(mcur, mr)
					for i, ir := 0, 0; i < np; i++ {
						h := hBase
						if i < hExtra {
							h++
						}
						ap := &w.a[ir*kcur]
						if directA {
							ap = &A.d[(ic+ir)*A.rs+pc]
						}
						ci := (ic+ir)*C.rs + (jc+jr)*C.cs
						if C.cs == 1 && (wd == nr || kn.masked) {
							fn[h-1](kcur, ap, bp, ldb, &C.d[ci], C.rs, alpha, bet, colMask(wd), A.rs)
						} else {
							fn[h-1](kcur, ap, bp, ldb, &w.t[0], nr, alpha, 0, full, A.rs)
							scatterTile(w.t, nr, h, wd, C, ci, bet)
						}
						ir += h
					}
				}
			}
		}
	}
}

// evenBlock returns the size of the blocks (a multiple of unit, at most
// max(limit, unit)) that split n into as few blocks as possible of nearly
// equal size.
func evenBlock(n, limit, unit int) int {
	limit = max(limit/unit*unit, unit)
	nb := (n + limit - 1) / limit
	b := (n + nb - 1) / nb
	return (b + unit - 1) / unit * unit
}

// panels splits mcur rows into np micro-panels of at most mr rows and nearly
// equal height: the first extra panels have base+1 rows, the others base.
func panels(mcur, mr int) (np, base, extra int) {
	np = (mcur + mr - 1) / mr
	return np, mcur / np, mcur % np
}

// scatterTile adds the h×wd scratch tile t (row stride nr) to C at offset ci:
// C = t + beta·C (C not read when beta is 0).
func scatterTile(t []float32, nr, h, wd int, C gemmOperand, ci int, beta float32) {
	for r := 0; r < h; r++ {
		tr := t[r*nr : r*nr+wd]
		o := ci + r*C.rs
		if beta == 0 {
			for j, v := range tr {
				C.d[o+j*C.cs] = v
			}
		} else {
			for j, v := range tr {
				C.d[o+j*C.cs] = v + beta*C.d[o+j*C.cs]
			}
		}
	}
}

// packA copies rows i0..i0+mcur, columns p0..p0+kcur of A into dst as the
// micro-panels that panels(mcur, mr) describes, each stored k-major: the
// panel of height h starting at row ir is dst[ir*kcur:], h floats per step.
func packA(dst []float32, A gemmOperand, i0, mcur, p0, kcur, mr int) {
	np, hBase, hExtra := panels(mcur, mr)
	if A.rs == 1 {
		// Column-major A (transposed): each step of k is a contiguous
		// column, read once and dealt out to all the panels.
		for p := 0; p < kcur; p++ {
			src := A.d[(p0+p)*A.cs+i0:][:mcur]
			for i, ir := 0, 0; i < np; i++ {
				h := hBase
				if i < hExtra {
					h++
				}
				d := dst[ir*kcur+p*h:][:h]
				s := src[ir:][:h]
				for r := range d {
					d[r] = s[r]
				}
				ir += h
			}
		}
		return
	}
	for i, ir := 0, 0; i < np; i++ {
		h := hBase
		if i < hExtra {
			h++
		}
		panel := dst[ir*kcur : (ir+h)*kcur]
		base := (i0+ir)*A.rs + p0*A.cs
		ir += h
		switch {
		case A.cs == 1:
			r := 0
			if kb := kcur / 8; gemmTranspose8 != nil && kb > 0 {
				// Rows in groups of 8, steps of k in blocks of 8.
				for ; r+8 <= h; r += 8 {
					_ = A.d[base+(r+7)*A.rs+8*kb-1]
					_ = panel[(8*kb-1)*h+r+7]
					gemmTranspose8(&A.d[base+r*A.rs], A.rs, &panel[r], h, kb)
				}
				for rr := 0; rr < r; rr++ {
					src := A.d[base+rr*A.rs+8*kb:][:kcur-8*kb]
					for p, v := range src {
						panel[(8*kb+p)*h+rr] = v
					}
				}
			}
			for ; r < h; r++ {
				src := A.d[base+r*A.rs:][:kcur]
				for p, v := range src {
					panel[p*h+r] = v
				}
			}
		default:
			for p := 0; p < kcur; p++ {
				for r := 0; r < h; r++ {
					panel[p*h+r] = A.d[base+r*A.rs+p*A.cs]
				}
			}
		}
	}
}

// packB copies rows p0..p0+kcur, columns j0..j0+ncur of B into dst as
// panels nr columns wide, zero-padded: the panel starting at column jr is
// dst[jr*kcur:], nr floats per step of k.
func packB(dst []float32, B gemmOperand, p0, kcur, j0, ncur, nr int) {
	for jr := 0; jr < ncur; jr += nr {
		wd := min(nr, ncur-jr)
		panel := dst[jr*kcur : (jr+nr)*kcur]
		base := p0*B.rs + (j0+jr)*B.cs
		switch {
		case B.cs == 1:
			for p := 0; p < kcur; p++ {
				row := panel[p*nr : p*nr+nr]
				copy(row, B.d[base+p*B.rs:][:wd])
				clear(row[wd:])
			}
		case B.rs == 1:
			if wd < nr {
				for p := 0; p < kcur; p++ {
					clear(panel[p*nr+wd : p*nr+nr])
				}
			}
			j := 0
			if kb := kcur / 8; gemmTranspose8 != nil && kb > 0 {
				// Columns in groups of 8, steps of k in blocks of 8.
				for ; j+8 <= wd; j += 8 {
					_ = B.d[base+(j+7)*B.cs+8*kb-1]
					_ = panel[(8*kb-1)*nr+j+7]
					gemmTranspose8(&B.d[base+j*B.cs], B.cs, &panel[j], nr, kb)
				}
				for jj := 0; jj < j; jj++ {
					src := B.d[base+jj*B.cs+8*kb:][:kcur-8*kb]
					for p, v := range src {
						panel[(8*kb+p)*nr+jj] = v
					}
				}
			}
			for ; j < wd; j++ {
				src := B.d[base+j*B.cs:][:kcur]
				for p, v := range src {
					panel[p*nr+j] = v
				}
			}
		default:
			for p := 0; p < kcur; p++ {
				row := panel[p*nr : p*nr+nr]
				for j := range row {
					if j < wd {
						row[j] = B.d[base+p*B.rs+j*B.cs]
					} else {
						row[j] = 0
					}
				}
			}
		}
	}
}
