package remote_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/advtest/advtest/pkg/dataset"
	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/remote"
	"github.com/advtest/advtest/pkg/serve"
	"github.com/advtest/advtest/pkg/tensor"
)

const (
	cnnModel = "../../testdata/models/mnist_cnn.onnx"
	mnistX   = "../../testdata/mnist/test-1000-images.npy"
	mnistY   = "../../testdata/mnist/test-1000-labels.npy"
)

// quick keeps retries fast in tests.
func quick(o remote.Options) remote.Options {
	if o.BackoffBase == 0 {
		o.BackoffBase = time.Millisecond
	}
	if o.BackoffMax == 0 {
		o.BackoffMax = 5 * time.Millisecond
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	return o
}

func dial(t *testing.T, url string, o remote.Options) *remote.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := remote.Dial(ctx, url, quick(o))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRoundTripCNN serves the testdata CNN with package serve and checks
// that the client's scores are the model's own logits (the CNN ends
// without Softmax).
func TestRoundTripCNN(t *testing.T) {
	m, err := onnxmodel.Load(cnnModel)
	if err != nil {
		t.Fatal(err)
	}
	set, err := dataset.Load(mnistX, mnistY, dataset.Options{Limit: 40})
	if err != nil {
		t.Fatal(err)
	}
	x := set.X.Reshaped(set.Len(), 1, 28, 28)
	h, err := serve.New(m, serve.Options{Name: "cnn"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := dial(t, srv.URL+"/v2/models/cnn/infer", remote.Options{MaxBatch: 16, Concurrency: 2})
	if c.NumClasses() != 10 || fmt.Sprint(c.InputShape()) != "[1 28 28]" {
		t.Fatalf("metadata: %d classes, sample shape %v", c.NumClasses(), c.InputShape())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, err := c.Scores(ctx, x)
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.Logits(ctx, x)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got.Shape) != "[40 10]" {
		t.Fatalf("scores shape %v", got.Shape)
	}
	// The server runs batches of 16, 16 and 8 where the reference runs one
	// of 40; the kernels may sum in another order, hence the tolerance.
	for i := range want.F {
		if d := math.Abs(float64(got.F[i] - want.F[i])); d > 1e-4*(1+math.Abs(float64(want.F[i]))) {
			t.Fatalf("score %d: remote %v, local %v", i, got.F[i], want.F[i])
		}
	}
	if st := c.Stats(); st.Requests != 3 || st.Sent != 40 || st.Scored != 40 || st.Retries != 0 {
		t.Fatalf("stats %+v, want 3 requests (16+16+8) for 40 samples", st)
	}
	if err := c.Ready(ctx); err != nil {
		t.Fatal(err)
	}
}

// fake is a protocol server for a model with input "x" [-1, 2] and output
// "logits" [-1, 3]: score j of a sample is its first element plus j.
type fake struct {
	mu      sync.Mutex
	batches []int // samples of every inference request received
	// answer, when set, may answer a request itself (returning true).
	answer func(w http.ResponseWriter, r *http.Request, n int) bool
}

func (f *fake) samples() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := 0
	for _, b := range f.batches {
		s += b
	}
	return s
}

func (f *fake) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.batches)
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == "GET" && r.URL.Path == "/v2/models/m" {
		fmt.Fprint(w, `{"name":"m","platform":"fake","inputs":[{"name":"x","datatype":"FP32","shape":[-1,2]}],"outputs":[{"name":"logits","datatype":"FP32","shape":[-1,3]}]}`)
		return
	}
	if r.Method != "POST" || r.URL.Path != "/v2/models/m/infer" {
		http.Error(w, `{"error":"not found"}`, 404)
		return
	}
	var req remote.InferRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Inputs) != 1 || req.Inputs[0].Name != "x" || len(req.Inputs[0].Shape) != 2 {
		http.Error(w, `{"error":"bad request"}`, 400)
		return
	}
	in := req.Inputs[0]
	data, err := remote.ParseFloatData(in.Data, in.Shape)
	if err != nil {
		http.Error(w, `{"error":"bad data"}`, 400)
		return
	}
	n := in.Shape[0]
	f.mu.Lock()
	f.batches = append(f.batches, n)
	f.mu.Unlock()
	if f.answer != nil && f.answer(w, r, n) {
		return
	}
	out := make([]float32, n*3)
	for i := 0; i < n; i++ {
		for j := 0; j < 3; j++ {
			out[i*3+j] = data[i*2] + float32(j)
		}
	}
	raw, _ := remote.AppendFloatData(nil, out)
	b, _ := json.Marshal(remote.InferResponse{ModelName: "m", ID: req.ID, Outputs: []remote.Tensor{{Name: "logits", Shape: []int{n, 3}, Datatype: "FP32", Data: raw}}})
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

