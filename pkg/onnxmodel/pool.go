package onnxmodel

import (
	"math/bits"
	"sync"
)

// maxPooledBytes bounds the free buffers one pool keeps between runs;
// buffers released beyond it are left to the garbage collector.
const maxPooledBytes = 512 << 20

// bufferPool hands out float32 buffers and takes them back after a run, so
// that repeated runs allocate nothing large. Sizes are rounded up to one of
// eight classes per power of two (at most 12.5% waste), so that runs on
// batches of slowly shrinking size (attacks that drop fooled samples) reuse
// the same buffers instead of collecting a set per size.
type bufferPool struct {
	mu        sync.Mutex
	free      map[int][][]float32
	freeBytes int
	taken     [][]float32
}

func newBufferPool() *bufferPool {
	return &bufferPool{free: map[int][][]float32{}}
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
	if list := p.free[class]; len(list) > 0 {
		b = list[len(list)-1]
		p.free[class] = list[:len(list)-1]
		p.freeBytes -= 4 * class
	} else {
		b = make([]float32, class)
	}
	p.taken = append(p.taken, b)
	return b[:n]
}

// releaseAll returns every buffer handed out since the last release. The
// caller guarantees that none of them is still referenced.
func (p *bufferPool) releaseAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.taken {
		class := cap(b)
		if p.freeBytes+4*class > maxPooledBytes {
			continue
		}
		p.free[class] = append(p.free[class], b[:class])
		p.freeBytes += 4 * class
	}
	clear(p.taken)
	p.taken = p.taken[:0]
}
