package cmd

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/config"
	pprogress "github.com/advtest/advtest/pkg/progress"
	"github.com/advtest/advtest/pkg/run"
)

// planFlags are the flags shared by commands that run a config.Plan
// (attack, harden). They are bound to viper in PreRunE, never in init, so
// that precedence is flags > environment > file > defaults.
type planFlags struct {
	configPath string
	attacks    []string
	noProgress bool
	progress   string

	// A remote target instead of a model file.
	target     string
	qps        float64
	maxQueries int
	timeout    time.Duration

	// shard i/n: this run takes the i-th of n contiguous blocks of samples.
	shard string
}

// flagKeys maps flag names to the config keys they set (harden's
// --until-sr and --max-rounds too: a command binds the flags it has).
var flagKeys = map[string]string{
	"model":                 "model",
	"data":                  "data",
	"labels":                "labels",
	"label-column":          "label_column",
	"until-sr":              "harden.until_sr",
	"max-rounds":            "harden.max_rounds",
	"limit":                 "limit",
	"seed":                  "seed",
	"batch-size":            "batch_size",
	"format":                "output.format",
	"output":                "output.path",
	"fail-above":            "gate.fail_above",
	"min-clean-accuracy":    "gate.min_clean_accuracy",
	"max-targeted-sr":       "gate.max_targeted_sr",
	"allow-missing-attacks": "gate.allow_missing_attacks",
	"baseline":              "gate.baseline",
	"max-regression":        "gate.max_regression",
	"sanity":                "sanity.enabled",
	"sanity-samples":        "sanity.samples",
}

func addPlanFlags(c *cobra.Command, pf *planFlags) {
	f := c.Flags()
	f.StringVarP(&pf.configPath, "config", "c", "", "YAML config file (see `advtest init`)")
	f.StringP("model", "m", "", "ONNX model file")
	f.StringP("data", "d", "", "data file: .npy, .npz, IDX(.gz) or .csv")
	f.StringP("labels", "l", "", "labels file when --data holds no labels")
	f.String("label-column", "", labelColumnUsage)
	f.Int("limit", 0, "use only the first N samples (0: all)")
	f.Uint64("seed", config.DefaultSeed, "seed for all randomness")
	f.Int("batch-size", config.DefaultBatchSize, "samples per batch")
	f.StringP("format", "f", config.DefaultFormat, "report format: "+strings.Join(config.Formats, ", "))
	f.StringP("output", "o", "", "write the report to this file (atomically) instead of stdout")
	f.Float64("fail-above", 0, "exit 1 when the worst-case success rate is above this")
	f.Bool("allow-missing-attacks", false, "with --baseline: let attacks of the baseline that this run lacks pass (by default each fails the gate)")
	f.Float64("min-clean-accuracy", 0, "exit 1 when the model's clean accuracy is below this (a broken model must not pass)")
	f.Float64("max-targeted-sr", 0, "exit 1 when a targeted attack's targeted SR (samples classified as their target) is above this")
	f.String("baseline", "", "JSON report of an earlier run: exit 1 when an attack's SR rose by more than --max-regression")
	f.Float64("max-regression", 0, "allowed rise of an attack's SR over the baseline (absolute, e.g. 0.02)")
	f.Bool("sanity", true, "run the gradient-masking sanity checks after the pool (a flagged check fails the gate); --sanity=false skips them")
	f.Int("sanity-samples", config.DefaultSanitySamples, "clean-correct samples the sanity checks attack (0: all)")
	f.StringArrayVarP(&pf.attacks, "attack", "a", nil, "attack NAME[:key=value,...], repeatable; replaces the config's pool (e.g. pgd:norm=linf,eps=0.3,steps=40)")
	f.BoolVar(&pf.noProgress, "no-progress", false, "show no progress (same as --progress=none)")
	f.StringVar(&pf.progress, "progress", pprogress.Auto.String(), "progress: auto (a bar on a terminal, plain lines otherwise), bar, plain (one line per step and at most one every 10 s, for CI logs) or none")
	f.StringVar(&pf.target, "target", "", "attack a deployed model over the Open Inference Protocol (KServe v2), e.g. http://127.0.0.1:8080/v2/models/NAME/infer; black-box attacks only")
	f.Float64Var(&pf.qps, "qps", 0, "with --target: at most this many requests per second (0: no limit)")
	f.IntVar(&pf.maxQueries, "max-queries", 0, "with --target: hard budget of samples sent to the endpoint over the whole run, retries included (0: none); each attack's own per-sample budget is its max_queries param")
	f.DurationVar(&pf.timeout, "timeout", 0, "with --target: timeout of one request, answer included (0: 30s)")
	f.StringVar(&pf.shard, "shard", "", "run only shard i of n (i/n, 0-based): contiguous blocks of the samples, for `advtest report merge`")
	registerPlanCompletion(c)
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
	if err := bindChangedFlags(c.Flags(), v); err != nil {
		return nil, err
	}
	if pf.target != "" {
		if c.Flags().Changed("model") || v.GetString("model") != "" {
			return nil, fmt.Errorf("--target and a model file exclude each other: a remote target is attacked as deployed")
		}
		v.Set("model", pf.target) // the report names the endpoint as the model
	}
	if len(pf.attacks) > 0 {
		// --attack replaces the config's pool; set it before validation.
		pool, err := attackPool(pf.attacks)
		if err != nil {
			return nil, err
		}
		v.Set("attacks", pool)
	}
	return config.FromViper(v) // validated: model and data are required
}

