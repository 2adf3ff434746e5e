#!/usr/bin/env bash
# Runs PyTorch's and advtest's ImageNet-size benchmarks side by side on this
# machine: the five torchvision models of testdata/bench/ (written by
# testdata/gen/imagenet_models.py; random weights, opset 17) at batch 8 with
# two threads, forward and forward + cross-entropy input gradient, and
# PGD-Linf-10 on resnet50. Each round runs, model by model, PyTorch's
# figures then advtest's (imagenet_bench_pytorch.py --arch A, then
# BenchmarkImageNet/A), so a change in the machine's load lands on both
# sides; ROUNDS rounds give every figure ROUNDS interleaved pairs, and
# bench_stats.py prints both sides' best, median and spread and the ratios,
# as bench_side_by_side.sh does for the MNIST models.
#
# Within a round each side times every figure as the median of REPEATS runs
# after one warm-up run (PyTorch: WARMUP/REPEATS in the environment; Go:
# -test.benchtime REPEATSx, each benchmark run making its own untimed warm-up
# call; Go's first b.N=1 run is not reported when REPEATS > 1); PGD is one timed
# run per round on each side (its forward+backward figures have warmed
# resnet50 up).
#
# Needs Debian's python3-torch and python3-onnx (see bench_side_by_side.sh for
# OpenBLAS). Usage, from the repository root:
#   nice -n 10 /usr/bin/python3 testdata/gen/imagenet_models.py   # once, ~700 MB
#   ROUNDS=5 bash testdata/gen/bench_imagenet_side_by_side.sh
# ARCHS="resnet50 vit_b_16" limits the models (ARCHS="" runs none), PGD=0 leaves
# out the PGD figure.
# Run it on a quiet machine; the load average is printed with the results.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-5}
REPEATS=${REPEATS:-3}
PY=${PY:-/usr/bin/python3}
ARCHS=${ARCHS-resnet50 vit_b_16 convnext_tiny mobilenet_v2 efficientnet_b0}
PGD=${PGD:-1}
if [ ! -f testdata/bench/images.npy ]; then
  echo "testdata/bench/ absent: run /usr/bin/python3 testdata/gen/imagenet_models.py first" >&2
  exit 1
fi
# KEEP=dir keeps every round's raw figures in dir (created if need be).
if [ -n "${KEEP:-}" ]; then
  out=$KEEP
  mkdir -p "$out"
else
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  rounds: $ROUNDS  repeats: $REPEATS  load at start: $(cut -d' ' -f1-3 /proc/loadavg)  cpus: $(nproc)"
# The test binaries are built once, outside the timed rounds.
go test -c -o "$out/onnxmodel.test" ./pkg/onnxmodel
go test -c -o "$out/eval.test" ./pkg/eval
torch_env=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2
  WARMUP=1 REPEATS="$REPEATS" PGD_WARMUP=0 PGD_REPEATS=1)
figures=()
for r in $(seq 1 "$ROUNDS"); do
  : > "$out/go_model_$r.txt"
  for a in $ARCHS; do
    echo "round $r/$ROUNDS $a: PyTorch, load $(cut -d' ' -f1 /proc/loadavg)" >&2
    "${torch_env[@]}" "$PY" testdata/gen/imagenet_bench_pytorch.py "$out/torch_${r}_$a.json" --arch "$a" \
      --figure forward --figure forward_backward_input > /dev/null
    echo "round $r/$ROUNDS $a: advtest" >&2
    (cd pkg/onnxmodel && GOMAXPROCS=2 "$out/onnxmodel.test" -test.run '^$' -test.bench "^BenchmarkImageNet\$/^$a\$/" \
      -test.benchtime "${REPEATS}x") >> "$out/go_model_$r.txt"
    if [ "$r" = 1 ]; then
      figures+=("$a forward|go_model|BenchmarkImageNet/$a/forward-|$a/forward"
        "$a forward+input gradient|go_model|BenchmarkImageNet/$a/forward+backward|$a/forward_backward_input")
    fi
  done
  if [ "$PGD" = 1 ]; then
    echo "round $r/$ROUNDS resnet50 PGD-10: PyTorch" >&2
    "${torch_env[@]}" "$PY" testdata/gen/imagenet_bench_pytorch.py "$out/torch_${r}_pgd.json" --arch resnet50 \
      --figure pgd_linf_10 > /dev/null
    echo "round $r/$ROUNDS resnet50 PGD-10: advtest" >&2
    (cd pkg/eval && GOMAXPROCS=2 "$out/eval.test" -test.run '^$' -test.bench '^BenchmarkImageNetPGD$' \
      -test.benchtime 1x) > "$out/go_pgd_$r.txt"
    if [ "$r" = 1 ]; then
      figures+=("resnet50 PGD-Linf-10|go_pgd|BenchmarkImageNetPGD|resnet50/pgd_linf_10")
    fi
  fi
  # One PyTorch results file per round, as bench_stats.py reads them.
  "$PY" -c 'import json, sys
res = {}
for p in sys.argv[2:]:
    res.update(json.load(open(p))["results"])
json.dump({"results": res}, open(sys.argv[1], "w"))' "$out/torch_$r.json" "$out"/torch_"${r}"_*.json
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
grep -h "samples/s" "$out"/go_*.txt >&2 || true
"$PY" testdata/gen/bench_stats.py "$out" "$ROUNDS" "${figures[@]}"
