//go:build unix

package onnxmodel

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user and system) the process has used,
// which a shared machine's load inflates far less than wall-clock time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
