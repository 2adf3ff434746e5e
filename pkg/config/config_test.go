package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/report"
)

// minimal is the smallest valid config.
const minimal = `
model: m.onnx
data: d.npy
attacks:
  - name: fgsm
    params: {eps: 0.1}
`

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "advtest.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefaults(t *testing.T) {
	p, err := Load(writeFile(t, minimal))
	if err != nil {
		t.Fatal(err)
	}
	want := Plan{
		Model: "m.onnx", Data: "d.npy", Seed: DefaultSeed, BatchSize: DefaultBatchSize,
		Preprocessing: Preprocessing{Scale: 1, Mean: []float64{}, Std: []float64{}, ClipMin: 0, ClipMax: 1, Layout: "NCHW"},
		Attacks:       []Attack{{Name: "fgsm", Params: map[string]string{"eps": "0.1"}}},
		Sweep:         Sweep{Eps: []float64{}},
		Sanity:        Sanity{Enabled: true, Samples: DefaultSanitySamples},
		Output:        Outputs{Format: "table"},
		Harden:        Harden{MaxRounds: 5, MaxCleanDrop: 0.02},
		Train:         Train{ValidationSplit: 0.1},
	}
	if !reflect.DeepEqual(*p, want) {
		t.Errorf("got  %+v\nwant %+v", *p, want)
	}
}

func TestPrecedence(t *testing.T) {
	file := minimal + "batch_size: 64\nlimit: 10\ngate: {fail_above: 0.5}\npreprocessing: {mean: [0.1], std: [0.3]}\n"
	for _, c := range []struct {
		name  string
		env   map[string]string
		set   map[string]any
		check func(p *Plan) bool
	}{
		{"file over default", nil, nil, func(p *Plan) bool { return p.BatchSize == 64 && p.Seed == 1 }},
		{"env over file", map[string]string{"ADVTEST_BATCH_SIZE": "32"}, nil, func(p *Plan) bool { return p.BatchSize == 32 }},
		{"env over default", map[string]string{"ADVTEST_SEED": "7"}, nil, func(p *Plan) bool { return p.Seed == 7 }},
		{"nested env key", map[string]string{"ADVTEST_GATE_FAIL_ABOVE": "0.25"}, nil, func(p *Plan) bool { return *p.Gate.FailAbove == 0.25 }},
		{"env for an unset pointer", map[string]string{"ADVTEST_HARDEN_UNTIL_SR": "0.4"}, nil, func(p *Plan) bool { return p.Harden.UntilSR != nil && *p.Harden.UntilSR == 0.4 }},
		{"env for an unset struct pointer", map[string]string{"ADVTEST_HARDEN_UNTIL_CERTIFIED_RADIUS": "0.5", "ADVTEST_HARDEN_UNTIL_CERTIFIED_ACCURACY": "0.6"}, nil, func(p *Plan) bool {
			u := p.Harden.UntilCertified
			return u != nil && u.Radius == 0.5 && u.Accuracy == 0.6 && u.WithDefaults().N == DefaultCertifiedN
		}},
		{"no until_certified by default", nil, nil, func(p *Plan) bool { return p.Harden.UntilCertified == nil }},
		{"env number list", map[string]string{"ADVTEST_PREPROCESSING_MEAN": "0.5,0.25", "ADVTEST_PREPROCESSING_STD": "[0.5 0.5]"}, nil,
			func(p *Plan) bool {
				return reflect.DeepEqual(p.Preprocessing.Mean, []float64{0.5, 0.25}) && len(p.Preprocessing.Std) == 2
			}},
		{"set over env", map[string]string{"ADVTEST_BATCH_SIZE": "32"}, map[string]any{"batch_size": 16}, func(p *Plan) bool { return p.BatchSize == 16 }},
		{"set over file", nil, map[string]any{"limit": 3, "output.format": "json"}, func(p *Plan) bool { return p.Limit == 3 && p.Output.Format == "json" }},
		{"unrelated keys ignored", nil, map[string]any{"config": "x.yaml", "verbose": true}, func(p *Plan) bool { return p.BatchSize == 64 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			v := NewViper()
			if err := ReadFile(v, writeFile(t, file)); err != nil {
				t.Fatal(err)
			}
			for k, x := range c.set {
				v.Set(k, x)
			}
			p, err := FromViper(v)
			if err != nil {
				t.Fatal(err)
			}
			if !c.check(p) {
				t.Errorf("unexpected plan %+v", p)
			}
		})
	}
}

