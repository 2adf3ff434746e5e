"""Writes testdata/newops/: small PyTorch modules exported to ONNX that
exercise the ops of pkg/onnxmodel's ops_activation2.go, ops_logic.go,
ops_index.go, ops_resize.go, ops_norm2.go and ops_einsum.go as PyTorch's
exporter emits them, with PyTorch's logits and input gradient as the
reference (pkg/onnxmodel/ops_newops_models_test.go compares the engine).

    /usr/bin/python3 testdata/gen/newops_sink.py     # seconds, deterministic

Each model is written as <name>_op<opset>.onnx next to <name>.ref.json:
{"x": {"shape", "data"}, "logits": {...}, "grad": {...}} where grad is the
gradient of sum(logits[:, 0]) - sum(logits[:, 1]) with respect to x.
"""
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "newops")


class Sink(nn.Module):
    """Resize (bilinear, bicubic align_corners, nearest), DepthToSpace,
    InstanceNormalization (also GroupNorm's export), HardSwish, Celu,
    Einsum, TopK, CumSum, Trilu, ArgMax, GatherElements, Tile and Mod."""

    def __init__(self):
        super().__init__()
        self.inorm = nn.InstanceNorm2d(4, affine=True)
        self.gnorm = nn.GroupNorm(2, 4)
        self.w = nn.Parameter(torch.randn(4, 5))
        with torch.no_grad():
            self.inorm.weight.uniform_(0.5, 1.5)
            self.inorm.bias.normal_()
            self.gnorm.weight.uniform_(0.5, 1.5)
            self.gnorm.bias.normal_()

    def forward(self, x):  # x: N, 4, 6, 6
        a = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        b = F.interpolate(x, size=(9, 7), mode="bicubic", align_corners=True)
        c = F.interpolate(x, scale_factor=2, mode="nearest")
        d = F.pixel_shuffle(torch.cat([x, x * 2], 1), 2)
        e = F.pixel_unshuffle(a, 2)
        f = self.gnorm(self.inorm(x))
        g = F.hardswish(x) + F.celu(x, 0.7) + F.gelu(x)
        h = torch.einsum("nchw,ck->nkhw", x, self.w)
        t = torch.topk(x.flatten(1), 5, dim=1).values
        cs = torch.cumsum(x, dim=3)
        tr = torch.tril(x, diagonal=1) + torch.triu(x, 2)
        idx = torch.argmax(x, dim=1, keepdim=True)
        ge = torch.gather(x, 1, idx.expand(-1, 2, -1, -1))
        rep = x[:, :1].repeat(1, 3, 1, 1)
        m = lambda v: v.mean((1, 2, 3))
        s = (m(a) + m(b) + m(c * c) + m(d) + m(e ** 2) + m(f) + m(g) + m(h * h) + t.sum(1)
             + m(cs) + m(tr) + m(ge) + m(rep * x[:, 1:]))
        return torch.stack([s, s * s, torch.fmod(s, 0.7)], 1)


class Up(nn.Module):
    """Nearest upsampling, which opset 9 exports as Upsample."""

    def forward(self, x):
        u = F.interpolate(x, scale_factor=2, mode="nearest")
        v = F.interpolate(x, scale_factor=3, mode="nearest")
        s = (u * u).mean((1, 2, 3)) + (v * torch.sin(v)).mean((1, 2, 3))
        return torch.stack([s, -2 * s], 1)


def tensor_json(t):
    return {"shape": list(t.shape), "data": [float(v) for v in t.detach().reshape(-1).tolist()]}


def write(name, model, x, opsets):
    model = model.eval()
    x = x.clone().requires_grad_(True)
    y = model(x)
    (y[:, 0].sum() - y[:, 1].sum()).backward()
    ref = {"x": tensor_json(x), "logits": tensor_json(y), "grad": tensor_json(x.grad)}
    with open(os.path.join(OUT, name + ".ref.json"), "w") as fh:
        json.dump(ref, fh)
    for op in opsets:
        torch.onnx.export(model, x.detach(), os.path.join(OUT, f"{name}_op{op}.onnx"), opset_version=op,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(1)
    write("sink", Sink(), torch.randn(2, 4, 6, 6), (14, 17))
    write("upsample", Up(), torch.randn(2, 3, 4, 5), (9,))


if __name__ == "__main__":
    main()
