package onnxmodel

import (
	"cmp"
	"fmt"
	"math/bits"
	"slices"
	"sync"
	"unsafe"
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
	taken      []*takenBuf // handed out in the current run, by address
	takenBytes int64       // bytes handed out in the current run and not yet put back
	peakBytes  int64       // the most takenBytes has been in the current run
	recent     []*takenBuf // taken since the last takeRecent
	run        uint64
}

type pooledBuf struct {
	b       []float32
	lastRun uint64 // the run that last used it
}

// takenBuf is a buffer handed out in the current run. refs counts what
// still uses it (see hold and retain); the tape puts it back to the free
// list mid-run when the count falls to zero, and releaseAll takes back the
// rest.
type takenBuf struct {
	b    []float32
	base uintptr // address of b's first element
	refs int
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
	tb := &takenBuf{b: b, base: uintptr(unsafe.Pointer(unsafe.SliceData(b))), refs: 1}
	j, _ := slices.BinarySearchFunc(p.taken, tb.base, func(e *takenBuf, a uintptr) int { return cmp.Compare(e.base, a) })
	p.taken = slices.Insert(p.taken, j, tb)
	p.recent = append(p.recent, tb)
	p.takenBytes += 4 * int64(cap(b))
	p.peakBytes = max(p.peakBytes, p.takenBytes)
	return b[:n]
}

// takeRecent returns the buffers handed out since its last call, each
// holding the one reference that get gave it: the hold of the op that took
// them (its outputs, what it saved for its backward rule, its scratch),
// which the tape ends with unhold once that op's saved value is no longer
// needed.
func (p *bufferPool) takeRecent() []*takenBuf {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.recent
	p.recent = nil
	return r
}

// unhold drops the op hold of each buffer of bufs (from takeRecent).
func (p *bufferPool) unhold(bufs []*takenBuf) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, tb := range bufs {
		p.unref(tb)
	}
}

// find returns the taken buffer that f's data lies in, or nil when f is
// empty or not from this pool's current run (a graph input, a constant, a
// tensor an op made itself).
func (p *bufferPool) find(f []float32) *takenBuf {
	if len(f) == 0 {
		return nil
	}
	a := uintptr(unsafe.Pointer(unsafe.SliceData(f)))
	j, found := slices.BinarySearchFunc(p.taken, a, func(e *takenBuf, a uintptr) int { return cmp.Compare(e.base, a) })
	if !found {
		j-- // the last buffer that starts before a
	}
	if j < 0 {
		return nil
	}
	tb := p.taken[j]
	if a >= tb.base+4*uintptr(cap(tb.b)) {
		return nil
	}
	return tb
}

// retain counts one more user of the buffer that f's data lies in (a value
// or a gradient that shares it: views alias their input's buffer) and
// returns that buffer, nil when f is not from the current run.
func (p *bufferPool) retain(f []float32) *takenBuf {
	p.mu.Lock()
	defer p.mu.Unlock()
	tb := p.find(f)
	if tb != nil {
		tb.refs++
	}
	return tb
}

// drop ends a reference taken by retain (tb may be nil).
func (p *bufferPool) drop(tb *takenBuf) {
	if tb == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.unref(tb)
}

// unref lowers tb's count and, at zero, puts it back to the free list for
// the rest of the run and later runs. p.mu is held.
func (p *bufferPool) unref(tb *takenBuf) {
	tb.refs--
	if tb.refs > 0 {
		return
	}
	j, found := slices.BinarySearchFunc(p.taken, tb.base, func(e *takenBuf, a uintptr) int { return cmp.Compare(e.base, a) })
	if !found || p.taken[j] != tb {
		return // already back (released with its run)
	}
	p.taken = slices.Delete(p.taken, j, j+1)
	p.takenBytes -= 4 * int64(cap(tb.b))
	p.putFree(tb.b, p.run+1) // the run in progress
}

// putFree adds b to the free list; p.mu is held.
func (p *bufferPool) putFree(b []float32, run uint64) {
	b = b[:cap(b)]
	i, _ := slices.BinarySearchFunc(p.free, cap(b), func(e pooledBuf, c int) int { return cap(e.b) - c })
	p.free = slices.Insert(p.free, i, pooledBuf{b: b, lastRun: run})
	p.freeBytes += 4 * int64(cap(b))
}

// used returns the bytes handed out in the current run and still in use:
// the run's working memory now.
func (p *bufferPool) used() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.takenBytes
}

// peak returns the most working memory the current run has used at once.
func (p *bufferPool) peak() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peakBytes
}

// releaseAll returns every buffer of the run still handed out and drops
// the free buffers that the last staleRuns runs did not use. The caller
// guarantees that none of the returned buffers is still referenced.
func (p *bufferPool) releaseAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.run++
	for _, tb := range p.taken {
		p.putFree(tb.b, p.run)
	}
	clear(p.taken)
	p.taken = p.taken[:0]
	p.recent = nil
	p.takenBytes = 0
	p.peakBytes = 0
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
