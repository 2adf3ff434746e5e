package run

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

	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/serve"
)

// shutdownGrace bounds how long in-flight requests may finish after a
// stop signal.
const shutdownGrace = 5 * time.Second

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

// ServeOptions configure Serve.
type ServeOptions struct {
	// Model is the ONNX file; Name its name in URLs (default: the file's
	// base name).
	Model, Name string
	// Addr is host:port to listen on (port 0 picks a free one).
	Addr string
	// AllowRemote allows a non-loopback address (the server has no
	// authentication).
	AllowRemote bool
	// MaxBatch and MaxBody bound a request (serve.Options).
	MaxBatch int
	MaxBody  int64
	// Stdout gets the address served, Stderr the server's log.
	Stdout, Stderr io.Writer
	// Ready, when not nil, is told the listening address (for tests).
	Ready func(addr string)
}

// Serve serves o.Model over the Open Inference Protocol until ctx is
// done, then shuts down gracefully and returns nil.
func Serve(ctx context.Context, o ServeOptions) error {
	if o.Model == "" {
		return errors.New("no model: set --model")
	}
	if !o.AllowRemote {
		if err := checkLoopback(o.Addr); err != nil {
			return err
		}
	}
	stdout, stderr, ready := o.Stdout, o.Stderr, o.Ready
	m, err := onnxmodel.Load(o.Model)
	if err != nil {
		return err
	}
	logger := log.New(stderr, "advtest serve: ", log.LstdFlags)
	h, err := serve.New(m, serve.Options{Name: o.Name, MaxBatch: o.MaxBatch, MaxBodyBytes: o.MaxBody, Logf: logger.Printf})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return err
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
	fmt.Fprintf(stdout, "serving %s (%s) at http://%s%s\n", h.Name(), o.Model, addr, h.InferPath())
	if ready != nil {
		ready(addr)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
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
