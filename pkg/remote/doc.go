// Package remote queries a classifier deployed behind an inference server
// that speaks the Open Inference Protocol (the KServe v2 REST protocol of
// Triton, KServe, Seldon MLServer and OpenVINO Model Server), so that
// black-box attacks can test the model as it is deployed.
//
// ParseTarget splits an inference URL
// (http(s)://host:port/v2/models/NAME/infer) into a Target; New makes a
// Client for it and Connect reads the model's metadata
// (GET /v2/models/NAME: input name, FP32 datatype and shape, output name,
// number of classes). Client.Scores posts batches to /infer as JSON and
// returns the [N, C] scores the deployed model outputs: probabilities when
// it ends with Softmax, logits when it does not. Its signature fits a
// score oracle: func(ctx, x *tensor.Tensor) (*tensor.Tensor, error).
//
// The client is bounded everywhere:
//
//   - requests carry at most Options.MaxBatch samples;
//   - each request has a deadline (Options.Timeout) covering the whole
//     answer, and every wait honours the caller's context;
//   - timeouts, transport errors, 429 and 5xx answers are retried at most
//     Options.MaxRetries times with exponential backoff and jitter (or the
//     server's Retry-After);
//   - Options.QPS paces requests with a token bucket;
//   - Options.MaxQueries is a hard budget of samples sent (retries count):
//     a call that does not fit is refused with ErrBudgetExhausted before
//     anything is sent;
//   - a response body is read up to Options.MaxResponseBytes.
//
// Every response is validated strictly (datatype FP32 or FP64, shape
// [N, C], element count, finite values: JSON cannot carry NaN or Infinity,
// and a body holding them is refused with a message that says so); errors
// name the endpoint and wrap ErrBadResponse, ErrTimeout, ErrBudgetExhausted
// or a *StatusError. Malformed input never panics (FuzzParseResponse).
//
// The wire types (InferRequest, InferResponse, Tensor, ModelMetadata,
// ErrorResponse) and the tensor data codec (ParseFloatData,
// AppendFloatData) are shared with package serve, which serves an ONNX
// model over the same protocol. Only JSON tensor data is spoken, not the
// binary tensor extension.
package remote
