// Command pgd_step_sweep measures which step size makes the strongest
// default for pgd, bim and mifgsm: it drives the built `advtest attack`
// binary (under `nice -n 10`, --format json, --sanity=false) over the
// shipped MNIST models and writes the success rates to
// testdata/reference/pgd_step_sweep.json and pgd_step_sweep.md.
//
// The PGD grid: every model × eps (Linf 0.1, 0.2, 0.3; L2 1.0, 2.0) ×
// step (eps/16, which is the old default 2.5·eps/steps at 40 steps, eps/8,
// eps/4, eps/3, and a cosine decay from eps/2 or eps/4) × restarts (1, 3), 40
// steps, random start, the first 500 shipped test samples, seed 1; then the
// cosine from eps/2 with 5 restarts, and step_schedule=mixed from eps/2
// (restarts alternating that cosine and constant eps/8) with 3 and 5, the
// default this table chose. One advtest run per (model, eps) holds all
// the settings of a group as its pool, so each sees the same clean-correct
// samples. (A first mixed schedule cycling cosine eps/2, eps/4 and eps/8
// over 3 restarts fell 0.8 points short; it is not in the table.)
// The BIM and MI-FGSM grid is smaller: the adversarially trained CNN and
// the MLP, Linf 0.1 and 0.3, steps eps/16, eps/8, eps/4 and the old
// default, at the old default's number of iterations.
//
// Each advtest report is cached under -work; a rerun only runs what is
// missing, so the sweep can be stopped and resumed. Usage, from the
// repository root:
//
//	go build -o /tmp/advtest . && go run ./testdata/gen/pgd_step_sweep -bin /tmp/advtest
//
// Options: -n samples (500), -work cache folder, -out folder
// (testdata/reference), -models (comma-separated file names to restrict
// to), -report-only (write the table from the cache without running).
// Cells the committed pgd_step_sweep.json already holds (same n) are
// taken from it rather than rerun, so a fresh machine only runs what the
// table lacks.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

var (
	models    = []string{"mnist_cnn_at.onnx", "mnist_mlp.onnx", "resnet_bn_dyn_op9.onnx", "mnist_cnn.onnx"}
	bimModels = []string{"mnist_cnn_at.onnx", "mnist_mlp.onnx"}
)

type ball struct {
	norm string
	eps  float64
}

var balls = []ball{{"linf", 0.1}, {"linf", 0.2}, {"linf", 0.3}, {"l2", 1.0}, {"l2", 2.0}}

// setting is one column of the table: a parameter string for one attack.
type setting struct {
	Family   string `json:"attack"`
	Label    string `json:"step"`
	Restarts int    `json:"restarts,omitempty"`
	params   func(b ball) string
}

func (s setting) key() string {
	if s.Restarts > 0 {
		return fmt.Sprintf("%s %s r%d", s.Family, s.Label, s.Restarts)
	}
	return s.Family + " " + s.Label
}

