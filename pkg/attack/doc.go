// Package attack holds advtest's adversarial attacks: the Attack interface,
// a registry by name, one file per attack, and the projection and norm
// helpers they share. Attacks see a model only through Classifier (white-box;
// MultiGradientClassifier when it computes several gradients from one
// forward pass) or a score/label oracle (black-box); they know nothing of
// files or flags.
//
// Attacks are built by name from string parameters (New, or ParseSpec then New for
// "pgd:norm=linf,eps=0.3,steps=40"); Lookup documents each one's parameters
// and defaults. Every Run keeps x_adv inside the clip range (Bounds) and the
// attack's norm ball, measures Outcome.Fooled with a final forward pass on
// x_adv, skips samples that are misclassified before the attack, counts
// gradient evaluations and queries per sample, and is deterministic given
// its *rand.Rand. Losses are given as dLoss/dLogits (CrossEntropy, CWLoss,
// DLR, TargetedDLR); projections and norms work on one sample's elements
// (ProjectLinf, ProjectL2, L2Dist, ...).
package attack
