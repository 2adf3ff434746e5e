// Package serve serves an ONNX classifier (*onnxmodel.Model) over the Open
// Inference Protocol (the KServe v2 REST protocol of Triton, KServe, Seldon
// MLServer and OpenVINO Model Server), so that advtest's remote client, or
// any client of the protocol, can query it as a deployed model.
//
// New returns a Server, an http.Handler for one model under one name and
// version. It publishes the model's metadata (one FP32 input of shape
// [-1, sample shape...], its graph outputs), health and readiness probes,
// and runs inference: the request's one FP32 input is checked against the
// model's input (name, datatype, shape, element count, batch size) and the
// answer holds the model's graph outputs as they are — what a deployment
// returns, probabilities when the model ends with Softmax. Bodies and
// batches are bounded (413 beyond), errors are {"error": "..."} with the
// protocol's status codes, and at most Options.MaxConcurrent inferences run
// at once. Only JSON tensor data is spoken, not the binary tensor
// extension.
//
// The wire types and the tensor data codec come from package remote.
package serve
