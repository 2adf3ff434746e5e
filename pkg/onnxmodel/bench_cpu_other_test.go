//go:build !unix

package onnxmodel

import "time"

// processCPU is unavailable here: BenchmarkOps then reports no CPU time.
func processCPU() time.Duration { return 0 }
