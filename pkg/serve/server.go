package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"

	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/remote"
	"github.com/advtest/advtest/pkg/tensor"
)

// Defaults of Options' zero values.
const (
	// DefaultMaxBodyBytes bounds a request body.
	DefaultMaxBodyBytes = 64 << 20
	// DefaultMaxBatch bounds the samples of one request.
	DefaultMaxBatch = 1024
	// DefaultVersion is the one version a Server serves.
	DefaultVersion = "1"
)

// Options configure a Server.
type Options struct {
	// Name is the model's name in URLs (empty: DefaultName of the model's
	// path). It must match [A-Za-z0-9][A-Za-z0-9._-]*.
	Name string
	// Version is the model's one version (empty: DefaultVersion).
	Version string
	// MaxBodyBytes bounds a request body; a larger one gets 413
	// (0: DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// MaxBatch bounds the samples of one request; more gets 413
	// (0: DefaultMaxBatch).
	MaxBatch int
	// MaxConcurrent bounds the inferences run at once; the others wait
	// (0: GOMAXPROCS).
	MaxConcurrent int
	// Logf, when set, is told about every 5xx answer.
	Logf func(format string, args ...any)
}

// Server serves one *onnxmodel.Model over the Open Inference Protocol
// (KServe v2 REST). It is an http.Handler, safe for concurrent use.
type Server struct {
	m    *onnxmodel.Model
	opts Options
	in   onnxmodel.ValueInfo
	md   remote.ModelMetadata
	sem  chan struct{}
}

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// DefaultName returns the base name of path without its extension, with
// characters that are not allowed in a model name replaced by '_'; "model"
// when nothing is left.
func DefaultName(path string) string {
	b := filepath.Base(path)
	b = strings.TrimSuffix(b, filepath.Ext(b))
	b = strings.Map(func(r rune) rune {
		if r < 128 && (r == '.' || r == '_' || r == '-' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')) {
			return r
		}
		return '_'
	}, b)
	b = strings.TrimLeft(b, "._-")
	if b == "" {
		return "model"
	}
	return b
}

// New returns a Server for m. It refuses a model that is not a classifier
// with one float input.
func New(m *onnxmodel.Model, opts Options) (*Server, error) {
	if m == nil {
		return nil, errors.New("serve: no model")
	}
	if opts.Name == "" {
		opts.Name = DefaultName(m.Path)
	}
	if !validName.MatchString(opts.Name) {
		return nil, fmt.Errorf("serve: model name %q: use letters, digits, '.', '_' and '-', starting with a letter or digit", opts.Name)
	}
	if opts.Version == "" {
		opts.Version = DefaultVersion
	}
	if !validName.MatchString(opts.Version) {
		return nil, fmt.Errorf("serve: model version %q: use letters, digits, '.', '_' and '-'", opts.Version)
	}
	if opts.MaxBodyBytes < 0 || opts.MaxBatch < 0 || opts.MaxConcurrent < 0 {
		return nil, errors.New("serve: negative limit")
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxBatch == 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.MaxConcurrent == 0 {
		opts.MaxConcurrent = runtime.GOMAXPROCS(0)
	}
	if len(m.Inputs) != 1 {
		return nil, fmt.Errorf("serve: %s has %d graph inputs; advtest serves classifiers with one input", m.Path, len(m.Inputs))
	}
	in := m.Inputs[0]
	if datatypeOf(in.ElemType) != remote.FP32 {
		return nil, fmt.Errorf("serve: %s: graph input %q has element type %s; advtest serves float inputs", m.Path, in.Name, in.ElemType)
	}
	if len(m.Outputs) == 0 {
		return nil, fmt.Errorf("serve: %s has no graph outputs", m.Path)
	}
	s := &Server{m: m, opts: opts, in: in, sem: make(chan struct{}, opts.MaxConcurrent)}
	s.md = remote.ModelMetadata{Name: opts.Name, Versions: []string{opts.Version}, Platform: "onnx_advtest"}
	s.md.Inputs = []remote.TensorMetadata{{Name: in.Name, Datatype: remote.FP32, Shape: append([]int{-1}, sampleShape(m)...)}}
	for i, o := range m.Outputs {
		shape := batchShape(o.Shape)
		if shape == nil && i == 0 {
			c := m.NumClasses()
			if c <= 0 {
				c = -1
			}
			shape = []int{-1, c}
		}
		s.md.Outputs = append(s.md.Outputs, remote.TensorMetadata{Name: o.Name, Datatype: datatypeOf(o.ElemType), Shape: shape})
	}
	return s, nil
}

// sampleShape is the per-sample input shape, -1 where not fixed; empty for
// an input without a declared shape.
func sampleShape(m *onnxmodel.Model) []int {
	s := m.SampleShape()
	for i, d := range s {
		if d <= 0 {
			s[i] = -1
		}
	}
	return s
}

// batchShape is a declared shape with its batch axis marked -1.
func batchShape(shape []int) []int {
	if len(shape) == 0 {
		return nil
	}
	out := append([]int(nil), shape...)
	out[0] = -1
	for i := range out {
		if out[i] <= 0 {
			out[i] = -1
		}
	}
	return out
}

// datatypeOf maps an ONNX element type to the protocol's datatype as the
// engine holds it (floats as float32, integers and booleans as int64).
func datatypeOf(elem string) string {
	switch elem {
	case "", "FLOAT", "DOUBLE", "FLOAT16", "BFLOAT16":
		return remote.FP32
	case "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64", "BOOL":
		return remote.INT64
	}
	return "BYTES"
}

// Name returns the model's name in URLs.
func (s *Server) Name() string { return s.opts.Name }

// InferPath returns the path inference requests are posted to.
func (s *Server) InferPath() string { return "/v2/models/" + s.opts.Name + "/infer" }

// Metadata returns the model metadata the server publishes.
func (s *Server) Metadata() remote.ModelMetadata { return s.md }

// httpError is an error with the status it is answered with.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func errorf(code int, format string, args ...any) *httpError {
	return &httpError{code: code, msg: fmt.Sprintf(format, args...)}
}

