package onnxmodel

import "sort"

// CurrentLimits returns the limits in force.
func CurrentLimits() Limits {
	return Limits{ModelBytes: limModel.Load(), TensorBytes: limTensor.Load(), TotalBytes: limTotal.Load(), WorkingBytes: limWorking.Load()}
}

// SupportedOps returns the sorted names of the op types the engine runs.
func SupportedOps() []string {
	names := make([]string, 0, len(registry))
	for name := range registry {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