func start(t *testing.T, f *fake) string {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv.URL + "/v2/models/m/infer"
}

// samples returns n samples [i, -i].
func samples(n int) *tensor.Tensor {
	x := tensor.New(n, 2)
	for i := 0; i < n; i++ {
		x.F[2*i], x.F[2*i+1] = float32(i), float32(-i)
	}
	return x
}

// ctxT is a test's safety net against a hang, far longer than any request
// of these tests takes, even on a loaded machine; no test measures time
// with it.
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestBatchingSplitsAtMaxBatch(t *testing.T) {
	for _, conc := range []int{1, 3} {
		f := &fake{}
		c := dial(t, start(t, f), remote.Options{MaxBatch: 3, Concurrency: conc})
		s, err := c.Scores(ctxT(t), samples(7))
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(f.batches); (conc == 1 && got != "[3 3 1]") || f.samples() != 7 || f.requests() != 3 {
			t.Fatalf("concurrency %d: batches %v, want 3, 3 and 1", conc, got)
		}
		for i := 0; i < 7; i++ {
			for j := 0; j < 3; j++ {
				if s.F[i*3+j] != float32(i+j) {
					t.Fatalf("concurrency %d: score [%d %d] = %v, want %d (answers out of order?)", conc, i, j, s.F[i*3+j], i+j)
				}
			}
		}
	}
}

func TestRetriesOn500ThenSucceeds(t *testing.T) {
	var calls atomic.Int32
	f := &fake{answer: func(w http.ResponseWriter, r *http.Request, n int) bool {
		if calls.Add(1) <= 2 {
			w.WriteHeader(500)
			fmt.Fprint(w, `{"error":"warming up"}`)
			return true
		}
		return false
	}}
	var retries []int
	c := dial(t, start(t, f), remote.Options{MaxRetries: 3, OnRetry: func(err error, k int, _ time.Duration) { retries = append(retries, k) }})
	if _, err := c.Scores(ctxT(t), samples(2)); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Requests != 3 || st.Retries != 2 || fmt.Sprint(retries) != "[1 2]" {
		t.Fatalf("stats %+v, OnRetry %v", st, retries)
	}
}

