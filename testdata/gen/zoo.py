"""Exports testdata/zoo/: reduced-width variants of 13 torchvision
architectures at ONNX opsets 13 and 17, with PyTorch references.

Every model is built from torchvision 0.14's own classes (the same modules,
so the same op patterns as the full-size export), with fewer channels and
blocks so that each ONNX file stays under 2 MB. Weights are random
(torch.manual_seed per model); BatchNorm running statistics are re-estimated
on random inputs (train mode, cumulative average) so that the logits are not
degenerate; then the model is put in eval mode and exported with a dynamic
batch axis named "batch" (input "input", output "logits").

Per architecture <arch> it writes

  <arch>_op13.onnx, <arch>_op17.onnx   the same weights, two opsets
  <arch>.ref.npz                       x [N,3,H,W] float32 in [0,1],
                                       y int64 [N] (the labels used),
                                       logits float32 [N,10],
                                       grad_x float32 like x:
                                         d(sum of the N cross-entropies)/dx
  zoo.json                             per architecture: files, input shape,
                                       parameter count, op types per opset,
                                       FGSM eps and PyTorch's FGSM success rate

FGSM is x_adv = clip(x + eps*sign(grad_x), 0, 1) (Goodfellow et al. 2015),
untargeted, cross-entropy; the success rate counts the clean-correct samples
whose x_adv is misclassified. The labels are PyTorch's clean predictions, so
every sample is clean-correct. eps is the value of EPS_GRID whose success
rate is nearest 0.5 (the larger eps on a tie) among those with a success
rate in (0, 1) and every clean and adversarial logit margin at least
MIN_MARGIN of the logits' scale, so that float32 rounding differences
between engines cannot flip an outcome; failing that, the largest eps whose
margins are all safe.

Run with Debian's torch: nice -n 10 /usr/bin/python3 testdata/gen/zoo.py
(deterministic on CPU; about a minute).
"""
import json
import os
import sys

import numpy as np
import torch
from torch import nn
import torchvision
import functools
import importlib

# torchvision.models re-exports builder functions under some module names
# (googlenet, densenet, ...): import the modules themselves.
(convnext, densenet, efficientnet, googlenet, mnasnet, mobilenetv2, mobilenetv3, regnet, resnet,
 shufflenetv2, squeezenet, swin_transformer, vision_transformer) = (
    importlib.import_module("torchvision.models." + n) for n in (
        "convnext", "densenet", "efficientnet", "googlenet", "mnasnet", "mobilenetv2", "mobilenetv3", "regnet",
        "resnet", "shufflenetv2", "squeezenet", "swin_transformer", "vision_transformer"))
import onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import TESTDATA, save_npz  # noqa: E402

OUT = os.path.join(TESTDATA, "zoo")
N = 8
CLASSES = 10
OPSETS = (13, 17)
EPS_GRID = [0.1, 0.05, 0.03, 0.02, 0.01, 0.005, 0.003, 0.002, 0.001, 0.0005]
MIN_MARGIN = 2e-3


# --------------------------------------------------------------------------
# Reduced-width builders (torchvision classes throughout)
# --------------------------------------------------------------------------

def reinit_head(layer, bias_mean=0.0):
    """Variance-preserving init of a classifier layer that torchvision
    initialises with a tiny or zero std (the logits would be nearly
    constant across samples with random features)."""
    fan_in = layer.weight[0].numel()
    nn.init.normal_(layer.weight, 0.0, fan_in ** -0.5)
    nn.init.normal_(layer.bias, bias_mean, 0.1)


