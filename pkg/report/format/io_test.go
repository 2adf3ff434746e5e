package format

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/config"
	"github.com/advtest/advtest/pkg/report"
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
	back, err := report.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.WorstCase.NFooled != r.WorstCase.NFooled {
		t.Errorf("read back %d fooled, want %d", back.WorstCase.NFooled, r.WorstCase.NFooled)
	}

	// A failing writer leaves the old file and no temporary file.
	registryMu.Lock()
	registry["broken-test"] = WriterFunc(func(w io.Writer, _ *report.Report) error {
		io.WriteString(w, "half")
		return errors.New("boom")
	})
	registryMu.Unlock()
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
	if err := Render(io.Discard, "json", nil); err == nil {
		t.Error("nil report: no error")
	}
}

// FuzzRender: whatever report.Read accepts renders in every format
// without panicking.
func FuzzRender(f *testing.F) {
	for _, name := range []string{"pass", "fail", "sanity", "harden"} {
		data, err := os.ReadFile(filepath.Join("..", "testdata", name+".json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"schema_version":"1","harden":{"rounds":null}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := report.Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, format := range Formats() {
			_ = Render(io.Discard, format, r)
		}
	})
}

// TestFormatsMatchConfig: the config accepts exactly the registered
// formats.
func TestFormatsMatchConfig(t *testing.T) {
	var got []string
	for _, f := range Formats() {
		if !strings.HasSuffix(f, "-test") { // registered by other tests
			got = append(got, f)
		}
	}
	if !slices.Equal(got, config.Formats) {
		t.Errorf("registered formats %v, config accepts %v", got, config.Formats)
	}
}