func TestAlways500GivesUp(t *testing.T) {
	f := &fake{answer: func(w http.ResponseWriter, r *http.Request, n int) bool {
		w.WriteHeader(503)
		fmt.Fprint(w, `{"error":"model unavailable"}`)
		return true
	}}
	c := dial(t, start(t, f), remote.Options{MaxRetries: 2})
	_, err := c.Scores(ctxT(t), samples(2))
	var se *remote.StatusError
	if !errors.As(err, &se) || se.Code != 503 || !strings.Contains(err.Error(), "model unavailable") || !strings.Contains(err.Error(), "after 3 attempts") || !strings.Contains(err.Error(), "/v2/models/m/infer") {
		t.Fatalf("error %v", err)
	}
	if f.requests() != 3 {
		t.Fatalf("%d requests, want 1 + 2 retries", f.requests())
	}
	// A redirect is not followed.
	red := httptest.NewServer(http.RedirectHandler("http://127.0.0.1:1/elsewhere", http.StatusTemporaryRedirect))
	defer red.Close()
	c, err = remote.New(remote.Target{Base: red.URL, Model: "m"}, quick(remote.Options{InputName: "x"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Scores(ctxT(t), samples(1)); err == nil || !strings.Contains(err.Error(), "HTTP 307: redirect to http://127.0.0.1:1/elsewhere") {
		t.Fatalf("redirect: %v", err)
	}
	// A 400 is not retried.
	f400 := &fake{answer: func(w http.ResponseWriter, r *http.Request, n int) bool {
		w.WriteHeader(400)
		fmt.Fprint(w, `{"error":"bad shape"}`)
		return true
	}}
	c = dial(t, start(t, f400), remote.Options{MaxRetries: 2})
	if _, err := c.Scores(ctxT(t), samples(2)); err == nil || f400.requests() != 1 || !strings.Contains(err.Error(), "HTTP 400: bad shape") {
		t.Fatalf("400: %v after %d requests", err, f400.requests())
	}
}

func TestSlowServerTimesOut(t *testing.T) {
	f := &fake{answer: func(w http.ResponseWriter, r *http.Request, n int) bool {
		// The server never answers: only a timeout ends the request (or
		// ctxT's one-minute safety net, which gives another error).
		<-r.Context().Done()
		return true
	}}
	url := start(t, f)
	c := dial(t, url, remote.Options{Timeout: 100 * time.Millisecond, MaxRetries: 1})
	_, err := c.Scores(ctxT(t), samples(1))
	if !errors.Is(err, remote.ErrTimeout) || !strings.Contains(err.Error(), "within 100ms") {
		t.Fatalf("error %v, want a timeout", err)
	}
	// The caller's deadline wins over a long per-request timeout (ten
	// minutes, past ctxT's safety net, so only the caller's deadline can
	// end it with DeadlineExceeded).
	c = dial(t, url, remote.Options{Timeout: 10 * time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	_, err = c.Scores(ctx, samples(1))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("caller deadline: %v", err)
	}
}

func TestBadResponses(t *testing.T) {
	valid := func(n int) string {
		return fmt.Sprintf(`{"model_name":"m","outputs":[{"name":"logits","datatype":"FP32","shape":[%d,3],"data":[%s]}]}`, n, strings.TrimSuffix(strings.Repeat("0.5,", 3*n), ","))
	}
	cases := []struct {
		name, body, msg string
	}{
		{"malformed JSON", `{"outputs": [`, "malformed JSON"},
		{"not an object", `[1,2]`, "malformed JSON"},
		{"no outputs", `{"outputs": []}`, "no outputs"},
		{"wrong shape", strings.Replace(valid(2), "[2,3]", "[2,4]", 1), "shape [2 4], want [2 3]"},
		{"wrong batch", valid(1), "shape [1 3], want [2 3]"},
		{"short data", strings.Replace(valid(2), "0.5,0.5]", "0.5]", 1), "5 numbers, the shape holds 6"},
		{"datatype", strings.Replace(valid(2), "FP32", "INT64", 1), `datatype "INT64"`},
		{"NaN", strings.Replace(valid(2), "[0.5,", "[NaN,", 1), "NaN"},
		{"null", strings.Replace(valid(2), "[0.5,", "[null,", 1), "null"},
		{"string", strings.Replace(valid(2), "[0.5,", `["0.5",`, 1), "want a number"},
		{"out of range", strings.Replace(valid(2), "[0.5,", "[1e39,", 1), "beyond float32"},
	}
	for _, tc := range cases {
		body := tc.body
		f := &fake{answer: func(w http.ResponseWriter, r *http.Request, n int) bool {
			fmt.Fprint(w, body)
			return true
		}}
		c := dial(t, start(t, f), remote.Options{})
		_, err := c.Scores(ctxT(t), samples(2))
		if !errors.Is(err, remote.ErrBadResponse) || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), "POST http://127.0.0.1:") {
			t.Errorf("%s: error %v, want ErrBadResponse with %q naming the endpoint", tc.name, err, tc.msg)
		}
		if f.requests() != 1 {
			t.Errorf("%s: %d requests: a bad response must not be retried", tc.name, f.requests())
		}
	}
	// The requested output is looked up by name: datatype checked.
	f := &fake{answer: func(w http.ResponseWriter, r *http.Request, n int) bool {
		fmt.Fprint(w, `{"outputs":[{"name":"logits","datatype":"BYTES","shape":[1,3],"data":["a","b","c"]}]}`)
		return true
	}}
	c := dial(t, start(t, f), remote.Options{})
	if _, err := c.Scores(ctxT(t), samples(1)); !errors.Is(err, remote.ErrBadResponse) || !strings.Contains(err.Error(), `datatype "BYTES"`) {
		t.Errorf("BYTES output: %v", err)
	}
}

func TestOversizedResponse(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		f := &fake{answer: func(w http.ResponseWriter, r *http.Request, n int) bool {
			pad := strings.Repeat(" ", 5000)
			body := `{"outputs":[{"name":"logits","datatype":"FP32","shape":[1,3],"data":[1,2,3]}]}` + pad
			if chunked {
				// Flushing first sends no Content-Length.
				w.WriteHeader(200)
				w.(http.Flusher).Flush()
			}
			fmt.Fprint(w, body)
			return true
		}}
		c := dial(t, start(t, f), remote.Options{MaxResponseBytes: 1000})
		_, err := c.Scores(ctxT(t), samples(1))
		if !errors.Is(err, remote.ErrBadResponse) || !strings.Contains(err.Error(), "over the limit") {
			t.Fatalf("chunked=%v: %v", chunked, err)
		}
	}
}

// TestBudgetIsExact: the server never sees a sample beyond the budget,
// retries included.
func TestBudgetIsExact(t *testing.T) {
	f := &fake{}
	c := dial(t, start(t, f), remote.Options{MaxBatch: 4, MaxQueries: 10})
	ctx := ctxT(t)
	if _, err := c.Scores(ctx, samples(6)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Scores(ctx, samples(5)); !errors.Is(err, remote.ErrBudgetExhausted) || !strings.Contains(err.Error(), "5 queries wanted, 4 of the budget of 10 left") {
		t.Fatalf("over budget: %v", err)
	}
	if f.samples() != 6 || c.Remaining() != 4 {
		t.Fatalf("a refused call sent samples: server saw %d, %d left", f.samples(), c.Remaining())
	}
	if _, err := c.Scores(ctx, samples(4)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Scores(ctx, samples(1)); !errors.Is(err, remote.ErrBudgetExhausted) {
		t.Fatalf("exhausted: %v", err)
	}
	if f.samples() != 10 || c.Remaining() != 0 {
		t.Fatalf("server saw %d samples, want exactly the budget of 10", f.samples())
	}

	// Retries spend budget too.
	var calls atomic.Int32
	f = &fake{answer: func(w http.ResponseWriter, r *http.Request, n int) bool {
		calls.Add(1)
		w.WriteHeader(500)
		return true
	}}
	c = dial(t, start(t, f), remote.Options{MaxQueries: 5, MaxRetries: 5})
	if _, err := c.Scores(ctx, samples(3)); !errors.Is(err, remote.ErrBudgetExhausted) || !strings.Contains(err.Error(), "HTTP 500") {
		t.Fatalf("retry over budget: %v", err)
	}
	if f.samples() != 3 {
		t.Fatalf("server saw %d samples, want 3 (the retry did not fit)", f.samples())
	}

	// Bad input costs nothing.
	f = &fake{}
	c = dial(t, start(t, f), remote.Options{MaxQueries: 5})
	bad := samples(2)
	bad.F[3] = float32(math.NaN())
	if _, err := c.Scores(ctx, bad); err == nil || !strings.Contains(err.Error(), "NaN") {
		t.Fatalf("NaN input: %v", err)
	}
	if _, err := c.Scores(ctx, tensor.New(2, 3)); err == nil || !strings.Contains(err.Error(), "samples of shape [2]") {
		t.Fatalf("wrong sample shape: %v", err)
	}
	if f.samples() != 0 || c.Remaining() != 5 {
		t.Fatalf("refused input spent budget: sent %d, %d left", f.samples(), c.Remaining())
	}
}

func TestRateLimit(t *testing.T) {
	f := &fake{}
	c := dial(t, start(t, f), remote.Options{MaxBatch: 1, QPS: 100})
	t0 := time.Now()
	if _, err := c.Scores(ctxT(t), samples(20)); err != nil {
		t.Fatal(err)
	}
	el := time.Since(t0)
	// The metadata request took the bucket's first slot: 20 more requests
	// at 100/s need at least 20 intervals of 10ms after it.
	// (A lower bound only: a loaded machine can make it slower, never
	// faster.)
	if f.requests() != 20 || el < 190*time.Millisecond {
		t.Fatalf("%d requests in %v at QPS 100", f.requests(), el)
	}
}

func TestMetadata(t *testing.T) {
	serveMD := func(md string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if md == "" {
				w.WriteHeader(404)
				fmt.Fprint(w, `{"error":"no metadata here"}`)
				return
			}
			fmt.Fprint(w, md)
		}))
		t.Cleanup(srv.Close)
		return srv.URL + "/v2/models/m/infer"
	}
	cases := []struct{ md, msg string }{
		{`{"inputs":[{"name":"a","datatype":"FP32","shape":[-1,2]},{"name":"b","datatype":"FP32","shape":[-1,2]}],"outputs":[]}`, "2 inputs"},
		{`{"inputs":[{"name":"a","datatype":"INT64","shape":[-1,2]}],"outputs":[]}`, "datatype INT64"},
		{`{"inputs":[{"name":"a","datatype":"FP32","shape":[-1,2]}],"outputs":[{"name":"label","datatype":"INT64","shape":[-1]}]}`, "no output is FP32"},
		{`{"inputs":`, "malformed metadata"},
		{"", "HTTP 404: no metadata here"},
	}
	for _, tc := range cases {
		_, err := remote.Dial(ctxT(t), serveMD(tc.md), quick(remote.Options{}))
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("metadata %q: %v, want %q", tc.md, err, tc.msg)
		}
	}
	// A label output first: the first float output is taken; a fixed
	// batch dimension lowers MaxBatch.
	c := dial(t, serveMD(`{"inputs":[{"name":"a","datatype":"FP32","shape":[8,4]}],"outputs":[{"name":"label","datatype":"INT64","shape":[-1]},{"name":"probabilities","datatype":"FP32","shape":[-1,3]}]}`), remote.Options{})
	if c.NumClasses() != 3 || c.MaxBatch() != 8 || fmt.Sprint(c.InputShape()) != "[4]" {
		t.Errorf("classes %d, max batch %d, shape %v", c.NumClasses(), c.MaxBatch(), c.InputShape())
	}
	// No metadata endpoint, but the input named: classes from the answer.
	f := &fake{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "GET" {
			w.WriteHeader(404)
			return
		}
		f.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c = dial(t, srv.URL+"/v2/models/m/infer", remote.Options{InputName: "x"})
	if c.NumClasses() != 0 {
		t.Fatal("classes known before any answer")
	}
	if _, err := c.Scores(ctxT(t), samples(2)); err != nil || c.NumClasses() != 3 {
		t.Fatalf("%v, %d classes", err, c.NumClasses())
	}
}

