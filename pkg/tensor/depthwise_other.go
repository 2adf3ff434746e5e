//go:build !amd64

package tensor

// dwUseAVX512 is false off amd64: dwRow runs its Go loops.
var dwUseAVX512 = false

// dwRowS1Fast reports false: there is no assembly kernel here.
func dwRowS1Fast(yrow, xrow, wr []float32) bool { return false }
