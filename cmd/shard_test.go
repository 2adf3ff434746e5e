package cmd

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/attack"
)

// shardModel is the smallest MNIST CNN in testdata (20k parameters): the
// model attacked by the sharding test and the transfer attack's surrogate.
const shardModel = repoRoot + "/testdata/models/mnist_surrogate.onnx"

// shardPool gives every registered attack small budgets, so that the pool
// over 20 samples runs in seconds; a registered attack missing here fails
// TestShardedRunsReproduceSingleRun, so that a new attack is covered.
var shardPool = map[string]string{
	"apgd":       "apgd:eps=0.05,steps=4,restarts=2,loss=cw",
	"apgd-ce":    "apgd-ce:eps=0.05,steps=4,restarts=2",
	"apgd-dlr":   "apgd-dlr:norm=l2,eps=0.3,steps=4",
	"apgd-t":     "apgd-t:eps=0.05,steps=4,n_targets=2",
	"autoattack": "autoattack:eps=0.15,steps=2,n_targets=1",
	"bim":        "bim:eps=0.05,steps=3",
	"boundary":   "boundary:max_queries=60",
	"cw":         "cw:max_iter=10,binary_steps=2",
	"deepfool":   "deepfool:max_iter=5",
	"ead":        "ead:max_iter=10,binary_steps=2",
	"fab":        "fab:steps=5,restarts=2",
	"fab-t":      "fab-t:steps=5,n_targets=2",
	"fgsm":       "fgsm:eps=0.1",
	"fmn":        "fmn:steps=5",
	"hsja":       "hsja:max_queries=60",
	"jsma":       "jsma:gamma=0.02",
	"lbfgs":      "lbfgs:max_iter=5,search_steps=2",
	"mifgsm":     "mifgsm:eps=0.1,steps=3",
	"nes":        "nes:eps=0.1,samples=4,max_queries=40",
	"onepixel":   "onepixel:pop_size=6,max_queries=30",
	"pgd":        "pgd:eps=0.08,steps=4,restarts=2",
	"simba":      "simba:max_queries=40",
	"square":     "square:eps=0.1,max_queries=40",
	"transfer":   "transfer:surrogate=" + shardModel + ",eps=0.1,steps=3",
}

// shardTargeted are targeted forms with a random target per sample, a
// white-box and a black-box one: the target is drawn per sample too.
var shardTargeted = []string{
	"pgd:eps=0.08,steps=4,targeted=true,target=random",
	"square:eps=0.1,max_queries=40,targeted=true,target=random",
}

// Normalised before the byte comparison: the whole "timing" object
// (created, seconds, attack_seconds: wall-clock figures) and the config's
// batch_size, which differs on purpose (the merged report records the first
// shard's). Nothing else: every figure, the config, model and data must be
// the same bytes.
var (
	timingField    = regexp.MustCompile(`"timing": \{[^{}]*\}`)
	batchSizeField = regexp.MustCompile(`"batch_size": [0-9]+`)
)

func normaliseShardReport(s string) string {
	s = timingField.ReplaceAllString(s, `"timing": {}`)
	return batchSizeField.ReplaceAllString(s, `"batch_size": 0`)
}

// TestShardedRunsReproduceSingleRun (issue 13 item 5) runs every registered
// attack, white- and black-box, through the built binary: once over 20
// samples with batch size 8, and as 3 shards of uneven size (6, 7 and 7
// samples) with batch sizes 3, 5 and 2. `advtest report merge` of the
// shards must give the single run's JSON report byte for byte, apart from
// the fields normaliseShardReport names: each sample's randomness comes
// from (seed, attack, global sample index), never from its batch or shard.
func TestShardedRunsReproduceSingleRun(t *testing.T) {
	args := []string{"attack", "-m", shardModel, "-d", mnistX, "-l", mnistY, "--limit", "20", "--seed", "7",
		"--sanity=false", "--no-progress", "--format", "json"}
	for _, name := range attack.Names() {
		spec, ok := shardPool[name]
		if !ok {
			t.Fatalf("attack %q is registered but not in shardPool: give it small budgets there", name)
		}
		args = append(args, "-a", spec)
	}
	for _, spec := range shardTargeted {
		args = append(args, "-a", spec)
	}
	dir := t.TempDir()
	code, whole, stderr := runBinary(t, append(args, "--batch-size", "8")...)
	if code != 0 {
		t.Fatalf("single run: exit %d: %s", code, stderr)
	}
	var shards []string
	for i, batch := range []string{"3", "5", "2"} {
		code, out, stderr := runBinary(t, append(args, "--batch-size", batch, "--shard", string(rune('0'+i))+"/3")...)
		if code != 0 {
			t.Fatalf("shard %d/3: exit %d: %s", i, code, stderr)
		}
		p := filepath.Join(dir, "shard"+batch+".json")
		if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		shards = append(shards, p)
	}
	code, merged, stderr := runBinary(t, append([]string{"report", "merge"}, shards...)...)
	if code != 0 {
		t.Fatalf("report merge: exit %d: %s", code, stderr)
	}
	if strings.Contains(stderr, "approximate") {
		t.Errorf("merge says some medians are approximate: %s", stderr)
	}
	w, m := strings.Split(normaliseShardReport(whole), "\n"), strings.Split(normaliseShardReport(merged), "\n")
	for i := 0; i < max(len(w), len(m)); i++ {
		if i >= len(w) || i >= len(m) || w[i] != m[i] {
			t.Fatalf("merged report differs from the single run's at line %d:\nsingle: %q\nmerged: %q\nsingle run's lines before it:\n%s", i+1, at(w, i), at(m, i), strings.Join(w[max(i-8, 0):min(i, len(w))], "\n"))
		}
	}
}

func at(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(end of report)"
}
