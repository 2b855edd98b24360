"""Swap quality of every bundled model on held-out SynthFaces people, with baselines.

    python benchmarks/quality.py --n 512 --update-readme

For each bundled model (``deepfake-lab models``) this runs exactly what
``deepfake-lab eval --model NAME`` runs (same judge, same held-out problems, same seed) and
adds two baselines on the same problems: **copy** (return the source unchanged: perfect
pose, expression and background, wrong person) and **mean** (return the mean ground-truth
face: no person at all).  The judge's own scores on the ground-truth swaps come last: the
best any model can get.

Prints a Markdown table (and JSON with ``--json``); ``--update-readme`` replaces the block
between ``<!-- quality:start -->`` and ``<!-- quality:end -->`` in README.md.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import torch

from deepfake_lab.eval.judges import load_judge
from deepfake_lab.eval.swap_eval import evaluate_baseline, evaluate_model
from deepfake_lab.registry import list_models, load_model

COLUMNS = [("id_retrieval", "ID top-1 %"), ("pose_mae_deg", "pose MAE °"),
           ("expr_mae", "expr MAE"), ("psnr", "PSNR dB"), ("psnr_face", "face PSNR dB"),
           ("ssim", "SSIM"), ("sharpness_ratio", "sharpness"), ("kid", "KID")]


def table(rows: list[dict]) -> str:
    head = "| model | swaps | " + " | ".join(c for _, c in COLUMNS) + " |"
    sep = "|---|---|" + "---|" * len(COLUMNS)
    lines = [head, sep]
    for r in rows:
        cells = [f"{r[k]:g}" if k in r else "–" for k, _ in COLUMNS]
        lines.append(f"| {r['label']} | {r.get('n_swaps', '')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--update-readme", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    judge = load_judge()
    rows, t0 = [], time.perf_counter()
    conditional_gt = None
    for info in list_models():
        if info["data"] != "synthfaces":
            continue  # real-face models: benchmarks/real_swap.py (no ground truth there)
        model = load_model(info["name"])
        r = evaluate_model(model, judge, n=args.n, seed=args.seed)
        rows.append({"label": f"`{info['name']}`", **r})
        if model.architecture == "two-decoder":
            for kind in ("copy", "mean"):
                b = evaluate_baseline(kind, judge, n=args.n, seed=args.seed, two_decoder=model)
                rows.append({"label": f"baseline: {kind} (two-decoder pair)", **b})
            rows.append({"label": "judge on ground truth (two-decoder pair)",
                         **r["ground_truth"], "n_swaps": r["n_swaps"]})
        else:
            conditional_gt = r["ground_truth"], r["n_swaps"]
    for kind in ("copy", "mean"):
        b = evaluate_baseline(kind, judge, n=args.n, seed=args.seed)
        rows.append({"label": f"baseline: {kind} (held-out people)", **b})
    if conditional_gt is not None:
        rows.append({"label": "judge on ground truth (held-out people)", **conditional_gt[0],
                     "n_swaps": conditional_gt[1]})
    md = table(rows)
    if args.json:
        print(json.dumps({"rows": rows, "seconds": round(time.perf_counter() - t0)}))
    else:
        print(md)
    if args.update_readme:
        readme = Path(__file__).resolve().parent.parent / "README.md"
        text = readme.read_text()
        block = f"<!-- quality:start -->\n{md}\n<!-- quality:end -->"
        new, n = re.subn(r"<!-- quality:start -->.*?<!-- quality:end -->", block, text,
                         flags=re.S)
        if n != 1:
            raise SystemExit("README.md has no <!-- quality:start/end --> block")
        readme.write_text(new)
        print(f"updated {readme}")


if __name__ == "__main__":
    main()
