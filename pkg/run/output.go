package run

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/advtest/advtest/pkg/atomicfile"
	"github.com/advtest/advtest/pkg/config"
	"github.com/advtest/advtest/pkg/eval"
	"github.com/advtest/advtest/pkg/report"
	"github.com/advtest/advtest/pkg/report/format"
	"github.com/advtest/advtest/pkg/tensor"
)

// checkOutputDir makes sure the folder of an output file exists (creating
// it, as `mkdir -p`) and takes new files, so that a long run fails at the
// start rather than after its work when the path is wrong.
func checkOutputDir(what, path string) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("%s %s: is a folder; want a file path (e.g. %s)", what, path, filepath.Join(path, "report.json"))
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%s %s: %w", what, path, err)
	}
	f, err := os.CreateTemp(dir, ".advtest-probe-*")
	if err != nil {
		return fmt.Errorf("%s %s: the folder does not take new files: %w", what, path, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// checkOutputs runs checkOutputDir on every report file of the plan.
func checkOutputs(plan *config.Plan) error {
	for i, o := range plan.AllOutputs() {
		if config.IsStdout(o.Path) || o.Path == "stderr" {
			continue
		}
		what := "output.path"
		if i > 0 {
			what = fmt.Sprintf("output.extra[%d].path", i-1)
		}
		if err := checkOutputDir(what, o.Path); err != nil {
			return err
		}
	}
	return nil
}

// writeOutputs writes the report in every format the plan names: files
// atomically, stdout and stderr directly; gallery holds the adversarial
// examples the HTML format shows.
func writeOutputs(o *Options, rep *report.Report, gallery format.Gallery) error {
	for _, out := range o.Plan.AllOutputs() {
		w, err := format.Lookup(out.Format)
		if err != nil {
			return err
		}
		if out.Format == "html" {
			w = format.HTMLWriter(gallery)
		}
		switch {
		case config.IsStdout(out.Path):
			err = w.Write(o.Stdout, rep)
		case out.Path == "stderr":
			err = w.Write(o.Stderr, rep)
		default:
			err = atomicfile.Write(out.Path, func(f io.Writer) error { return w.Write(f, rep) })
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// galleryPerAttack is how many adversarial examples of each attack the HTML
// report shows.
const galleryPerAttack = 6

func wantsHTML(plan *config.Plan) bool {
	for _, o := range plan.AllOutputs() {
		if o.Format == "html" {
			return true
		}
	}
	return false
}

// buildGallery turns the kept adversarial examples of image data into the
// HTML report's gallery, with the model's predictions and confidences on
// the clean and adversarial inputs.
func buildGallery(ctx context.Context, w *workload, res *eval.PoolResult) format.Gallery {
	shape := w.data.SampleShape()
	if len(shape) < 2 || len(shape) > 3 {
		return nil // not image data
	}
	if w.plan.Preprocessing.Layout == "NHWC" && len(shape) == 3 {
		return nil // the gallery draws CHW images
	}
	per := tensor.Numel(shape)
	labels := w.data.Labels()
	var g format.Gallery
	for _, run := range res.Attacks {
		for k, ex := range run.Examples {
			if k == galleryPerAttack {
				break // more were kept for a detector
			}
			// The clean image is read back from the data: the pool keeps
			// only the adversarial ones.
			x := tensor.New(append([]int{2}, shape...)...)
			if err := w.data.ReadBatch(x.F[:per], ex.Sample, ex.Sample+1); err != nil {
				return g
			}
			orig := append([]float32(nil), x.F[:per]...)
			copy(x.F[per:], ex.XAdv)
			logits, err := w.clf.Logits(ctx, x)
			if err != nil {
				return g
			}
			probs := tensor.Softmax(logits).F
			c := logits.Shape[1]
			label := labels[ex.Sample]
			pred := eval.Argmax(logits)[1]
			g = append(g, format.Example{
				Attack: run.Attack.Name(), Original: orig, Adversarial: ex.XAdv, Shape: shape,
				Label: label, Pred: pred, Confidence: float64(probs[c+pred]), LabelConfidence: float64(probs[label]),
			})
		}
	}
	return g
}
