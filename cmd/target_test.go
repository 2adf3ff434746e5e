package cmd

import (
	"encoding/json"
	"github.com/advtest/advtest/pkg/remote"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/serve"
)

// serveCNN serves the testdata CNN on loopback and returns its infer URL.
func serveCNN(t *testing.T) string {
	t.Helper()
	m, err := onnxmodel.Load(cnnModel)
	if err != nil {
		t.Fatal(err)
	}
	s, err := serve.New(m, serve.Options{Name: "cnn"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts.URL + s.InferPath()
}

// TestRemoteTargetMatchesLocal attacks the CNN served over the Open
// Inference Protocol and the same CNN from its file: with the same seed, a
// black-box attack finds the same success rate and spends the same queries.
func TestRemoteTargetMatchesLocal(t *testing.T) {
	url := serveCNN(t)
	common := []string{"attack", "-d", mnistX, "-l", mnistY, "--limit", "16", "--seed", "3", "--format", "json",
		"-a", "square:eps=0.2,max_queries=100"}
	code, local, stderr := runInProcess(append(common, "-m", cnnModel)...)
	if code != 0 && code != 1 {
		t.Fatalf("local run: exit %d: %s", code, stderr)
	}
	code, remote, stderr := runInProcess(append(common, "--target", url, "--qps", "1000", "--max-queries", "100000")...)
	if code != 0 && code != 1 {
		t.Fatalf("remote run: exit %d: %s", code, stderr)
	}
	type attackFig struct {
		SuccessRate float64 `json:"success_rate"`
		NFooled     int     `json:"n_fooled"`
		Queries     *struct {
			Mean float64 `json:"mean"`
		} `json:"queries"`
	}
	var a, b struct {
		CleanAccuracy float64     `json:"clean_accuracy"`
		Attacks       []attackFig `json:"attacks"`
	}
	if err := json.Unmarshal([]byte(local), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(remote), &b); err != nil {
		t.Fatal(err)
	}
	if a.CleanAccuracy != b.CleanAccuracy || a.Attacks[0].NFooled != b.Attacks[0].NFooled {
		t.Errorf("local: clean %.3f, fooled %d; remote: clean %.3f, fooled %d", a.CleanAccuracy, a.Attacks[0].NFooled, b.CleanAccuracy, b.Attacks[0].NFooled)
	}
	if a.Attacks[0].Queries == nil || b.Attacks[0].Queries == nil || a.Attacks[0].Queries.Mean != b.Attacks[0].Queries.Mean {
		t.Errorf("query statistics differ or are missing: %+v vs %+v", a.Attacks[0].Queries, b.Attacks[0].Queries)
	}
}

func TestRemoteTargetRefusesWhiteBox(t *testing.T) {
	url := serveCNN(t)
	code, _, stderr := runInProcess("attack", "-d", mnistX, "-l", mnistY, "--limit", "4", "--target", url, "-a", "pgd")
	if code != ExitUsage || !strings.Contains(stderr, "needs gradients") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// TestRemoteTargetFailureWritesPartialReport: an endpoint that starts
// answering 500 part-way gives a clear error, exit 2 and a report file
// marked incomplete, not a crash or a hang.
func TestRemoteTargetFailureWritesPartialReport(t *testing.T) {
	m, err := onnxmodel.Load(cnnModel)
	if err != nil {
		t.Fatal(err)
	}
	s, err := serve.New(m, serve.Options{Name: "cnn"})
	if err != nil {
		t.Fatal(err)
	}
	var infers atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/infer") && infers.Add(1) > 3 {
			http.Error(w, `{"error": "overloaded"}`, http.StatusInternalServerError)
			return
		}
		s.ServeHTTP(w, r)
	}))
	defer ts.Close()
	out := filepath.Join(t.TempDir(), "r.json")
	code, _, stderr := runInProcess("attack", "-d", mnistX, "-l", mnistY, "--limit", "8", "--target", ts.URL+s.InferPath(),
		"--timeout", "2s", "-a", "square:eps=0.05,max_queries=50", "--format", "json", "-o", out)
	if code != ExitUsage || !strings.Contains(stderr, "500") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	// It gives up after the retries of the first failed request, rather
	// than retrying on (counted in requests, not seconds).
	t.Logf("%d infer requests", infers.Load())
	if n := infers.Load(); n > 3+1+remote.DefaultMaxRetries {
		t.Errorf("%d infer requests: want the 3 answered, then one failed request and its %d retries", n, remote.DefaultMaxRetries)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Incomplete bool   `json:"incomplete"`
		Reason     string `json:"incomplete_reason"`
	}
	if err := json.Unmarshal(data, &rep); err != nil || !rep.Incomplete || rep.Reason == "" {
		t.Errorf("report %s: %v", data, err)
	}
}
