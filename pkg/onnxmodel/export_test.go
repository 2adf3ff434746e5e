package onnxmodel

// Test helpers shared with the external test package onnxmodel_test (the
// zoo test imports pkg/attack, which imports this package, so it cannot be
// an internal test).
var (
	CrossEntropyGrad = crossEntropyGrad
)