func g(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

func pgdSettings(r int) []setting {
	var out []setting
	for _, k := range []float64{16, 8, 4, 3} {
		k := k
		out = append(out, setting{Family: "pgd", Label: "eps/" + g(k), Restarts: r, params: func(b ball) string {
			return fmt.Sprintf("pgd:norm=%s,eps=%s,steps=40,step=%s,step_schedule=constant,restarts=%d", b.norm, g(b.eps), g(b.eps/k), r)
		}})
	}
	return append(out, cosineSetting(2, r))
}

// mixedSetting is step_schedule=mixed from eps/2: the restarts alternate
// between a cosine decay from eps/2 and constant eps/8.
func mixedSetting(r int) setting {
	return setting{Family: "pgd", Label: "alternating cosine from eps/2 and eps/8", Restarts: r, params: func(b ball) string {
		return fmt.Sprintf("pgd:norm=%s,eps=%s,steps=40,step=%s,step_schedule=mixed,restarts=%d", b.norm, g(b.eps), g(b.eps/2), r)
	}}
}

// cosineSetting decays the step on a cosine from eps/k to 0 over the 40
// steps.
func cosineSetting(k float64, r int) setting {
	return setting{Family: "pgd", Label: "cosine from eps/" + g(k), Restarts: r, params: func(b ball) string {
		return fmt.Sprintf("pgd:norm=%s,eps=%s,steps=40,step=%s,step_schedule=cosine,restarts=%d", b.norm, g(b.eps), g(b.eps/k), r)
	}}
}

// bimSteps is Kurakin et al.'s iteration count, the old bim default.
func bimSteps(eps float64) int {
	r := eps * 255
	return max(1, int(math.Floor(math.Min(r+4, 1.25*r))))
}

func bimSettings() []setting {
	out := []setting{{Family: "bim", Label: "1/255 (Kurakin)", params: func(b ball) string {
		return fmt.Sprintf("bim:norm=%s,eps=%s,step=%s,steps=%d", b.norm, g(b.eps), g(1.0/255), bimSteps(b.eps))
	}}}
	for _, k := range []float64{16, 8, 4} {
		k := k
		out = append(out, setting{Family: "bim", Label: "eps/" + g(k), params: func(b ball) string {
			return fmt.Sprintf("bim:norm=%s,eps=%s,step=%s,steps=%d", b.norm, g(b.eps), g(b.eps/k), bimSteps(b.eps))
		}})
	}
	out = append(out, setting{Family: "mifgsm", Label: "eps/10 (Dong, T=10)", params: func(b ball) string {
		return fmt.Sprintf("mifgsm:norm=%s,eps=%s,steps=10,step=%s", b.norm, g(b.eps), g(b.eps/10))
	}})
	for _, k := range []float64{16, 8, 4} {
		k := k
		out = append(out, setting{Family: "mifgsm", Label: "eps/" + g(k), params: func(b ball) string {
			return fmt.Sprintf("mifgsm:norm=%s,eps=%s,steps=10,step=%s", b.norm, g(b.eps), g(b.eps/k))
		}})
	}
	return out
}

// job is one advtest run: one model and ball, a pool of settings.
type job struct {
	model    string
	b        ball
	group    string
	settings []setting
}

func (j job) file() string {
	return fmt.Sprintf("%s_%s_%s_%s.json", strings.TrimSuffix(j.model, ".onnx"), j.b.norm, g(j.b.eps), j.group)
}

// Cell is one measured success rate.
type Cell struct {
	Model         string  `json:"model"`
	Norm          string  `json:"norm"`
	Eps           float64 `json:"eps"`
	Attack        string  `json:"attack"`
	Step          string  `json:"step"`
	Restarts      int     `json:"restarts,omitempty"`
	Params        string  `json:"params"`
	NCleanCorrect int     `json:"n_clean_correct"`
	NFooled       int     `json:"n_fooled"`
	SR            float64 `json:"success_rate"`
	GradientEvals int64   `json:"gradient_evals"`
}

type report struct {
	NCleanCorrect int `json:"n_clean_correct"`
	Attacks       []struct {
		Name          string  `json:"name"`
		NFooled       int     `json:"n_fooled"`
		SR            float64 `json:"success_rate"`
		GradientEvals int64   `json:"gradient_evals"`
	} `json:"attacks"`
}

func main() {
	bin := flag.String("bin", "advtest", "the built advtest binary")
	n := flag.Int("n", 500, "test samples per cell (the first n shipped MNIST test samples)")
	work := flag.String("work", "/tmp/pgd_step_sweep", "cache folder for advtest's reports")
	out := flag.String("out", "testdata/reference", "folder for pgd_step_sweep.{json,md}")
	only := flag.String("models", "", "comma-separated model files to run (default: all)")
	reportOnly := flag.Bool("report-only", false, "write the tables from the cache, run nothing")
	flag.Parse()
	if err := run(*bin, *n, *work, *out, *only, *reportOnly); err != nil {
		fmt.Fprintln(os.Stderr, "pgd_step_sweep:", err)
		os.Exit(1)
	}
}

// jobs lists the advtest runs, cheapest and most telling first: one
// restart on every model, then BIM and MI-FGSM, then three restarts.
func jobs(only string) []job {
	keep := func(m string) bool { return only == "" || strings.Contains(","+only+",", ","+m+",") }
	var js []job
	for _, r := range []int{1, 3} {
		for _, m := range models {
			if !keep(m) {
				continue
			}
			for _, b := range balls {
				js = append(js, job{model: m, b: b, group: fmt.Sprintf("pgd_r%d", r), settings: pgdSettings(r)})
			}
		}
		// Added after the first runs: a gentler cosine, in runs of its own
		// so that the first ones stay valid.
		for _, m := range models {
			if !keep(m) {
				continue
			}
			for _, b := range balls {
				js = append(js, job{model: m, b: b, group: fmt.Sprintf("pgdcos4_r%d", r), settings: []setting{cosineSetting(4, r)}})
			}
		}
		if r == 3 {
			// Added last: restarts that alternate between a large decaying
			// step and a small constant one, with 3 and 5 restarts.
			for _, m := range models {
				if !keep(m) {
					continue
				}
				for _, b := range balls {
					js = append(js, job{model: m, b: b, group: "pgdalt", settings: []setting{mixedSetting(3), mixedSetting(5)}})
				}
			}
			// And the cosine from eps/2 with 5 restarts (its random starts
			// differ from the 3-restart run's: the stream of a sample
			// depends on every parameter of the attack).
			for _, m := range models {
				if !keep(m) {
					continue
				}
				for _, b := range balls {
					js = append(js, job{model: m, b: b, group: "pgdcos2_r5", settings: []setting{cosineSetting(2, 5)}})
				}
			}
			break
		}
		for _, m := range bimModels {
			if !keep(m) {
				continue
			}
			for _, b := range []ball{{"linf", 0.1}, {"linf", 0.3}} {
				js = append(js, job{model: m, b: b, group: "bim_mifgsm", settings: bimSettings()})
			}
		}
	}
	return js
}

func run(bin string, n int, work, out, only string, reportOnly bool) error {
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	workN := filepath.Join(work, fmt.Sprintf("n%d", n))
	if err := os.MkdirAll(workN, 0o755); err != nil {
		return err
	}
	committed, err := readCommitted(out, n)
	if err != nil {
		return err
	}
	var cells []Cell
	for _, j := range jobs(only) {
		path := filepath.Join(workN, j.file())
		if _, err := os.Stat(path); err != nil {
			if prev, ok := committedCells(committed, j); ok {
				cells = append(cells, prev...)
				continue
			}
		}
		if _, err := os.Stat(path); err != nil && !reportOnly {
			args := []string{"-n", "10", bin, "attack",
				"-m", filepath.Join("testdata/models", j.model),
				"-d", "testdata/mnist/test-1000-images.npy", "-l", "testdata/mnist/test-1000-labels.npy",
				"--limit", strconv.Itoa(n), "--seed", "1", "--sanity=false", "--no-progress", "--format", "json"}
			for _, s := range j.settings {
				args = append(args, "-a", s.params(j.b))
			}
			t0 := time.Now()
			cmd := exec.Command("nice", args...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			// Exit 1 is a failed gate; there are no gates here, but keep
			// the report whatever the status if it parses.
			runErr := cmd.Run()
			var r report
			if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
				return fmt.Errorf("%s: %v (%v): %s", j.file(), err, runErr, stderr.String())
			}
			if err := os.WriteFile(path, stdout.Bytes(), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "%s: %.0f s\n", j.file(), time.Since(t0).Seconds())
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			if reportOnly {
				continue
			}
			return err
		}
		var r report
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
		if len(r.Attacks) != len(j.settings) {
			return fmt.Errorf("%s: %d attacks in the report, want %d", path, len(r.Attacks), len(j.settings))
		}
		for i, s := range j.settings {
			a := r.Attacks[i]
			if a.Name != s.Family {
				return fmt.Errorf("%s: attack %d is %s, want %s", path, i, a.Name, s.Family)
			}
			cells = append(cells, Cell{Model: j.model, Norm: j.b.norm, Eps: j.b.eps, Attack: s.Family, Step: s.Label,
				Restarts: s.Restarts, Params: s.params(j.b), NCleanCorrect: r.NCleanCorrect, NFooled: a.NFooled,
				SR: a.SR, GradientEvals: a.GradientEvals})
		}
	}
	return write(out, n, cells)
}

// cellKey names a cell by what was measured (model, ball, attack, step
// label, restarts), not by its parameter string, which grew an explicit
// step_schedule=constant once the default schedule became cosine.
func cellKey(model string, b ball, s setting) string {
	return fmt.Sprintf("%s|%s|%s|%s|%s|%d", model, b.norm, g(b.eps), s.Family, s.Label, s.Restarts)
}

// readCommitted reads the cells of out/pgd_step_sweep.json, if it exists
// and was made with the same n, so that a rerun on a fresh machine (no
// cache) only runs the cells the committed table lacks.
func readCommitted(out string, n int) (map[string]Cell, error) {
	raw, err := os.ReadFile(filepath.Join(out, "pgd_step_sweep.json"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var doc struct {
		N     int    `json:"n"`
		Cells []Cell `json:"cells"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("pgd_step_sweep.json: %v", err)
	}
	if doc.N != n {
		return nil, nil
	}
	m := map[string]Cell{}
	for _, c := range doc.Cells {
		m[cellKey(c.Model, ball{c.Norm, c.Eps}, setting{Family: c.Attack, Label: c.Step, Restarts: c.Restarts})] = c
	}
	return m, nil
}

// committedCells returns job j's cells from the committed table when it
// holds all of them.
func committedCells(committed map[string]Cell, j job) ([]Cell, bool) {
	var out []Cell
	for _, s := range j.settings {
		c, ok := committed[cellKey(j.model, j.b, s)]
		if !ok {
			return nil, false
		}
		out = append(out, c)
	}
	return out, true
}

// Summary is, per attack family and setting, how far it falls below the
// best setting over the rows (model, eps) measured: the best with the same
// number of restarts (the step-size question) and the best of the whole
// row (restarts included).
type Summary struct {
	Attack       string  `json:"attack"`
	Setting      string  `json:"setting"`
	MaxShortfall float64 `json:"max_shortfall_points"`
	WorstRow     string  `json:"worst_row"`
	MaxBelowAll  float64 `json:"max_shortfall_points_any_restarts"`
	MeanSR       float64 `json:"mean_success_rate"`
	Rows         int     `json:"rows"`
}

func rowKey(c Cell) string { return fmt.Sprintf("%s %s %s", c.Model, c.Norm, g(c.Eps)) }

func colKey(c Cell) string {
	if c.Restarts > 0 {
		return fmt.Sprintf("%s, r=%d", c.Step, c.Restarts)
	}
	return c.Step
}

func summarise(cells []Cell) []Summary {
	type acc struct {
		Summary
		sum float64
	}
	best := map[string]float64{} // family, row (and restarts) -> best SR
	for _, c := range cells {
		for _, k := range []string{c.Attack + "|" + rowKey(c), fmt.Sprintf("%s|%s|%d", c.Attack, rowKey(c), c.Restarts)} {
			best[k] = math.Max(best[k], c.SR)
		}
	}
	var order []string
	m := map[string]*acc{}
	for _, c := range cells {
		k := c.Attack + "|" + colKey(c)
		a := m[k]
		if a == nil {
			a = &acc{Summary: Summary{Attack: c.Attack, Setting: colKey(c)}}
			m[k] = a
			order = append(order, k)
		}
		short := 100 * (best[fmt.Sprintf("%s|%s|%d", c.Attack, rowKey(c), c.Restarts)] - c.SR)
		if short > a.MaxShortfall || a.Rows == 0 {
			a.MaxShortfall, a.WorstRow = short, rowKey(c)
		}
		a.MaxBelowAll = math.Max(a.MaxBelowAll, 100*(best[c.Attack+"|"+rowKey(c)]-c.SR))
		a.sum += c.SR
		a.Rows++
	}
	out := make([]Summary, 0, len(order))
	for _, k := range order {
		a := m[k]
		a.MeanSR = a.sum / float64(a.Rows)
		a.MaxShortfall = math.Round(a.MaxShortfall*100) / 100
		a.MaxBelowAll = math.Round(a.MaxBelowAll*100) / 100
		out = append(out, a.Summary)
	}
	return out
}

func write(out string, n int, cells []Cell) error {
	sums := summarise(cells)
	doc := map[string]any{
		"what": "success rate (fooled / clean-correct) of pgd, bim and mifgsm by step size; advtest attack, " +
			"seed 1, the first n shipped MNIST test samples, 40 steps for pgd; made by testdata/gen/pgd_step_sweep",
		"n":       n,
		"cells":   cells,
		"summary": sums,
	}
	raw, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "pgd_step_sweep.json"), append(raw, '\n'), 0o644); err != nil {
		return err
	}
	var md strings.Builder
	fmt.Fprintf(&md, "# Step-size sweep of pgd, bim and mifgsm\n\n")
	fmt.Fprintf(&md, "Made by `testdata/gen/pgd_step_sweep` (see its doc comment) driving `advtest attack`;\n"+
		"success rate in %% of the clean-correct samples among the first %d shipped MNIST test samples, seed 1.\n"+
		"PGD: 40 steps, uniform random start. The data are in pgd_step_sweep.json. Bold: the row's best.\n"+
		"An empty cell was not run: the sweep resumes from its cache (see the program's doc), and\n"+
		"this table holds what the shared 2-core machine finished.\n", n)
	for _, fam := range []string{"pgd", "bim", "mifgsm"} {
		var cols, rows []string
		seenC, seenR := map[string]bool{}, map[string]bool{}
		val := map[string]Cell{}
		for _, c := range cells {
			if c.Attack != fam {
				continue
			}
			if !seenC[colKey(c)] {
				seenC[colKey(c)] = true
				cols = append(cols, colKey(c))
			}
			if !seenR[rowKey(c)] {
				seenR[rowKey(c)] = true
				rows = append(rows, rowKey(c))
			}
			val[rowKey(c)+"|"+colKey(c)] = c
		}
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintf(&md, "\n## %s\n\n| model, norm, eps | clean-correct | %s |\n|---|---|%s\n", fam,
			strings.Join(cols, " | "), strings.Repeat("---|", len(cols)))
		for _, r := range rows {
			var nc int
			var vs []string
			bestSR := -1.0
			for _, c := range cols {
				if v, ok := val[r+"|"+c]; ok {
					bestSR = math.Max(bestSR, v.SR)
				}
			}
			for _, c := range cols {
				v, ok := val[r+"|"+c]
				if !ok {
					vs = append(vs, "")
					continue
				}
				nc = v.NCleanCorrect
				s := fmt.Sprintf("%.1f", 100*v.SR)
				if v.SR == bestSR {
					s = "**" + s + "**"
				}
				vs = append(vs, s)
			}
			fmt.Fprintf(&md, "| %s | %d | %s |\n", r, nc, strings.Join(vs, " | "))
		}
		var fs []Summary
		for _, s := range sums {
			if s.Attack == fam {
				fs = append(fs, s)
			}
		}
		sort.SliceStable(fs, func(a, b int) bool { return fs[a].MaxShortfall < fs[b].MaxShortfall })
		fmt.Fprintf(&md, "\nLargest shortfall, in points, below the best setting of the same row with the same number of restarts, "+
			"and below the best of the row whatever the restarts, over the rows where the setting was measured "+
			"(compare settings over the same rows only):\n\n"+
			"| setting | rows | max shortfall (same restarts) | in row | max shortfall (any restarts) | mean SR %% |\n|---|---|---|---|---|---|\n")
		for _, s := range fs {
			fmt.Fprintf(&md, "| %s | %d | %.1f | %s | %.1f | %.1f |\n", s.Setting, s.Rows, s.MaxShortfall, s.WorstRow, s.MaxBelowAll, 100*s.MeanSR)
		}
	}
	return os.WriteFile(filepath.Join(out, "pgd_step_sweep.md"), []byte(md.String()), 0o644)
}
