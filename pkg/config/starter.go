package config

// StarterConfig returns a fully commented starter config, valid as
// written, for `advtest init`. Its paths are placeholders to edit.
func StarterConfig() string { return starter }

const starter = `# advtest config. Every key is shown with its default unless noted.
# Precedence: command-line flags > environment (ADVTEST_<KEY>, dots as
# underscores, e.g. ADVTEST_GATE_FAIL_ABOVE) > this file > defaults.
# Relative paths are relative to the directory advtest runs in.

# The ONNX classifier to attack (required).
model: model.onnx
# Evaluation data (required): .npy, .npz (x and y inside), IDX(.gz), CSV or
# an image folder.
data: data.npy
# Labels, when they are not inside the data file. Default: none.
labels: labels.npy
# The label column of a CSV data file (data and train.data): a column name
# or a 0-based index. Default: the column named "label".
label_column: ""
# Evaluate only the first N samples; 0 evaluates all.
limit: 0
# One seed drives all randomness; the same inputs and seed give the same
# figures. Any integer >= 0.
seed: 1
# Samples per forward/backward pass.
batch_size: 128

# How the loaded values become model input. scale multiplies them into
# input space, where eps is measured and values are clipped to [clip_min,
# clip_max] (the loader already divides uint8 data by 255); mean/std
# normalise per channel inside the model pipeline, never before the attack
# (one value applies to all channels; both empty for none).
preprocessing:
  scale: 1          # e.g. 0.00392156862745098 for float data in 0..255
  mean: []          # e.g. [0.485, 0.456, 0.406]
  std: []           # e.g. [0.229, 0.224, 0.225]
  clip_min: 0
  clip_max: 1
  layout: NCHW      # NCHW or NHWC

# When data is an image folder (one subfolder per class, PNG or JPEG): how
# images become samples. 0 and empty keep them as they are (one size).
images:
  width: 0          # resize to width x height ...
  height: 0
  shorter_side: 0   # ... or so that the shorter side has this length, e.g. 256
  crop_width: 0     # then cut the center, e.g. 224 x 224
  crop_height: 0
  interpolation: bilinear   # or nearest
  channel_order: rgb        # or bgr
  grayscale: false

# The attack pool, run in order. Attacks: fgsm, bim, pgd, mifgsm, cw,
# deepfool, jsma, lbfgs, apgd-ce, apgd-dlr, apgd-t, autoattack. Common
# params: norm (linf|l2), eps, steps, step, restarts; each attack documents
# its own (advtest attacks). max_sr fails the run when that attack's
# success rate is above it (default: none).
# Keep apgd-ce and apgd-t beside pgd: a fixed-step PGD under-reports the
# success rate on robust models, and the worst case over PGD, APGD-CE and
# APGD-T (AutoAttack's white-box core, Croce & Hein 2020) is the figure
# robustness papers report. apgd-t costs up to n_targets x steps gradient
# evaluations per robust sample; drop it only for a quick look.
attacks:
  - name: fgsm
    params: {norm: linf, eps: 0.03}
  - name: pgd
    params: {norm: linf, eps: 0.03, steps: 40, step: auto}
    max_sr: 0.9
  - name: apgd-ce
    params: {norm: linf, eps: 0.03}   # 100 steps, step size adapted per sample
  - name: apgd-t
    params: {norm: linf, eps: 0.03}   # targeted DLR against the 9 runner-up classes
  - name: deepfool

# Success rate against eps for one attack of the pool (off while attack is
# empty).
sweep:
  attack: ""        # e.g. pgd
  eps: []           # e.g. [0.01, 0.02, 0.03, 0.05]

# Gradient-masking sanity checks (Carlini et al. 2019) after the pool: SR
# must grow to ~100% as eps grows and for an unbounded attack, more steps
# must not lower it, black-box must not beat white-box. A flagged check
# fails the gate.
sanity:
  enabled: true
  samples: 500      # clean-correct samples the checks attack (0: all)

# Pass/fail. Exit 1 when a gate fails.
gate:
  # Fail when the worst-case success rate over the pool is above this, in
  # [0, 1]. Default: no threshold.
  fail_above: 0.9
  # Fail when the clean accuracy is below this, in [0, 1], so that a broken
  # export (or an endpoint that always answers one class) cannot pass with a
  # low success rate. Set it a little below your model's known accuracy.
  min_clean_accuracy: 0.5
  # Fail when a targeted attack (targeted=true) makes more than this
  # fraction of its samples classify as their target, in [0, 1]; its
  # untargeted SR stays under fail_above and max_sr. Default (null): none.
  max_targeted_sr: null
  # A JSON report of an earlier run; each attack's success rate may rise by
  # at most max_regression over the same attack's (same name and params).
  baseline: ""
  max_regression: 0
  # An attack of the baseline that this run lacks fails the gate, so that a
  # regression check cannot be skipped by dropping or renaming an attack;
  # true lets it pass as a note, deliberately.
  allow_missing_attacks: false

# Where the report goes: the main output (path empty or "-" for standard
# output), and extra outputs written in the same run.
output:
  format: table     # table, json, junit, markdown
  path: ""
  extra: []         # e.g. [{format: json, path: advtest.json}]

# The harden loop (advtest harden): attack, defend, measure until the
# worst-case success rate is at most until_sr (and/or the certified accuracy
# reaches until_certified).
harden:
  until_sr: 0.5     # default: none (advtest harden requires it or until_certified)
  # A certified-accuracy target instead of (or with) until_sr: randomized
  # smoothing (Cohen et al. 2019) certifies each round's model; stop when
  # the certified accuracy at L2 radius "radius" is at least "accuracy".
  # 0 or absent takes a default: sigma 0.25, n0 100, n 1000, alpha 0.001,
  # batch 1000, samples 100 (the first evaluation samples). The natural
  # defence: gaussian-augmentation with the same sigma.
  # until_certified: {radius: 0.25, accuracy: 0.6, sigma: 0.25, n0: 100, n: 1000, alpha: 0.001, batch: 1000, samples: 100}
  max_rounds: 5
  max_clean_drop: 0.02
  defences: []      # e.g. [{name: adversarial-training, params: {epochs: 2}}]

# Training data for defences that train the model.
train:
  data: ""
  labels: ""
  validation_split: 0.1
`
