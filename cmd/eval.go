package cmd

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/advtest/advtest/pkg/dataset"
	"github.com/advtest/advtest/pkg/eval"
	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/tensor"
)

type evalOptions struct {
	model, data, labels string
	format              string
	batchSize, limit    int
	labelColumn         string
}

func newEvalCommand() *cobra.Command {
	o := &evalOptions{}
	c := &cobra.Command{
		Use:   "eval --model m.onnx --data x.npy --labels y.npy",
		Short: "Measure a model's clean accuracy on a labelled dataset",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runEval(c, o)
		},
	}
	f := c.Flags()
	f.StringVarP(&o.model, "model", "m", "", "ONNX model file (required)")
	f.StringVarP(&o.data, "data", "d", "", "data file: .npy, .npz, IDX(.gz) or .csv (required)")
	f.StringVarP(&o.labels, "labels", "l", "", "labels file (.npy or IDX) when --data holds no labels")
	f.StringVar(&o.labelColumn, "label-column", "", `CSV label column, by name or 0-based index (default "label")`)
	f.StringVar(&o.format, "format", "table", "output format: table or json")
	f.IntVar(&o.batchSize, "batch-size", 128, "samples per forward pass")
	f.IntVar(&o.limit, "limit", 0, "use only the first N samples (0: all)")
	return c
}

// evalReport is eval's JSON output.
type evalReport struct {
	Model            string               `json:"model"`
	Data             string               `json:"data"`
	N                int                  `json:"n"`
	Correct          int                  `json:"correct"`
	CleanAccuracy    float64              `json:"clean_accuracy"`
	PerClass         []eval.ClassAccuracy `json:"per_class"`
	SamplesPerSecond float64              `json:"samples_per_second"`
}

func runEval(c *cobra.Command, o *evalOptions) error {
	if o.model == "" || o.data == "" {
		return usageError(fmt.Errorf("eval: --model and --data are required"))
	}
	if o.format != "table" && o.format != "json" {
		return usageError(fmt.Errorf("eval: --format %q: want table or json", o.format))
	}
	if o.batchSize <= 0 {
		return usageError(fmt.Errorf("eval: --batch-size %d: want a positive number", o.batchSize))
	}
	m, set, err := loadModelAndData(o.model, o.data, o.labels, dataset.Options{Limit: o.limit, LabelColumn: o.labelColumn, MaxBytes: memoryBudget()})
	if err != nil {
		return usageError(err)
	}
	res, err := eval.Clean(c.Context(), m, set.X, set.Y, o.batchSize)
	if err != nil {
		return usageError(err)
	}
	rep := evalReport{Model: o.model, Data: o.data, N: res.N, Correct: res.NCorrect, CleanAccuracy: res.Accuracy, PerClass: res.PerClass, SamplesPerSecond: res.SamplesPerSecond()}
	return writeEval(c.OutOrStdout(), o.format, &rep)
}

func writeEval(w io.Writer, format string, r *evalReport) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Fprintf(w, "model:           %s\n", r.Model)
	fmt.Fprintf(w, "data:            %s (n=%d)\n", r.Data, r.N)
	fmt.Fprintf(w, "clean accuracy:  %.4f (%d/%d)\n", r.CleanAccuracy, r.Correct, r.N)
	fmt.Fprintf(w, "samples/s:       %.0f\n", r.SamplesPerSecond)
	fmt.Fprintf(w, "per class:\n")
	for _, pc := range r.PerClass {
		if pc.N == 0 {
			continue
		}
		fmt.Fprintf(w, "  %4d  %.4f  (%d/%d)\n", pc.Class, pc.Accuracy, pc.Correct, pc.N)
	}
	return nil
}

// loadModelAndData loads both and makes the data's sample shape fit the
// model's declared input (an IDX image [28 28] becomes [1 28 28] for a
// model that declares [N 1 28 28]); a real mismatch is an error naming both.
func loadModelAndData(modelPath, dataPath, labelsPath string, opts dataset.Options) (*onnxmodel.Model, *dataset.Set, error) {
	m, err := onnxmodel.Load(modelPath)
	if err != nil {
		return nil, nil, err
	}
	set, err := dataset.Load(dataPath, labelsPath, opts)
	if err != nil {
		return nil, nil, err
	}
	if err := fitSampleShape(m, set); err != nil {
		return nil, nil, err
	}
	if nc := m.NumClasses(); nc > 0 {
		for i, y := range set.Y {
			if y >= nc {
				return nil, nil, fmt.Errorf("%s: label %d of sample %d is not a class of the model (it has %d classes)", labelsOrData(set), y, i, nc)
			}
		}
	}
	return m, set, nil
}

func labelsOrData(s *dataset.Set) string {
	if s.LabelsPath != "" {
		return s.LabelsPath
	}
	return s.Path
}

func fitSampleShape(m *onnxmodel.Model, set *dataset.Set) error {
	want := m.SampleShape()
	have := set.SampleShape()
	if want == nil {
		return nil
	}
	if len(want) == len(have) {
		ok := true
		for i := range want {
			if want[i] > 0 && want[i] != have[i] {
				ok = false
			}
		}
		if ok {
			return nil
		}
	}
	known := true
	for _, d := range want {
		if d <= 0 {
			known = false
		}
	}
	if known && tensor.Numel(want) == tensor.Numel(have) {
		set.X = set.X.Reshaped(append([]int{set.Len()}, want...)...)
		return nil
	}
	return fmt.Errorf("%s: samples have shape %v, the model %s expects %v per sample", set.Path, have, m.Path, want)
}