func TestFileErrors(t *testing.T) {
	for _, c := range []struct{ name, yaml, want string }{
		{"unknown top-level key", minimal + "batchsize: 3\n", `batchsize: unknown key`},
		{"unknown nested key", minimal + "gate: {fail_abov: 0.5}\n", `gate.fail_abov: unknown key (known here: allow_missing_attacks, baseline, fail_above, max_regression, max_targeted_sr, min_clean_accuracy)`},
		{"unknown key in a list item", "model: m\ndata: d\nattacks:\n  - name: pgd\n  - name: fgsm\n    parms: {eps: 1}\n", `attacks[1].parms: unknown key`},
		{"wrong kind", minimal + "batch_size: many\n", `batch_size: want an integer, got "many"`},
		{"fraction for an integer", minimal + "limit: 1.5\n", `limit: want an integer, got 1.5`},
		{"negative seed", minimal + "seed: -1\n", `seed: want an integer >= 0, got -1`},
		{"list for a mapping", minimal + "gate: [1]\n", `gate: want a mapping, got a list`},
		{"mapping for a param", "model: m\ndata: d\nattacks:\n  - name: pgd\n    params: {eps: {a: 1}}\n", `attacks[0].params.eps: want a single value`},
		{"not a mapping", "- a\n- b\n", "want a mapping of config keys at the top level"},
		{"not YAML", "model: [\n", "not valid YAML"},
		{"duplicate key", minimal + "model: n.onnx\n", "not valid YAML"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, c.yaml)
			_, err := Load(path)
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "config: "+path+": ") {
				t.Errorf("error %q, want it to start with the file and contain %q", err, c.want)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("no error for a missing file")
	}
	big := strings.Repeat("#", MaxFileSize+1)
	if _, err := Load(writeFile(t, big)); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("oversized file: %v", err)
	}
}

