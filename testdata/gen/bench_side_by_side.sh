#!/usr/bin/env bash
# Runs PyTorch's and advtest's benchmarks back to back on this machine, with
# the same batch (128), the same two threads and the same models, and prints
# samples/s and advtest/PyTorch ratios: the figures BENCHMARKS.md records.
# Run it on a quiet machine (nothing else busy): both sides are
# sensitive to load.
#
# Needs Debian's python3-torch and python3-onnx, and OpenBLAS as the system
# BLAS (apt-get install libopenblas0-pthread), which Debian's torch uses for
# its dense layers. Usage, from the repository root:
#   bash testdata/gen/bench_side_by_side.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
# The pinned OPENBLAS_CORETYPE some machines set slows a current OpenBLAS.
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2 \
  /usr/bin/python3 testdata/gen/bench_pytorch.py > "$out/torch.txt"
GOMAXPROCS=2 go test ./pkg/onnxmodel -run '^$' -bench 'BenchmarkModel' -benchtime 20x -count 5 > "$out/go_model.txt"
GOMAXPROCS=2 go test ./pkg/eval -run '^$' -bench 'BenchmarkPGD' -benchtime 2x -count 3 > "$out/go_pgd.txt"
cat "$out/torch.txt"
grep Benchmark "$out/go_model.txt" "$out/go_pgd.txt"
/usr/bin/python3 - "$out" <<'PY'
import json, re, statistics, sys
out = sys.argv[1]
torch = json.load(open("testdata/reference/pytorch_bench.json"))
def go(fname, name):
    vals = [float(m.group(1)) for line in open(f"{out}/{fname}")
            if line.startswith(name) for m in [re.search(r"([\d.]+) samples/s", line)] if m]
    return statistics.median(vals)
rows = [
    ("MLP forward", go("go_model.txt", "BenchmarkModel/mnist_mlp.onnx/forward-"), torch["results"]["mnist_mlp/forward"]["samples_per_s"]),
    ("MLP forward+backward (input)", go("go_model.txt", "BenchmarkModel/mnist_mlp.onnx/forward+backward"), torch["results"]["mnist_mlp/forward_backward_input"]["samples_per_s"]),
    ("CNN forward", go("go_model.txt", "BenchmarkModel/mnist_cnn.onnx/forward-"), torch["results"]["mnist_cnn/forward"]["samples_per_s"]),
    ("CNN forward+backward (input)", go("go_model.txt", "BenchmarkModel/mnist_cnn.onnx/forward+backward"), torch["results"]["mnist_cnn/forward_backward_input"]["samples_per_s"]),
    ("CNN PGD-Linf-40", go("go_pgd.txt", "BenchmarkPGD"), torch["results"]["mnist_cnn/pgd_linf_40"]["samples_per_s"]),
]
print(f"\n| figure | advtest samples/s | PyTorch samples/s | ratio |\n| --- | ---: | ---: | ---: |")
for name, g, t in rows:
    print(f"| {name} | {g:.0f} | {t:.1f} | {g/t:.2f} |")
PY
