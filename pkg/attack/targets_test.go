package attack

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/advtest/advtest/internal/npyfile"
)

func TestParseTargetRule(t *testing.T) {
	dir := t.TempDir()
	txt := filepath.Join(dir, "t.txt")
	if err := os.WriteFile(txt, []byte("# targets\n1\n2\n\n0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.txt")
	if err := os.WriteFile(bad, []byte("1\ntwo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	csvFile := filepath.Join(dir, "data.csv")
	if err := os.WriteFile(csvFile, []byte("x0,x1,label,target\n0.1,0.2,3,4\n0.3,0.4,1,7\n0.5,0.6,2,0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badCSV := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(badCSV, []byte("label,target\n1,2\n2,-3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		in, want, err string
	}{
		{"random", "random", ""},
		{"label:" + csvFile + ":target", "label:" + csvFile + ":target", ""},
		{"label:" + csvFile + ":3", "label:" + csvFile + ":3", ""},
		{"label:" + csvFile + ":nosuch", "", `no column "nosuch" in the header (columns: x0, x1, label, target)`},
		{"label:" + csvFile + ":nosuch", "", csvFile},
		{"label:" + badCSV + ":target", "", `line 3, column "target"`},
		{"label:" + filepath.Join(dir, "missing.csv") + ":target", "", "missing.csv"},
		{"label:target", "", "label:<file.csv>:<column>"},
		{"", "random", ""},
		{"least-likely", "least-likely", ""},
		{"class:3", "class:3", ""},
		{"label:" + txt, "label:" + txt, ""},
		{"class:-1", "", "class:<k>"},
		{"class:x", "", "class:<k>"},
		{"label:", "", "label:<file>"},
		{"label:" + filepath.Join(dir, "missing.npy"), "", "missing.npy"},
		{"label:" + bad, "", `line 2 is "two"`},
		{"random:1", "", "want random"},
		{"nearest", "", "want random, least-likely"},
	} {
		r, err := ParseTargetRule(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want one containing %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || r.String() != c.want {
			t.Errorf("%q: %v, %v; want %s", c.in, r, err, c.want)
		}
	}
	r, _ := ParseTargetRule("label:" + txt)
	if len(r.table) != 3 || r.table[0] != 1 || r.table[1] != 2 || r.table[2] != 0 {
		t.Errorf("label table %v, want [1 2 0]", r.table)
	}
	for _, col := range []string{"target", "TARGET", "3", "-1"} {
		r, err := ParseTargetRule("label:" + csvFile + ":" + col)
		if err != nil || len(r.table) != 3 || r.table[0] != 4 || r.table[1] != 7 || r.table[2] != 0 {
			t.Errorf("column %s: table %v (%v), want [4 7 0]", col, r, err)
		}
	}
}

func TestTargetedKeys(t *testing.T) {
	for _, c := range []struct{ spec, err string }{
		{"pgd:targeted=true", ""},
		{"pgd:targeted=false", ""},
		{"square:targeted=true,target=least-likely", ""},
		{"hsja:targeted=true,target=class:1", ""},
		{"pgd:targeted=maybe", "want true or false"},
		{"pgd:targeted=false,target=random", "targeted=false"},
		{"deepfool:targeted=true", "no targeted form"},
		{"autoattack:targeted=true", "no targeted form"},
		{"hsja:targeted=true,target=least-likely", "needs scores"},
		{"boundary:target=least-likely", "needs scores"},
	} {
		a, err := newFromSpec(c.spec)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.spec, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.spec, err)
			continue
		}
		_, isT := a.(interface{ Rule() *TargetRule })
		if want := !strings.Contains(c.spec, "false"); isT != want || (a.Params()["targeted"] == true) != want {
			t.Errorf("%s: targeted wrapper %v, params %v", c.spec, isT, a.Params())
		}
		if a.Name() != strings.Split(c.spec, ":")[0] {
			t.Errorf("%s: name %s", c.spec, a.Name())
		}
	}
	if _, ok := mustNew(t, "square:targeted=true").(BlackBox); !ok {
		t.Error("a targeted black-box attack is no longer a BlackBox")
	}
}

// TestTargetSelection checks each rule's choice on a toy model: random
// never picks the label and covers every other class; least-likely is the
// clean argmin; class:k skips samples labelled k; label reads the file by
// global sample index.
func TestTargetSelection(t *testing.T) {
	toy := newToyMLP(9, 12, 16, 5, 40)
	c := toy.clf.NumClasses()
	n := toy.b.Len()
	lg, _ := toy.clf.Logits(context.Background(), toy.b.X)
	// fgsm with a tiny eps changes nothing: it shows the targets chosen.
	runWith := func(target string, b Batch) *Outcome {
		t.Helper()
		a := mustNew(t, "fgsm:eps=0.001,targeted=true,target="+target)
		o, err := a.Run(context.Background(), toy.clf, b, rand.New(rand.NewPCG(1, 2)))
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	o := runWith("random", toy.b)
	seen := map[int]bool{}
	for i, tg := range o.Targets {
		if tg == toy.b.Y[i] || tg < 0 || tg >= c {
			t.Errorf("random target %d for label %d", tg, toy.b.Y[i])
		}
		seen[tg] = true
	}
	if len(seen) != c {
		t.Errorf("random targets cover %d of %d classes", len(seen), c)
	}
	o = runWith("least-likely", toy.b)
	for i, tg := range o.Targets {
		z := lg.F[i*c : (i+1)*c]
		for _, v := range z {
			if v < z[tg] {
				t.Fatalf("sample %d: least-likely target %d is not the clean argmin of %v", i, tg, z)
			}
		}
	}
	o = runWith("class:2", toy.b)
	for i, tg := range o.Targets {
		if tg != 2 || o.Skipped[i] != (toy.b.Y[i] == 2) {
			t.Errorf("class:2: sample %d (label %d): target %d, skipped %v", i, toy.b.Y[i], tg, o.Skipped[i])
		}
	}
	if _, err := mustNew(t, "fgsm:targeted=true,target=class:9").Run(context.Background(), toy.clf, toy.b, nil); err == nil || !strings.Contains(err.Error(), "5 classes") {
		t.Errorf("class beyond the model: %v", err)
	}
	// label:<file>: targets by global index, read through pkg/dataset.
	dir := t.TempDir()
	file := filepath.Join(dir, "targets.npy")
	table := make([]int, 100+n)
	for g := range table {
		table[g] = (g*7 + 1) % c
	}
	if err := npyfile.WriteLabels(file, table); err != nil {
		t.Fatal(err)
	}
	b := toy.b
	b.Index = make([]int, n)
	for i := range b.Index {
		b.Index[i] = 100 + i
	}
	o = runWith("label:"+file, b)
	for i, tg := range o.Targets {
		if tg != table[100+i] {
			t.Fatalf("label file: sample %d target %d, want %d", i, tg, table[100+i])
		}
	}
	b.Index[3] = len(table)
	a := mustNew(t, "fgsm:targeted=true,target=label:"+file)
	if _, err := a.Run(context.Background(), toy.clf, b, nil); err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "has none") {
		t.Errorf("sample beyond the label file: %v", err)
	}
}

// TestTargetedAttacksReachTargets: with a generous budget, targeted PGD,
// APGD-CE, C&W, Square and NES drive most samples of a toy model into a
// random target; Fooled is exactly "classified as the target" and
// Misclassified "not the label", measured afresh here.
func TestTargetedAttacksReachTargets(t *testing.T) {
	toy := newToyMLP(11, 12, 16, 4, 30)
	c := toy.clf.NumClasses()
	for _, c0 := range []struct {
		spec string
		min  float64
	}{
		{"pgd:eps=0.5,steps=40", 0.9},
		{"apgd-ce:eps=0.5,steps=30", 0.9},
		{"mifgsm:eps=0.5,steps=20", 0.8},
		{"cw:max_iter=100,binary_steps=4", 0.9},
		{"square:eps=0.5,max_queries=500", 0.8},
		{"nes:eps=0.5,samples=10,max_queries=800", 0.8},
	} {
		a := mustNew(t, c0.spec+",targeted=true,target=random")
		o := run(t, a, toy.clf, toy.b, 4)
		lg, _ := toy.clf.Logits(context.Background(), o.XAdv)
		reached := 0
		for i := range o.Fooled {
			p := argmax(lg.F[i*c : (i+1)*c])
			if o.Skipped[i] {
				continue
			}
			if o.Fooled[i] != (p == o.Targets[i]) || o.Misclassified[i] != (p != toy.b.Y[i]) {
				t.Errorf("%s: sample %d: fooled %v misclassified %v, but predicts %d (label %d, target %d)",
					c0.spec, i, o.Fooled[i], o.Misclassified[i], p, toy.b.Y[i], o.Targets[i])
			}
			if o.Fooled[i] {
				reached++
			}
		}
		sr, n := o.SuccessRate()
		mr, _ := o.MisclassifiedRate()
		if sr < c0.min || mr < sr {
			t.Errorf("%s: targeted SR %.2f over %d (want ≥ %.2f), misclassified %.2f", c0.spec, sr, n, c0.min, mr)
		}
	}
}

// TestTargetedBlackBoxMisclassified: a score-based targeted run that misses
// its target can still leave the true class; Misclassified says so from the
// oracle's answers.
func TestTargetedBlackBoxMisclassified(t *testing.T) {
	toy := newToyMLP(11, 12, 16, 4, 30)
	a := mustNew(t, "square:eps=0.3,max_queries=30,targeted=true,target=least-likely")
	o := run(t, a, toy.clf, toy.b, 4)
	lg, _ := toy.clf.Logits(context.Background(), o.XAdv)
	c := toy.clf.NumClasses()
	for i := range o.Fooled {
		if o.Skipped[i] {
			continue
		}
		if p := argmax(lg.F[i*c : (i+1)*c]); o.Misclassified[i] != (p != toy.b.Y[i]) {
			t.Errorf("sample %d: misclassified %v, predicts %d, label %d", i, o.Misclassified[i], p, toy.b.Y[i])
		}
	}
}
