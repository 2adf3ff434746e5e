package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/advtest/advtest/pkg/tensor"
)

// Defaults of Options' zero values.
const (
	// DefaultMaxBatch is the most samples in one request.
	DefaultMaxBatch = 64
	// DefaultTimeout bounds one request, answer included.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxRetries is how often a failed request is resent.
	DefaultMaxRetries = 4
	// DefaultBackoffBase is the wait before the first retry (before jitter).
	DefaultBackoffBase = 100 * time.Millisecond
	// DefaultBackoffMax caps the wait before a retry.
	DefaultBackoffMax = 10 * time.Second
	// DefaultMaxResponseBytes bounds a response body.
	DefaultMaxResponseBytes = 64 << 20
)

// Options configure a Client. The zero value is usable: batches of
// DefaultMaxBatch samples, DefaultTimeout per request, DefaultMaxRetries
// retries, no rate limit and no query budget.
type Options struct {
	// MaxBatch is the most samples sent in one request (0: DefaultMaxBatch).
	// A server whose metadata fixes the batch dimension lowers it.
	MaxBatch int
	// Timeout bounds each request, from sending to reading the whole
	// answer (0: DefaultTimeout).
	Timeout time.Duration
	// MaxRetries is how many times a request is resent after a timeout, a
	// transport error, 429 or a 5xx status (0: DefaultMaxRetries; negative:
	// never).
	MaxRetries int
	// BackoffBase and BackoffMax shape the wait before retry k: a random
	// duration in [d/2, d], d = min(BackoffMax, BackoffBase·2^k), or the
	// server's Retry-After when it gives one (capped at BackoffMax).
	BackoffBase, BackoffMax time.Duration
	// QPS limits inference and metadata requests (retries included) to
	// this many a second on average, with bursts of Burst (0: no limit).
	QPS float64
	// Burst is the token bucket's size when QPS > 0 (0: 1).
	Burst int
	// Limiter, when set, paces requests instead of QPS and Burst.
	Limiter Limiter
	// MaxQueries is the hard query budget: the most samples the client
	// sends for inference, counting every sample of every request sent,
	// retries included, so that the server never evaluates more (0: no
	// budget). A Scores call that does not fit in what is left is refused
	// whole, before anything is sent, with ErrBudgetExhausted.
	MaxQueries int64
	// MaxResponseBytes bounds a response body (0: DefaultMaxResponseBytes).
	MaxResponseBytes int64
	// Concurrency is how many requests of one Scores call may be in flight
	// at once (0: 1).
	Concurrency int
	// Header is added to every request (authentication, for instance).
	Header http.Header
	// HTTPClient sends the requests (nil: a client of its own, which does
	// not follow redirects). Its own Timeout, if any, applies on top of
	// Timeout.
	HTTPClient *http.Client
	// InputName, OutputName and SampleShape override what the model's
	// metadata says. When InputName is set, a server without the metadata
	// endpoint can still be used: the number of classes is then learned
	// from the first answer.
	InputName, OutputName string
	// SampleShape is the shape of one sample, without the batch axis.
	SampleShape []int
	// OnRetry, when set, is called before each retry with the error that
	// caused it, the retry's number (1 for the first) and the wait.
	OnRetry func(err error, retry int, wait time.Duration)
}

// Stats counts what a Client has done.
type Stats struct {
	// Requests is the number of inference requests sent, retries included.
	Requests int64
	// Retries is the number of inference requests that were resends.
	Retries int64
	// Sent is the number of samples sent, retries included: what the
	// budget counts.
	Sent int64
	// Scored is the number of samples whose scores came back.
	Scored int64
}

// Client queries one model over the Open Inference Protocol (KServe v2
// REST). It is safe for concurrent use.
type Client struct {
	target  Target
	opts    Options
	hc      *http.Client
	limiter Limiter

	mu          sync.Mutex
	connected   bool
	inputName   string
	outputName  string
	sampleShape []int
	numClasses  int
	maxBatch    int

	budgetMu sync.Mutex
	spent    int64 // samples reserved or sent, against MaxQueries

	requests, retries, sent, scored atomic.Int64
	seq                             atomic.Uint64
}

