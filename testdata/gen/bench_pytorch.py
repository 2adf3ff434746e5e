"""PyTorch CPU throughput on advtest's MNIST models, the baseline that
advtest's `go test -bench` figures are compared with (as a ratio).

Measures, at batch 128 on the shipped MNIST test images (weights read from
testdata/models/*.onnx):
  mnist_mlp, mnist_cnn: forward only (eval, no_grad), samples/s
  mnist_mlp, mnist_cnn: forward + backward of the summed cross-entropy with
                        respect to the input (parameters frozen), samples/s
  mnist_cnn: PGD-Linf-40 (eps 0.3, step 0.01, one random start), samples/s
Each figure is the median of REPEATS timed runs after WARMUP untimed ones
(PGD: PGD_REPEATS after PGD_WARMUP).

Usage: /usr/bin/python3 testdata/gen/bench_pytorch.py [OUT.json]
Prints the figures and writes them to OUT.json (default
testdata/reference/pytorch_bench.json; bench_side_by_side.sh passes one
file per round). Thread
settings (2 BLAS/OpenMP/torch threads) are fixed at the top, before torch
is imported. Run it when the machine is otherwise idle.
"""
import os

os.environ["OPENBLAS_NUM_THREADS"] = "2"
os.environ["OMP_NUM_THREADS"] = "2"
os.environ["MKL_NUM_THREADS"] = "2"

import json
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(2)

import common  # noqa: E402  (after the thread settings on purpose)

BATCH = 128
WARMUP = 3
REPEATS = 7
INNER = {"forward": 20, "forward_backward_input": 10, "pgd_linf_40": 1}  # calls per timed run
PGD_WARMUP, PGD_REPEATS = 1, 5  # each PGD run is 41 forward+backward passes: fewer repeats


def timed(fn, inner, warmup=WARMUP, repeats=REPEATS):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t0) / inner)
    med = statistics.median(times)
    return {"samples_per_s": BATCH / med, "median_s_per_batch": med,
            "min_s_per_batch": min(times), "max_s_per_batch": max(times)}


def figure_fns(model, x, y):
    """Freezes model's parameters and returns the two timed figures: a
    no-grad forward of x, and forward + summed cross-entropy + the input
    gradient (what advtest's BenchmarkModel/BenchmarkImageNet time)."""
    for p in model.parameters():
        p.requires_grad_(False)

    def forward():
        with torch.no_grad():
            model(x)

    def forward_backward():
        xg = x.clone().requires_grad_(True)
        F.cross_entropy(model(xg), y, reduction="sum").backward()

    return forward, forward_backward


def blas_info():
    """Which BLAS torch calls for Linear/Gemm (convolutions go through oneDNN).
    Debian's torch is built with BLAS_INFO=generic: it uses whatever
    libblas.so.3 the alternatives system points to (netlib's reference BLAS
    unless OpenBLAS or BLIS is installed)."""
    cfg = torch.__config__.show()
    info = next((p.split("=", 1)[1] for p in cfg.replace(",", " ").split() if p.startswith("BLAS_INFO=")), "?")
    lib = "/usr/lib/x86_64-linux-gnu/libblas.so.3"
    return {"torch_BLAS_INFO": info, "libblas.so.3": os.path.realpath(lib) if os.path.exists(lib) else None,
            "mkldnn": torch.backends.mkldnn.is_available()}


def main():
    load_at_start = list(os.getloadavg())
    x_all, y_all = common.load_shipped_mnist()
    x = torch.from_numpy(x_all[:BATCH])
    y = torch.from_numpy(y_all[:BATCH])
    results = {}
    for name in ["mnist_mlp", "mnist_cnn"]:
        model = common.load_from_onnx(name, os.path.join(common.MODELS_DIR, name + ".onnx"))
        forward, forward_backward = figure_fns(model, x, y)
        results[f"{name}/forward"] = timed(forward, INNER["forward"])
        results[f"{name}/forward_backward_input"] = timed(forward_backward, INNER["forward_backward_input"])

        if name == "mnist_cnn":
            eps, step, steps = 0.3, 0.01, 40
            gen = torch.Generator().manual_seed(0)

            def pgd():
                x_adv = (x + (torch.rand(x.shape, generator=gen) * 2 - 1) * eps).clamp(0, 1)
                for _ in range(steps):
                    xa = x_adv.requires_grad_(True)
                    (g,) = torch.autograd.grad(F.cross_entropy(model(xa), y, reduction="sum"), xa)
                    x_adv = x_adv.detach() + step * g.sign()
                    x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0, 1)
                return x_adv

            results[f"{name}/pgd_linf_40"] = timed(pgd, INNER["pgd_linf_40"], PGD_WARMUP, PGD_REPEATS)

    for key, r in results.items():
        print(f"{key:36s} {r['samples_per_s']:10.1f} samples/s  (median {r['median_s_per_batch'] * 1e3:.2f} ms/batch)")
    doc = {
        "description": "PyTorch CPU samples/s at batch 128 (testdata/gen/bench_pytorch.py)",
        "torch_version": torch.__version__,
        "torch_num_threads": torch.get_num_threads(),
        "torch_num_interop_threads": torch.get_num_interop_threads(),
        "env": {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")},
        "blas": blas_info(),
        "cpu": platform.processor() or platform.machine(),
        "os_cpu_count": os.cpu_count(),
        "load_average_at_start": load_at_start,
        "load_average_at_end": list(os.getloadavg()),
        "batch": BATCH,
        "warmup_runs": WARMUP,
        "repeats": REPEATS,
        "pgd_warmup_runs": PGD_WARMUP,
        "pgd_repeats": PGD_REPEATS,
        "calls_per_timed_run": INNER,
        "parameters_require_grad": False,
        "pgd_linf_40": {"eps": 0.3, "step": 0.01, "steps": 40, "random_start": True,
                        "samples_per_s_counts": "batch / time of the whole attack (start + 40 gradient steps)"},
        "results": results,
    }
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(common.REFERENCE_DIR, "pytorch_bench.json")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
