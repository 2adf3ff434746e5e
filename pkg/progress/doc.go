// Package progress reports the progress of long runs (attack pools, sanity
// checks, certification) on a terminal and in CI logs.
//
// The run code sees one small interface, Reporter: Start a step (an attack
// of the pool, a phase) with its number of samples, tell it how many are
// Done, Finish it, and Close the reporter at the end. Func adapts a
// Reporter to the func(attackIndex, name, done, total) callback of
// eval.PoolOptions.Progress and harden.Pool.Progress.
//
// Four modes (--progress=auto|bar|plain|none):
//
//   - bar: one progress bar per step (schollz/progressbar), cleared when
//     the step finishes; for a terminal.
//   - plain: line-oriented output for logs that are not a terminal (CI):
//     one line when a step starts, one when it finishes (with its
//     duration), and in between at most one line per Interval (10 s by
//     default) with the samples done, the time elapsed and an ETA. No
//     carriage returns, no escape codes.
//   - none: nothing.
//   - auto: bar when the writer is a terminal and the CI environment
//     variable is unset, plain otherwise.
//
// The clock is injectable (Options.Now), so that the throttle is tested
// without sleeping. A Reporter is safe for use by several goroutines.
package progress