// New returns a client for target. It sends nothing; the model's metadata
// is fetched by Connect or by the first Scores call.
func New(target Target, opts Options) (*Client, error) {
	if target.Base == "" || target.Model == "" {
		return nil, errors.New("remote: the target has no base URL or model name (use ParseTarget)")
	}
	if opts.MaxBatch < 0 || opts.Timeout < 0 || opts.QPS < 0 || opts.Burst < 0 || opts.MaxQueries < 0 || opts.MaxResponseBytes < 0 || opts.Concurrency < 0 || opts.BackoffBase < 0 || opts.BackoffMax < 0 {
		return nil, errors.New("remote: negative option (batch, timeout, qps, burst, budget, response size, concurrency and backoff must be >= 0)")
	}
	if opts.MaxBatch == 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxRetries == 0 {
		opts.MaxRetries = DefaultMaxRetries
	} else if opts.MaxRetries < 0 {
		opts.MaxRetries = 0
	}
	if opts.BackoffBase == 0 {
		opts.BackoffBase = DefaultBackoffBase
	}
	if opts.BackoffMax == 0 {
		opts.BackoffMax = DefaultBackoffMax
	}
	if opts.MaxResponseBytes == 0 {
		opts.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if opts.Concurrency == 0 {
		opts.Concurrency = 1
	}
	for _, d := range opts.SampleShape {
		if d == 0 || d < -1 {
			return nil, fmt.Errorf("remote: sample shape %v: dimensions must be positive (or -1 when not fixed)", opts.SampleShape)
		}
	}
	c := &Client{target: target, opts: opts, hc: opts.HTTPClient, limiter: opts.Limiter, maxBatch: opts.MaxBatch}
	if c.hc == nil {
		// An inference endpoint has no business redirecting; following
		// one would resend the batch (and Header) elsewhere.
		c.hc = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if c.limiter == nil && opts.QPS > 0 {
		c.limiter = NewRateLimiter(opts.QPS, opts.Burst)
	}
	return c, nil
}

// Dial parses rawURL with ParseTarget, makes a Client and connects it.
func Dial(ctx context.Context, rawURL string, opts Options) (*Client, error) {
	t, err := ParseTarget(rawURL)
	if err != nil {
		return nil, err
	}
	c, err := New(t, opts)
	if err != nil {
		return nil, err
	}
	if err := c.Connect(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Target returns the client's target.
func (c *Client) Target() Target { return c.target }

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	return Stats{Requests: c.requests.Load(), Retries: c.retries.Load(), Sent: c.sent.Load(), Scored: c.scored.Load()}
}

// Remaining returns the queries left in the budget, or -1 without one.
func (c *Client) Remaining() int64 {
	if c.opts.MaxQueries == 0 {
		return -1
	}
	c.budgetMu.Lock()
	defer c.budgetMu.Unlock()
	return c.opts.MaxQueries - c.spent
}

// NumClasses returns the number of classes, from the metadata's output
// shape or the first answer; 0 while unknown.
func (c *Client) NumClasses() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.numClasses
}

// InputShape returns the shape of one sample (without the batch axis) as
// the metadata or Options.SampleShape give it; -1 marks dimensions that are
// not fixed; nil while unknown.
func (c *Client) InputShape() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.sampleShape...)
}

// MaxBatch returns the most samples sent in one request.
func (c *Client) MaxBatch() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.maxBatch
}

// Ready asks the server's readiness probe (GET /v2/health/ready) and
// returns nil when it answers 200.
func (c *Client) Ready(ctx context.Context) error {
	_, err := c.roundTrip(ctx, http.MethodGet, c.target.ReadyURL(), nil, 0, nil)
	return err
}

// Metadata fetches the model's metadata (GET /v2/models/{name}).
func (c *Client) Metadata(ctx context.Context) (*ModelMetadata, error) {
	endpoint := "GET " + c.target.MetadataURL()
	body, err := c.roundTrip(ctx, http.MethodGet, c.target.MetadataURL(), nil, 0, nil)
	if err != nil {
		return nil, err
	}
	var md ModelMetadata
	if err := json.Unmarshal(body, &md); err != nil {
		return nil, fmt.Errorf("%s: %w: malformed metadata JSON: %v", endpoint, ErrBadResponse, err)
	}
	return &md, nil
}

