package onnxmodel

import "sync"

// bufferPool hands out float32 buffers by length and takes them back after a
// run, so that repeated runs on batches of one size allocate nothing large.
type bufferPool struct {
	mu    sync.Mutex
	free  map[int][][]float32
	taken [][]float32
}

func newBufferPool() *bufferPool {
	return &bufferPool{free: map[int][][]float32{}}
}

func (p *bufferPool) get(n int) []float32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b []float32
	if list := p.free[n]; len(list) > 0 {
		b = list[len(list)-1]
		p.free[n] = list[:len(list)-1]
	} else {
		b = make([]float32, n)
	}
	p.taken = append(p.taken, b)
	return b
}

// releaseAll returns every buffer handed out since the last release. The
// caller guarantees that none of them is still referenced.
func (p *bufferPool) releaseAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.taken {
		p.free[len(b)] = append(p.free[len(b)], b)
	}
	p.taken = p.taken[:0]
}
