// Package report holds advtest's run report: a versioned, JSON-serialisable
// record of everything needed to reproduce a run (tool version, resolved
// config, seed, model and data hashes) and every figure that any output
// format prints.
//
// The package has four parts:
//
//   - the model (Report and its sections), read back with Load, which refuses
//     schema versions it does not know and files larger than MaxFileSize;
//   - metric helpers (NewAttackResult, WorstCaseOf, CleanStats) that turn
//     per-sample outcomes into the figures, so that every caller computes
//     success rate, robust accuracy and perturbation statistics the same way;
//   - gates (Gate, Check, Report.ApplyGate): a worst-case success
//     rate ceiling, per-attack ceilings, and a regression check against a
//     baseline report, the previous run's JSON output;
//   - formatters behind the Writer interface, registered by format name
//     (table, json, junit, markdown), and WriteFile, which writes a report
//     atomically.
//
// Definitions follow DESIGN.md: the success rate (SR) of an attack is the
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