// Connect fetches the model's metadata and learns from it the input's name
// and per-sample shape, the output's name and the number of classes. It
// refuses a model whose input is not FP32 or which has several inputs
// (unless Options.InputName picks one). When the metadata cannot be had
// and Options.InputName is set, it goes on without it.
func (c *Client) Connect(ctx context.Context) error {
	c.mu.Lock()
	done := c.connected
	c.mu.Unlock()
	if done {
		return nil
	}
	md, err := c.Metadata(ctx)
	if err != nil {
		if c.opts.InputName == "" || ctx.Err() != nil || errors.Is(err, ErrBadResponse) {
			return err
		}
		md = &ModelMetadata{}
	}
	return c.adopt(md)
}

// adopt takes input and output facts from metadata, with Options first.
func (c *Client) adopt(md *ModelMetadata) error {
	endpoint := "GET " + c.target.MetadataURL()
	inName, outName, shape := c.opts.InputName, c.opts.OutputName, c.opts.SampleShape
	maxBatch, classes := c.opts.MaxBatch, 0
	var in *TensorMetadata
	switch {
	case inName != "":
		for i := range md.Inputs {
			if md.Inputs[i].Name == inName {
				in = &md.Inputs[i]
			}
		}
		if in == nil && len(md.Inputs) > 0 {
			return fmt.Errorf("%s: the model has no input %q (it has %s)", endpoint, inName, names(md.Inputs))
		}
	case len(md.Inputs) == 1:
		in = &md.Inputs[0]
		inName = in.Name
	case len(md.Inputs) == 0:
		return fmt.Errorf("%s: %w: the metadata lists no inputs", endpoint, ErrBadResponse)
	default:
		return fmt.Errorf("%s: the model has %d inputs (%s); advtest queries classifiers with one input (pick one with the input name option)", endpoint, len(md.Inputs), names(md.Inputs))
	}
	if in != nil {
		if in.Datatype != FP32 {
			return fmt.Errorf("%s: input %q has datatype %s; advtest sends FP32", endpoint, in.Name, in.Datatype)
		}
		if len(in.Shape) >= 1 {
			if b := in.Shape[0]; b > 0 && b < maxBatch {
				maxBatch = b
			}
			if shape == nil {
				shape = append([]int{}, in.Shape[1:]...)
			}
		}
	}
	var out *TensorMetadata
	if outName != "" {
		for i := range md.Outputs {
			if md.Outputs[i].Name == outName {
				out = &md.Outputs[i]
			}
		}
		if out == nil && len(md.Outputs) > 0 {
			return fmt.Errorf("%s: the model has no output %q (it has %s)", endpoint, outName, names(md.Outputs))
		}
	} else {
		// The first float output: a classifier exported with a label
		// output first (scikit-learn) still gives its scores.
		for i := range md.Outputs {
			if d := md.Outputs[i].Datatype; d == FP32 || d == FP64 {
				out = &md.Outputs[i]
				break
			}
		}
		if out == nil && len(md.Outputs) > 0 {
			return fmt.Errorf("%s: no output is FP32 or FP64 (%s); advtest needs class scores", endpoint, names(md.Outputs))
		}
		if out != nil {
			outName = out.Name
		}
	}
	if out != nil && len(out.Shape) == 2 && out.Shape[1] > 0 {
		classes = out.Shape[1]
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inputName, c.outputName, c.sampleShape, c.maxBatch = inName, outName, shape, maxBatch
	if c.numClasses == 0 {
		c.numClasses = classes
	}
	c.connected = true
	return nil
}

func names(ts []TensorMetadata) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = fmt.Sprintf("%s %s %v", t.Name, t.Datatype, t.Shape)
	}
	return strings.Join(s, ", ")
}

