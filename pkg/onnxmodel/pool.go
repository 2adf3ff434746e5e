package onnxmodel

import (
	"fmt"
	"math/bits"
	"slices"
	"sync"
)

// staleRuns is how many runs in a row a free buffer may go unused before the
// pool lets the garbage collector have it. A pool therefore holds about the
// working set of its recent runs (an attack step's gradient run and the
// forward-only runs between them), not every size it has ever seen.
const staleRuns = 8

// maxReuseFactor bounds how much larger than asked a reused buffer may be:
// a batch that shrinks (attacks drop fooled samples) reuses the buffers of
// the larger batch before it until it is half that size, instead of
// collecting a set of buffers per size.
const maxReuseFactor = 2

// bufferPool is an executor's arena: it hands out float32 buffers during a
// run and takes them all back when the run's tape is released, so that the
// steps of an attack, which run the same graph on the same batch again and
// again, allocate nothing large after the first. It keeps what its recent
// runs used (see staleRuns): its size follows the batch's working set.
//
// Sizes are rounded up to one of eight classes per power of two (at most
// 12.5% waste). A request is served by the smallest free buffer at least
// that large and at most maxReuseFactor times larger.
type bufferPool struct {
	mu         sync.Mutex
	free       []pooledBuf // by capacity, ascending
	freeBytes  int64
	taken      [][]float32
	takenBytes int64 // bytes handed out in the current run
	run        uint64
}

type pooledBuf struct {
	b       []float32
	lastRun uint64 // the run that last used it
}

func newBufferPool() *bufferPool {
	return &bufferPool{}
}

// sizeClass rounds n up to a multiple of 2^(⌊log2 n⌋−3).
func sizeClass(n int) int {
	if n <= 16 {
		return n
	}
	step := 1 << (bits.Len(uint(n)) - 4)
	return (n + step - 1) / step * step
}

func (p *bufferPool) get(n int) []float32 {
	class := sizeClass(n)
	p.mu.Lock()
	defer p.mu.Unlock()
	var b []float32
	i, _ := slices.BinarySearchFunc(p.free, class, func(e pooledBuf, c int) int { return cap(e.b) - c })
	if i < len(p.free) && cap(p.free[i].b) <= maxReuseFactor*class {
		b = p.free[i].b
		p.free = slices.Delete(p.free, i, i+1)
		p.freeBytes -= 4 * int64(cap(b))
	} else {
		b = make([]float32, class)
	}
	p.taken = append(p.taken, b)
	p.takenBytes += 4 * int64(cap(b))
	return b[:n]
}

// used returns the bytes handed out since the last release: the run's
// working memory so far.
func (p *bufferPool) used() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.takenBytes
}

// releaseAll returns every buffer handed out since the last release and
// drops the free buffers that the last staleRuns runs did not use. The
// caller guarantees that none of the returned buffers is still referenced.
func (p *bufferPool) releaseAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.run++
	for _, b := range p.taken {
		b = b[:cap(b)]
		i, _ := slices.BinarySearchFunc(p.free, cap(b), func(e pooledBuf, c int) int { return cap(e.b) - c })
		p.free = slices.Insert(p.free, i, pooledBuf{b: b, lastRun: p.run})
		p.freeBytes += 4 * int64(cap(b))
	}
	clear(p.taken)
	p.taken = p.taken[:0]
	p.takenBytes = 0
	if p.run <= staleRuns {
		return
	}
	p.free = slices.DeleteFunc(p.free, func(e pooledBuf) bool {
		if e.lastRun+staleRuns < p.run {
			p.freeBytes -= 4 * int64(cap(e.b))
			return true
		}
		return false
	})
}

// WorkingMemoryError says that one run of the graph needs more working
// memory than Limits.WorkingBytes allows.
type WorkingMemoryError struct {
	// Batch is the batch that did not fit; Used the bytes the run had taken
	// when it stopped (a lower bound of its need) and Limit the limit.
	Batch       int
	Used, Limit int64
	// Suggest is a batch size whose run fits (measured on one sample), 0
	// when even one sample does not fit.
	Suggest int
}

func (e *WorkingMemoryError) Error() string {
	msg := fmt.Sprintf("a batch of %d samples needs more than %s of working memory for the model (--max-memory is %s)", e.Batch, humanBytes(e.Used), humanBytes(e.Limit))
	if e.Suggest > 0 {
		return msg + fmt.Sprintf("; use --batch-size %d or less, or raise --max-memory", e.Suggest)
	}
	return msg + "; even one sample does not fit: raise --max-memory"
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, suffix := float64(n), "B"
	for _, s := range []string{"KiB", "MiB", "GiB", "TiB"} {
		if v < unit {
			break
		}
		v /= unit
		suffix = s
	}
	return fmt.Sprintf("%.1f %s", v, suffix)
}
