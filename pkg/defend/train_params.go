package defend

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/params"
)

// trainerParams are the parameters every trainer defence accepts.
type trainerParams struct {
	epochs      int
	iterations  int
	batchSize   int
	optimiser   string
	lr          float64
	momentum    float64
	nesterov    bool
	weightDecay float64
	schedule    string
	stepSize    int
	gamma       float64
}

// trainerDefaults are the defaults a defence gives the shared parameters.
type trainerDefaults struct {
	epochs    int
	optimiser string
	lr        float64
	schedule  string
}

// stdTrainer: ART-like fine-tuning defaults (ART's trainers default to
// 20 epochs of batch 128; advtest fine-tunes a trained model, so 10).
var stdTrainer = trainerDefaults{epochs: 10, optimiser: Adam, lr: 1e-3, schedule: ScheduleConstant}

func (t *trainerParams) bind(b *params.Binder, d trainerDefaults) {
	b.Int("epochs", &t.epochs, d.epochs, "", "passes over the training data (ignored when iterations is set)")
	b.AutoInt("iterations", &t.iterations, "epochs", "number of batches to train on instead of whole epochs (auto: use epochs)")
	b.Int("batch_size", &t.batchSize, 128, "", "samples per batch")
	b.Enum("optimiser", &t.optimiser, d.optimiser, Optimisers, "sgd (momentum, L2 weight decay), adam (β 0.9, 0.999, eps 1e-8) or adamw (decoupled weight decay)")
	b.Float("lr", &t.lr, d.lr, "", "base learning rate")
	b.Float("momentum", &t.momentum, 0.9, "", "SGD momentum")
	b.Bool("nesterov", &t.nesterov, false, "Nesterov momentum (SGD)")
	b.Float("weight_decay", &t.weightDecay, 0, "", "weight decay (L2 for sgd and adam, decoupled for adamw)")
	b.Enum("schedule", &t.schedule, d.schedule, Schedules, "learning-rate schedule")
	b.AutoInt("step_size", &t.stepSize, "max(1, epochs/3)", "epochs between lr drops (step schedule)")
	b.Float("gamma", &t.gamma, 0.1, "", "lr factor per drop (step schedule)")
}

func (t *trainerParams) validate(b *params.Binder) error {
	switch {
	case t.epochs < 1:
		return b.Err("epochs", t.epochs, "a positive integer")
	case t.iterations < 0:
		return b.Err("iterations", t.iterations, "a positive integer or auto")
	case t.batchSize < 1:
		return b.Err("batch_size", t.batchSize, "a positive integer")
	case !(t.lr > 0):
		return b.Err("lr", t.lr, "a positive number")
	case t.momentum < 0 || t.momentum >= 1:
		return b.Err("momentum", t.momentum, "a number in [0, 1)")
	case t.weightDecay < 0:
		return b.Err("weight_decay", t.weightDecay, "a number >= 0")
	case t.stepSize < 0:
		return b.Err("step_size", t.stepSize, "a positive integer or auto")
	case !(t.gamma > 0):
		return b.Err("gamma", t.gamma, "a positive number")
	}
	return nil
}

// config returns the TrainConfig the parameters describe.
func (t *trainerParams) config() TrainConfig {
	c := DefaultTrainConfig()
	c.Epochs, c.Iterations, c.BatchSize = t.epochs, t.iterations, t.batchSize
	c.Optimiser, c.LR, c.Momentum, c.Nesterov, c.WeightDecay = t.optimiser, t.lr, t.momentum, t.nesterov, t.weightDecay
	c.Schedule, c.Gamma = t.schedule, t.gamma
	c.StepSize = t.stepSize
	if c.StepSize == 0 {
		c.StepSize = max(1, t.epochs/3)
	}
	return c
}

// fitClone trains a clone of m with cfg (data's validation and progress
// wired in) and returns it; m is left as it was.
func fitClone(ctx context.Context, name string, m *onnxmodel.Model, data TrainData, cfg TrainConfig, rng *rand.Rand) (*onnxmodel.Model, error) {
	if data.Train == nil || data.Train.Len() == 0 {
		return nil, fmt.Errorf("defence %s: needs training data (train.data in the config)", name)
	}
	c, err := m.Clone()
	if err != nil {
		return nil, fmt.Errorf("defence %s: %w", name, err)
	}
	cfg.Validation = data.Validation
	cfg.Progress = data.Progress
	if _, err := Train(ctx, c, data.Train, cfg, rng); err != nil {
		return nil, fmt.Errorf("defence %s: %w", name, err)
	}
	return c, nil
}

// numClasses returns m's number of classes, running one sample of x when
// the model does not declare it.
func numClasses(ctx context.Context, m *onnxmodel.Model, b *TrainBatch) (int, error) {
	if c := m.NumClasses(); c > 0 {
		return c, nil
	}
	logits, err := m.Logits(ctx, b.X)
	if err != nil {
		return 0, err
	}
	return logits.Shape[1], nil
}
