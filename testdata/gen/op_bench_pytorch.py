"""Times single ops at ImageNet shapes in PyTorch (2 threads), forward and
forward+backward, by the case names of BenchmarkOps
(pkg/onnxmodel/bench_ops_test.go). Prints one line per case and pass:
name, best-of-repeats ms. Usage:

  env OMP_NUM_THREADS=2 /usr/bin/python3 testdata/gen/op_bench_pytorch.py [repeats]
"""
import sys
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(2)
torch.manual_seed(0)


def dwconv(n, c, hw, k, s):
    x = torch.randn(n, c, hw, hw)
    w = torch.randn(c, 1, k, k)
    b = torch.randn(c)
    return [x, w, b], [0], lambda x, w, b: F.conv2d(x, w, b, stride=s, padding=k // 2, groups=c)


def cases():
    r = torch.randn
    yield "dwconv7_convnext_96x56", dwconv(8, 96, 56, 7, 1)
    yield "dwconv7_convnext_768x7", dwconv(8, 768, 7, 7, 1)
    yield "dwconv3_mobilenet_144x56_s1", dwconv(8, 144, 56, 3, 1)
    yield "dwconv3_mobilenet_144x56_s2", dwconv(8, 144, 56, 3, 2)
    yield "dwconv5_effnet_240x28_s2", dwconv(8, 240, 28, 5, 2)
    yield "matmul_vit_qk", ([r(8, 12, 197, 64), r(8, 12, 64, 197)], [0, 1], torch.matmul)
    yield "matmul_vit_av", ([r(8, 12, 197, 197), r(8, 12, 197, 64)], [0, 1], torch.matmul)
    yield "matmul_vit_qkv_dense", ([r(8, 197, 768), r(768, 2304)], [0], torch.matmul)
    yield "layernorm_vit", ([r(8, 197, 768), r(768), r(768)], [0], lambda x, w, b: F.layer_norm(x, (768,), w, b))
    yield "layernorm_convnext", ([r(8, 56, 56, 96), r(96), r(96)], [0], lambda x, w, b: F.layer_norm(x, (96,), w, b))
    yield "erf_vit", ([r(8, 197, 3072)], [0], torch.erf)
    yield "softmax_vit", ([r(8, 12, 197, 197)], [0], lambda x: torch.softmax(x, -1))
    yield "add_bias_vit", ([r(8, 197, 3072), r(3072)], [0], torch.add)
    yield "mul_same_vit", ([r(8, 197, 3072), r(8, 197, 3072)], [0, 1], torch.mul)
    yield "div_scalar_vit", ([r(8, 12, 197, 197), r(())], [0], torch.div)
    # contiguous() so that the copy happens, as in advtest's Transpose
    yield "transpose_convnext", ([r(8, 96, 56, 56)], [0], lambda x: x.permute(0, 2, 3, 1).contiguous())


def best_ms(fn, repeats):
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best * 1e3


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    print("torch", torch.__version__, "threads", torch.get_num_threads())
    for name, (ins, need, f) in cases():
        def fwd():
            with torch.no_grad():
                f(*ins)
        grad_ins = [t.clone().requires_grad_(i in need) for i, t in enumerate(ins)]
        g = torch.randn_like(f(*ins))

        def fwdbwd():
            y = f(*grad_ins)
            torch.autograd.grad(y, [grad_ins[i] for i in need], g)
        print(f"{name}/fwd {best_ms(fwd, repeats):.3f} ms")
        print(f"{name}/fwdbwd {best_ms(fwdbwd, repeats):.3f} ms")


if __name__ == "__main__":
    main()
