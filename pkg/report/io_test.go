package report

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "report.json")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := sample(t)
	if err := WriteFile(path, "json", r); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.WorstCase.NFooled != r.WorstCase.NFooled {
		t.Errorf("read back %d fooled, want %d", back.WorstCase.NFooled, r.WorstCase.NFooled)
	}

	// A failing writer leaves the old file and no temporary file.
	if err := Register("broken-test", WriterFunc(func(w io.Writer, _ *Report) error {
		io.WriteString(w, "half")
		return errors.New("boom")
	})); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	if err := WriteFile(path, "broken-test", r); err == nil {
		t.Fatal("no error from a failing writer")
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("a failed write changed the file")
	}
	// A folder that does not exist fails before anything is written.
	if err := WriteFile(filepath.Join(dir, "no", "such", "r.json"), "json", r); err == nil {
		t.Error("no error writing into a missing folder")
	}
	// An unknown format fails and names the known ones.
	if err := WriteFile(path, "yaml", r); err == nil || !strings.Contains(err.Error(), "junit") {
		t.Errorf("unknown format error %v, want the known formats listed", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("folder holds %q, want only report.json", names)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v %v, want 0644", fi.Mode(), err)
	}
}

func TestRegistry(t *testing.T) {
	for _, f := range []string{"table", "json", "junit", "markdown"} {
		if _, err := Lookup(f); err != nil {
			t.Errorf("Lookup(%q): %v", f, err)
		}
	}
	ok := WriterFunc(func(io.Writer, *Report) error { return nil })
	if err := Register("json", ok); err == nil {
		t.Error("registering json twice: no error")
	}
	if err := Register("Bad Name", ok); err == nil {
		t.Error("malformed name: no error")
	}
	if err := Register("nil-writer", nil); err == nil {
		t.Error("nil writer: no error")
	}
	if err := Render(io.Discard, "json", nil); err == nil {
		t.Error("nil report: no error")
	}
}

func TestRead(t *testing.T) {
	var good bytes.Buffer
	if err := Render(&good, "json", sample(t)); err != nil {
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
			_, err := Read(strings.NewReader(c.in))
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
	if err := f.Truncate(MaxFileSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("error %v, want a size refusal", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Fatal("no error for a missing file")
	}
}

func FuzzLoad(f *testing.F) {
	var buf bytes.Buffer
	if err := Render(&buf, "json", sample(f)); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte(`{"schema_version":"1"}`))
	f.Add([]byte(`{"schema_version":"1","attacks":[{"name":"x","n":-1}]}`))
	f.Add([]byte(`{"schema_version":"1","harden":{"rounds":null}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		// Whatever reads must render in every format without panicking.
		for _, format := range []string{"table", "json", "junit", "markdown"} {
			_ = Render(io.Discard, format, r)
		}
		Evaluate(r, Gate{FailAbove: fptr(0.5), Baseline: r})
	})
}