func TestParseTarget(t *testing.T) {
	good := map[string]remote.Target{
		"http://127.0.0.1:8080/v2/models/cnn/infer":                    {Base: "http://127.0.0.1:8080", Model: "cnn"},
		"https://h.example/v2/models/cnn":                              {Base: "https://h.example", Model: "cnn"},
		"http://h:1/seldon/ns/dep/v2/models/m-1.x/versions/3/infer":    {Base: "http://h:1/seldon/ns/dep", Model: "m-1.x", Version: "3"},
		"http://[::1]:9000/v2/models/a%20b/infer/":                     {Base: "http://[::1]:9000", Model: "a b"},
		"http://127.0.0.1:8080/v2/models/cnn/versions/v%2F1/infer":     {Base: "http://127.0.0.1:8080", Model: "cnn", Version: "v/1"},
		"http://127.0.0.1:8080/prefix/v2/models/x/v2/models/cnn/infer": {Base: "http://127.0.0.1:8080/prefix/v2/models/x", Model: "cnn"},
	}
	for in, want := range good {
		got, err := remote.ParseTarget(in)
		if err != nil || got != want {
			t.Errorf("ParseTarget(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	if got := good["http://127.0.0.1:8080/v2/models/cnn/versions/v%2F1/infer"].InferURL(); got != "http://127.0.0.1:8080/v2/models/cnn/versions/v%2F1/infer" {
		t.Errorf("InferURL %q", got)
	}
	for _, in := range []string{
		"", "127.0.0.1:8080/v2/models/m/infer", "ftp://h/v2/models/m/infer", "http:///v2/models/m/infer",
		"http://u:p@h/v2/models/m/infer", "http://h/v2/models/m/infer?x=1", "http://h/v2/models/m/infer#f",
		"http://h/v1/models/m:predict", "http://h/v2/models//infer", "http://h/v2/models/m/versions/infer",
		"http://h/v2/models/m/explain", "http://h/v2/models/m/versions//infer", "http://h/v2/models/%zz/infer",
	} {
		if _, err := remote.ParseTarget(in); err == nil {
			t.Errorf("ParseTarget(%q) accepted", in)
		}
	}
}

func TestParseFloatData(t *testing.T) {
	good := []struct {
		raw   string
		shape []int
		want  string
	}{
		{`[1, 2.5, -3e-2, 0]`, []int{2, 2}, "[1 2.5 -0.03 0]"},
		{` [[1,2],[3,4]] `, []int{2, 2}, "[1 2 3 4]"},
		{`[[[1],[2]]]`, []int{1, 2, 1}, "[1 2]"},
		{`[]`, []int{0, 3}, "[]"},
		{`[[]]`, []int{1, 0}, "[]"},
	}
	for _, g := range good {
		v, err := remote.ParseFloatData([]byte(g.raw), g.shape)
		if err != nil || fmt.Sprint(v) != g.want {
			t.Errorf("%s %v: %v, %v; want %s", g.raw, g.shape, v, err, g.want)
		}
	}
	for _, b := range []struct {
		raw   string
		shape []int
	}{
		{`[1,2,3]`, []int{2, 2}}, {`[1,2,3,4,5]`, []int{2, 2}}, {`[[1,2],[3]]`, []int{2, 2}}, {`[[1,2],[3,4],[5,6]]`, []int{2, 2}},
		{`[[[1,2]],[[3,4]]]`, []int{2, 2}}, {`[1,,2]`, []int{2}}, {`[1,2] x`, []int{2}}, {`[+1,2]`, []int{2}}, {`[01,2]`, []int{2}},
		{`[0x1,2]`, []int{2}}, {`[1.,2]`, []int{2}}, {`[Infinity,2]`, []int{2}}, {`[true,2]`, []int{2}}, {`{"a":1}`, []int{1}},
		{`[1,2]`, []int{-1, 2}}, {`[1,2]`, []int{1 << 62, 1 << 62}}, {`[1`, []int{1}}, {`[[1,2]`, []int{1, 2}},
	} {
		if v, err := remote.ParseFloatData([]byte(b.raw), b.shape); err == nil {
			t.Errorf("%s %v accepted: %v", b.raw, b.shape, v)
		}
	}
	// Every float32 round-trips.
	vals := []float32{0, -0, 1, -1, math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, 1e-45, 0.1, 1.0 / 3, 16777217}
	raw, err := remote.AppendFloatData(nil, vals)
	if err != nil {
		t.Fatal(err)
	}
	back, err := remote.ParseFloatData(raw, []int{len(vals)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range vals {
		if math.Float32bits(back[i]) != math.Float32bits(vals[i]) {
			t.Errorf("%v came back as %v (%s)", vals[i], back[i], raw)
		}
	}
	if _, err := remote.AppendFloatData(nil, []float32{1, float32(math.Inf(1))}); err == nil || !strings.Contains(err.Error(), "element 1") {
		t.Errorf("Inf encoded: %v", err)
	}
}

func TestLimiterHonoursContext(t *testing.T) {
	l := remote.NewRateLimiter(1, 1)
	ctx := context.Background()
	if err := l.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	// x/time/rate refuses a wait that would outlast the deadline.
	if err := l.Wait(ctx); err == nil {
		t.Fatal("second wait at 1/s under a 50ms deadline succeeded")
	}
	// Bursts pass at once: at one token an hour, the three waits of a
	// burst of 3 fit under a one-minute deadline only if none of them
	// waits for a token, and a fourth cannot.
	l = remote.NewRateLimiter(1.0/3600, 3)
	for i := range 3 {
		if err := l.Wait(ctxT(t)); err != nil {
			t.Fatalf("wait %d of a burst of 3: %v", i+1, err)
		}
	}
	if err := l.Wait(ctxT(t)); err == nil {
		t.Fatal("a fourth wait passed a burst of 3 at one token an hour")
	}
}
