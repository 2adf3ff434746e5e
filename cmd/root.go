// Package cmd holds advtest's cobra commands: flag wiring, config binding
// and calls into pkg/. It does no numerics of its own.
package cmd

// Execute runs the command line and returns the process exit code.
func Execute() int {
	return 0
}
