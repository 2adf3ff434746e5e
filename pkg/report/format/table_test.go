package format

import (
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/report"
)

// TestTableShowsQueriesOfBlackBoxAttacks: a pool with an attack that counts
// queries gets a median-queries column; the others show "-" there.
func TestTableShowsQueriesOfBlackBoxAttacks(t *testing.T) {
	r := sample(t)
	r.Attacks[1].Name = "square"
	r.Attacks[1].Queries = &report.NormStats{Mean: 300, Median: 250}
	var buf strings.Builder
	if err := Render(&buf, "table", r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "median queries") {
		t.Fatalf("no queries column:\n%s", out)
	}
	seen := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "| square") || strings.HasPrefix(line, "| fgsm") {
			seen++
			if strings.Count(line, "|") != 11 {
				t.Errorf("row has %d cells: %s", strings.Count(line, "|")-1, line)
			}
			if strings.HasPrefix(line, "| square") && !strings.Contains(line, " 250 |") {
				t.Errorf("square row lacks its median queries 250: %s", line)
			}
		}
	}
	if seen != 2 {
		t.Errorf("%d attack rows, want 2:\n%s", seen, out)
	}
}
