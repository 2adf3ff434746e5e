"""PyTorch CPU throughput on the full-size torchvision models of
testdata/bench/ (imagenet_models.py), the baseline of BenchmarkImageNet and
BenchmarkImageNetPGD; bench_imagenet_side_by_side.sh runs both sides.

Measures, at batch 8 on testdata/bench/images.npy and labels.npy, with the
weights of <arch>.pt (the same numbers as <arch>.onnx), two threads:
  <arch>/forward                 forward only (eval, no_grad)
  <arch>/forward_backward_input  forward + summed cross-entropy + gradient
                                 with respect to the input (parameters frozen)
  resnet50/pgd_linf_10           PGD-Linf-10: eps 4/255, constant step
                                 eps/4, one uniform random start, all 10
                                 steps for every sample (no early stop),
                                 labelled with the model's clean predictions
for every <arch> of imagenet_models.ARCHS (or those named with --arch).
Each figure is the median of REPEATS timed runs after WARMUP untimed ones
(PGD: PGD_REPEATS after PGD_WARMUP, and after one untimed forward+backward
pass); samples/s = 8 / median seconds.

Usage: /usr/bin/python3 testdata/gen/imagenet_bench_pytorch.py OUT.json [--arch A ...] [--figure F ...]
where F is forward, forward_backward_input or pgd_linf_10. Thread settings
are fixed at the top, before torch is imported.
"""
import os

os.environ["OPENBLAS_NUM_THREADS"] = "2"
os.environ["OMP_NUM_THREADS"] = "2"
os.environ["MKL_NUM_THREADS"] = "2"

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(2)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_pytorch import blas_info, figure_fns  # noqa: E402
from imagenet_models import ARCHS, OUT, build  # noqa: E402

WARMUP = int(os.environ.get("WARMUP", 1))
REPEATS = int(os.environ.get("REPEATS", 3))
PGD_WARMUP = int(os.environ.get("PGD_WARMUP", 0))  # the forward+backward figures warm resnet50 up
PGD_REPEATS = int(os.environ.get("PGD_REPEATS", 1))
FIGURES = ["forward", "forward_backward_input", "pgd_linf_10"]
PGD = {"eps": 4 / 255, "step": 1 / 255, "steps": 10}


def timed(fn, batch, warmup, repeats):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {"samples_per_s": batch / med, "median_s_per_batch": med,
            "min_s_per_batch": min(times), "max_s_per_batch": max(times)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--arch", action="append", choices=ARCHS)
    ap.add_argument("--figure", action="append", choices=FIGURES)
    args = ap.parse_args()
    figures = args.figure or FIGURES
    load_at_start = list(os.getloadavg())
    if not os.path.exists(os.path.join(OUT, "images.npy")):
        raise SystemExit(f"{OUT}/images.npy absent: run testdata/gen/imagenet_models.py")
    x = torch.from_numpy(np.load(os.path.join(OUT, "images.npy")))
    y = torch.from_numpy(np.load(os.path.join(OUT, "labels.npy")))
    batch = len(y)
    results = {}
    for arch in args.arch or ARCHS:
        model = build(arch)
        model.load_state_dict(torch.load(os.path.join(OUT, arch + ".pt")))
        model.eval()
        forward, forward_backward = figure_fns(model, x, y)

        if "forward" in figures:
            results[f"{arch}/forward"] = timed(forward, batch, WARMUP, REPEATS)
        if "forward_backward_input" in figures:
            results[f"{arch}/forward_backward_input"] = timed(forward_backward, batch, WARMUP, REPEATS)
        if arch == "resnet50" and "pgd_linf_10" in figures:
            gen = torch.Generator().manual_seed(0)
            eps, step = PGD["eps"], PGD["step"]
            with torch.no_grad():
                y_pgd = model(x).argmax(1)  # clean predictions, as BenchmarkImageNetPGD labels them

            def pgd():
                x_adv = (x + (torch.rand(x.shape, generator=gen) * 2 - 1) * eps).clamp(0, 1)
                for _ in range(PGD["steps"]):
                    xa = x_adv.requires_grad_(True)
                    (g,) = torch.autograd.grad(F.cross_entropy(model(xa), y_pgd, reduction="sum"), xa)
                    x_adv = x_adv.detach() + step * g.sign()
                    x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0, 1)
                return x_adv

            forward_backward()  # one untimed gradient pass, as BenchmarkImageNetPGD makes
            results[f"{arch}/pgd_linf_10"] = timed(pgd, batch, PGD_WARMUP, PGD_REPEATS)
        for key in [k for k in results if k.startswith(arch + "/")]:
            r = results[key]
            print(f"{key:40s} {r['samples_per_s']:8.2f} samples/s  (median {r['median_s_per_batch']:.3f} s/batch)",
                  flush=True)
        del model
    doc = {
        "description": "PyTorch CPU samples/s at batch 8 on the ImageNet-size models "
                       "(testdata/gen/imagenet_bench_pytorch.py)",
        "torch_version": torch.__version__,
        "torch_num_threads": torch.get_num_threads(),
        "blas": blas_info(),
        "load_average_at_start": load_at_start,
        "load_average_at_end": list(os.getloadavg()),
        "batch": batch,
        "warmup_runs": WARMUP, "repeats": REPEATS, "pgd_warmup_runs": PGD_WARMUP, "pgd_repeats": PGD_REPEATS,
        "pgd_linf_10": dict(PGD, random_start=True, early_stop=False, labels="clean predictions",
                            samples_per_s_counts="batch / time of the whole attack (start + 10 gradient steps)"),
        "results": results,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
