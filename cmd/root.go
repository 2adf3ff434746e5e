// Package cmd holds advtest's cobra commands: flag wiring, config binding
// and calls into pkg/. It does no numerics of its own.
package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"
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
	return run(os.Args[1:], os.Stdout, os.Stderr)
}

func run(args []string, stdout, stderr io.Writer) (code int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "advtest: internal error: %v\n%s", r, debug.Stack())
			code = ExitUsage
		}
	}()
	root := newRootCommand(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "advtest: interrupted")
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
