"""Trains testdata/models/mnist_surrogate.onnx: an MNIST classifier trained
independently of the shipped models, for the transfer attack's test
(pkg/attack/transfer_test.go).

Independent of mnist_mlp.onnx / mnist_cnn.onnx in every way that matters for
transferability: another architecture (a small strided CNN,
conv5x5/2 (8) - ReLU - conv5x5/2 (16) - ReLU - FC 64 - ReLU - FC 10, about
20k parameters), another seed (torch.manual_seed(1)), and another part of the
training data (the second half of testdata/mnist's 60000 training images,
where make_models.py trains on all of them in another order). Like the other
MNIST models it takes pixels in [0, 1] and normalises inside the graph.

Writes testdata/models/mnist_surrogate.onnx (opset 13, dynamic batch, < 100 kB)
and prints its clean accuracy on the 1000 shipped test samples.

Usage: OPENBLAS_NUM_THREADS=2 /usr/bin/python3 testdata/gen/make_surrogate.py
(about a minute on 2 idle cores).
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

import common

torch.set_num_threads(2)
torch.use_deterministic_algorithms(True)

OUT = os.path.join(common.MODELS_DIR, "mnist_surrogate.onnx")


class Surrogate(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 5, 2)
        self.conv2 = nn.Conv2d(8, 16, 5, 2)
        self.fc1 = nn.Linear(16 * 4 * 4, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = (x - common.MNIST_MEAN) / common.MNIST_STD
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        return self.fc2(x)


def main():
    x = common.read_idx(os.path.join(common.MNIST_DIR, "train-images-idx3-ubyte.gz"))
    y = common.read_idx(os.path.join(common.MNIST_DIR, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    half = len(x) // 2
    x = torch.from_numpy(x[half:].astype(np.float32) / 255.0).unsqueeze(1)
    y = torch.from_numpy(y[half:])
    torch.manual_seed(1)
    model = Surrogate()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(1)
    model.train()
    for epoch in range(2):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), 64):
            b = perm[i:i + 64]
            opt.zero_grad()
            loss = F.cross_entropy(model(x[b]), y[b])
            loss.backward()
            opt.step()
        print(f"epoch {epoch + 1}: last batch loss {loss.item():.4f}")
    model.eval()
    xt, yt = common.load_shipped_mnist()
    with torch.no_grad():
        pred = model(torch.from_numpy(xt)).argmax(1).numpy()
    print(f"clean accuracy on the 1000 shipped test samples: {(pred == yt).mean():.3f}")
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), OUT, opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    onnx.checker.check_model(onnx.load(OUT), full_check=True)
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
