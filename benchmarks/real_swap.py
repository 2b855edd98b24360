"""Swap quality of the real-face models on held-out frames (no ground truth exists).

    python benchmarks/real_swap.py --json                       # every bundled real model
    python benchmarks/real_swap.py --model runs/td_woman_man    # a run

For each model: ``id_closer`` (% of swaps whose dlib embedding lies nearer the target
person than the source), ``pose_mae_deg`` and ``expr_mae`` (output vs driving frame, both
read by landmarks), ``found`` (% of outputs with a detectable face); plus the ``copy``
baseline on the same frames; ``by_direction`` splits the pose error by source -> target and
axis, with its signed mean (bias).  See ``deepfake_lab/eval/real_eval.py``.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from deepfake_lab.checkpoints import checkpoint_paths
from deepfake_lab.eval.real_eval import evaluate_real_copy, evaluate_real_model, real_data_for
from deepfake_lab.registry import BUNDLED, WEIGHTS_DIR, load_model


def bundled_real_models() -> list[str]:
    out = []
    for name, stem in BUNDLED.items():
        js = checkpoint_paths(WEIGHTS_DIR / stem)[1]
        if js.exists() and '"facesets"' in js.read_text():
            out.append(name)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", default=None,
                    help="bundled name or run (repeatable; default: every bundled real model)")
    ap.add_argument("--per-person", type=int, default=40,
                    help="training crops per person for the identity means")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    names = args.model or bundled_real_models()
    if not names:
        raise SystemExit("no real-face model bundled yet; pass --model RUN")
    rows = []
    for name in names:
        t0 = time.perf_counter()
        model = load_model(name)
        row = evaluate_real_model(model, per_person=args.per_person)
        row["step"] = model.config.get("step")
        row["seconds"] = round(time.perf_counter() - t0, 1)
        rows.append(row)
        rows.append(evaluate_real_copy(real_data_for(model), per_person=args.per_person))
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    for r in rows:
        print(f"{r['model']:28s} id_closer {r['id_closer']:6.2f} %  pose {r['pose_mae_deg']:6.2f} "
              f"deg  expr {r['expr_mae']:.3f}  found {r['found']:6.2f} %  "
              f"({r['n_scored']}/{r['n_swaps']} scored)")
        for direction, d in r["by_direction"].items():
            axes = "  ".join(f"{k} {d['pose_mae_deg'][k]:5.2f} (bias {d['pose_bias_deg'][k]:+6.2f})"
                             for k in d["pose_mae_deg"])
            print(f"    {direction:24s} pose MAE deg: {axes}  expr {d['expr_mae']:.3f}")


if __name__ == "__main__":
    main()
