"""PyTorch side of advtest's BenchmarkDeepFoolResNet (pkg/eval/bench_test.go):
a plain batched DeepFool on the same model and samples, timed on the CPU.

Model: the residual BN CNN, weights read from
testdata/models/resnet_bn_dyn_op9.onnx (common.load_from_onnx). Samples: the
1000 shipped MNIST test images, in batches of 128. Attack: DeepFool
(Moosavi-Dezfooli et al. 2016, Alg. 2, multi-class, L2), all 10 classes, at
most 50 iterations, overshoot 0.02 on the accumulated perturbation, the
1e-4 added to |f'_l| as in the authors' reference code, iterates clipped to
[0, 1]. As advtest does, it attacks the true label, skips the samples the
model already gets wrong, and drops a sample from the batch as soon as its
label changes. Each iteration is one forward pass of the samples still
running and one backward pass per class (retain_graph), the Jacobian of the
class logits that torchattacks and the authors' code compute.

Prints samples/s (1000 / wall time of the whole attack, clean forward
included) for each of REPEATS timed runs after one untimed warm-up, their
best and median, the CPU time (user+sys) of each run, and the median L2 of
the fooled samples' perturbations (advtest's median_l2).

Usage: /usr/bin/python3 testdata/gen/deepfool_bench.py [REPEATS]   (default 3)
Thread settings (2 torch/BLAS/OpenMP threads) are fixed before torch is
imported. Run it when the machine is otherwise quiet.
"""
import os

os.environ["OPENBLAS_NUM_THREADS"] = "2"
os.environ["OMP_NUM_THREADS"] = "2"
os.environ["MKL_NUM_THREADS"] = "2"

import statistics
import sys
import time

import torch

torch.set_num_threads(2)

import common  # noqa: E402  (after the thread settings on purpose)

BATCH = 128
MAX_ITER = 50
OVERSHOOT = 0.02
EPSILON = 1e-4  # added to |f'_l| as in the authors' reference code


def deepfool(model, x, y):
    """DeepFool on one batch; returns the final points. Samples the model
    already misclassifies are returned unchanged."""
    with torch.no_grad():
        pred = model(x).argmax(1)
    x_adv = x.clone()
    r_tot = torch.zeros_like(x)
    active = torch.nonzero(pred == y).flatten()
    for _ in range(MAX_ITER):
        if len(active) == 0:
            break
        xa = x_adv[active].clone().requires_grad_(True)
        logits = model(xa)
        ya = y[active]
        still = logits.argmax(1) == ya
        if not still.any():
            break
        # Drop the samples whose label changed: their current point stays.
        keep = torch.nonzero(still).flatten()
        active = active[keep]
        c = logits.shape[1]
        grads = torch.stack([torch.autograd.grad(logits[:, k].sum(), xa, retain_graph=True)[0]
                             for k in range(c)], dim=1)[keep]  # [B, C, ...]
        z = logits.detach()[keep]
        ya = ya[keep]
        idx = torch.arange(len(keep))
        f = z - z[idx, ya].unsqueeze(1)                  # f'_k, [B, C]
        w = grads - grads[idx, ya].unsqueeze(1)          # w'_k, [B, C, ...]
        wn = w.flatten(2).norm(dim=2)                    # [B, C]
        ratio = f.abs() / wn
        ratio[idx, ya] = float("inf")
        ratio[wn == 0] = float("inf")
        l = ratio.argmin(1)
        wl = w[idx, l]
        r = ((ratio[idx, l] + EPSILON) / wn[idx, l]).view(-1, *([1] * (x.dim() - 1))) * wl
        r_tot[active] += r
        x_adv[active] = (x[active] + (1 + OVERSHOOT) * r_tot[active]).clamp(0, 1)
    return x_adv


def run(model, x, y):
    outs = [deepfool(model, x[i:i + BATCH], y[i:i + BATCH]) for i in range(0, len(x), BATCH)]
    return torch.cat(outs)


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    load_at_start = os.getloadavg()
    model = common.load_from_onnx("resnet_bn", os.path.join(common.MODELS_DIR, "resnet_bn_dyn_op9.onnx"))
    for p in model.parameters():
        p.requires_grad_(False)
    xn, yn = common.load_shipped_mnist()
    x, y = torch.from_numpy(xn), torch.from_numpy(yn).long()
    run(model, x[:BATCH], y[:BATCH])  # warm-up
    rates, cpus = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        x_adv = run(model, x, y)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        rates.append(len(x) / wall)
        cpus.append(cpu)
        print(f"run: {len(x) / wall:.2f} samples/s  wall {wall:.1f} s  cpu {cpu:.1f} s", flush=True)
    with torch.no_grad():
        pred = torch.cat([model(x_adv[i:i + BATCH]).argmax(1) for i in range(0, len(x), BATCH)])
        clean = torch.cat([model(x[i:i + BATCH]).argmax(1) for i in range(0, len(x), BATCH)])
    fooled = (clean == y) & (pred != y)
    l2 = (x_adv - x).flatten(1).norm(dim=1)[fooled]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load at start {load_at_start}, at end {os.getloadavg()}")
    print(f"samples/s best {max(rates):.2f} median {statistics.median(rates):.2f}; "
          f"cpu s best {min(cpus):.1f} median {statistics.median(cpus):.1f}")
    print(f"fooled {int(fooled.sum())}/{int((clean == y).sum())} median_l2 {l2.median().item():.6f} "
          f"(mean of the two middle values {statistics.median(l2.tolist()):.6f})")


if __name__ == "__main__":
    main()
