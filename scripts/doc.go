// Package scripts holds the shell scripts of the repository (the GitHub
// Action's step, scripts/action-run.sh) and the Go tests that run them.
package scripts
