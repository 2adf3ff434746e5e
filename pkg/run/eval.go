package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/advtest/advtest/pkg/dataset"
	"github.com/advtest/advtest/pkg/eval"
)

// EvalReport is what Eval measures, and its JSON form.
type EvalReport struct {
	Model            string               `json:"model"`
	Data             string               `json:"data"`
	N                int                  `json:"n"`
	Correct          int                  `json:"correct"`
	CleanAccuracy    float64              `json:"clean_accuracy"`
	PerClass         []eval.ClassAccuracy `json:"per_class"`
	SamplesPerSecond float64              `json:"samples_per_second"`
}

// EvalOptions configure Eval.
type EvalOptions struct {
	// Model, Data and Labels are the files; LabelColumn names a CSV's
	// label column.
	Model, Data, Labels, LabelColumn string
	// Format is text (key: value lines) or json.
	Format string
	// BatchSize is the samples per forward pass; Limit keeps the first
	// Limit samples (0: all).
	BatchSize, Limit int
	// MaxMemory bounds what the data file may make advtest allocate.
	MaxMemory int64
	// Stdout receives the result.
	Stdout io.Writer
}

// Eval measures a model's clean accuracy, per class, and its speed on a
// labelled dataset, and writes it to o.Stdout in o.Format.
func Eval(ctx context.Context, o EvalOptions) (*EvalReport, error) {
	if o.Model == "" || o.Data == "" {
		return nil, errors.New("eval: --model and --data are required")
	}
	if err := checkTextFormat("eval", o.Format); err != nil {
		return nil, err
	}
	if o.BatchSize <= 0 {
		return nil, fmt.Errorf("eval: --batch-size %d: want a positive number", o.BatchSize)
	}
	// The data is streamed (dataset.Open): read batch by batch, so that
	// memory follows the batch size, not the set.
	m, data, err := openModelAndData(o.Model, o.Data, o.Labels, dataset.Options{Limit: o.Limit, LabelColumn: o.LabelColumn, MaxBytes: o.MaxMemory})
	if err != nil {
		return nil, err
	}
	defer data.Close()
	res, err := eval.Clean(ctx, m, data, o.BatchSize)
	if err != nil {
		return nil, err
	}
	rep := &EvalReport{Model: o.Model, Data: o.Data, N: res.N, Correct: res.NCorrect, CleanAccuracy: res.Accuracy, PerClass: res.PerClass, SamplesPerSecond: res.SamplesPerSecond()}
	return rep, writeEval(o.Stdout, o.Format, rep)
}

// checkTextFormat accepts the formats of the commands that print facts
// rather than a report: text and json ("table", their old name for text,
// still reads).
func checkTextFormat(cmd, format string) error {
	switch format {
	case "text", "table", "json":
		return nil
	}
	return fmt.Errorf("%s: --format %q: want text or json", cmd, format)
}

func writeEval(w io.Writer, format string, r *EvalReport) error {
	if format == "json" {
		return writeJSON(w, r)
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

// writeJSON writes v as indented JSON, as every command's json format.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