// reserve takes n queries from the budget, all or none.
func (c *Client) reserve(n int64) error {
	if c.opts.MaxQueries == 0 {
		return nil
	}
	c.budgetMu.Lock()
	defer c.budgetMu.Unlock()
	if left := c.opts.MaxQueries - c.spent; n > left {
		return fmt.Errorf("%s: %w: %d queries wanted, %d of the budget of %d left", c.target.InferURL(), ErrBudgetExhausted, n, left, c.opts.MaxQueries)
	}
	c.spent += n
	return nil
}

// refund returns n reserved queries that were never sent.
func (c *Client) refund(n int64) {
	if c.opts.MaxQueries == 0 || n == 0 {
		return
	}
	c.budgetMu.Lock()
	c.spent -= n
	c.budgetMu.Unlock()
}

// Scores sends the batch x ([N, sample shape...], float32) to the model and
// returns its [N, C] scores: what the deployed model outputs (probabilities
// when it ends with Softmax, logits when it does not). Requests carry at
// most MaxBatch samples each. The call is refused before anything is sent
// when x does not fit the model's input, holds NaN or infinite values, or
// the budget cannot cover N queries; then retries may still exhaust the
// budget, which ends the call with ErrBudgetExhausted.
func (c *Client) Scores(ctx context.Context, x *tensor.Tensor) (*tensor.Tensor, error) {
	if err := c.Connect(ctx); err != nil {
		return nil, err
	}
	if x == nil || x.DType != tensor.Float32 || len(x.Shape) < 2 || x.Shape[0] < 1 || x.Len() == 0 || len(x.F) != x.Len() {
		return nil, fmt.Errorf("%s: the input must be a non-empty float32 batch [N, sample shape...], got %v", c.target.InferURL(), describe(x))
	}
	c.mu.Lock()
	inName, outName, shape, maxBatch := c.inputName, c.outputName, c.sampleShape, c.maxBatch
	c.mu.Unlock()
	if shape != nil {
		ok := len(shape) == len(x.Shape)-1
		for i := 0; ok && i < len(shape); i++ {
			ok = shape[i] < 0 || shape[i] == x.Shape[i+1]
		}
		if !ok {
			return nil, fmt.Errorf("%s: the batch has shape %v; the model's input %q takes samples of shape %v", c.target.InferURL(), x.Shape, inName, shape)
		}
	}
	n := x.Shape[0]
	per := x.Len() / n
	type chunk struct {
		lo, hi int
		sent   bool
		scores *tensor.Tensor
	}
	var chunks []*chunk
	for lo := 0; lo < n; lo += maxBatch {
		chunks = append(chunks, &chunk{lo: lo, hi: min(lo+maxBatch, n)})
	}
	// Encode every request before spending budget: bad input is refused
	// whole.
	bodies := make([][]byte, len(chunks))
	for i, ch := range chunks {
		b, err := c.encode(inName, outName, x.F[ch.lo*per:ch.hi*per], append([]int{ch.hi - ch.lo}, x.Shape[1:]...))
		if err != nil {
			return nil, fmt.Errorf("%s: sample %d: %w", c.target.InferURL(), ch.lo, err)
		}
		bodies[i] = b
	}
	if err := c.reserve(int64(n)); err != nil {
		return nil, err
	}
	// At most Concurrency requests in flight; the first failure cancels
	// the others, and chunks not yet started are not sent.
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(c.opts.Concurrency)
	for i, ch := range chunks {
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			m := ch.hi - ch.lo
			body, err := c.roundTrip(ctx, http.MethodPost, c.target.InferURL(), bodies[i], m, &ch.sent)
			if err == nil {
				ch.scores, err = c.decode(body, m, outName)
			}
			return err
		})
	}
	firstErr := g.Wait()
	for _, ch := range chunks {
		if !ch.sent {
			c.refund(int64(ch.hi - ch.lo))
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	classes := chunks[0].scores.Shape[1]
	out := tensor.New(n, classes)
	for _, ch := range chunks {
		copy(out.F[ch.lo*classes:ch.hi*classes], ch.scores.F)
	}
	c.scored.Add(int64(n))
	return out, nil
}

func describe(x *tensor.Tensor) string {
	if x == nil {
		return "nil"
	}
	return fmt.Sprintf("%s %v", x.DType, x.Shape)
}

// encode builds the JSON body of one inference request.
func (c *Client) encode(inName, outName string, data []float32, shape []int) ([]byte, error) {
	raw, err := AppendFloatData(make([]byte, 0, 12*len(data)+2), data)
	if err != nil {
		return nil, err
	}
	req := InferRequest{
		ID:     "advtest-" + strconv.FormatUint(c.seq.Add(1), 10),
		Inputs: []Tensor{{Name: inName, Shape: shape, Datatype: FP32, Data: raw}},
	}
	if outName != "" {
		req.Outputs = []RequestedOutput{{Name: outName}}
	}
	return json.Marshal(req)
}

// decode validates one inference response and returns its [n, C] scores.
func (c *Client) decode(body []byte, n int, outName string) (*tensor.Tensor, error) {
	c.mu.Lock()
	classes := c.numClasses
	c.mu.Unlock()
	s, err := parseScores(body, n, outName, classes)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w: %v", c.target.InferURL(), ErrBadResponse, err)
	}
	c.mu.Lock()
	if c.numClasses == 0 {
		c.numClasses = s.Shape[1]
	}
	c.mu.Unlock()
	return s, nil
}

