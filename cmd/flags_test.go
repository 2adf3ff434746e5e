package cmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/config"
	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/onnxmodel/onnxpb"
	"github.com/advtest/advtest/pkg/report/format"
	"github.com/advtest/advtest/pkg/run"
)

const tabModel = repoRoot + "/testdata/models/tabular_mlp.onnx"

// labelFirstCSV writes the first 40 rows of the tabular CSV with its label
// column moved first and named "y", so that the default ("label") misses.
func labelFirstCSV(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(repoRoot + "/testdata/tabular/tabular.csv")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")[:41]
	for i, l := range lines {
		c := strings.Split(l, ",")
		if i == 0 {
			c[len(c)-1] = "y"
		}
		lines[i] = strings.Join(append([]string{c[len(c)-1]}, c[:len(c)-1]...), ",")
	}
	return writeFile(t, "tab.csv", []byte(strings.Join(lines, "\n")+"\n"))
}

// TestLabelColumnOnEveryDatasetCommand (issue 13 item 7): every command
// that reads a dataset takes --label-column; attack and harden also take
// it from the config (label_column, for data and train.data) and the
// environment (ADVTEST_LABEL_COLUMN). Without it the CSV is refused.
func TestLabelColumnOnEveryDatasetCommand(t *testing.T) {
	csv := labelFirstCSV(t)
	abs, err := filepath.Abs(tabModel)
	if err != nil {
		t.Fatal(err)
	}
	cfg := func(extra string) string {
		return writeFile(t, "c.yaml", []byte("model: "+abs+"\ndata: "+csv+"\nseed: 3\npreprocessing: {clip_min: -20, clip_max: 20}\n"+
			"attacks: [{name: fgsm, params: {eps: 0.1}}]\nsanity: {enabled: false}\noutput: {format: json}\n"+
			"train: {data: "+csv+"}\nharden: {until_sr: 1, max_rounds: 1, defences: [{name: pgd-at, params: {eps: 0.1, steps: 2, min: -20, max: 20, epochs: 1}}]}\n"+extra))
	}
	out := filepath.Join(t.TempDir(), "hardened.onnx")
	cases := []struct {
		name string
		env  []string
		args []string
	}{
		{"eval", nil, []string{"eval", "-m", tabModel, "-d", csv}},
		{"certify", nil, []string{"certify", "-m", tabModel, "-d", csv, "--n0", "10", "--n", "20", "--limit", "5", "--progress", "none"}},
		{"attack", nil, []string{"attack", "-c", cfg(""), "--no-progress"}},
		{"harden", nil, []string{"harden", "-c", cfg(""), "--no-progress", "--output-model", out}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runBinaryEnv(t, tc.env, tc.args...)
			if code != ExitUsage || !strings.Contains(stderr, `no label column "label"`) || !strings.Contains(stderr, "tab.csv") {
				t.Errorf("without --label-column: exit %d, want 2 naming the file and the column: %s", code, stderr)
			}
			if code, _, stderr := runBinaryEnv(t, tc.env, append(tc.args, "--label-column", "y")...); code != ExitOK {
				t.Errorf("--label-column y: exit %d: %s", code, stderr)
			}
		})
	}
	for name, args := range map[string][]string{
		"attack from the config":  {"attack", "-c", cfg("label_column: y\n"), "--no-progress"},
		"harden from the config":  {"harden", "-c", cfg("label_column: \"0\"\n"), "--no-progress", "--output-model", out},
		"attack from the env var": {"attack", "-c", cfg(""), "--no-progress"},
	} {
		var env []string
		if strings.Contains(name, "env") {
			env = []string{"ADVTEST_LABEL_COLUMN=y"}
		}
		if code, _, stderr := runBinaryEnv(t, env, args...); code != ExitOK {
			t.Errorf("%s: exit %d: %s", name, code, stderr)
		}
	}
}

// zeroClassModel writes the tabular MLP with its last layer cut to 0
// outputs: logits [batch, 0], declared so when declared is true, else with
// an unknown class dimension.
func zeroClassModel(t *testing.T, declared bool) string {
	t.Helper()
	m, err := onnxmodel.Load(tabModel)
	if err != nil {
		t.Fatal(err)
	}
	mp := m.ToProto()
	g := mp.GetGraph()
	for _, in := range g.GetInitializer() {
		switch in.GetName() {
		case "fc3.weight":
			in.Dims, in.FloatData, in.RawData = []int64{0, 32}, nil, nil
		case "fc3.bias":
			in.Dims, in.FloatData, in.RawData = []int64{0}, nil, nil
		}
	}
	dim := g.GetOutput()[0].GetType().GetTensorType().GetShape().GetDim()[1]
	dim.Value = nil
	if declared {
		dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: 0}
	}
	b, err := (&onnxmodel.Model{Proto: mp}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "zero.onnx", b)
}

