// Package run holds advtest's orchestration: one function per command,
// as trivy's pkg/commands. The cobra commands in cmd only declare flags,
// bind the config and map the errors returned here to exit codes.
//
//   - Attack(ctx, Options) (*report.Report, error): load the plan's model
//     (with preprocessing in its graph, attacked through BPDA/EOT when it
//     carries a preprocessor defence) or remote target, data and pool; run
//     the pool (eval.RunPoolData), compute the figures (eval.NewResult), run
//     the sweep, the detector's scoring and the sanity checks, apply the
//     gates, write every configured output.
//   - Harden(ctx, Options, HardenOptions) (*report.Report, error): the
//     harden loop (pkg/harden) with its rounds printed as they end, the
//     hardened model saved, sanity checks on it, the report written.
//
// Data: Attack, Eval and Harden stream the evaluation set (dataset.Open): image
// folders are decoded per batch and plain .npy and IDX files read by
// offset, so that peak memory does not grow with the set; the clip-range
// check runs on each batch as it is read. --max-memory (Options.MaxMemory)
// then bounds one sample, not the set. Formats that cannot be read by
// offset (gzip, .npz, Fortran order, CSV) are read whole and bounded by
// --max-memory as before. Exceptions that hold the set in memory: a model
// carrying a squeeze detector (its clean false-positive rate and every
// fooling example are scored at once), Harden's training and validation
// sets (loaded whole, dataset.Load: training draws its batches from them)
// and Certify. Harden's measurements, its checkpoint fingerprint and its
// certified target read the evaluation set batch by batch.
//   - Eval, Inspect, Serve, Render, Diff, Merge, Init, Attacks, Defences:
//     the other commands.
//
// Errors: ErrGateFailed (exit 1) and ErrInterrupted (exit 130) are
// returned wrapped or bare after the report is written; any other error
// is a usage, config or input error (exit 2). A report is always written
// before the error that a gate decides. run knows no flags.
package run
