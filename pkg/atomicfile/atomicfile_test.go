package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.txt")
	if err := WriteFile(path, []byte("old")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		fill    func(io.Writer) error
		wantErr bool
		want    string
	}{
		{"replaces", func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }, false, "new"},
		{"failure keeps the old file", func(w io.Writer) error { _, _ = io.WriteString(w, "half"); return errors.New("boom") }, true, "new"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Write(path, c.fill)
			if (err != nil) != c.wantErr {
				t.Fatalf("err %v, want error %v", err, c.wantErr)
			}
			got, _ := os.ReadFile(path)
			if string(got) != c.want {
				t.Errorf("file holds %q, want %q", got, c.want)
			}
			ents, _ := os.ReadDir(dir)
			if len(ents) != 1 {
				t.Errorf("%d entries in the folder, want 1 (no temporary file left)", len(ents))
			}
		})
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v (%v), want 0644", st.Mode(), err)
	}
	if err := WriteFile(filepath.Join(dir, "missing", "f"), nil); err == nil {
		t.Error("writing into a missing folder: no error")
	}
}

// TestWriteRelative writes to a bare file name, twice: the temporary file
// goes to the current folder and the second write replaces the first.
func TestWriteRelative(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, data := range []string{"first", "second"} {
		if err := WriteFile("out.json", []byte(data)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile("out.json")
		if err != nil || string(got) != data {
			t.Fatalf("read %q (%v), want %q", got, err, data)
		}
	}
	ents, _ := os.ReadDir(".")
	if len(ents) != 1 {
		t.Errorf("%d entries in the folder, want 1", len(ents))
	}
}
