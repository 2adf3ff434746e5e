// Package harden runs advtest's attack → defend → measure loop.
//
// Round 0 measures the model as given: its clean accuracy, each attack's
// success rate (SR) and the worst case over the pool's bounded attacks.
// Each later round applies the next defence of the schedule to the
// current model with the training data, and measures the result with the
// same pool and seed, attacking defend.AdaptiveWith(model) (BPDA through
// squeezers, EOT over inference-time noise with draws seeded by the run's
// seed), so that a preprocessor cannot look robust by hiding its gradient.
// The rules:
//
//   - Schedule: round r (1-based) applies Schedule[r−1]. Once the schedule
//     is exhausted, the last trainer defence of the schedule is repeated
//     (more fine-tuning of the same kind); a schedule without a trainer
//     defence ends the loop when exhausted. Each repeat starts from the
//     current model with a fresh generator, so it is not a replay.
//   - Adversarial-training defences take their attack from the pool: a
//     defence that has an "attack" parameter the schedule leaves unset
//     gets the spec of the pool's first bounded white-box attack
//     (eval.SpecOf), so the model is trained against what it is measured
//     with. Set "attack" (or any other parameter) to override.
//   - Acceptance: a round is accepted, and its model kept, unless (a) its
//     clean accuracy on the evaluation data is more than MaxCleanDrop below
//     round 0's, (b) with validation data, its validation accuracy is more
//     than MaxCleanDrop below round 0's, or (c) it improved none of the
//     targets the current model misses: with only the SR target, it did not
//     lower the worst-case SR; with a certified target, it did not raise
//     the certified accuracy at the target's radius either. A rejected
//     round's model is dropped; the next round starts again from the
//     current model.
//   - Certified target (UntilCertified): every round (round 0 included) is
//     also certified by randomized smoothing, Cohen, Rosenfeld & Kolter
//     2019, CERTIFY (pkg/certify), on the target's first samples of the
//     pool, with the run's seed: the same noise draws for every round, so
//     that two rounds' figures differ by their models only. The natural
//     defence is gaussian-augmentation at the target's sigma (training
//     under the noise the smoothed classifier draws, the paper's Sec. 4);
//     a defence that puts noise of another sigma into the graph is refused
//     by Validate, since certify would certify another classifier. UntilSR
//     1 sets no SR target.
//   - Stop: when an accepted round (or round 0) meets every target (the
//     worst-case SR at or below UntilSR and, with UntilCertified, the
//     certified accuracy at its radius at least its accuracy), after
//     MaxRounds defence rounds, or when a repeated defence is rejected
//     (repeating it would change nothing but the random draws).
//   - Randomness: round r's defence draws from a generator seeded with
//     (Seed, r); every measurement runs the pool with Seed. So a run is a
//     function of its inputs and seed, and resuming from a checkpoint gives
//     the same rows and weights as an uninterrupted run.
//   - Checkpoint: after each round (round 0 included) the current model and
//     a small JSON state (rounds done, seed, rows) are written to
//     CheckpointDir atomically (see checkpoint.go); Resume continues from
//     there.
//
// Every measurement is an eval.Result (Measure): a round's AttackSR and
// WorstCaseSR are read from it, never recomputed here. The evaluation data
// is Pool.Data (read batch by batch, eval.RunPoolData) or Pool.X and Y in
// memory; the checkpoint's fingerprint hashes it as read, the same digest
// either way. The training data (Config.Train, Config.Validation) is held
// in memory.
package harden
