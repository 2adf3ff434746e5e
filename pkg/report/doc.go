// Package report holds advtest's run report: a versioned, JSON-serialisable
// record of everything needed to reproduce a run (tool version, resolved
// config, seed, model and data hashes) and every figure that any output
// format prints.
//
// The package has four parts, and no formatter and no figure computation
// (those are pkg/report/format and pkg/eval):
//
//   - the model (Report and its sections), written by WriteJSON and read
//     back with Load, which refuses schema versions it does not know and
//     files larger than MaxFileSize; Key, the one attack key format;
//   - gates (Gate, Check, Report.ApplyGate): a worst-case success rate
//     ceiling, per-attack ceilings, flagged sanity checks, and a regression
//     check against a baseline report, the previous run's JSON output;
//   - Compare, the diff of two reports with the baseline gate's semantics;
//   - Merge, which combines shard reports, recomputing rates from counts.
//
// Definitions follow docs/design.md: the success rate (SR) of an attack is the
// fraction of clean-correct samples it fooled; robust accuracy is the
// fraction of all samples still classified correctly after the attack; the
// worst case over a pool counts a sample as fooled if any attack fooled it.
// Perturbation and query statistics are taken over the fooled samples only.
//
// Everything outside the timing section (Report.Timing, AttackResult.Seconds
// and HardenRound.Seconds) depends only on the inputs and the seed, so two
// runs with the same inputs give byte-identical JSON once
// Report.ZeroTimings has been called. The field-by-field description lives
// in docs/report-schema.md.
package report
