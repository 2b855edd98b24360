"""SynthFaces rendering throughput (faces per second), the figure the README quotes.

    python benchmarks/synthfaces.py --json          # 2 threads, 64 and 128 px

Prints the median of several timed runs of one batched ``render`` call per size, after a
warm-up.  Random attributes and random scenes, as training uses them.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

from deepfake_lab.data.synthfaces import render, sample_attributes


def faces_per_second(size: int, batch: int, repeats: int, seed: int = 0) -> dict:
    attrs = sample_attributes(batch, seed)
    render(attrs, size=size, seed=seed)  # warm-up (allocator, caches)
    times = []
    for r in range(repeats):
        t0 = time.perf_counter()
        render(attrs, size=size, seed=seed + r)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {"size": size, "batch": batch, "repeats": repeats, "median_s": round(med, 4),
            "faces_per_s": round(batch / med, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--sizes", default="64,128", help="comma-separated sizes")
    ap.add_argument("--faces", type=int, default=1024, help="faces per timed call at 64 px "
                    "(scaled down by area for larger sizes)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = [faces_per_second(s, max(16, args.faces * 64 * 64 // (s * s)), args.repeats)
            for s in sizes]
    first = rows[0]
    result = {"size": first["size"], "faces_per_s": first["faces_per_s"],
              "threads": args.threads, "torch": torch.__version__,
              "cpu": platform.processor() or platform.machine(), "by_size": rows}
    if args.json:
        print(json.dumps(result))
    else:
        for r in rows:
            print(f"{r['size']:>4} px: {r['faces_per_s']:>8.1f} faces/s "
                  f"(median of {r['repeats']}, batch {r['batch']}, {args.threads} threads)")


if __name__ == "__main__":
    main()