// TestZeroClassModelIsAnInputError (issue 13 item 7): a model whose output
// has 0 classes is exit 2 with a message naming the model and what was
// expected, on every command, never an internal error (and never a clean
// accuracy read from an argmax over nothing).
func TestZeroClassModelIsAnInputError(t *testing.T) {
	x, y := repoRoot+"/testdata/tabular/x.npy", repoRoot+"/testdata/tabular/y.npy"
	for _, declared := range []bool{true, false} {
		m := zeroClassModel(t, declared)
		for _, args := range [][]string{
			{"inspect", "-m", m},
			{"eval", "-m", m, "-d", x, "-l", y},
			{"certify", "-m", m, "-d", x, "-l", y, "--progress", "none"},
			{"attack", "-m", m, "-d", x, "-l", y, "-a", "fgsm", "--no-progress"},
		} {
			code, _, stderr := runBinary(t, args...)
			if code != ExitUsage || !strings.Contains(stderr, m) || !strings.Contains(stderr, "0 classes") ||
				!strings.Contains(stderr, "at least one class") || strings.Contains(stderr, "internal error") {
				t.Errorf("%s (class dim declared %v): exit %d, want 2 naming the model and 0 classes: %s", args[0], declared, code, stderr)
			}
		}
	}
}

// TestFormatHelpAndCompletion (issue 13 item 7): each command's --help
// lists every format it accepts (html on attack and harden included), and
// shell completion offers exactly those.
func TestFormatHelpAndCompletion(t *testing.T) {
	text := []string{"text", "json"}
	cases := []struct {
		cmd     []string
		formats []string
	}{
		{[]string{"attack"}, config.Formats},
		{[]string{"harden"}, config.Formats},
		{[]string{"report", "render"}, format.Formats()},
		{[]string{"report", "merge"}, format.Formats()},
		{[]string{"report", "diff"}, format.DiffFormats},
		{[]string{"attacks"}, run.ListFormats},
		{[]string{"defences"}, run.ListFormats},
		{[]string{"eval"}, text},
		{[]string{"inspect"}, text},
		{[]string{"version"}, text},
	}
	for _, tc := range cases {
		name := strings.Join(tc.cmd, " ")
		_, help, _ := runBinary(t, append(tc.cmd, "--help")...)
		var line string
		for _, l := range strings.Split(help, "\n") {
			if strings.Contains(l, "--format") && strings.Contains(l, "-f,") {
				line = l
			}
		}
		for _, f := range tc.formats {
			if !strings.Contains(line, f) {
				t.Errorf("%s --help: the --format line %q does not list %s", name, line, f)
			}
		}
		_, out, _ := runBinary(t, append(append([]string{"__complete"}, tc.cmd...), "--format", "")...)
		got := completions(out)
		if strings.Join(got, " ") != strings.Join(tc.formats, " ") {
			t.Errorf("%s: --format completes %v, want %v", name, got, tc.formats)
		}
	}
}

// completions returns the candidates of a __complete answer (the lines
// before the ":directive" line).
func completions(out string) []string {
	var words []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(l, ":") {
			break
		}
		words = append(words, l)
	}
	return words
}

// TestAttackFlagCompletion (issue 13 item 7): --attack completes the
// registry's attack names, then the named attack's parameters.
func TestAttackFlagCompletion(t *testing.T) {
	for _, c := range []string{"attack", "harden"} {
		_, out, _ := runBinary(t, "__complete", c, "--attack", "")
		if got := completions(out); strings.Join(got, " ") != strings.Join(attack.Names(), " ") {
			t.Errorf("%s --attack completes %v, want the registry's %v", c, got, attack.Names())
		}
	}
	_, out, _ := runBinary(t, "__complete", "attack", "-a", "ap")
	if got := completions(out); len(got) == 0 || !strings.HasPrefix(got[0], "apgd") {
		t.Errorf("-a ap completes %v", got)
	}
	_, out, _ = runBinary(t, "__complete", "attack", "--attack", "pgd:eps=0.1,ste")
	got := completions(out)
	if strings.Join(got, " ") != "pgd:eps=0.1,step= pgd:eps=0.1,steps= pgd:eps=0.1,step_schedule=" || !strings.HasSuffix(strings.TrimSpace(out), ":6") {
		t.Errorf("--attack pgd:eps=0.1,ste completes %q, want pgd's step parameters and no space after", out)
	}
}