// ServeHTTP answers
//
//	GET  /v2                                    server metadata
//	GET  /v2/health/live, /v2/health/ready      200 while serving
//	GET  /v2/models/NAME[/versions/V]           model metadata
//	GET  /v2/models/NAME[/versions/V]/ready     200 while serving
//	POST /v2/models/NAME[/versions/V]/infer     inference
//
// Errors are {"error": "..."} with 400 (bad request), 404 (unknown model,
// version or path), 405 (wrong method), 413 (body or batch too large) or
// 500 (the model failed).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch path {
	case "/v2":
		if allow(w, r, http.MethodGet) {
			writeJSON(w, http.StatusOK, map[string]any{"name": "advtest", "version": "1", "extensions": []string{}})
		}
		return
	case "/v2/health/live":
		if allow(w, r, http.MethodGet) {
			writeJSON(w, http.StatusOK, map[string]bool{"live": true})
		}
		return
	case "/v2/health/ready":
		if allow(w, r, http.MethodGet) {
			writeJSON(w, http.StatusOK, map[string]bool{"ready": true})
		}
		return
	}
	rest, ok := strings.CutPrefix(path, "/v2/models/")
	if !ok {
		s.fail(w, r, errorf(http.StatusNotFound, "no such endpoint %q", path))
		return
	}
	parts := strings.Split(rest, "/")
	if parts[0] != s.opts.Name {
		s.fail(w, r, errorf(http.StatusNotFound, "unknown model %q (this server serves %q)", parts[0], s.opts.Name))
		return
	}
	parts = parts[1:]
	if len(parts) >= 2 && parts[0] == "versions" {
		if parts[1] != s.opts.Version {
			s.fail(w, r, errorf(http.StatusNotFound, "unknown version %q of model %q (it has %q)", parts[1], s.opts.Name, s.opts.Version))
			return
		}
		parts = parts[2:]
	}
	switch {
	case len(parts) == 0 || (len(parts) == 1 && parts[0] == ""):
		if allow(w, r, http.MethodGet) {
			writeJSON(w, http.StatusOK, s.md)
		}
	case len(parts) == 1 && parts[0] == "ready":
		if allow(w, r, http.MethodGet) {
			writeJSON(w, http.StatusOK, map[string]any{"name": s.opts.Name, "ready": true})
		}
	case len(parts) == 1 && parts[0] == "infer":
		if allow(w, r, http.MethodPost) {
			s.infer(w, r)
		}
	default:
		s.fail(w, r, errorf(http.StatusNotFound, "no such endpoint %q", path))
	}
}

