package cmd

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/advtest/advtest/pkg/remote"
	"github.com/advtest/advtest/pkg/run"
	"github.com/advtest/advtest/pkg/tensor"
)

func TestServeRefusesNonLoopbackAndNoModel(t *testing.T) {
	code, _, stderr := runInProcess("serve", "--model", cnnModel, "--addr", "0.0.0.0:8080")
	if code != ExitUsage || !strings.Contains(stderr, "--allow-remote") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = runInProcess("serve")
	if code != ExitUsage || !strings.Contains(stderr, "--model") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// syncBuffer is a bytes.Buffer safe for the server's and the test's
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeRoundTrip starts the command's server on a free loopback port,
// queries it with the remote client, and stops it as a signal would.
func TestServeRoundTrip(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run.Serve(ctx, run.ServeOptions{Model: cnnModel, Addr: "127.0.0.1:0", Name: "cnn", Stdout: &stdout, Stderr: &stderr, Ready: func(a string) { addrc <- a }})
	}()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("serve ended early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not start")
	}
	url := "http://" + addr + "/v2/models/cnn/infer"
	if !strings.Contains(stdout.String(), url) {
		t.Fatalf("stdout %q does not print %s", stdout.String(), url)
	}
	resp, err := http.Get("http://" + addr + "/v2/health/ready")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("ready: %d", resp.StatusCode)
	}
	qctx, qcancel := context.WithTimeout(ctx, 10*time.Second)
	defer qcancel()
	c, err := remote.Dial(qctx, url, remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Scores(qctx, tensor.New(2, 1, 28, 28))
	if err != nil || len(s.Shape) != 2 || s.Shape[0] != 2 || s.Shape[1] != 10 {
		t.Fatalf("scores %v, %v", s, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(stderr.String(), "stopped") {
		t.Errorf("stderr %q", stderr.String())
	}
}