func TestEnvErrors(t *testing.T) {
	t.Setenv("ADVTEST_BATCH_SIZE", "lots")
	t.Setenv("ADVTEST_GATE_FAIL_ABOVE", "half")
	_, err := Load(writeFile(t, minimal))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`config: batch_size: want an integer, got "lots"`, `config: gate.fail_above: want a number, got "half"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q, want it to contain %q", err, want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct{ name, yaml, want string }{
		{"model required", "data: d\nattacks: [{name: fgsm}]\n", "config: model: want the path of an ONNX model"},
		{"data required", "model: m\nattacks: [{name: fgsm}]\n", "config: data: want the path of a data file"},
		{"attacks required", "model: m\ndata: d\n", "config: attacks: want at least one attack"},
		{"negative limit", minimal + "limit: -1\n", "config: limit: want an integer >= 0"},
		{"batch size", minimal + "batch_size: 0\n", "config: batch_size: want an integer > 0, got 0"},
		{"scale", minimal + "preprocessing: {scale: 0}\n", "config: preprocessing.scale: want a number > 0"},
		{"clip order", minimal + "preprocessing: {clip_min: 1, clip_max: 1}\n", "config: preprocessing.clip_min: want less than clip_max (1), got 1"},
		{"mean/std lengths", minimal + "preprocessing: {mean: [0.1, 0.2], std: [0.3]}\n", "config: preprocessing.std: want as many values as preprocessing.mean (2), got 1"},
		{"std positive", minimal + "preprocessing: {mean: [0.1], std: [0]}\n", "config: preprocessing.std[0]: want a number > 0, got 0"},
		{"layout", minimal + "preprocessing: {layout: nchw}\n", `config: preprocessing.layout: want one of NCHW, NHWC, got "nchw"`},
		{"attack name", "model: m\ndata: d\nattacks: [{name: fgsm}, {params: {eps: 1}}]\n", `config: attacks[1].name: want an attack name`},
		{"eps not a number", "model: m\ndata: d\nattacks: [{name: fgsm}, {name: pgd, params: {eps: abc}}]\n", `config: attacks[1].params.eps: want a number, got "abc"`},
		{"negative eps", "model: m\ndata: d\nattacks: [{name: pgd, params: {eps: -0.1}}]\n", `config: attacks[0].params.eps: want a number >= 0, got -0.1`},
		{"steps", "model: m\ndata: d\nattacks: [{name: pgd, params: {steps: 2.5}}]\n", `config: attacks[0].params.steps: want an integer > 0, got "2.5"`},
		{"norm", "model: m\ndata: d\nattacks: [{name: pgd, params: {norm: inf}}]\n", `config: attacks[0].params.norm: want one of linf, l2, l1, l0, got "inf"`},
		{"targeted", "model: m\ndata: d\nattacks: [{name: pgd, params: {targeted: maybe}}]\n", `config: attacks[0].params.targeted: want true or false`},
		{"duplicate attack", "model: m\ndata: d\nattacks: [{name: pgd, params: {eps: 0.1}}, {name: pgd, params: {eps: 0.10}}]\n", `config: attacks[1]: the same attack as attacks[0] (pgd{eps=0.1})`},
		{"max_sr range", "model: m\ndata: d\nattacks: [{name: pgd, max_sr: 1.5}]\n", `config: attacks[0].max_sr: want a number in [0, 1], got 1.5`},
		{"sweep unknown attack", minimal + "sweep: {attack: pgd, eps: [0.1]}\n", `config: sweep.attack: want the name of an attack in attacks, got "pgd"`},
		{"sweep ambiguous", "model: m\ndata: d\nattacks: [{name: pgd}, {name: pgd, params: {eps: 1}}]\nsweep: {attack: pgd, eps: [0.1]}\n", `config: sweep.attack: "pgd" names 2 attacks`},
		{"sweep eps", minimal + "sweep: {attack: fgsm, eps: [0.1, 0]}\n", `config: sweep.eps[1]: want a number > 0, got 0`},
		{"sweep no eps", minimal + "sweep: {attack: fgsm}\n", `config: sweep.eps: want a list of budgets`},
		{"sweep eps without attack", minimal + "sweep: {eps: [0.1]}\n", `config: sweep.attack: want the name of the attack to sweep`},
		{"fail_above range", minimal + "gate: {fail_above: 1.1}\n", `config: gate.fail_above: want a number in [0, 1], got 1.1`},
		{"fail_above negative", minimal + "gate: {fail_above: -0.1}\n", `config: gate.fail_above: want a number in [0, 1], got -0.1`},
		{"max_regression", minimal + "gate: {max_regression: 2}\n", `config: gate.max_regression: want a number in [0, 1], got 2`},
		{"format", minimal + "output: {format: yaml}\n", `config: output.format: want one of ` + strings.Join(Formats, ", ") + `, got "yaml"`},
		{"extra format", minimal + "output: {extra: [{format: xml, path: r.xml}]}\n", `config: output.extra[0].format: want one of`},
		{"two stdouts", minimal + "output: {extra: [{format: json}]}\n", `config: output.extra[0].path: a second output to standard output`},
		{"same file twice", minimal + "output: {path: r.txt, extra: [{format: json, path: r.txt}]}\n", `config: output.extra[0].path: "r.txt" is also the path of output`},
		{"until_sr", minimal + "harden: {until_sr: 2}\n", `config: harden.until_sr: want a number in [0, 1], got 2`},
		{"max_rounds", minimal + "harden: {max_rounds: 0}\n", `config: harden.max_rounds: want an integer > 0, got 0`},
		{"max_clean_drop", minimal + "harden: {max_clean_drop: -1}\n", `config: harden.max_clean_drop: want a number in [0, 1], got -1`},
		{"defence name", minimal + "harden: {defences: [{params: {epochs: 1}}]}\n", `config: harden.defences[0].name: want a defence name`},
		{"until_certified radius", minimal + "harden: {until_certified: {radius: -0.5, accuracy: 0.6}}\n", `config: harden.until_certified.radius: want an L2 radius >= 0, got -0.5`},
		{"until_certified accuracy", minimal + "harden: {until_certified: {radius: 0.5, accuracy: 60}}\n", `config: harden.until_certified.accuracy: want a number in [0, 1], got 60`},
		{"until_certified sigma", minimal + "harden: {until_certified: {accuracy: 0.5, sigma: -1}}\n", `config: harden.until_certified.sigma: want a number > 0`},
		{"until_certified alpha", minimal + "harden: {until_certified: {accuracy: 0.5, alpha: 1}}\n", `config: harden.until_certified.alpha: want a number in (0, 1)`},
		{"until_certified n", minimal + "harden: {until_certified: {accuracy: 0.5, n: -10}}\n", `config: harden.until_certified.n: want an integer > 0`},
		{"until_certified samples", minimal + "harden: {until_certified: {accuracy: 0.5, samples: -1}}\n", `config: harden.until_certified.samples: want an integer > 0`},
		{"until_certified typo", minimal + "harden: {until_certified: {radius: 0.5, acc: 0.6}}\n", `harden.until_certified.acc: unknown key`},
		{"until_certified kind", minimal + "harden: {until_certified: {radius: 0.5, n: many}}\n", `harden.until_certified.n`},
		{"validation_split", minimal + "train: {validation_split: 1}\n", `config: train.validation_split: want a number in [0, 1), got 1`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(writeFile(t, c.yaml))
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestAllErrorsReported(t *testing.T) {
	_, err := Load(writeFile(t, "model: m\ndata: d\nbatch_size: -1\nlimit: -1\nattacks: [{name: fgsm}]\n"))
	if err == nil || !strings.Contains(err.Error(), "batch_size") || !strings.Contains(err.Error(), "limit") {
		t.Errorf("error %v, want both batch_size and limit named", err)
	}
}

func TestParamsAsStrings(t *testing.T) {
	p, err := Load(writeFile(t, "model: m\ndata: d\nattacks:\n  - name: pgd\n    params: {eps: 0.3, steps: 40, targeted: true, norm: linf}\n    max_sr: 0.5\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"eps": "0.3", "steps": "40", "targeted": "true", "norm": "linf"}
	if !reflect.DeepEqual(p.Attacks[0].Params, want) || *p.Attacks[0].MaxSR != 0.5 {
		t.Errorf("attack %+v, want params %v and max_sr 0.5", p.Attacks[0], want)
	}
}

func TestStarterConfig(t *testing.T) {
	p, err := Load(writeFile(t, StarterConfig()))
	if err != nil {
		t.Fatalf("the starter config does not load: %v", err)
	}
	if len(p.Attacks) != 5 || p.Gate.FailAbove == nil {
		t.Errorf("starter plan %+v", p)
	}
	// Every key is in the starter, so that it documents them all.
	for _, k := range Keys() {
		last := k[strings.LastIndex(k, ".")+1:]
		if !strings.Contains(StarterConfig(), last+":") {
			t.Errorf("key %s is missing from the starter config", k)
		}
	}
}

func TestShippedConfigs(t *testing.T) {
	root := filepath.Join("..", "..")
	files, err := filepath.Glob(filepath.Join(root, "configs", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no configs found: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			p, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, path := range []string{p.Data, p.Labels, p.Model} {
				if path == "" {
					continue
				}
				if _, err := os.Stat(filepath.Join(root, path)); err != nil {
					if path == p.Model {
						t.Logf("model not shipped yet: %v", err)
						continue
					}
					t.Errorf("%s: %v", f, err)
				}
			}
		})
	}
}

func TestMap(t *testing.T) {
	p, err := Load(writeFile(t, minimal+"gate: {fail_above: 0.5}\n"))
	if err != nil {
		t.Fatal(err)
	}
	m := p.Map()
	if m["batch_size"] != float64(128) || m["gate"].(map[string]any)["fail_above"] != 0.5 {
		t.Errorf("map %v", m)
	}
	if len(p.AllOutputs()) != 1 || !IsStdout(p.AllOutputs()[0].Path) {
		t.Errorf("outputs %+v", p.AllOutputs())
	}
}

func TestReportGate(t *testing.T) {
	fa := 0.5
	g := Gate{FailAbove: &fa, Baseline: "old.json", MaxRegression: 0.02}
	base := report.New("test")
	rg := g.ReportGate(base)
	fa = 0.9 // the report gate holds its own copy
	if *rg.FailAbove != 0.5 || rg.Baseline != base || rg.BaselineName != "old.json" || rg.MaxRegression != 0.02 {
		t.Errorf("report gate %+v", rg)
	}
	if rg := (Gate{Baseline: "old.json"}).ReportGate(nil); rg.Baseline != nil || rg.BaselineName != "" || rg.FailAbove != nil {
		t.Errorf("report gate without a baseline %+v", rg)
	}
}

// TestAttacksConstruct checks that every attack in the shipped configs and
// the starter config is accepted by the attack registry as written.
func TestAttacksConstruct(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "configs", "*.yaml"))
	plans := map[string]*Plan{}
	for _, f := range files {
		p, err := Load(f)
		if err != nil {
			t.Fatal(err)
		}
		plans[filepath.Base(f)] = p
	}
	p, err := Load(writeFile(t, StarterConfig()))
	if err != nil {
		t.Fatal(err)
	}
	plans["starter"] = p
	for name, p := range plans {
		for i, a := range p.Attacks {
			if _, err := attack.New(a.Name, a.Params); err != nil {
				t.Errorf("%s: attacks[%d]: %v", name, i, err)
			}
		}
	}
}
