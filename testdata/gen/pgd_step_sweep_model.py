"""Makes the adversarially trained MNIST CNN that the PGD step-size sweep
(pgd_step_sweep/) and pkg/attack's default-strength tests run on,
testdata/models/mnist_cnn_at.onnx, in two steps:

  1. this script builds a small CNN in PyTorch (torch.manual_seed(0),
     PyTorch's default initialisation, untrained) and exports it to
     /tmp/mnist_cnn_init.onnx;
  2. `advtest harden -c testdata/gen/pgd_step_sweep_model.yaml` trains it
     with TRADES (Zhang et al. 2019, beta 6, 5-step inner maximisation, eps
     0.3 ramped up over the first 20% of the batches, 3200 batches of 64,
     Adam lr 3e-3 on a cosine schedule: the recipe of
     configs/mnist-cnn-harden.yaml) and writes the model.

Why a model of its own: `advtest harden -c configs/mnist-cnn-harden.yaml`
hardens the shipped mnist_cnn, whose 1.2 M parameters make a 4.8 MB ONNX
file, too big to commit. This CNN has 207 k parameters (0.83 MB).

Architecture: Sub/Div normalisation (as every shipped MNIST model), conv
1->16 3x3 pad 1, ReLU, maxpool 2, conv 16->32 3x3 pad 1, ReLU, maxpool 2,
flatten, fc 1568->128, ReLU, fc 128->10. Opset 13, dynamic batch, input
`input` [N,1,28,28] in [0,1], output `logits` [N,10].

Run from the repository root:
  /usr/bin/python3 testdata/gen/pgd_step_sweep_model.py
  go build -o /tmp/advtest . && nice -n 10 /tmp/advtest harden -c testdata/gen/pgd_step_sweep_model.yaml \
      --sanity=false --output-model testdata/models/mnist_cnn_at.onnx

The committed model came from that run (seed 1): the TRADES round took
586 s on the shared 2-core machine; on the first 200 shipped test samples
clean accuracy rose from 11% to 100% and the pool's PGD (Linf 0.3, 10 steps
of 0.075) fooled 4.0%. On all 1000, 983 are clean-correct and PGD-40 with
step eps/4 fools 75 of them (pkg/attack's TestPGDDefaultStepStrength).
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, 1, 1)
        self.conv2 = nn.Conv2d(16, 32, 3, 1, 1)
        self.fc1 = nn.Linear(32 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = (x - common.MNIST_MEAN) / common.MNIST_STD
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))


def main():
    torch.manual_seed(0)
    net = SmallCNN().eval()
    path = os.environ.get("OUT", "/tmp/mnist_cnn_init.onnx")
    torch.onnx.export(net, torch.zeros(1, 1, 28, 28), path, opset_version=13, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    print(f"wrote {path} ({os.path.getsize(path)} bytes, {sum(p.numel() for p in net.parameters())} parameters)")


if __name__ == "__main__":
    main()
