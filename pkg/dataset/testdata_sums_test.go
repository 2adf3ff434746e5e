package dataset

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// testdataRoot is the repository's testdata folder, seen from pkg/dataset.
const testdataRoot = "../../testdata"

// dataExts are the model and data files the sha256 list must cover: what
// tests, benchmarks and the README's figures read. Scripts are listed too,
// but an untracked scratch script does not fail the test.
var dataExts = map[string]bool{
	".onnx": true, ".npy": true, ".npz": true, ".gz": true,
	".json": true, ".jsonl": true, ".csv": true, ".png": true,
}

// TestTestdataSHA256 checks testdata/README.md's sha256 section: every
// model and data file under testdata is listed, and every listed file
// exists with the listed hash. A model re-exported or added without
// updating the list fails here, so the README's provenance stays true.
func TestTestdataSHA256(t *testing.T) {
	readme := filepath.Join(testdataRoot, "README.md")
	listed := readSums(t, readme)
	if len(listed) == 0 {
		t.Fatalf("%s: no sha256 lines (\"<64 hex digits>  <path>\") after \"## sha256\"", readme)
	}
	for name, want := range listed {
		got, err := fileSHA256(filepath.Join(testdataRoot, filepath.FromSlash(name)))
		if err != nil {
			t.Errorf("%s lists %s: %v", readme, name, err)
			continue
		}
		if got != want {
			t.Errorf("%s lists %s with sha256 %s, the file has %s (regenerate the list: see the README)", readme, name, want, got)
		}
	}
	err := filepath.WalkDir(testdataRoot, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && path == filepath.Join(testdataRoot, "bench") {
			// The git-ignored ImageNet-size benchmark models that
			// testdata/gen/imagenet_models.py writes: never committed.
			return fs.SkipDir
		}
		if err != nil || d.IsDir() || !dataExts[filepath.Ext(path)] {
			return err
		}
		rel, err := filepath.Rel(testdataRoot, path)
		if err != nil {
			return err
		}
		if _, ok := listed[filepath.ToSlash(rel)]; !ok {
			t.Errorf("%s: %s is not in the sha256 list", readme, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

var sumLine = regexp.MustCompile(`^([0-9a-f]{64})  (\S+)$`)

// readSums returns path → sha256 from the lines after "## sha256".
func readSums(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sums := map[string]string{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = line == "## sha256"
			continue
		}
		if m := sumLine.FindStringSubmatch(line); in && m != nil {
			sums[m[2]] = m[1]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return sums
}

func fileSHA256(path string) (string, error) {
	data, err := os.ReadFile(path)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), err
}
