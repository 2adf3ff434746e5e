package report_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/report"
)

func TestRead(t *testing.T) {
	var good bytes.Buffer
	if err := report.WriteJSON(&good, sample(t)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, in, err string
	}{
		{"good", good.String(), ""},
		{"unknown fields are ignored", strings.Replace(good.String(), `"seed"`, `"future_field": [1], "seed"`, 1), ""},
		{"not JSON", "hello", "not a JSON report"},
		{"no version", `{"n": 1}`, "no schema_version"},
		{"other version", `{"schema_version": "2"}`, `schema_version "2" is not supported`},
		{"version of the wrong type", `{"schema_version": 1}`, "not a JSON report"},
		{"counts do not nest", strings.Replace(good.String(), `"n_fooled": 2`, `"n_fooled": 9`, 1), "do not nest"},
		{"rate out of range", strings.Replace(good.String(), `"success_rate": 0.25`, `"success_rate": 1.5`, 1), "want a rate in [0, 1]"},
		{"trailing data", good.String() + "{}", "not a JSON report"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := report.Read(strings.NewReader(c.in))
			if c.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("error %v, want it to contain %q", err, c.err)
			}
		})
	}
}

func TestLoadSizeBound(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.json")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	// A sparse file just over the bound costs no disk.
	if err := f.Truncate(report.MaxFileSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := report.Load(path); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("error %v, want a size refusal", err)
	}
	if _, err := report.Load(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Fatal("no error for a missing file")
	}
}

func FuzzLoad(f *testing.F) {
	var buf bytes.Buffer
	if err := report.WriteJSON(&buf, sample(f)); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte(`{"schema_version":"1"}`))
	f.Add([]byte(`{"schema_version":"1","attacks":[{"name":"x","n":-1}]}`))
	f.Add([]byte(`{"schema_version":"1","harden":{"rounds":null}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := report.Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		// Whatever reads must write back (pkg/report/format's FuzzRender
		// renders it in every other format).
		_ = report.WriteJSON(io.Discard, r)
		report.Check(r, report.Gate{FailAbove: fptr(0.5), Baseline: r})
	})
}