// allow answers 405 unless r's method is method.
func allow(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method || (method == http.MethodGet && r.Method == http.MethodHead) {
		return true
	}
	w.Header().Set("Allow", method)
	writeJSON(w, http.StatusMethodNotAllowed, remote.ErrorResponse{Error: fmt.Sprintf("%s %s: method not allowed (use %s)", r.Method, r.URL.Path, method)})
	return false
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b, _ = json.Marshal(remote.ErrorResponse{Error: "encoding the answer: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	var he *httpError
	if errors.As(err, &he) {
		code = he.code
	}
	if code >= 500 && s.opts.Logf != nil {
		s.opts.Logf("%s %s: %d: %v", r.Method, r.URL.Path, code, err)
	}
	writeJSON(w, code, remote.ErrorResponse{Error: err.Error()})
}

// infer answers POST .../infer.
func (s *Server) infer(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			s.fail(w, r, errorf(http.StatusInternalServerError, "internal error: %v", p))
		}
	}()
	resp, err := s.handleInfer(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handleInfer(r *http.Request) (*remote.InferResponse, error) {
	if r.Header.Get("Inference-Header-Content-Length") != "" {
		return nil, errorf(http.StatusBadRequest, "the binary tensor extension is not supported; send JSON tensor data")
	}
	limit := s.opts.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, errorf(http.StatusRequestEntityTooLarge, "the request body is %d bytes, over the limit of %d", r.ContentLength, limit)
	}
	body, err := readLimited(r, limit)
	if err != nil {
		return nil, err
	}
	var req remote.InferRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, errorf(http.StatusBadRequest, "malformed JSON: %v", err)
	}
	x, err := s.input(&req)
	if err != nil {
		return nil, err
	}
	want, err := s.outputs(&req)
	if err != nil {
		return nil, err
	}
	if err := s.m.CheckInput(x); err != nil {
		return nil, errorf(http.StatusBadRequest, "%v", err)
	}
	select {
	case s.sem <- struct{}{}:
	case <-r.Context().Done():
		return nil, errorf(http.StatusServiceUnavailable, "the client went away while waiting: %v", r.Context().Err())
	}
	outs, err := s.run(r.Context(), x)
	<-s.sem
	if err != nil {
		return nil, errorf(http.StatusInternalServerError, "inference failed: %v", err)
	}
	resp := &remote.InferResponse{ModelName: s.opts.Name, ModelVersion: s.opts.Version, ID: req.ID}
	for _, name := range want {
		t := outs[name]
		if t == nil {
			return nil, errorf(http.StatusInternalServerError, "output %q was not computed", name)
		}
		o := remote.Tensor{Name: name, Shape: append([]int(nil), t.Shape...)}
		if t.DType == tensor.Int64 {
			o.Datatype, o.Data = remote.INT64, remote.AppendIntData(nil, t.I)
		} else {
			o.Datatype = remote.FP32
			if o.Data, err = remote.AppendFloatData(nil, t.F); err != nil {
				return nil, errorf(http.StatusInternalServerError, "output %q: %v", name, err)
			}
		}
		resp.Outputs = append(resp.Outputs, o)
	}
	return resp, nil
}

// readLimited reads r's body, answering 413 past limit bytes.
func readLimited(r *http.Request, limit int64) ([]byte, error) {
	body := http.MaxBytesReader(nil, r.Body, limit)
	b, err := io.ReadAll(body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errorf(http.StatusRequestEntityTooLarge, "the request body is over the limit of %d bytes", limit)
		}
		return nil, errorf(http.StatusBadRequest, "reading the request body: %v", err)
	}
	return b, nil
}

