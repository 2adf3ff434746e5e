#!/usr/bin/env bash
# Runs PyTorch's and advtest's benchmarks side by side on this machine, with
# the same batch (128), the same two threads and the same models, as ROUNDS
# interleaved pairs (PyTorch, then advtest, then PyTorch again, ...), and
# prints for every figure both sides' best, median and spread (max/min over
# the rounds) in samples/s, and the ratios of the bests and of the medians:
# the figures BENCHMARKS.md records.
#
# Why interleaved rounds: PyTorch 1.13 on these VMs swings 2-3x from run to
# run, advtest about 15%; one run of either side is not a result, and
# running all of one side first would put a change in the machine's load
# on one side only.
#
# Needs Debian's python3-torch and python3-onnx, and OpenBLAS as the system
# BLAS (apt-get install libopenblas0-pthread), which Debian's torch uses for
# its dense layers. Usage, from the repository root:
#   ROUNDS=5 bash testdata/gen/bench_side_by_side.sh
# Run it on a quiet machine; the load average is printed with the results.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-5}
PY=${PY:-/usr/bin/python3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  rounds: $ROUNDS  load at start: $(cut -d' ' -f1-3 /proc/loadavg)  cpus: $(nproc)"
# The test binaries are built once, outside the timed rounds.
go test -c -o "$out/onnxmodel.test" ./pkg/onnxmodel
go test -c -o "$out/eval.test" ./pkg/eval
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r/$ROUNDS: PyTorch" >&2
  # The pinned OPENBLAS_CORETYPE some machines set slows a current OpenBLAS.
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2 \
    "$PY" testdata/gen/bench_pytorch.py "$out/torch_$r.json" > /dev/null
  echo "round $r/$ROUNDS: advtest" >&2
  (cd pkg/onnxmodel && GOMAXPROCS=2 "$out/onnxmodel.test" -test.run '^$' -test.bench 'BenchmarkModel' -test.benchtime 20x) > "$out/go_model_$r.txt"
  (cd pkg/eval && GOMAXPROCS=2 "$out/eval.test" -test.run '^$' -test.bench 'BenchmarkPGD' -test.benchtime 2x) > "$out/go_pgd_$r.txt"
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" testdata/gen/bench_stats.py "$out" "$ROUNDS" \
  "MLP forward|go_model|BenchmarkModel/mnist_mlp.onnx/forward-|mnist_mlp/forward" \
  "MLP forward+backward (input)|go_model|BenchmarkModel/mnist_mlp.onnx/forward+backward|mnist_mlp/forward_backward_input" \
  "CNN forward|go_model|BenchmarkModel/mnist_cnn.onnx/forward-|mnist_cnn/forward" \
  "CNN forward+backward (input)|go_model|BenchmarkModel/mnist_cnn.onnx/forward+backward|mnist_cnn/forward_backward_input" \
  "CNN PGD-Linf-40|go_pgd|BenchmarkPGD|mnist_cnn/pgd_linf_40"
