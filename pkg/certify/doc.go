// Package certify certifies the L2 robustness of a classifier by
// randomized smoothing: Cohen, Rosenfeld & Kolter, "Certified Adversarial
// Robustness via Randomized Smoothing" (ICML 2019), Algorithm CERTIFY
// (Sec. 3.2, "Pseudocode for certification and prediction"), as the
// authors' reference code (locuslab/smoothing, core.py) does it.
//
// The smoothed classifier g(x) = argmax_c P(f(x + δ) = c), δ ~ N(0, σ²I),
// is certified at x by sampling the base classifier f:
//
//  1. draw n0 noisy copies of x; ĉA is the class f gives most often;
//  2. draw n further copies; nA of them f gives ĉA;
//  3. pA = LowerConfidenceBound(nA, n, alpha): the one-sided (1 − alpha)
//     Clopper-Pearson lower bound, the α-quantile of Beta(nA, n − nA + 1);
//  4. if pA < 1/2, abstain; else predict ĉA with the certified L2 radius
//     R = σ·Φ⁻¹(pA).
//
// With probability at least 1 − alpha over the draws, g predicts ĉA on
// every x' with ||x' − x||₂ < R. The certified accuracy at radius r is the
// fraction of samples predicted correctly (not abstaining) with R ≥ r.
//
// Contract:
//
//   - The base classifier is anything with NumClasses, InputShape and
//     Logits (attack.Classifier and *onnxmodel.Model satisfy Classifier);
//     its class is the argmax of the logits, ties going to the lower class.
//   - The noise is added in input space, where the data is given. With
//     Params.Clip the noisy input is clipped to [Min, Max] before f sees
//     it; the clip is part of the base classifier f∘clip, so the
//     certificate holds unchanged.
//   - A model that adds noise in its own graph (the gaussian-noise defence,
//     or gaussian-augmentation with inference_noise, which leave the
//     advtest.noise mark) must not get noise twice: ForModel cuts the
//     graph's noise off (defend.WithoutNoise) and certifies with the
//     mark's sigma and clip range, drawing that noise here, seeded. Asking
//     for another sigma is an error. A graph that draws random numbers
//     without the mark is certified as it is, with a warning: its own
//     randomness is part of f, so the certificate still holds, but the
//     noise of the graph is not the σ the radius is computed with.
//   - Randomness: sample i (its index in the whole data set,
//     Options.FirstIndex + its position) draws all its noise from a PCG
//     stream seeded with (Options.Seed, i), n0 draws then n draws, element
//     by element. The figures depend on the seed and the index only, not
//     on the batch size, the order or a shard's size.
//   - Certify stops between batches when ctx is done and returns the
//     samples finished so far with ctx's error.
package certify
