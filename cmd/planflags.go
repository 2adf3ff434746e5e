package cmd

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/config"
)

// planFlags are the flags shared by commands that run a config.Plan
// (attack, harden). They are bound to viper in PreRunE, never in init, so
// that precedence is flags > environment > file > defaults.
type planFlags struct {
	configPath string
	attacks    []string
	noProgress bool
}

// flagKeys maps flag names to the config keys they set.
var flagKeys = map[string]string{
	"model":          "model",
	"data":           "data",
	"labels":         "labels",
	"limit":          "limit",
	"seed":           "seed",
	"batch-size":     "batch_size",
	"format":         "output.format",
	"output":         "output.path",
	"fail-above":     "gate.fail_above",
	"baseline":       "gate.baseline",
	"max-regression": "gate.max_regression",
}

func addPlanFlags(c *cobra.Command, pf *planFlags) {
	f := c.Flags()
	f.StringVarP(&pf.configPath, "config", "c", "", "YAML config file (see `advtest init`)")
	f.StringP("model", "m", "", "ONNX model file")
	f.StringP("data", "d", "", "data file: .npy, .npz, IDX(.gz) or .csv")
	f.StringP("labels", "l", "", "labels file when --data holds no labels")
	f.Int("limit", 0, "use only the first N samples (0: all)")
	f.Uint64("seed", config.DefaultSeed, "seed for all randomness")
	f.Int("batch-size", config.DefaultBatchSize, "samples per batch")
	f.String("format", config.DefaultFormat, "report format: table, json, junit or markdown")
	f.StringP("output", "o", "", "write the report to this file (atomically) instead of stdout")
	f.Float64("fail-above", 0, "exit 1 when the worst-case success rate is above this")
	f.String("baseline", "", "JSON report of an earlier run: exit 1 when an attack's SR rose by more than --max-regression")
	f.Float64("max-regression", 0, "allowed rise of an attack's SR over the baseline (absolute, e.g. 0.02)")
	f.StringArrayVarP(&pf.attacks, "attack", "a", nil, "attack NAME[:key=value,...], repeatable; replaces the config's pool (e.g. pgd:norm=linf,eps=0.3,steps=40)")
	f.BoolVar(&pf.noProgress, "no-progress", false, "never show a progress bar")
}

// resolvePlan reads the config file, binds the flags the user set and the
// environment, and returns the validated plan.
func resolvePlan(c *cobra.Command, pf *planFlags) (*config.Plan, error) {
	v := config.NewViper()
	if pf.configPath != "" {
		if err := config.ReadFile(v, pf.configPath); err != nil {
			return nil, err
		}
	}
	var bindErr error
	c.Flags().Visit(func(f *pflag.Flag) {
		if key, ok := flagKeys[f.Name]; ok && bindErr == nil {
			bindErr = bindFlag(v, key, f)
		}
	})
	if bindErr != nil {
		return nil, bindErr
	}
	if len(pf.attacks) > 0 {
		// --attack replaces the config's pool; set it before validation.
		pool := make([]any, 0, len(pf.attacks))
		for _, spec := range pf.attacks {
			a, err := parseAttackFlag(spec)
			if err != nil {
				return nil, err
			}
			params := map[string]any{}
			for k, val := range a.Params {
				params[k] = val
			}
			pool = append(pool, map[string]any{"name": a.Name, "params": params})
		}
		v.Set("attacks", pool)
	}
	plan, err := config.FromViper(v)
	if err != nil {
		return nil, err
	}
	if plan.Model == "" {
		return nil, fmt.Errorf("no model: set --model or `model:` in the config")
	}
	if plan.Data == "" {
		return nil, fmt.Errorf("no data: set --data or `data:` in the config")
	}
	return plan, nil
}

func bindFlag(v *viper.Viper, key string, f *pflag.Flag) error {
	if err := v.BindPFlag(key, f); err != nil {
		return fmt.Errorf("flag --%s: %v", f.Name, err)
	}
	return nil
}

// parseAttackFlag parses NAME[:key=value,...] with the attack registry's
// own spec syntax.
func parseAttackFlag(s string) (config.Attack, error) {
	sp, err := attack.ParseSpec(s)
	if err != nil {
		return config.Attack{}, fmt.Errorf("--attack: %v", err)
	}
	return config.Attack{Name: sp.Name, Params: sp.Params}, nil
}