// parseScores reads an inference response body and returns the [n, C]
// scores of output outName (or the first float output when outName is
// ""). classes, when > 0, is the C the scores must have.
func parseScores(body []byte, n int, outName string, classes int) (*tensor.Tensor, error) {
	var resp InferResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		msg := "malformed JSON: " + err.Error()
		if bytes.Contains(body, []byte("NaN")) || bytes.Contains(body, []byte("Infinity")) {
			msg += " (the body holds NaN or Infinity, which JSON cannot carry: the model's scores are not finite)"
		}
		return nil, errors.New(msg)
	}
	if len(resp.Outputs) == 0 {
		return nil, errors.New("the response has no outputs")
	}
	var out *Tensor
	for i := range resp.Outputs {
		o := &resp.Outputs[i]
		if (outName != "" && o.Name == outName) || (outName == "" && (o.Datatype == FP32 || o.Datatype == FP64)) {
			out = o
			break
		}
	}
	if out == nil {
		have := make([]string, len(resp.Outputs))
		for i, o := range resp.Outputs {
			have[i] = fmt.Sprintf("%q %s", o.Name, o.Datatype)
		}
		if outName != "" {
			return nil, fmt.Errorf("no output %q in the response (it has %s)", outName, strings.Join(have, ", "))
		}
		return nil, fmt.Errorf("no FP32 or FP64 output in the response (it has %s)", strings.Join(have, ", "))
	}
	if out.Datatype != FP32 && out.Datatype != FP64 {
		return nil, fmt.Errorf("output %q has datatype %q; scores must be FP32 (or FP64)", out.Name, out.Datatype)
	}
	if len(out.Shape) != 2 || out.Shape[0] != n || out.Shape[1] < 1 || (classes > 0 && out.Shape[1] != classes) {
		want := "C"
		if classes > 0 {
			want = strconv.Itoa(classes)
		}
		return nil, fmt.Errorf("output %q has shape %v, want [%d %s] (samples sent, classes)", out.Name, out.Shape, n, want)
	}
	if len(out.Data) == 0 {
		return nil, fmt.Errorf("output %q has no data (binary tensor data is not supported; ask for JSON)", out.Name)
	}
	v, err := ParseFloatData(out.Data, out.Shape)
	if err != nil {
		return nil, fmt.Errorf("output %q: %v", out.Name, err)
	}
	return tensor.FromFloat32(v, out.Shape...), nil
}

