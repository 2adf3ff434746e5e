package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/advtest/advtest/pkg/onnxmodel"
	"github.com/advtest/advtest/pkg/run"
)

// Exit codes, the same for every command.
const (
	// ExitOK means the command ran and every gate passed.
	ExitOK = 0
	// ExitGateFailed means the command ran and a gate failed.
	ExitGateFailed = 1
	// ExitUsage means bad usage, config or input: nothing was measured.
	ExitUsage = 2
	// ExitInterrupted means SIGINT or SIGTERM stopped the run.
	ExitInterrupted = 130
)

// ExitError carries a process exit code up to Execute.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit code %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// usageError marks err as a usage, config or input error (exit code 2).
func usageError(err error) error {
	if err == nil {
		return nil
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return err
	}
	return &ExitError{Code: ExitUsage, Err: err}
}

// Version is the tool version, set at build time with
// -ldflags "-X github.com/advtest/advtest/cmd.Version=v1.2.3".
var Version = "dev"

// toolVersion returns Version, or the module version the binary was built
// from when Version was not set.
func toolVersion() string {
	if Version != "dev" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return Version
}

// newRootCommand builds the command tree; stdout and stderr are injectable
// for tests.
func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "advtest",
		Short: "Test how easily an ONNX classifier is fooled by adversarial examples",
		Long: `advtest loads an ONNX classifier and a labelled dataset, runs white-box and
black-box adversarial attacks, reports the attack success rate (SR), robust
accuracy and perturbation sizes, hardens the model, and gates CI on the result.

Exit codes: 0 pass, 1 a gate failed, 2 usage, config or input error,
130 interrupted.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       toolVersion(),
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	mem := &byteSize{n: DefaultMaxMemory}
	root.PersistentFlags().Var(mem, "max-memory", "largest size any one model or data file may declare (weights, one tensor, the data array as float32), e.g. 512MiB, 2GiB, 8GB; when given, also the most one batch's model run may use (the error names a batch size that fits) and the Go runtime's soft memory limit; also "+maxMemoryEnv)
	root.PersistentPreRunE = func(c *cobra.Command, _ []string) error {
		given := false
		if f := c.Flag("max-memory"); f == nil || !f.Changed {
			if env := os.Getenv(maxMemoryEnv); env != "" {
				if err := mem.Set(env); err != nil {
					return usageError(fmt.Errorf("%s: %v", maxMemoryEnv, err))
				}
				given = true
			}
		} else {
			given = true
		}
		setMemoryBudget(mem.n, given)
		return nil
	}
	root.AddCommand(newInspectCommand(), newEvalCommand())
	for _, add := range extraCommands {
		root.AddCommand(add())
	}
	return root
}

// extraCommands lets other files of this package add commands.
var extraCommands []func() *cobra.Command

// Execute runs the command line and returns the process exit code.
func Execute() int {
	return execute(os.Args[1:], os.Stdout, os.Stderr)
}

func execute(args []string, stdout, stderr io.Writer) (code int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal the command winds down (an attack writes its
	// partial report); a second one gets the default behaviour and ends
	// the process at once. Report files are written atomically, so that
	// cannot leave a half-written report behind.
	go func() {
		<-ctx.Done()
		stop()
	}()
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "advtest: internal error: %v\n%s", r, debug.Stack())
			code = ExitUsage
		}
	}()
	root := newRootCommand(stdout, stderr)
	root.SetArgs(args)
	return exitCode(ctx, root.ExecuteContext(ctx), stderr)
}

// exitCode writes the command's error to stderr and returns its exit code.
func exitCode(ctx context.Context, err error, stderr io.Writer) int {
	if err == nil {
		return ExitOK
	}
	if ctx.Err() != nil {
		// Interrupted: whatever the command made of it, the exit code says
		// so (a partial report, if any, is marked incomplete).
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(stderr, "advtest: interrupted")
		} else {
			fmt.Fprintf(stderr, "advtest: %v\n", err)
		}
		return ExitInterrupted
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintf(stderr, "advtest: %v\n", ee.Err)
		}
		return ee.Code
	}
	// cobra's own errors (unknown flag, wrong arguments) are usage errors.
	fmt.Fprintf(stderr, "advtest: %v\n", err)
	return ExitUsage
}

// DefaultMaxMemory is --max-memory's default: 4 GiB, the same on every
// machine so that a config refused on one CI runner is refused on all.
const DefaultMaxMemory int64 = 4 << 30

// maxMemoryEnv sets --max-memory when the flag is not given.
const maxMemoryEnv = "ADVTEST_MAX_MEMORY"

var memoryBudgetBytes atomic.Int64

func init() { memoryBudgetBytes.Store(DefaultMaxMemory) }

// setMemoryBudget applies --max-memory: the ONNX loader's limits (file,
// tensor and total weight bytes) at once; data loaders read it through
// memoryBudget for dataset.Options.MaxBytes. When the user gave it (flag or
// environment), it also bounds one graph run's working memory and is the Go
// runtime's soft memory limit, so that the collector works harder before
// the process passes it; the default bounds only what files may declare.
func setMemoryBudget(n int64, given bool) {
	memoryBudgetBytes.Store(n)
	onnxmodel.SetLimits(onnxmodel.LimitsFor(n, given))
	if given {
		debug.SetMemoryLimit(n)
	} else {
		debug.SetMemoryLimit(initialMemoryLimit)
	}
}

// initialMemoryLimit is the runtime's memory limit at start (GOMEMLIMIT, or
// none), restored by a command that does not set --max-memory.
var initialMemoryLimit = debug.SetMemoryLimit(-1)

// memoryBudget is the --max-memory value in bytes, for
// dataset.Options.MaxBytes and any other loader of files others made.
func memoryBudget() int64 { return memoryBudgetBytes.Load() }

// byteSize is a flag value in bytes, written with an optional suffix: B,
// KB/MB/GB/TB (powers of 1000) or KiB/MiB/GiB/TiB (powers of 1024); the
// "B" may be left out (2G, 512Mi).
type byteSize struct{ n int64 }

func (b *byteSize) String() string { return formatBytes(b.n) }

func (b *byteSize) Type() string { return "bytes" }

func (b *byteSize) Set(s string) error {
	n, err := parseBytes(s)
	if err != nil {
		return err
	}
	b.n = n
	return nil
}

var byteUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
	"ki": 1 << 10, "kib": 1 << 10, "mi": 1 << 20, "mib": 1 << 20, "gi": 1 << 30, "gib": 1 << 30, "ti": 1 << 40, "tib": 1 << 40,
}

// parseBytes parses a positive size such as 2GiB, 1.5G or 1048576.
func parseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	}
	mult, ok := byteUnits[unit]
	v, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || num == "" {
		return 0, fmt.Errorf("%q is not a size: want a number with an optional unit, e.g. 512MiB, 2GiB, 8GB", s)
	}
	v *= mult
	if v < 1 || v > 1<<62 {
		return 0, fmt.Errorf("%q: want a size between 1 byte and 4 EiB", s)
	}
	return int64(v), nil
}

// formatBytes writes n with the largest binary unit that divides it.
func formatBytes(n int64) string {
	for _, u := range []struct {
		s string
		v int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.v && n%u.v == 0 {
			return strconv.FormatInt(n/u.v, 10) + u.s
		}
	}
	return strconv.FormatInt(n, 10)
}

// exitError maps an error of pkg/run to the process exit code: a failed
// gate is 1 (the report says why), an interrupt 130, anything else 2.
func exitError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, run.ErrGateFailed):
		return &ExitError{Code: ExitGateFailed}
	case errors.Is(err, run.ErrInterrupted):
		return &ExitError{Code: ExitInterrupted, Err: err}
	}
	return usageError(err)
}
