package tensor

import (
	"runtime"
	"sync"
)

// ParallelFor splits [0, n) into at most GOMAXPROCS contiguous chunks of at
// least minChunk items and calls fn(lo, hi) on each, concurrently, returning
// when all calls have returned. Small ranges run on the calling goroutine.
func ParallelFor(n, minChunk int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if minChunk < 1 {
		minChunk = 1
	}
	workers := runtime.GOMAXPROCS(0)
	if w := n / minChunk; w < workers {
		workers = w
	}
	if workers <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := chunk; lo < n; lo += chunk {
		hi := lo + chunk
		if hi > n {
			hi = n
		}
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, hi)
	}
	hi := chunk
	if hi > n {
		hi = n
	}
	fn(0, hi)
	wg.Wait()
}
