"""Reference attack figures in plain PyTorch for advtest's attack tests.

Runs, on mnist_cnn and mnist_mlp (weights read from the committed
testdata/models/*.onnx into their PyTorch twins, see common.load_from_onnx),
over the first 500 shipped MNIST test samples, in pixel space [0,1]:
  FGSM (Goodfellow et al. 2015), Linf eps 0.05 0.1 0.2 0.3
  FGM-L2 (the L2 variant: step eps * g/||g||_2), eps 1.0 2.0
  PGD-Linf (Madry et al. 2018), 40 steps of 0.01, one random start, eps 0.05 0.1 0.2 0.3
  PGD-L2, 40 steps of 2.5*eps/40, one random start, eps 0.5 1.0 2.0 3.0
  DeepFool (Moosavi-Dezfooli et al. 2016), all 10 classes, overshoot 0.02, 50 iterations
All are untargeted on the cross-entropy of the true label (DeepFool: on the
logits), clip every iterate to [0,1], and count SR = fooled / clean-correct.

Writes testdata/reference/attacks.json (every figure with its parameters and
seeds) and testdata/reference/attacks_per_sample.npz (per-sample outcomes of
the deterministic attacks, for exact comparisons; see README.md).

Usage: OPENBLAS_NUM_THREADS=2 /usr/bin/python3 testdata/gen/attack_refs.py
Takes ~2 minutes on 2 cores.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
os.environ.setdefault("OMP_NUM_THREADS", "2")

import json
import time

import numpy as np
import torch
import torch.nn.functional as F

import common

torch.set_num_threads(2)
torch.use_deterministic_algorithms(True)

N = 500
CHUNK = 250
SEED = 0
MODELS = ["mnist_cnn", "mnist_mlp"]
FGSM_EPS = [0.05, 0.1, 0.2, 0.3]
FGM_L2_EPS = [1.0, 2.0]
PGD_LINF_EPS = [0.05, 0.1, 0.2, 0.3]
PGD_LINF_STEP = 0.01
PGD_L2_EPS = [0.5, 1.0, 2.0, 3.0]
PGD_STEPS = 40
DF_OVERSHOOT = 0.02
DF_MAX_ITER = 50
DF_EPSILON = 1e-4  # added to |f_k| as in the authors' reference code


def per_sample_norm(t, p):
    flat = t.flatten(1)
    return flat.abs().amax(1) if p == "inf" else flat.norm(dim=1)


def expand(v, like):
    return v.view(-1, *([1] * (like.dim() - 1)))


def loss_grad(model, x, y):
    """d(sum of per-sample cross-entropy)/dx."""
    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(model(x), y, reduction="sum")
    (g,) = torch.autograd.grad(loss, x)
    return g


def normalize_l2(g):
    return g / expand(per_sample_norm(g, 2).clamp_min(1e-12), g)


def fgsm(model, x, y, eps, gen=None):
    return (x + eps * loss_grad(model, x, y).sign()).clamp(0, 1)


def fgm_l2(model, x, y, eps, gen=None):
    return (x + eps * normalize_l2(loss_grad(model, x, y))).clamp(0, 1)


def pgd_linf(model, x, y, eps, gen, step=PGD_LINF_STEP, steps=PGD_STEPS):
    # Random start: uniform in the Linf ball, then clip.
    delta = (torch.rand(x.shape, generator=gen) * 2 - 1) * eps
    x_adv = (x + delta).clamp(0, 1)
    for _ in range(steps):
        x_adv = x_adv + step * loss_grad(model, x_adv, y).sign()
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0, 1)
    return x_adv


def pgd_l2(model, x, y, eps, gen, steps=PGD_STEPS):
    step = 2.5 * eps / steps
    # Random start: uniform in the L2 ball (Gaussian direction, radius eps*u^(1/d)), then clip.
    d = x[0].numel()
    direction = normalize_l2(torch.randn(x.shape, generator=gen))
    radius = eps * torch.rand(x.shape[0], generator=gen) ** (1.0 / d)
    x_adv = (x + direction * expand(radius, x)).clamp(0, 1)
    for _ in range(steps):
        x_adv = x_adv + step * normalize_l2(loss_grad(model, x_adv, y))
        delta = x_adv - x
        scale = (eps / per_sample_norm(delta, 2).clamp_min(1e-12)).clamp(max=1.0)
        x_adv = (x + delta * expand(scale, delta)).clamp(0, 1)
    return x_adv


def deepfool(model, x, y, overshoot=DF_OVERSHOOT, max_iter=DF_MAX_ITER, gen=None):
    """Batched DeepFool over all classes. Per sample: while the prediction is
    still the original class k0 and fewer than max_iter steps were taken,
    linearise every logit difference f_k - f_k0, step to the nearest linearised
    boundary (r = (|f| + 1e-4) w / ||w||^2), accumulate r_tot and set
    x_adv = clip(x + (1 + overshoot) r_tot, 0, 1). Returns x_adv and the
    number of steps each sample took."""
    with torch.no_grad():
        k0 = model(x).argmax(1)
    r_tot = torch.zeros_like(x)
    x_adv = x.clone()
    iters = torch.zeros(len(x), dtype=torch.long)
    n_classes = None
    for _ in range(max_iter):
        xa = x_adv.detach().requires_grad_(True)
        logits = model(xa)
        n_classes = logits.shape[1]
        active = logits.argmax(1) == k0
        if not active.any():
            break
        grads = torch.stack([torch.autograd.grad(logits[:, c].sum(), xa, retain_graph=True)[0]
                             for c in range(n_classes)], dim=1)  # [B, C, ...]
        logits = logits.detach()
        idx = torch.arange(len(x))
        f = logits - logits[idx, k0].unsqueeze(1)                      # [B, C]
        w = grads - grads[idx, k0].unsqueeze(1)                        # [B, C, ...]
        wnorm = w.flatten(2).norm(dim=2)                               # [B, C]
        ratio = f.abs() / wnorm.clamp_min(1e-12)
        ratio[idx, k0] = float("inf")
        k_hat = ratio.argmin(1)
        f_hat = f[idx, k_hat].abs()
        w_hat = w[idx, k_hat]
        r = expand((f_hat + DF_EPSILON) / wnorm[idx, k_hat].clamp_min(1e-12) ** 2, w_hat) * w_hat
        r = r * expand(active.float(), r)
        r_tot = r_tot + r
        iters += active.long()
        x_adv = (x + (1 + overshoot) * r_tot).clamp(0, 1)
    return x_adv.detach(), iters


def run_attack(model, fn, x, y, eps, seed):
    gen = torch.Generator().manual_seed(seed)
    outs, extra = [], []
    for i in range(0, len(x), CHUNK):
        xs, ys = x[i:i + CHUNK], y[i:i + CHUNK]
        if fn is deepfool:
            xa, it = deepfool(model, xs, ys)
            extra.append(it)
        else:
            xa = fn(model, xs, ys, eps, gen=gen)
        outs.append(xa.detach())
    x_adv = torch.cat(outs)
    with torch.no_grad():
        pred = torch.cat([model(x_adv[i:i + CHUNK]).argmax(1) for i in range(0, len(x), CHUNK)])
    return x_adv, pred, (torch.cat(extra) if extra else None)


def summarise(x, y, clean_ok, x_adv, pred):
    fooled = clean_ok & (pred != y)
    delta = x_adv - x
    l2, linf = per_sample_norm(delta, 2), per_sample_norm(delta, "inf")
    n_ok = int(clean_ok.sum())
    return {
        "sr": int(fooled.sum()) / n_ok,
        "n_fooled": int(fooled.sum()),
        "n_clean_correct": n_ok,
        "robust_accuracy": int((clean_ok & ~fooled).sum()) / len(y),
        "max_linf": float(linf[clean_ok].max()),
        "max_l2": float(l2[clean_ok].max()),
    }, fooled, l2


def main():
    x_all, y_all = common.load_shipped_mnist()
    x, y = torch.from_numpy(x_all[:N]), torch.from_numpy(y_all[:N])
    doc = {
        "description": "Reference attack success rates in plain PyTorch (see testdata/gen/attack_refs.py)",
        "data": f"testdata/mnist/test-1000-images.npy first {N} samples, /255 -> float32 [0,1]",
        "n": N,
        "definitions": {
            "sr": "fooled / clean-correct, fooled = argmax(model(x_adv)) != y for a clean-correct sample",
            "robust_accuracy": "samples still correct after the attack / n",
            "loss": "cross-entropy of the true label on the logits, summed over the batch",
            "clip": "every iterate clipped to [0,1]; the norm ball is centred on the clean x",
            "final_iterate": "PGD figures use the last iterate (not the best over iterations)",
        },
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "models": {},
    }
    per_sample = {}
    specs = ([("fgsm_linf", fgsm, e, {"eps": e, "norm": "inf"}) for e in FGSM_EPS]
             + [("fgm_l2", fgm_l2, e, {"eps": e, "norm": "2"}) for e in FGM_L2_EPS]
             + [("pgd_linf", pgd_linf, e, {"eps": e, "norm": "inf", "steps": PGD_STEPS, "step": PGD_LINF_STEP,
                                           "random_start": "uniform in the Linf ball", "restarts": 1,
                                           "seed": SEED}) for e in PGD_LINF_EPS]
             + [("pgd_l2", pgd_l2, e, {"eps": e, "norm": "2", "steps": PGD_STEPS, "step": 2.5 * e / PGD_STEPS,
                                       "random_start": "uniform in the L2 ball: Gaussian direction, radius eps*u^(1/784)",
                                       "restarts": 1, "seed": SEED}) for e in PGD_L2_EPS]
             + [("deepfool", deepfool, None, {"overshoot": DF_OVERSHOOT, "max_iter": DF_MAX_ITER,
                                              "classes": "all 10", "epsilon_added_to_f": DF_EPSILON,
                                              "clip": "x_adv = clip(x + (1+overshoot)*r_tot, 0, 1) after every step"})])
    for name in MODELS:
        model = common.load_from_onnx(name, os.path.join(common.MODELS_DIR, name + ".onnx"))
        for p in model.parameters():
            p.requires_grad_(False)
        with torch.no_grad():
            clean_pred = model(x).argmax(1)
        clean_ok = clean_pred == y
        mdoc = {"onnx": f"testdata/models/{name}.onnx", "n": N, "n_clean_correct": int(clean_ok.sum()),
                "clean_accuracy": float(clean_ok.float().mean()), "attacks": []}
        per_sample[f"{name}/clean_correct"] = clean_ok.numpy()
        for attack, fn, eps, params in specs:
            t0 = time.time()
            x_adv, pred, iters = run_attack(model, fn, x, y, eps, SEED)
            fig, fooled, l2 = summarise(x, y, clean_ok, x_adv, pred)
            seconds = time.time() - t0  # printed only, so that attacks.json is reproducible
            entry = {"attack": attack, "params": params, **fig}
            if attack == "deepfool":
                ok_l2 = l2[fooled]
                entry["median_l2_successful"] = float(ok_l2.median()) if len(ok_l2) else None
                entry["mean_l2_successful"] = float(ok_l2.mean()) if len(ok_l2) else None
                entry["median_iterations_successful"] = float(iters[fooled].float().median())
                per_sample[f"{name}/deepfool/fooled"] = fooled.numpy()
                per_sample[f"{name}/deepfool/l2"] = l2.numpy().astype(np.float32)
            elif attack in ("fgsm_linf", "fgm_l2"):
                per_sample[f"{name}/{attack}/eps{eps:g}/fooled"] = fooled.numpy()
            mdoc["attacks"].append(entry)
            extra = f" median L2 {entry['median_l2_successful']:.4f}" if attack == "deepfool" else ""
            print(f"{name:10s} {attack:10s} eps={eps!s:5s} SR {fig['sr']:.4f} "
                  f"({fig['n_fooled']}/{fig['n_clean_correct']}){extra}  [{seconds:.1f} s]", flush=True)
        doc["models"][name] = mdoc
    os.makedirs(common.REFERENCE_DIR, exist_ok=True)
    with open(os.path.join(common.REFERENCE_DIR, "attacks.json"), "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    common.save_npz(os.path.join(common.REFERENCE_DIR, "attacks_per_sample.npz"), per_sample)


if __name__ == "__main__":
    main()