// roundTrip sends one request with retries and returns the body of its 2xx
// answer. samples > 0 marks an inference request of that many samples:
// the first attempt uses the caller's reservation (and sets *sent), every
// retry reserves the samples again.
func (c *Client) roundTrip(ctx context.Context, method, url string, body []byte, samples int, sent *bool) ([]byte, error) {
	endpoint := method + " " + url
	var lastErr error
	for attempt := 0; ; attempt++ {
		if attempt > 0 && samples > 0 {
			if err := c.reserve(int64(samples)); err != nil {
				return nil, fmt.Errorf("%w (after: %v)", err, lastErr)
			}
		}
		if c.limiter != nil {
			if err := c.limiter.Wait(ctx); err != nil {
				if attempt > 0 && samples > 0 {
					c.refund(int64(samples))
				}
				return nil, fmt.Errorf("%s: %w", endpoint, err)
			}
		}
		if samples > 0 {
			if attempt == 0 {
				*sent = true
			} else {
				c.retries.Add(1)
			}
			c.requests.Add(1)
			c.sent.Add(int64(samples))
		}
		resp, retryAfter, err := c.attempt(ctx, method, url, body)
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", endpoint, ctx.Err())
		}
		if !retryable(err) || attempt >= c.opts.MaxRetries {
			if attempt > 0 {
				return nil, fmt.Errorf("%w (gave up after %d attempts)", err, attempt+1)
			}
			return nil, err
		}
		lastErr = err
		wait := c.backoff(attempt, retryAfter)
		if c.opts.OnRetry != nil {
			c.opts.OnRetry(err, attempt+1, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%s: %w (while waiting to retry after: %v)", endpoint, ctx.Err(), err)
		}
	}
}

// retryable reports whether err is worth another attempt.
func retryable(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Temporary()
	}
	if errors.Is(err, ErrBadResponse) {
		return false
	}
	// Timeouts and transport errors (refused, reset, EOF).
	return true
}

// backoff returns the wait before retry attempt+1.
func (c *Client) backoff(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, c.opts.BackoffMax)
	}
	d := c.opts.BackoffBase
	for i := 0; i < attempt && d < c.opts.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, c.opts.BackoffMax)
	// Jitter spreads clients that failed together; it changes timing only,
	// never a figure.
	return d/2 + rand.N(d/2+1)
}

// attempt sends one request under Options.Timeout and reads the answer.
func (c *Client) attempt(parent context.Context, method, url string, body []byte) ([]byte, time.Duration, error) {
	endpoint := method + " " + url
	ctx, cancel := context.WithTimeout(parent, c.opts.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %v", endpoint, err)
	}
	for k, vs := range c.opts.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	timedOut := func(err error) error {
		if parent.Err() == nil && ctx.Err() != nil {
			return fmt.Errorf("%s: %w: no complete answer within %v", endpoint, ErrTimeout, c.opts.Timeout)
		}
		return fmt.Errorf("%s: %w", endpoint, err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, 0, timedOut(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		msg := errorMessage(b)
		if loc := resp.Header.Get("Location"); resp.StatusCode >= 300 && resp.StatusCode < 400 && loc != "" {
			msg = strings.TrimSpace("redirect to " + clip(loc) + " (not followed; give the final URL) " + msg)
		}
		return nil, retryAfterOf(resp), &StatusError{Endpoint: endpoint, Code: resp.StatusCode, Message: msg}
	}
	if resp.Header.Get("Inference-Header-Content-Length") != "" {
		return nil, 0, fmt.Errorf("%s: %w: the answer uses the binary tensor extension; advtest reads JSON only", endpoint, ErrBadResponse)
	}
	limit := c.opts.MaxResponseBytes
	if resp.ContentLength > limit {
		return nil, 0, fmt.Errorf("%s: %w: the body is %d bytes, over the limit of %d", endpoint, ErrBadResponse, resp.ContentLength, limit)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, 0, timedOut(err)
	}
	if int64(len(b)) > limit {
		return nil, 0, fmt.Errorf("%s: %w: the body is over the limit of %d bytes", endpoint, ErrBadResponse, limit)
	}
	return b, 0, nil
}

// retryAfterOf reads a Retry-After header given in seconds.
func retryAfterOf(resp *http.Response) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 0
}

// errorMessage extracts {"error": ...} from an error body, or returns the
// body's start.
func errorMessage(b []byte) string {
	var e ErrorResponse
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return clip(e.Error)
	}
	return clip(strings.TrimSpace(string(b)))
}

func clip(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' {
			return ' '
		}
		return r
	}, s)
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