// bindChangedFlags binds the flags the user set to their config keys
// (flagKeys), so that they override the environment and the file.
func bindChangedFlags(fs *pflag.FlagSet, v *viper.Viper) error {
	var bindErr error
	fs.Visit(func(f *pflag.Flag) {
		if key, ok := flagKeys[f.Name]; ok && bindErr == nil {
			bindErr = bindFlag(v, key, f)
		}
	})
	return bindErr
}

// attackPool turns the --attack specs into the config's attacks list.
func attackPool(specs []string) ([]any, error) {
	pool := make([]any, 0, len(specs))
	for _, spec := range specs {
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
	return pool, nil
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

// runOptions resolves the plan and turns the shared flags into
// run.Options.
func runOptions(c *cobra.Command, pf *planFlags) (run.Options, error) {
	plan, err := resolvePlan(c, pf)
	if err != nil {
		return run.Options{}, err
	}
	stderr := c.ErrOrStderr()
	mode, err := pprogress.ParseMode(pf.progress)
	if err != nil {
		return run.Options{}, err
	}
	if pf.noProgress {
		mode = pprogress.None
	}
	shard, err := run.ParseShard(pf.shard)
	if err != nil {
		return run.Options{}, err
	}
	return run.Options{
		Plan: plan, ToolVersion: toolVersion(), MaxMemory: memoryBudget(),
		Target: run.Target{URL: pf.target, QPS: pf.qps, MaxQueries: int64(pf.maxQueries), Timeout: pf.timeout},
		Shard:  shard,
		Stdout: c.OutOrStdout(), Stderr: stderr,
		Progress: func() run.Progress { return newProgress(stderr, mode) },
	}, nil
}

// labelColumnUsage is --label-column's help, the same on every command
// that reads a dataset.
const labelColumnUsage = `CSV label column, by name or 0-based index (default "label")`

// registerPlanCompletion completes --attack with the registry's attack
// names and their parameters, --format with the report formats, and the
// file flags with their extensions.
func registerPlanCompletion(c *cobra.Command) {
	_ = c.RegisterFlagCompletionFunc("attack", func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		words, more := run.CompleteAttackSpec(toComplete)
		if more {
			return words, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
		}
		return words, cobra.ShellCompDirectiveNoFileComp
	})
	_ = c.RegisterFlagCompletionFunc("format", cobra.FixedCompletions(config.Formats, cobra.ShellCompDirectiveNoFileComp))
	_ = c.MarkFlagFilename("model", "onnx")
	_ = c.MarkFlagFilename("config", "yaml", "yml")
	_ = c.MarkFlagFilename("baseline", "json")
}