class SmallResNet(resnet.ResNet):
    """torchvision ResNet with every stage's planes divided by 8 (8, 16, 32,
    64 instead of 64..512); the stem and the classifier follow."""

    def __init__(self, block, layers):
        self._div = 8
        super().__init__(block, layers, num_classes=CLASSES)
        self.inplanes = 64 // self._div
        self.conv1 = nn.Conv2d(3, 64 // self._div, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64 // self._div)
        self.fc = nn.Linear(512 // self._div * block.expansion, CLASSES)

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        if planes == 64:  # first stage: the stem's width
            self.inplanes = 64 // self._div
        return super()._make_layer(block, planes // self._div, blocks, stride, dilate)


def build_resnet():
    return SmallResNet(resnet.BasicBlock, [2, 1, 1, 1]), (3, 32, 32)


def build_mobilenet_v2():
    setting = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 2, 2], [6, 64, 2, 2], [6, 96, 1, 1], [6, 160, 2, 2], [6, 320, 1, 1]]
    m = mobilenetv2.MobileNetV2(num_classes=CLASSES, width_mult=0.25, inverted_residual_setting=setting)
    return m, (3, 32, 32)


def build_mobilenet_v3():
    setting, last = mobilenetv3._mobilenet_v3_conf("mobilenet_v3_small", width_mult=0.25)
    m = mobilenetv3.MobileNetV3(setting, last, num_classes=CLASSES)
    reinit_head(m.classifier[-1])
    return m, (3, 32, 32)


def build_efficientnet():
    setting, last = efficientnet._efficientnet_conf("efficientnet_b0", width_mult=0.25, depth_mult=0.25)
    return efficientnet.EfficientNet(setting, dropout=0.2, num_classes=CLASSES, last_channel=last), (3, 32, 32)


def build_regnet():
    bp = regnet.BlockParams.from_init_params(depth=4, w_0=8, w_a=8.0, w_m=2.0, group_width=8, se_ratio=0.25)
    m = regnet.RegNet(bp, num_classes=CLASSES, stem_width=8)
    reinit_head(m.fc)
    return m, (3, 32, 32)


def build_convnext():
    # 32x32 input: the stem (4x4, stride 4) gives 8x8, the stages run at
    # 8, 4, 2 and 1 pixels: the last two are smaller than the 7x7 depthwise
    # kernel (padding 3). layer_scale 0.5 instead of 1e-6 so the blocks'
    # branches matter in the logits and gradients.
    cfg = [convnext.CNBlockConfig(8, 16, 1), convnext.CNBlockConfig(16, 32, 1),
           convnext.CNBlockConfig(32, 64, 1), convnext.CNBlockConfig(64, None, 1)]
    return convnext.ConvNeXt(cfg, layer_scale=0.5, num_classes=CLASSES), (3, 32, 32)


def build_densenet():
    m = densenet.DenseNet(growth_rate=8, block_config=(2, 2, 2, 2), num_init_features=16, bn_size=2, num_classes=CLASSES)
    return m, (3, 32, 32)


class _Div8Conv(googlenet.BasicConv2d):
    """GoogLeNet's BasicConv2d with every channel count but the RGB input
    divided by 8 (all of GoogLeNet's widths are multiples of 8)."""

    def __init__(self, in_channels, out_channels, **kwargs):
        super().__init__(in_channels if in_channels == 3 else in_channels // 8, out_channels // 8, **kwargs)


def build_googlenet():
    m = googlenet.GoogLeNet(num_classes=CLASSES, aux_logits=False, init_weights=True,
                            blocks=[_Div8Conv, functools.partial(googlenet.Inception, conv_block=_Div8Conv),
                                    googlenet.InceptionAux])
    m.fc = nn.Linear(1024 // 8, CLASSES)
    return m, (3, 32, 32)


def build_shufflenet():
    return shufflenetv2.ShuffleNetV2([2, 2, 2], [8, 16, 32, 64, 128], num_classes=CLASSES), (3, 32, 32)


def build_squeezenet():
    # SqueezeNet 1.1's layer sequence with torchvision's Fire modules at a
    # quarter of the width; the classifier (Dropout, 1x1 conv, ReLU,
    # AdaptiveAvgPool) is the class's own with a 128-channel input.
    m = squeezenet.SqueezeNet("1_1", num_classes=CLASSES)
    F = squeezenet.Fire
    m.features = nn.Sequential(
        nn.Conv2d(3, 16, kernel_size=3, stride=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        F(16, 4, 16, 16), F(32, 4, 16, 16),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        F(32, 8, 32, 32), F(64, 8, 32, 32),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        F(64, 12, 48, 48), F(96, 12, 48, 48), F(96, 16, 64, 64), F(128, 16, 64, 64))
    m.classifier[1] = nn.Conv2d(128, CLASSES, kernel_size=1)
    for mod in m.modules():
        if isinstance(mod, nn.Conv2d):
            nn.init.kaiming_uniform_(mod.weight)
            nn.init.zeros_(mod.bias)
    # The signal shrinks through the BatchNorm-free Fire modules: scale the
    # final conv (data-dependent, on random images) so that its outputs vary
    # across samples with std 0.5 around a mean of 1, so that the ReLU'd
    # logits are seldom zero (ties, zero gradients) and not set by the bias.
    head = m.classifier[1]
    with torch.no_grad():
        feats = m.features(torch.rand(64, 3, 64, 64))
        nn.init.normal_(head.weight)
        nn.init.zeros_(head.bias)
        pre = head(feats).mean((2, 3))
        head.weight.mul_(0.5 / pre.std(0).mean())
        head.bias.copy_(1.0 - head(feats).mean((0, 2, 3)))
    return m, (3, 64, 64)


def build_mnasnet():
    return mnasnet.MNASNet(alpha=0.25, num_classes=CLASSES), (3, 32, 32)


def build_vit():
    m = vision_transformer.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2,
                                             hidden_dim=32, mlp_dim=64, num_classes=CLASSES)
    reinit_head(m.heads.head)  # torchvision zero-initialises it
    return m, (3, 32, 32)


def build_swin():
    # 32x32, patch 4 -> an 8x8 grid: stage 1 has 2x2 windows of 4x4 and a
    # shifted block (attention mask); stage 2 at 4x4 is a single window.
    m = swin_transformer.SwinTransformer(patch_size=[4, 4], embed_dim=16, depths=[2, 2], num_heads=[2, 4],
                                         window_size=[4, 4], stochastic_depth_prob=0.0, num_classes=CLASSES)
    reinit_head(m.head)
    for mod in m.modules():
        if isinstance(mod, swin_transformer.ShiftedWindowAttention):
            nn.init.normal_(mod.relative_position_bias_table, 0.0, 0.2)
    return m, (3, 32, 32)


ARCHS = {
    "resnet": build_resnet,
    "mobilenet_v2": build_mobilenet_v2,
    "mobilenet_v3": build_mobilenet_v3,
    "efficientnet": build_efficientnet,
    "regnet": build_regnet,
    "convnext": build_convnext,
    "densenet": build_densenet,
    "googlenet": build_googlenet,
    "shufflenet": build_shufflenet,
    "squeezenet": build_squeezenet,
    "mnasnet": build_mnasnet,
    "vit": build_vit,
    "swin": build_swin,
}


# --------------------------------------------------------------------------
# Data, BatchNorm statistics, references
# --------------------------------------------------------------------------

def smooth_images(gen, n, shape):
    """Images in [0,1]: low-resolution noise upsampled bilinearly, plus a
    little pixel noise, so that samples differ at every scale."""
    c, h, w = shape
    low = torch.rand(n, c, h // 8, w // 8, generator=gen)
    x = nn.functional.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)
    x = x + 0.1 * torch.randn(n, c, h, w, generator=gen)
    return x.clamp(0, 1)


def reestimate_bn(model, gen, shape):
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the passes
    if not bns:
        return
    model.train()
    with torch.no_grad():
        for _ in range(4):
            model(smooth_images(gen, 32, shape))


def ce_grad(model, x, y):
    x = x.clone().requires_grad_(True)
    logits = model(x)
    loss = nn.functional.cross_entropy(logits, y, reduction="sum")
    (g,) = torch.autograd.grad(loss, x)
    return logits.detach(), g.detach()


def min_margin(logits, y):
    """Smallest |logit_y - max other logit| over the batch."""
    other = logits.clone()
    other[torch.arange(len(y)), y] = -float("inf")
    return (logits[torch.arange(len(y)), y] - other.max(1).values).abs().min().item()


def choose_fgsm(model, x, y, g, scale):
    best, fallback = None, None
    for eps in EPS_GRID:
        xa = (x + eps * g.sign()).clamp(0, 1)
        with torch.no_grad():
            la = model(xa)
        fooled = (la.argmax(1) != y)
        safe = min_margin(la, y) >= MIN_MARGIN * scale
        sr = fooled.float().mean().item()
        if safe and 0 < sr < 1 and (best is None or abs(sr - 0.5) < abs(best[1] - 0.5)):
            best = (eps, sr, fooled)
        if safe and fallback is None:
            fallback = (eps, sr, fooled)
    if best is None and fallback is None:
        raise SystemExit("no eps with safe margins")
    return best or fallback


def op_counts(path):
    counts = {}
    for node in onnx.load(path).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return dict(sorted(counts.items()))


def main():
    torch.set_num_threads(2)
    os.makedirs(OUT, exist_ok=True)
    only = sys.argv[1:]
    summary = {"n": N, "classes": CLASSES, "min_margin": MIN_MARGIN, "eps_grid": EPS_GRID,
               "torch": torch.__version__, "torchvision": torchvision.__version__, "models": {}}
    json_path = os.path.join(OUT, "zoo.json")
    if only and os.path.exists(json_path):
        with open(json_path) as f:
            summary["models"] = json.load(f)["models"]
    for seed, (arch, build) in enumerate(ARCHS.items()):
        if only and arch not in only:
            continue
        torch.manual_seed(1000 + seed)
        model, shape = build()
        gen = torch.Generator().manual_seed(2000 + seed)
        reestimate_bn(model, gen, shape)
        model.eval()
        x = smooth_images(gen, N, shape)
        with torch.no_grad():
            clean = model(x)
        y = clean.argmax(1)
        logits, g = ce_grad(model, x, y)
        scale = logits.abs().max().item()
        margin = min_margin(logits, y)
        if margin < MIN_MARGIN * scale:
            raise SystemExit(f"{arch}: clean margin {margin:g} below {MIN_MARGIN} x scale {scale:g}")
        eps, sr, fooled = choose_fgsm(model, x, y, g, scale)
        save_npz(os.path.join(OUT, arch + ".ref.npz"), {
            "x": x.numpy().astype(np.float32), "y": y.numpy().astype(np.int64),
            "logits": logits.numpy().astype(np.float32), "grad_x": g.numpy().astype(np.float32),
            "fgsm_fooled": fooled.numpy().astype(np.bool_)})
        entry = {"input_shape": list(shape), "params": sum(p.numel() for p in model.parameters()),
                 "logit_scale": scale, "clean_min_margin": margin,
                 "fgsm": {"eps": eps, "sr": sr, "n": N}, "files": {}}
        for opset in OPSETS:
            name = f"{arch}_op{opset}.onnx"
            path = os.path.join(OUT, name)
            torch.onnx.export(model, x[:1], path, opset_version=opset, input_names=["input"],
                              output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
            onnx.checker.check_model(onnx.load(path), full_check=True)
            size = os.path.getsize(path)
            if size > 2 << 20:
                raise SystemExit(f"{name}: {size} bytes > 2 MB")
            entry["files"][str(opset)] = {"file": name, "bytes": size, "ops": op_counts(path)}
        summary["models"][arch] = entry
        print(f"{arch:13s} params {entry['params']:7d}  scale {scale:8.3g}  margin {margin:8.3g}  "
              f"fgsm eps {eps:g} sr {sr:.3f}  bytes {[f['bytes'] for f in entry['files'].values()]}", flush=True)
    with open(json_path, "w") as f:
        json.dump(summary, f, indent=1, sort_keys=False)
        f.write("\n")


if __name__ == "__main__":
    main()
