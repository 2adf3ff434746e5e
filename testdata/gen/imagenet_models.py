"""Exports testdata/bench/ (git-ignored): five full-size torchvision
ImageNet classifiers with random weights, for the side-by-side benchmark
(bench_imagenet_side_by_side.sh) and BenchmarkImageNet / BenchmarkPGDImageNet.

The models are torchvision 0.14's resnet50, vit_b_16, convnext_tiny,
mobilenet_v2 and efficientnet_b0 built with weights=None (1000 classes)
after torch.manual_seed; BatchNorm running statistics are re-estimated on
random images with zoo.py's reestimate_bn, and vit_b_16's classifier,
which torchvision zero-initialises, gets zoo.py's reinit_head (so activations neither vanish
nor explode through the random network), then the model is put in eval
mode and exported as zoo.py does: input "input" [batch,3,224,224] with a
dynamic batch axis "batch", output "logits", here at opset 17 only.

Per architecture <arch> it writes

  <arch>.onnx   the exported model (vit_b_16: 330 MB; about 700 MB in all)
  <arch>.pt     the same weights as a PyTorch state dict, which
                imagenet_bench_pytorch.py loads (so both sides run the
                same numbers without reading ONNX into PyTorch)

and, shared by all models,

  images.npy    float32 [8,3,224,224] in [0,1]: zoo.py's smooth_images
  labels.npy    int64 [8]: fixed random classes in [0,1000)
  models.json   per architecture: parameter count, ONNX bytes, op counts

None of this is committed (the folder is in .gitignore): Go tests never
need it, and the benchmarks skip with a message when it is absent.

Run with Debian's torch, from the repository root:
  nice -n 10 /usr/bin/python3 testdata/gen/imagenet_models.py [arch ...]
(a few minutes on 2 cores; about 3 GB of memory at the peak.)
"""
import json
import os
import sys

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import TESTDATA, save_npy  # noqa: E402
from zoo import op_counts, reestimate_bn, reinit_head, smooth_images  # noqa: E402

OUT = os.path.join(TESTDATA, "bench")
N = 8
SHAPE = (3, 224, 224)
OPSET = 17
ARCHS = ["resnet50", "vit_b_16", "convnext_tiny", "mobilenet_v2", "efficientnet_b0"]


def build(arch):
    """The torchvision model with random weights (weights=None)."""
    return getattr(torchvision.models, arch)(weights=None)


def main():
    torch.set_num_threads(2)
    os.makedirs(OUT, exist_ok=True)
    only = sys.argv[1:]
    for a in only:
        if a not in ARCHS:
            raise SystemExit(f"unknown architecture {a!r}; expected one of {ARCHS}")
    gen = torch.Generator().manual_seed(12)
    x = smooth_images(gen, N, SHAPE)
    y = torch.randint(0, 1000, (N,), generator=gen)
    save_npy(os.path.join(OUT, "images.npy"), x.numpy().astype(np.float32))
    save_npy(os.path.join(OUT, "labels.npy"), y.numpy().astype(np.int64))
    json_path = os.path.join(OUT, "models.json")
    summary = {"n": N, "input_shape": list(SHAPE), "opset": OPSET, "torch": torch.__version__,
               "torchvision": torchvision.__version__, "models": {}}
    if os.path.exists(json_path):
        with open(json_path) as f:
            summary["models"] = json.load(f).get("models", {})
    for seed, arch in enumerate(ARCHS):
        if only and arch not in only:
            continue
        torch.manual_seed(3000 + seed)
        model = build(arch)
        if arch == "vit_b_16":
            reinit_head(model.heads.head)  # torchvision zero-initialises it: constant logits, zero gradients
        reestimate_bn(model, torch.Generator().manual_seed(4000 + seed), SHAPE)
        model.eval()
        torch.save(model.state_dict(), os.path.join(OUT, arch + ".pt"))
        path = os.path.join(OUT, arch + ".onnx")
        torch.onnx.export(model, x[:1], path, opset_version=OPSET, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        with torch.no_grad():
            logits = model(x)
        entry = {"params": sum(p.numel() for p in model.parameters()), "bytes": os.path.getsize(path),
                 "logit_std": logits.std().item(), "ops": op_counts(path)}
        summary["models"][arch] = entry
        print(f"{arch:16s} params {entry['params']:9d}  bytes {entry['bytes']:10d}  "
              f"logit std {entry['logit_std']:.3g}", flush=True)
        del model
    with open(json_path, "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
