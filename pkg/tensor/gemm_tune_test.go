//go:build linux

package tensor

import (
	"fmt"
	"math/rand"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestGemmTune is a tuning aid, skipped unless GEMM_TUNE is set: it reports
// the best of several short runs (robust on a shared machine) for the
// blocking parameters given as GEMM_TUNE="kernel mr mc kc nc directAMaxN directBMaxK;..." on the
// shapes in GEMM_SHAPES="m,n,k;...".
func TestGemmTune(t *testing.T) {
	spec := os.Getenv("GEMM_TUNE")
	if spec == "" {
		t.Skip("set GEMM_TUNE")
	}
	procs, _ := strconv.Atoi(os.Getenv("GEMM_PROCS"))
	if procs > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	rng := rand.New(rand.NewSource(1))
	for _, sh := range strings.Split(os.Getenv("GEMM_SHAPES"), ";") {
		var m, n, k int
		fmt.Sscanf(sh, "%d,%d,%d", &m, &n, &k)
		a, b, c := randSlice(rng, m*k), randSlice(rng, k*n), make([]float32, m*n)
		for _, cfg := range strings.Split(spec, ";") {
			var name string
			var mr, mc, kc, nc, dA, dB int
			fmt.Sscanf(cfg, "%s %d %d %d %d %d %d", &name, &mr, &mc, &kc, &nc, &dA, &dB)
			var kn *gemmKernel
			for _, x := range gemmKernels {
				if x.name == name {
					y := *x
					kn = &y
				}
			}
			if kn != nil {
				kn.mr, kn.mc, kn.kc, kn.nc = mr, mc, kc, nc
				kn.directAMaxN, kn.directBMaxK = dA, dB
			}
			best, bestCPU := 0.0, 0.0
			for rep := 0; rep < 9; rep++ {
				start, cpu0 := time.Now(), threadCPU()
				iters := 0
				for time.Since(start) < 40*time.Millisecond {
					gemmDispatch(kn, gemmTinyMax, false, false, m, n, k, 1, a, k, b, n, 0, c, n)
					iters++
				}
				g := 2 * float64(m*n*k) * float64(iters) / 1e9
				best = max(best, g/time.Since(start).Seconds())
				bestCPU = max(bestCPU, g/(threadCPU()-cpu0).Seconds())
			}
			t.Logf("%-22s %-32s best %6.1f GFLOP/s (per CPU-second on this thread %6.1f)", sh, cfg, best, bestCPU)
		}
	}
}

// TestGemmKernelPeak (GEMM_TUNE set) times the micro-kernels alone on
// L1-resident panels.
func TestGemmKernelPeak(t *testing.T) {
	if os.Getenv("GEMM_TUNE") == "" {
		t.Skip("set GEMM_TUNE")
	}
	const kc = 256
	for _, kn := range gemmKernels {
		for _, h := range []int{4, 6, 8, 12} {
			if h > len(kn.fn) {
				continue
			}
			a, b, c := make([]float32, h*kc), make([]float32, kn.nr*kc), make([]float32, h*kn.nr)
			best := 0.0
			for rep := 0; rep < 9; rep++ {
				start := time.Now()
				const iters = 2000
				for i := 0; i < iters; i++ {
					kn.fn[h-1](kc, &a[0], &b[0], kn.nr, &c[0], kn.nr, 1, 0, ^uint32(0), 0)
				}
				best = max(best, 2*float64(h*kn.nr*kc*iters)/time.Since(start).Seconds()/1e9)
			}
			t.Logf("%s h=%d: %.1f GFLOP/s", kn.name, h, best)
		}
	}
}

// threadCPU is the CPU time the calling OS thread has used (only meaningful
// for single-threaded runs).
func threadCPU() time.Duration {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}
