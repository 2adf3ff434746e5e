"""Summarises the interleaved rounds of a side-by-side benchmark script
(bench_side_by_side.sh, bench_imagenet_side_by_side.sh): for every figure,
both sides' best, median and spread (fastest/slowest) in samples/s over the
rounds, and the ratios advtest/PyTorch of the bests and of the medians, as a
Markdown table.

Usage: bench_stats.py OUT ROUNDS FIGURE...
where OUT holds, per round r (1..ROUNDS), the Go benchmark outputs
<prefix>_<r>.txt and PyTorch's torch_<r>.json, and each FIGURE is
"label|prefix|Go benchmark name prefix|PyTorch results key": the Go figure is
the samples/s metric of the first line of <prefix>_<r>.txt that starts with
the name, the PyTorch figure results[key].samples_per_s of torch_<r>.json.
"""
import json
import re
import statistics
import sys


def go(out, prefix, name, r):
    with open(f"{out}/{prefix}_{r}.txt") as f:
        for line in f:
            m = re.search(r"([\d.]+) samples/s", line)
            if line.startswith(name) and m:
                return float(m.group(1))
    raise SystemExit(f"{name}: no samples/s line in {out}/{prefix}_{r}.txt")


def torch_figure(out, key, r):
    with open(f"{out}/torch_{r}.json") as f:
        results = json.load(f)["results"]
    if key not in results:
        raise SystemExit(f"{key}: not in {out}/torch_{r}.json")
    return results[key]["samples_per_s"]


def stats(v):
    return max(v), statistics.median(v), max(v) / min(v)


def num(v):
    """samples/s: whole numbers from 100 up, three significant digits below."""
    return f"{v:.0f}" if v >= 100 else f"{v:.3g}"


def main():
    out, rounds, figures = sys.argv[1], int(sys.argv[2]), [f.split("|") for f in sys.argv[3:]]
    for f in figures:
        if len(f) != 4:
            raise SystemExit(f"figure {'|'.join(f)!r}: want label|prefix|go name|torch key")
    print(f"\nsamples/s over {rounds} interleaved rounds (best = fastest round; spread = fastest/slowest)")
    print("| figure | advtest best | advtest median | advtest spread | PyTorch best | PyTorch median "
          "| PyTorch spread | best/best | median/median |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, prefix, gname, tkey in figures:
        g = [go(out, prefix, gname, r) for r in range(1, rounds + 1)]
        t = [torch_figure(out, tkey, r) for r in range(1, rounds + 1)]
        gb, gm, gs = stats(g)
        tb, tm, ts = stats(t)
        print(f"| {label} | {num(gb)} | {num(gm)} | {gs:.2f}x | {num(tb)} | {num(tm)} | {ts:.2f}x "
              f"| {gb / tb:.2f} | {gm / tm:.2f} |")


if __name__ == "__main__":
    main()
