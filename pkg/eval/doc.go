// Package eval runs models and attack pools over datasets and computes
// every figure advtest reports, once.
//
// Contract:
//
//   - Clean classifies a dataset: per-sample predictions, clean accuracy,
//     per-class accuracy. A sample is clean-correct when its prediction is
//     its label.
//   - RunPool attacks the clean-correct samples with each attack of a
//     pool, in batches, each batch with its own generator derived from the
//     seed, the attack's name and parameters and the batch's first sample,
//     so a figure does not depend on which other attacks ran. It returns
//     per-sample outcomes (PoolResult): fooled, L0/L2/Linf of x_adv − x in
//     input space, gradient evaluations, queries. Black-box attacks see only
//     a query-counting oracle. On cancellation it returns what it has with
//     Incomplete set.
//   - NewResult turns a PoolResult into a Result, the one place figures are
//     computed: SR = fooled / clean-correct attacked samples (undefined,
//     read as 0, when there are none); robust accuracy = (clean-correct −
//     fooled) / all samples; perturbation and query statistics (mean,
//     median) over the fooled samples; the worst case over the bounded
//     attacks (eps > 0): a clean-correct sample is fooled if any of them
//     fooled it. Its figures are the report's types (report.AttackResult,
//     report.WorstCase), so the report, harden's rounds, the sweep and the
//     sanity checks all read the same numbers.
//   - Sanity runs the gradient-masking checks of Carlini et al. 2019 §5 on
//     a Result and the classifier the pool attacked.
//   - Streaming: Clean, RunPoolData and Sanity take the samples as Data
//     (dataset.Source satisfies it; TensorData wraps a tensor in memory,
//     and RunPool is RunPoolData on one) and read them batch by batch. The
//     clean pass reads the set in batches of BatchSize, each attack batch
//     reads its clean-correct samples (ReadSamples: contiguous spans, at
//     most twice the batch), and the sanity checks read back their bounded
//     subset (SanityOptions.Samples) on every rerun (Subset). What
//     outlives a batch is small: per-sample outcomes and the kept examples
//     (PoolOptions.KeepExamples; the HTML gallery keeps a few per attack),
//     so that memory follows the batch size, not the set. Outcomes are the
//     same whichever way the samples are read.
//
// eval knows no output format and no files.
package eval
