package defend

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/advtest/advtest/pkg/dataset"
	"github.com/advtest/advtest/pkg/onnxmodel"
)

// Defence hardens a model. Kind says how: by training it, by rewriting its
// graph, by wrapping its input, or by detecting adversarial inputs.
//
// Apply never mutates m: it returns a new model (a clone, trained or
// rewritten) that can always be saved as an ONNX file other runtimes load.
// Defences that need data read it from data; those that do not ignore it.
// All randomness comes from rng (nil means a fixed seed), so the same
// model, data, parameters and seed give the same hardened model. Apply
// checks ctx between units of work (batches, nodes) and returns ctx.Err()
// when it is done.
type Defence interface {
	// Name returns the registry name, e.g. "pgd-at".
	Name() string
	// Kind says how the defence hardens a model.
	Kind() Kind
	// Params returns the resolved parameters (defaults filled in), by name,
	// for recording in a report.
	Params() map[string]any
	// Apply returns the hardened model.
	Apply(ctx context.Context, m *onnxmodel.Model, data TrainData, rng *rand.Rand) (*onnxmodel.Model, error)
}

// Kind says how a defence hardens a model.
type Kind int

const (
	// Trainer defences train the model's weights (adversarial training,
	// augmentation, label smoothing).
	Trainer Kind = iota
	// GraphRewrite defences change the model's graph (bounded ReLU,
	// ensembles).
	GraphRewrite
	// Preprocessor defences put a transformation in front of the model's
	// input (feature squeezing, inference-time noise), inside the graph.
	Preprocessor
	// Detector defences add a detector that flags adversarial inputs.
	Detector
)

// String returns "trainer", "graph-rewrite", "preprocessor" or "detector".
func (k Kind) String() string {
	switch k {
	case Trainer:
		return "trainer"
	case GraphRewrite:
		return "graph-rewrite"
	case Preprocessor:
		return "preprocessor"
	case Detector:
		return "detector"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// NeedsData reports whether defences of this kind need training data.
func (k Kind) NeedsData() bool { return k == Trainer || k == Detector }

// TrainData is the data a defence may use. Either set may be nil for
// defences that need no data; trainer defences require Train.
type TrainData struct {
	// Train is the data the defence trains on.
	Train *dataset.Set
	// Validation is held-out data for accuracy checks (the plan's
	// train.validation_split, see SplitValidation); nil when none was held
	// out.
	Validation *dataset.Set
	// Progress, when not nil, is called by trainer defences after each
	// batch.
	Progress func(Progress)
}

// Progress reports the state of a training run after one batch.
type Progress struct {
	// Epoch is the 0-based epoch of the batch; Epochs the planned number
	// (derived from the iteration count when training by iterations).
	Epoch, Epochs int
	// Iter is the 1-based number of batches done; Iters the planned total.
	Iter, Iters int
	// Loss is the mean training loss of the batch.
	Loss float64
	// LR is the learning rate the batch's step used.
	LR float64
	// ValAccuracy is the accuracy on TrainData.Validation, measured after
	// the last batch of each epoch; −1 for other batches and when there is
	// no validation data.
	ValAccuracy float64
}
