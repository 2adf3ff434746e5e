package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/serve"
)

func init() {
	extraCommands = append(extraCommands, newServeCommand)
}

// serveOptions are the serve command's flags.
type serveOptions struct {
	model       string
	addr        string
	name        string
	allowRemote bool
	maxBatch    int
	maxBody     int64
}

// shutdownGrace bounds how long in-flight requests may finish after a
// stop signal.
const shutdownGrace = 5 * time.Second

func newServeCommand() *cobra.Command {
	o := &serveOptions{}
	c := &cobra.Command{
		Use:   "serve --model m.onnx [--addr 127.0.0.1:8080] [--name NAME]",
		Short: "Serve an ONNX classifier over the Open Inference Protocol (KServe v2 REST)",
		Long: `serve answers the Open Inference Protocol (KServe v2 REST, as Triton, KServe,
Seldon MLServer and OpenVINO Model Server speak it) for one ONNX model:

  GET  /v2/health/live, /v2/health/ready
  GET  /v2/models/NAME                  metadata: input name, FP32, shape [-1, ...]
  POST /v2/models/NAME/infer            JSON tensors in, the model's outputs out

The answer is the model's graph output as it is (probabilities when the
model ends with Softmax), so a remote target can be tested locally.

For safety it binds only loopback addresses (127.0.0.1, ::1, localhost)
unless --allow-remote is given: the server has no authentication.
It stops gracefully on SIGINT or SIGTERM and then exits 0.`,
		Example: `  advtest serve --model model.onnx
  advtest serve -m model.onnx --addr 127.0.0.1:9000 --name cnn`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runServe(c.Context(), o, c.OutOrStdout(), c.ErrOrStderr(), nil)
		},
	}
	f := c.Flags()
	f.StringVarP(&o.model, "model", "m", "", "ONNX model file (required)")
	f.StringVar(&o.addr, "addr", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free one)")
	f.StringVar(&o.name, "name", "", "model name in URLs (default: the model file's base name)")
	f.BoolVar(&o.allowRemote, "allow-remote", false, "allow binding a non-loopback address (the server has no authentication)")
	f.IntVar(&o.maxBatch, "max-batch", serve.DefaultMaxBatch, "most samples in one request (more gets 413)")
	f.Int64Var(&o.maxBody, "max-request-bytes", serve.DefaultMaxBodyBytes, "largest request body in bytes (larger gets 413)")
	return c
}

// checkLoopback refuses an address that is not on a loopback interface.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %v (want host:port, e.g. 127.0.0.1:8080)", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	what := host
	if host == "" {
		what = "every interface"
	}
	return fmt.Errorf("--addr %q would listen on %s, not a loopback address; the server has no authentication, so pass --allow-remote to do it anyway", addr, what)
}

// runServe serves until ctx is done. ready, when not nil, is told the
// listening address (for tests).
func runServe(ctx context.Context, o *serveOptions, stdout, stderr io.Writer, ready func(addr string)) error {
	if o.model == "" {
		return usageError(errors.New("no model: set --model"))
	}
	if !o.allowRemote {
		if err := checkLoopback(o.addr); err != nil {
			return usageError(err)
		}
	}
	m, err := onnxmodel.Load(o.model)
	if err != nil {
		return usageError(err)
	}
	logger := log.New(stderr, "advtest serve: ", log.LstdFlags)
	h, err := serve.New(m, serve.Options{Name: o.name, MaxBatch: o.maxBatch, MaxBodyBytes: o.maxBody, Logf: logger.Printf})
	if err != nil {
		return usageError(err)
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return usageError(err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      10 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          logger,
	}
	addr := ln.Addr().String()
	fmt.Fprintf(stdout, "serving %s (%s) at http://%s%s\n", h.Name(), o.model, addr, h.InferPath())
	if ready != nil {
		ready(addr)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return usageError(err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		fmt.Fprintf(stderr, "advtest serve: stopped, some requests cut short: %v\n", err)
		return nil
	}
	fmt.Fprintln(stderr, "advtest serve: stopped")
	return nil
}
