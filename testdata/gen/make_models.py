"""Trains advtest's small test models, exports them to ONNX and writes the
PyTorch reference outputs that the Go engine is checked against.

Writes to testdata/models/:
  mnist_mlp.onnx                 784-256-256-10 ReLU MLP, opset 13, dynamic batch
  mnist_cnn.onnx                 PyTorch examples/mnist CNN, opset 13, dynamic batch
  resnet_bn_fixed1_op17.onnx     small residual CNN with BatchNormalization nodes, batch fixed to 1, opset 17
  resnet_bn_dyn_op9.onnx         the same weights, opset 9, dynamic batch
  view_softmax.onnx              CNN with AveragePool, LeakyReLU, x.view(x.size(0), -1), final Softmax; opset 13
  ln_gelu_mlp.onnx               MLP with LayerNorm and erf GELU, opset 13, dynamic batch
  tabular_mlp.onnx               8-32-32-3 MLP on testdata/tabular, opset 13, dynamic batch
  <model>.ref.npz                references on the first 64 shipped test samples (see README.md)
  mnist_mlp.param_grads.npz      d(sum CE)/d(parameter), keyed by ONNX initializer name
  accuracy.json                  clean accuracy of every model on the whole shipped test set
  models.json                    manifest: opset, input/output names and shapes, op types

Every MNIST model takes pixels in [0,1]; the normalisation (x-0.1307)/0.3081
is inside the graph. Training is short (one epoch or two), seeded
(torch.manual_seed(0) before each model) and deterministic on CPU. The trained
state dicts are also saved to /tmp/advtest_models/ (not committed: the ONNX
files hold the same weights, and common.load_from_onnx reads them back).

Usage: OPENBLAS_NUM_THREADS=2 /usr/bin/python3 testdata/gen/make_models.py [--reuse]
  --reuse  skip training a model whose state dict for the same recipe is in
           /tmp/advtest_models/ (from an earlier run); export and references
           are always redone.
Needs testdata/mnist and testdata/tabular (make_data.py) and the MNIST training
set from the GoMNIST Go module (see common.find_gomnist_dir). Training takes ~5
minutes on 2 idle cores, over 10 when other jobs share them.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
os.environ.setdefault("OMP_NUM_THREADS", "2")

import json
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn.functional as F

import common

torch.set_num_threads(2)
torch.use_deterministic_algorithms(True)

STATE_DIR = "/tmp/advtest_models"
N_REF = 64

# name -> training recipe. All use Adam and cross-entropy on the pre-softmax
# logits; lr_gamma (if given) multiplies the learning rate after every epoch.
RECIPES = {
    "mnist_mlp": dict(data="mnist", epochs=2, batch=64, lr=1e-3, lr_gamma=0.1),
    "mnist_cnn": dict(data="mnist", epochs=1, batch=64, lr=1e-3),
    "resnet_bn": dict(data="mnist", epochs=1, batch=64, lr=2e-3),
    "view_softmax": dict(data="mnist", epochs=2, batch=64, lr=2e-3),
    "ln_gelu_mlp": dict(data="mnist", epochs=2, batch=64, lr=1e-3),
    "tabular_mlp": dict(data="tabular", epochs=40, batch=32, lr=3e-3),
}

# ONNX file -> (model name, opset, dynamic batch?, export options)
EXPORTS = {
    "mnist_mlp.onnx": ("mnist_mlp", 13, True, {}),
    "mnist_cnn.onnx": ("mnist_cnn", 13, True, {}),
    # TrainingMode.PRESERVE on a model in eval mode exports BatchNormalization
    # in inference mode without the eval peephole pass that would fold each
    # BatchNormalization into the Conv before it; with no constant folding,
    # the BN nodes and their initializers stay as they are.
    "resnet_bn_fixed1_op17.onnx": ("resnet_bn", 17, False,
                                   dict(do_constant_folding=False,
                                        training=torch.onnx.TrainingMode.PRESERVE)),
    # The opset-9 twin also lists its initializers as graph inputs, the way
    # older exporters wrote models (IR version 3 style); loaders must treat an
    # input that has an initializer as a constant.
    "resnet_bn_dyn_op9.onnx": ("resnet_bn", 9, True,
                               dict(do_constant_folding=False,
                                    training=torch.onnx.TrainingMode.PRESERVE,
                                    keep_initializers_as_inputs=True)),
    "view_softmax.onnx": ("view_softmax", 13, True, {}),
    "ln_gelu_mlp.onnx": ("ln_gelu_mlp", 13, True, {}),
    "tabular_mlp.onnx": ("tabular_mlp", 13, True, {}),
}


def load_train(kind):
    if kind == "mnist":
        x, y = common.load_mnist("train")
        return torch.from_numpy(x.reshape(-1, 1, 28, 28).astype(np.float32) / 255.0), torch.from_numpy(y)
    x = np.load(os.path.join(common.TABULAR_DIR, "x_train.npy"))
    y = np.load(os.path.join(common.TABULAR_DIR, "y_train.npy"))
    return torch.from_numpy(x), torch.from_numpy(y)


def load_test(kind):
    x, y = common.load_shipped_mnist() if kind == "mnist" else common.load_shipped_tabular()
    return torch.from_numpy(x), torch.from_numpy(y)


def train(name, data):
    recipe = RECIPES[name]
    torch.manual_seed(0)
    model = common.build_model(name)
    x, y = data
    opt = torch.optim.Adam(model.parameters(), lr=recipe["lr"])
    sched = torch.optim.lr_scheduler.StepLR(opt, 1, recipe["lr_gamma"]) if "lr_gamma" in recipe else None
    gen = torch.Generator().manual_seed(0)
    t0 = time.time()
    model.train()
    for epoch in range(recipe["epochs"]):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), recipe["batch"]):
            idx = perm[i:i + recipe["batch"]]
            opt.zero_grad()
            loss = F.cross_entropy(common.logits_of(model, x[idx]), y[idx])
            loss.backward()
            opt.step()
        if sched is not None:
            sched.step()
    model.eval()
    print(f"{name}: trained {recipe} in {time.time() - t0:.1f} s, last batch loss {loss.item():.4f}")
    return model


def cached_or_train(name, data):
    """Trains model `name`, or, with --reuse, loads the state dict that an
    earlier run saved to STATE_DIR for the very same recipe (training is
    deterministic, so the result is the same; this only saves time)."""
    path = os.path.join(STATE_DIR, name + ".pt")
    if "--reuse" in sys.argv and os.path.exists(path):
        saved = torch.load(path)
        if saved.get("recipe") == RECIPES[name] and saved.get("torch") == torch.__version__:
            model = common.build_model(name)
            model.load_state_dict(saved["state"])
            model.eval()
            print(f"{name}: reused {path}")
            return model
    model = train(name, data)
    torch.save({"recipe": RECIPES[name], "torch": torch.__version__, "state": model.state_dict()}, path)
    return model


@torch.no_grad()
def accuracy(model, x, y):
    correct = 0
    for i in range(0, len(x), 250):
        correct += int((model(x[i:i + 250]).argmax(1) == y[i:i + 250]).sum())
    return correct


def export(model, fname, opset, dynamic, opts, sample):
    path = os.path.join(common.MODELS_DIR, fname)
    is_softmax = hasattr(model, "logits")
    out_name = "probs" if is_softmax else "logits"
    dyn = {"input": {0: "batch"}, out_name: {0: "batch"}} if dynamic else None
    torch.onnx.export(model, sample, path, opset_version=opset,
                      input_names=["input"], output_names=[out_name],
                      dynamic_axes=dyn, **opts)
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    return path, m


def graph_summary(m):
    def shape(vi):
        return [d.dim_param if d.dim_param else d.dim_value for d in vi.type.tensor_type.shape.dim]
    ops = sorted({n.op_type for n in m.graph.node})
    counts = {}
    for n in m.graph.node:
        counts[n.op_type] = counts.get(n.op_type, 0) + 1
    inits = {t.name for t in m.graph.initializer}
    return {
        "opset": max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")),
        "inputs": [{"name": i.name, "shape": shape(i)} for i in m.graph.input if i.name not in inits],
        "outputs": [{"name": o.name, "shape": shape(o)} for o in m.graph.output],
        "op_types": ops,
        "op_counts": dict(sorted(counts.items())),
        "n_nodes": len(m.graph.node),
        "n_initializers": len(m.graph.initializer),
        "n_parameters": int(sum(np.prod(t.dims) for t in m.graph.initializer)),
    }


def references(model, x, y):
    """Logits, graph output, per-sample CE loss and d(sum CE)/dx on x (eval mode, float32)."""
    model.eval()
    model.zero_grad()
    xg = x.clone().requires_grad_(True)
    logits = common.logits_of(model, xg)
    loss = F.cross_entropy(logits, y, reduction="none")
    loss.sum().backward()
    with torch.no_grad():
        output = model(x)
    ref = {
        "x": x.numpy(),
        "y": y.numpy(),
        "output": output.numpy(),
        "logits": logits.detach().numpy(),
        "loss": loss.detach().numpy(),
        "grad_x": xg.grad.numpy(),
    }
    return ref


def check_names_match_onnx(model, m, path):
    """Every parameter/buffer must be an initializer of the same name and value."""
    from onnx import numpy_helper
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    for key, val in model.state_dict().items():
        if key.endswith("num_batches_tracked"):
            continue
        if key not in inits or not np.array_equal(inits[key], val.numpy()):
            return False
    return True


def main():
    os.makedirs(common.MODELS_DIR, exist_ok=True)
    os.makedirs(STATE_DIR, exist_ok=True)
    trained = {}
    cache = {}
    for name, recipe in RECIPES.items():
        if recipe["data"] not in cache:
            cache[recipe["data"]] = load_train(recipe["data"])
        trained[name] = cached_or_train(name, cache[recipe["data"]])
    del cache

    accuracy_doc, manifest = {}, {}
    for fname, (name, opset, dynamic, opts) in EXPORTS.items():
        model = trained[name]
        kind = RECIPES[name]["data"]
        x, y = load_test(kind)
        sample = x[:1].clone()
        path, m = export(model, fname, opset, dynamic, opts, sample)
        base = fname[:-len(".onnx")]
        summary = graph_summary(m)
        summary.update({
            "trained_as": name,
            "dynamic_batch": dynamic,
            "dataset": "testdata/mnist (test-1000)" if kind == "mnist" else "testdata/tabular (x.npy, y.npy)",
            "input_space": "pixels in [0,1]; (x-0.1307)/0.3081 inside the graph" if kind == "mnist"
                           else "standardised features, no clip range",
            "output_is_softmax": hasattr(model, "logits"),
            "initializers_named_like_pytorch": check_names_match_onnx(model, m, path),
            "train_recipe": RECIPES[name],
        })
        manifest[fname] = summary
        correct = accuracy(model, x, y)
        accuracy_doc[fname] = {"correct": correct, "n": len(x), "accuracy": correct / len(x),
                               "dataset": summary["dataset"]}
        ref = references(model, x[:N_REF], y[:N_REF])
        common.save_npz(os.path.join(common.MODELS_DIR, base + ".ref.npz"), ref)
        print(f"{fname}: acc {correct}/{len(x)}  ops {summary['op_types']}")
        if name == "mnist_mlp":
            # d(sum of CE over the 64 samples)/d(parameter), keyed by ONNX initializer name.
            assert summary["initializers_named_like_pytorch"], "mnist_mlp initializer names differ"
            model.zero_grad()
            F.cross_entropy(model(x[:N_REF]), y[:N_REF], reduction="sum").backward()
            inits = [t.name for t in m.graph.initializer]
            params = dict(model.named_parameters())
            grads = {k: params[k].grad.numpy().copy() for k in inits}
            common.save_npz(os.path.join(common.MODELS_DIR, "mnist_mlp.param_grads.npz"), grads)
            model.zero_grad()

    with open(os.path.join(common.MODELS_DIR, "accuracy.json"), "w") as f:
        json.dump({"counting": "argmax of the PyTorch model's output (the graph's output) == label",
                   "torch_version": torch.__version__, "models": accuracy_doc}, f, indent=2)
        f.write("\n")
    with open(os.path.join(common.MODELS_DIR, "models.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
