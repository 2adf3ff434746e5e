"""Checks ONNX files: onnx.checker.check_model(full_check=True) on each, and,
if onnxruntime is importable, loads each into an InferenceSession and runs it
once on zeros (dynamic dimensions set to 1). With --compare, a file
NAME.onnx is run instead on NAME.input.npy and its first output must match
NAME.expected.npy (advtest's own output, as testdata/gen/exportmodels writes
them) within 1e-4 absolute + 1e-4 relative; a randomised model (no
NAME.expected.npy) is checked for the output's shape and finiteness.

Usage: /usr/bin/python3 testdata/gen/check_onnx.py [--compare] MODEL.onnx [MODEL.onnx ...]
Prints one line per file; exits 1 if any file fails, 2 on a usage error.
Meant for checking the models that advtest writes (hardened models, rewrites).
"""
import sys


def check(path, ort, compare=False):
    import numpy as np
    import onnx

    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    ops = sorted({n.op_type for n in model.graph.node})
    msg = f"opset {opset}, {len(model.graph.node)} nodes, ops {','.join(ops)}"
    if ort is None:
        return msg + "; onnxruntime not installed, load skipped"
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    feeds = {}
    for inp in sess.get_inputs():
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in inp.shape]
        dtype = np.int64 if "int64" in inp.type else np.float32
        feeds[inp.name] = np.zeros(shape, dtype=dtype)
    if compare:
        import os
        base = path[: -len(".onnx")]
        x = np.load(base + ".input.npy")
        got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        if not os.path.exists(base + ".expected.npy"):
            # A randomised model (inference noise): values differ per run.
            if got.shape[0] != x.shape[0] or not np.all(np.isfinite(got)):
                raise AssertionError(f"onnxruntime output shape {got.shape} or values not finite")
            return msg + f"; random model: onnxruntime output {list(got.shape)}, finite (values not compared)"
        want = np.load(base + ".expected.npy")
        if got.shape != want.shape:
            raise AssertionError(f"onnxruntime output shape {got.shape}, advtest's {want.shape}")
        err = float(np.max(np.abs(got - want) / (1e-4 + 1e-4 * np.abs(want))))
        if err > 1:
            raise AssertionError(f"onnxruntime and advtest differ: max |diff| {float(np.max(np.abs(got - want))):.3g}")
        return msg + f"; onnxruntime matches advtest (max |diff| {float(np.max(np.abs(got - want))):.2g})"
    outs = sess.run(None, feeds)
    return msg + "; onnxruntime ran it: outputs " + ", ".join(str(list(o.shape)) for o in outs)


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        import onnxruntime as ort
    except ImportError:
        ort = None
    compare = argv[0] == "--compare"
    if compare:
        argv = argv[1:]
    failed = 0
    for path in argv:
        try:
            print(f"OK   {path}: {check(path, ort, compare)}")
        except Exception as e:  # any failure of load, check or run counts
            failed += 1
            print(f"FAIL {path}: {type(e).__name__}: {e}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
