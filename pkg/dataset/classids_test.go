package dataset

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/advtest/advtest/internal/npyfile"
	"github.com/advtest/advtest/pkg/tensor"
)

func TestLoadClassIDs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	npy := filepath.Join(dir, "t.npy")
	if err := npyfile.WriteLabels(npy, []int{3, 0, 9}); err != nil {
		t.Fatal(err)
	}
	floats := filepath.Join(dir, "f.npy")
	if err := npyfile.Write(floats, tensor.FromFloat32([]float32{1, 2, 3, 4}, 2, 2)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		want []int
		err  string
	}{
		{npy, []int{3, 0, 9}, ""},
		{write("t.txt", "# targets\n1\n\n 2 \n0\n"), []int{1, 2, 0}, ""},
		{write("bad.txt", "1\nseven\n"), nil, `line 2 is "seven"`},
		{write("neg.txt", "1\n-2\n"), nil, "entry 1 is -2"},
		{write("empty.txt", "# none\n"), nil, "no class ids"},
		{floats, nil, "f.npy"},
		{filepath.Join(dir, "missing.npy"), nil, "missing.npy"},
	} {
		got, err := LoadClassIDs(c.path)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), filepath.Base(c.path)) {
				t.Errorf("%s: error %v, want one naming the file and %q", c.path, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, %v; want %v", c.path, got, err, c.want)
		}
	}
}