// input validates the request's one input and returns it as a tensor.
func (s *Server) input(req *remote.InferRequest) (*tensor.Tensor, error) {
	if len(req.Inputs) != 1 {
		return nil, errorf(http.StatusBadRequest, "the request has %d inputs; model %q takes one, %q", len(req.Inputs), s.opts.Name, s.in.Name)
	}
	in := req.Inputs[0]
	if in.Name != s.in.Name {
		return nil, errorf(http.StatusBadRequest, "unknown input %q; model %q takes %q", in.Name, s.opts.Name, s.in.Name)
	}
	if in.Datatype != remote.FP32 {
		return nil, errorf(http.StatusBadRequest, "input %q has datatype %q; the model takes FP32", in.Name, in.Datatype)
	}
	want := s.md.Inputs[0].Shape
	if len(in.Shape) == 0 {
		return nil, errorf(http.StatusBadRequest, "input %q has no shape; the model takes %v", in.Name, want)
	}
	if n := in.Shape[0]; n < 1 {
		return nil, errorf(http.StatusBadRequest, "input %q has shape %v: the batch must hold at least one sample", in.Name, in.Shape)
	} else if n > s.opts.MaxBatch {
		return nil, errorf(http.StatusRequestEntityTooLarge, "input %q has a batch of %d samples, over the limit of %d", in.Name, n, s.opts.MaxBatch)
	}
	if len(want) > 1 {
		ok := len(in.Shape) == len(want)
		for i := 1; ok && i < len(want); i++ {
			ok = in.Shape[i] >= 1 && (want[i] < 0 || want[i] == in.Shape[i])
		}
		if !ok {
			return nil, errorf(http.StatusBadRequest, "input %q has shape %v; the model takes %v", in.Name, in.Shape, want)
		}
	}
	data, err := remote.ParseFloatData(in.Data, in.Shape)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "input %q: %v", in.Name, err)
	}
	return tensor.FromFloat32(data, in.Shape...), nil
}

// outputs returns the names of the outputs the request asks for: every
// graph output when it names none.
func (s *Server) outputs(req *remote.InferRequest) ([]string, error) {
	if len(req.Outputs) == 0 {
		names := make([]string, len(s.m.Outputs))
		for i, o := range s.m.Outputs {
			names[i] = o.Name
		}
		return names, nil
	}
	var names []string
	for _, o := range req.Outputs {
		found := false
		for _, mo := range s.m.Outputs {
			found = found || mo.Name == o.Name
		}
		if !found {
			return nil, errorf(http.StatusBadRequest, "unknown output %q of model %q", o.Name, s.opts.Name)
		}
		names = append(names, o.Name)
	}
	return names, nil
}

// run computes every graph output for the batch x, one sample at a time
// for graphs that bake in a batch of one.
func (s *Server) run(ctx context.Context, x *tensor.Tensor) (map[string]*tensor.Tensor, error) {
	if !s.m.PerSample || x.Shape[0] == 1 {
		return s.m.Run(ctx, map[string]*tensor.Tensor{s.in.Name: x})
	}
	n := x.Shape[0]
	per := x.Len() / n
	one := append([]int{1}, x.Shape[1:]...)
	parts := make([]map[string]*tensor.Tensor, n)
	for i := range n {
		res, err := s.m.Run(ctx, map[string]*tensor.Tensor{s.in.Name: tensor.FromFloat32(x.F[i*per:(i+1)*per], one...)})
		if err != nil {
			return nil, fmt.Errorf("sample %d: %w", i, err)
		}
		parts[i] = res
	}
	out := map[string]*tensor.Tensor{}
	for name, first := range parts[0] {
		if len(first.Shape) == 0 || first.Shape[0] != 1 {
			return nil, fmt.Errorf("output %q has shape %v per sample; cannot stack a batch", name, first.Shape)
		}
		shape := append([]int{n}, first.Shape[1:]...)
		t := &tensor.Tensor{Shape: shape, DType: first.DType}
		for i := range n {
			p := parts[i][name]
			if p == nil || !tensor.SameShape(p.Shape, first.Shape) || p.DType != first.DType {
				return nil, fmt.Errorf("output %q: sample %d has another shape or type", name, i)
			}
			t.F = append(t.F, p.F...)
			t.I = append(t.I, p.I...)
		}
		out[name] = t
	}
	return out, nil
}
