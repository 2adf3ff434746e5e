"""Makes advtest's datasets: testdata/mnist/ and testdata/tabular/.

testdata/mnist/ (the first 1000 samples of the MNIST test set, from the
GoMNIST Go module's t10k IDX files):
  test-1000-images.npy       uint8  [1000,1,28,28]
  test-1000-labels.npy       int64  [1000]
  t1k-images-idx3-ubyte.gz   the same images in MNIST's IDX format (magic 0x803)
  t1k-labels-idx1-ubyte.gz   the same labels in MNIST's IDX format (magic 0x801)
  test-100.npz               x float32 [100,1,28,28] in [0,1] (= uint8/255), y int64 [100]

testdata/tabular/ (a synthetic 3-class, 8-feature dataset, seed 0):
  x.npy, y.npy               float32 [600,8], int64 [600]: the evaluation set
  tabular.csv                the same 600 rows, header f0..f7,label
  x_train.npy, y_train.npy   600 further rows from the same generator, for training

Usage: /usr/bin/python3 testdata/gen/make_data.py
Needs only numpy, and GoMNIST in the Go module cache (see common.find_gomnist_dir).
Byte-reproducible: running it twice gives identical files.
"""
import os

import numpy as np

import common


def make_mnist():
    os.makedirs(common.MNIST_DIR, exist_ok=True)
    x, y = common.load_mnist("t10k")
    assert x.shape == (10000, 28, 28) and y.shape == (10000,)
    x, y = x[:1000], y[:1000]
    common.save_npy(os.path.join(common.MNIST_DIR, "test-1000-images.npy"), x.reshape(1000, 1, 28, 28))
    common.save_npy(os.path.join(common.MNIST_DIR, "test-1000-labels.npy"), y.astype(np.int64))
    common.write_idx_gz(os.path.join(common.MNIST_DIR, "t1k-images-idx3-ubyte.gz"), x)
    common.write_idx_gz(os.path.join(common.MNIST_DIR, "t1k-labels-idx1-ubyte.gz"), y.astype(np.uint8))
    common.save_npz(os.path.join(common.MNIST_DIR, "test-100.npz"), {
        "x": (x[:100].reshape(100, 1, 28, 28).astype(np.float32) / np.float32(255.0)),
        "y": y[:100].astype(np.int64),
    })
    # Self-check: the IDX files read back to the same arrays.
    assert np.array_equal(common.read_idx(os.path.join(common.MNIST_DIR, "t1k-images-idx3-ubyte.gz")), x)
    assert np.array_equal(common.read_idx(os.path.join(common.MNIST_DIR, "t1k-labels-idx1-ubyte.gz")), y)
    print("mnist: 1000 test samples, label counts", np.bincount(y, minlength=10).tolist())


def synth_tabular(n, rng):
    """3 classes; 4 informative latent dims (class-dependent Gaussian means,
    mixed by a fixed random matrix), 2 nonlinear features of the latent, and
    2 pure-noise features. Classes overlap: a small MLP reaches ~90%."""
    means = np.array([[1.8, 0.0, -0.9, 0.45],
                      [-0.9, 1.65, 0.9, -0.45],
                      [-0.9, -1.65, 0.0, 0.9]])
    mix = np.random.default_rng(1234).normal(size=(4, 4))  # fixed, independent of n
    y = rng.integers(0, 3, size=n)
    z = means[y] + rng.normal(size=(n, 4))
    lin = z @ mix
    nonlin = np.stack([z[:, 0] * z[:, 1], np.sin(2.0 * z[:, 2])], axis=1) + 0.3 * rng.normal(size=(n, 2))
    noise = rng.normal(size=(n, 2))
    return np.concatenate([lin, nonlin, noise], axis=1), y.astype(np.int64)


def make_tabular():
    os.makedirs(common.TABULAR_DIR, exist_ok=True)
    rng = np.random.default_rng(0)
    x, y = synth_tabular(1200, rng)
    # Standardise with the statistics of all 1200 rows, then round to 4 decimals
    # so that the CSV holds exactly the float32 values of the .npy files.
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    x = np.round(x, 4).astype(np.float32)
    x_eval, y_eval = x[:600], y[:600]
    x_train, y_train = x[600:], y[600:]
    common.save_npy(os.path.join(common.TABULAR_DIR, "x.npy"), x_eval)
    common.save_npy(os.path.join(common.TABULAR_DIR, "y.npy"), y_eval)
    common.save_npy(os.path.join(common.TABULAR_DIR, "x_train.npy"), x_train)
    common.save_npy(os.path.join(common.TABULAR_DIR, "y_train.npy"), y_train)
    csv_path = os.path.join(common.TABULAR_DIR, "tabular.csv")
    with open(csv_path, "w", newline="\n") as f:
        f.write(",".join([f"f{i}" for i in range(8)] + ["label"]) + "\n")
        for row, label in zip(x_eval, y_eval):
            f.write(",".join("%.4f" % v for v in row) + ",%d\n" % label)
    # Self-check: the CSV parses back to exactly the same float32 values.
    back = np.loadtxt(csv_path, delimiter=",", skiprows=1, dtype=np.float64)
    assert np.array_equal(back[:, :8].astype(np.float32), x_eval)
    assert np.array_equal(back[:, 8].astype(np.int64), y_eval)
    print("tabular: eval", x_eval.shape, np.bincount(y_eval).tolist(),
          "train", x_train.shape, np.bincount(y_train).tolist())


if __name__ == "__main__":
    make_mnist()
    make_tabular()
