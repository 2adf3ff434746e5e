package cmd

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
)

// targetColumnCSV writes the first 40 rows of the tabular CSV with an extra
// column "tgt" holding each sample's target class ((label+1) mod 3), and
// the same targets as a separate .txt file of class ids.
func targetColumnCSV(t *testing.T) (withColumn, plain, targets string) {
	t.Helper()
	b, err := os.ReadFile(repoRoot + "/testdata/tabular/tabular.csv")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")[:41]
	with := make([]string, len(lines))
	var ids []string
	for i, l := range lines {
		c := strings.Split(l, ",")
		if i == 0 {
			with[i] = strings.Join(append(c[:2:2], append([]string{"tgt"}, c[2:]...)...), ",")
			continue
		}
		y, err := strconv.Atoi(c[len(c)-1])
		if err != nil {
			t.Fatal(err)
		}
		tg := strconv.Itoa((y + 1) % 3)
		ids = append(ids, tg)
		with[i] = strings.Join(append(c[:2:2], append([]string{tg}, c[2:]...)...), ",")
	}
	return writeFile(t, "with-tgt.csv", []byte(strings.Join(with, "\n")+"\n")),
		writeFile(t, "plain.csv", []byte(strings.Join(lines, "\n")+"\n")),
		writeFile(t, "targets.txt", []byte(strings.Join(ids, "\n")+"\n"))
}

// TestTargetFromDataColumn (issue 14): target=label:<column> takes each
// sample's target from a column of the evaluation CSV itself; that column
// is not a feature, and the run equals the one with the same targets in a
// separate file (PGD without random start, whose random stream is keyed
// by its parameters, the target file among them). A column the data lacks is an input error naming it.
func TestTargetFromDataColumn(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	with, plain, targets := targetColumnCSV(t)
	run := func(data, target string) (int, map[string]any, string) {
		cfg := writeFile(t, "c.yaml", []byte("preprocessing: {clip_min: -20, clip_max: 20}\n"))
		code, stdout, stderr := runBinary(t, "attack", "-c", cfg, "-m", tabModel, "-d", data, "--no-progress", "--sanity=false",
			"--format", "json", "-a", "pgd:eps=0.5,steps=10,random_start=false,targeted=true,target="+target)
		var r map[string]any
		if code == 0 || code == ExitGateFailed {
			if err := json.Unmarshal([]byte(stdout), &r); err != nil {
				t.Fatalf("target=%s: %v\n%s\n%s", target, err, stdout, stderr)
			}
		}
		return code, r, stderr
	}
	targetedOf := func(r map[string]any) any {
		return r["attacks"].([]any)[0].(map[string]any)["targeted_sr"]
	}
	code, fromColumn, stderr := run(with, "label:tgt")
	if code != 0 {
		t.Fatalf("label:tgt on a CSV with a tgt column: exit %d\n%s", code, stderr)
	}
	code, fromFile, stderr := run(plain, "label:"+targets)
	if code != 0 {
		t.Fatalf("label:<file>: exit %d\n%s", code, stderr)
	}
	a, b := targetedOf(fromColumn), targetedOf(fromFile)
	if a == nil || !jsonEqual(a, b) {
		t.Errorf("targeted SR from the data's column %v, from a file of the same targets %v: want equal and present", a, b)
	}
	if fromColumn["clean_accuracy"] != fromFile["clean_accuracy"] {
		t.Errorf("clean accuracy %v with the target column, %v without: the column must not be a feature", fromColumn["clean_accuracy"], fromFile["clean_accuracy"])
	}
	code, _, stderr = run(plain, "label:tgt")
	if code != ExitUsage || !strings.Contains(stderr, `no skipped column "tgt"`) || !strings.Contains(stderr, "plain.csv") {
		t.Errorf("label:tgt on a CSV without it: exit %d, want %d naming the file and the column; stderr:\n%s", code, ExitUsage, stderr)
	}
}

func jsonEqual(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}
