package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/remote"
	"github.com/advtest/advtest/pkg/tensor"
)

const (
	cnnModel     = "../../testdata/models/mnist_cnn.onnx"
	softmaxModel = "../../testdata/models/view_softmax.onnx"
)

func load(t *testing.T, path string) *onnxmodel.Model {
	t.Helper()
	m, err := onnxmodel.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// batch returns n deterministic samples of shape [n, 1, 28, 28] in [0, 1].
func batch(n int) *tensor.Tensor {
	x := tensor.New(n, 1, 28, 28)
	for i := range x.F {
		x.F[i] = float32((i*7919)%256) / 255
	}
	return x
}

func inferBody(t *testing.T, name, datatype string, shape []int, data []float32) []byte {
	t.Helper()
	raw, err := remote.AppendFloatData(nil, data)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(remote.InferRequest{ID: "r1", Inputs: []remote.Tensor{{Name: name, Shape: shape, Datatype: datatype, Data: raw}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func do(t *testing.T, h http.Handler, method, path string, body []byte) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

func TestMetadataAndHealth(t *testing.T) {
	s, err := New(load(t, cnnModel), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != "mnist_cnn" {
		t.Fatalf("default name %q, want mnist_cnn", s.Name())
	}
	for _, p := range []string{"/v2/health/live", "/v2/health/ready", "/v2", "/v2/models/mnist_cnn/ready", "/v2/models/mnist_cnn/versions/1/ready"} {
		if code, body := do(t, s, "GET", p, nil); code != 200 {
			t.Errorf("GET %s: %d %s", p, code, body)
		}
	}
	code, body := do(t, s, "GET", "/v2/models/mnist_cnn", nil)
	if code != 200 {
		t.Fatalf("metadata: %d %s", code, body)
	}
	var md remote.ModelMetadata
	if err := json.Unmarshal(body, &md); err != nil {
		t.Fatal(err)
	}
	if md.Name != "mnist_cnn" || len(md.Inputs) != 1 || md.Inputs[0].Name != "input" || md.Inputs[0].Datatype != "FP32" ||
		!equalInts(md.Inputs[0].Shape, []int{-1, 1, 28, 28}) || len(md.Outputs) != 1 || md.Outputs[0].Name != "logits" || !equalInts(md.Outputs[0].Shape, []int{-1, 10}) {
		t.Fatalf("metadata %+v", md)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestInferMatchesGraphOutput: the answer is the graph's output as is —
// probabilities for a model that ends with Softmax — and nested data is
// accepted as the protocol allows.
func TestInferMatchesGraphOutput(t *testing.T) {
	m := load(t, softmaxModel)
	s, err := New(m, Options{Name: "sm"})
	if err != nil {
		t.Fatal(err)
	}
	x := batch(3)
	want, err := m.Run(context.Background(), map[string]*tensor.Tensor{"input": x})
	if err != nil {
		t.Fatal(err)
	}
	code, body := do(t, s, "POST", "/v2/models/sm/versions/1/infer", inferBody(t, "input", "FP32", x.Shape, x.F))
	if code != 200 {
		t.Fatalf("infer: %d %s", code, body)
	}
	var resp remote.InferResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.ID != "r1" || resp.ModelName != "sm" || len(resp.Outputs) != 1 || resp.Outputs[0].Name != "probs" || resp.Outputs[0].Datatype != "FP32" {
		t.Fatalf("response %+v", resp)
	}
	got, err := remote.ParseFloatData(resp.Outputs[0].Data, resp.Outputs[0].Shape)
	if err != nil {
		t.Fatal(err)
	}
	w := want["probs"]
	if !equalInts(resp.Outputs[0].Shape, []int{3, 10}) || len(got) != len(w.F) {
		t.Fatalf("shape %v", resp.Outputs[0].Shape)
	}
	for i := range got {
		if got[i] != w.F[i] {
			t.Fatalf("element %d: %v, want %v (exact: float32 round-trips through JSON)", i, got[i], w.F[i])
		}
	}
	for r := 0; r < 3; r++ {
		var sum float64
		for _, v := range got[r*10 : r*10+10] {
			sum += float64(v)
		}
		if math.Abs(sum-1) > 1e-5 {
			t.Fatalf("row %d sums to %v: not probabilities", r, sum)
		}
	}

	// Nested data, 1 sample.
	var sb strings.Builder
	sb.WriteString(`{"inputs":[{"name":"input","datatype":"FP32","shape":[1,1,28,28],"data":[[[`)
	for i := 0; i < 28; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString("[" + strings.TrimSuffix(strings.Repeat("0.5,", 28), ",") + "]")
	}
	sb.WriteString(`]]]}],"outputs":[{"name":"probs"}]}`)
	if code, body := do(t, s, "POST", "/v2/models/sm/infer", []byte(sb.String())); code != 200 {
		t.Fatalf("nested data: %d %s", code, body)
	}
}

func TestInferErrors(t *testing.T) {
	s, err := New(load(t, cnnModel), Options{Name: "cnn", MaxBatch: 4, MaxBodyBytes: 200_000})
	if err != nil {
		t.Fatal(err)
	}
	x := batch(2)
	good := inferBody(t, "input", "FP32", x.Shape, x.F)
	big := batch(8)
	cases := []struct {
		name, method, path string
		body               []byte
		code               int
		msg                string
	}{
		{"unknown model", "POST", "/v2/models/other/infer", good, 404, "unknown model"},
		{"unknown version", "POST", "/v2/models/cnn/versions/7/infer", good, 404, "unknown version"},
		{"unknown path", "GET", "/v3/x", nil, 404, "no such endpoint"},
		{"GET infer", "GET", "/v2/models/cnn/infer", nil, 405, "method not allowed"},
		{"malformed", "POST", "/v2/models/cnn/infer", []byte(`{"inputs": [`), 400, "malformed JSON"},
		{"input name", "POST", "/v2/models/cnn/infer", inferBody(t, "x", "FP32", x.Shape, x.F), 400, `unknown input "x"`},
		{"datatype", "POST", "/v2/models/cnn/infer", inferBody(t, "input", "FP16", x.Shape, x.F), 400, "datatype"},
		{"shape", "POST", "/v2/models/cnn/infer", inferBody(t, "input", "FP32", []int{2, 784}, x.F), 400, "shape"},
		{"length", "POST", "/v2/models/cnn/infer", inferBody(t, "input", "FP32", x.Shape, x.F[:1000]), 400, "numbers"},
		{"empty batch", "POST", "/v2/models/cnn/infer", inferBody(t, "input", "FP32", []int{0, 1, 28, 28}, nil), 400, "at least one sample"},
		{"batch over limit", "POST", "/v2/models/cnn/infer", inferBody(t, "input", "FP32", []int{5, 1, 28, 28}, big.F[:5*784]), 413, "over the limit"},
		{"body over limit", "POST", "/v2/models/cnn/infer", inferBody(t, "input", "FP32", big.Shape, big.F), 413, "over the limit"},
		{"unknown output", "POST", "/v2/models/cnn/infer", []byte(strings.Replace(string(good), `"inputs"`, `"outputs":[{"name":"nope"}],"inputs"`, 1)), 400, "unknown output"},
	}
	for _, c := range cases {
		code, body := do(t, s, c.method, c.path, c.body)
		var e remote.ErrorResponse
		if err := json.Unmarshal(body, &e); err != nil {
			t.Errorf("%s: body %q is not {\"error\"}", c.name, body)
			continue
		}
		if code != c.code || !strings.Contains(e.Error, c.msg) {
			t.Errorf("%s: %d %q, want %d with %q", c.name, code, e.Error, c.code, c.msg)
		}
	}
	if code, body := do(t, s, "POST", "/v2/models/cnn/infer", good); code != 200 {
		t.Fatalf("good request: %d %s", code, body)
	}
}

// TestInferConcurrent runs requests from several goroutines at once (run
// it with -race).
func TestInferConcurrent(t *testing.T) {
	m := load(t, cnnModel)
	s, err := New(m, Options{MaxConcurrent: 2})
	if err != nil {
		t.Fatal(err)
	}
	x := batch(2)
	body := inferBody(t, "input", "FP32", x.Shape, x.F)
	_, first := do(t, s, "POST", "/v2/models/mnist_cnn/infer", body)
	done := make(chan []byte, 4)
	for range 4 {
		go func() {
			_, b := do(t, s, "POST", "/v2/models/mnist_cnn/infer", body)
			done <- b
		}()
	}
	for range 4 {
		if b := <-done; !bytes.Equal(b, first) {
			t.Fatalf("concurrent answer differs:\n%s\n%s", b, first)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	m := load(t, cnnModel)
	if _, err := New(m, Options{Name: "a/b"}); err == nil {
		t.Error("a name with '/' was accepted")
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("nil model accepted")
	}
	for in, want := range map[string]string{"/x/my model.v2.onnx": "my_model.v2", "": "model", "/a/.onnx": "model"} {
		if got := DefaultName(in); got != want {
			t.Errorf("DefaultName(%q) = %q, want %q", in, got, want)
		}
	}
}
