// Package onnxmodel is advtest's ONNX engine: it loads ONNX models, runs
// them forward and backward on CPU in float32, and saves them.
//
// Loading and saving: Load reads a file and Decode parses bytes (external
// tensor data is read relative to the file's folder); both compile the
// graph up front: nodes are ordered, constant subgraphs folded, every node
// checked and built into an Op. Save writes a model back with its current
// parameters (Params, the float initializers).
//
// The op set: IsSupported tells whether an op type is registered;
// UnsupportedOps lists every op type of a model that the engine lacks,
// with its node count. Windowed ops (Conv, ConvTranspose, MaxPool,
// AveragePool) take 1-D, 2-D and 3-D windows. ONNX's own backend node
// tests (ONNX 1.12) run in TestONNXNodeSuite; the few that fail on
// registered ops are listed with the reason in testdata/node_allowlist.txt.
//
// Tensors: float32 (FLOAT; DOUBLE, FLOAT16 and BFLOAT16 are held as
// float32) or int64 (every integer type and BOOL). STRING, complex,
// sequence, map and optional values are not supported.
//
// Forward and backward rules: every Op has Forward and Backward; Backward
// returns the gradients of the inputs it was asked for (nil for integer
// inputs and non-differentiable ones) and never writes into its inputs,
// outputs or saved value, so that it can run again on the same forward
// pass. Every backward rule is checked against central finite differences,
// and for giving the same gradient twice, in the ops_*_test.go files.
//
// Executor: Model.Run computes the graph outputs; the gradient entry
// points run the graph forward and backward in one pass, reusing pooled
// buffers (InputGradients runs one forward pass and one backward pass per
// seed over it, the last of which frees as it goes). A buffer goes back to the pool as soon as nothing can read it:
// a value after its last reader (forward-only runs), a node's outputs,
// their gradients and its saved value once its backward rule has run, and
// the data of a value that no backward rule reads (an op says which data
// its rule reads by implementing backwardReader; a view shares its input's
// buffer, which is counted, not copied). Training-mode ops
// (BatchNormalization, Dropout) follow RunContext.Training.
//
// Concurrency: a compiled Model may be run from many goroutines at once;
// each run has its own buffers. Editing a model (Params, Edit) must not
// overlap runs.
//
// Errors: a model that cannot be loaded gives an error naming the file,
// the node (name and op type) and the attribute or input at fault and
// what was expected; unknown op types are all listed with their counts
// (UnsupportedOpsError). A panic inside an op builder or constant folding
// while compiling is returned as an internal error.
package onnxmodel
