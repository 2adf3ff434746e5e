// Package cmd holds advtest's cobra commands. Each file declares a
// command's flags, binds them to the config (flags > environment > file >
// defaults, in PreRunE or RunE, never in init) and calls one function of
// pkg/run; exitError maps its error to the exit code: 0 pass, 1 a gate
// failed (run.ErrGateFailed), 2 usage, config or input error, 130
// interrupted (run.ErrInterrupted). No orchestration and no numerics here.
package cmd
