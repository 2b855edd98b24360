"""Expression read back without a network: which rendered expression best explains a swap?

    python benchmarks/expression_by_synthesis.py --n 128
    python benchmarks/expression_by_synthesis.py --model runs/cvae_read/model --json

The judge reads expression with a CNN, and a model can be trained against another CNN (the
CVAE's optional attribute reader).  This is the cross-check with no network at all
(:mod:`deepfake_lab.eval.by_synthesis`): for each held-out swap and each expression attribute,
render the target in the source's pose and scene with a grid of values of that attribute and
keep the one whose pixels match the output best where the attribute moves pixels.  The
ground-truth row shows the method recovers the asked values; on a model's output it says how
strongly the model really drew each feature:

* ``slope``: least-squares slope of the read value on the asked one (1 = full strength,
  0.5 = half-strength smiles, the typical blur of a pixel-loss decoder);
* ``bias``: mean read - asked; ``mae``: mean |read - asked|, schema units.

The judge's per-attribute MAE on the same outputs is printed beside it.  A blurry output is
the hard case for any reader, this one included.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from deepfake_lab.data.synthfaces import SCHEMA
from deepfake_lab.eval.by_synthesis import read_by_synthesis
from deepfake_lab.eval.judges import load_judge
from deepfake_lab.eval.swap_eval import conditional_problems
from deepfake_lab.registry import list_models, load_model

EXPRESSION = [a.name for a in SCHEMA.expression]   # the schema's expression block, in order


def _line_stats(read: torch.Tensor, asked: torch.Tensor) -> dict:
    da, dr = asked - asked.mean(), read - read.mean()
    return {"slope": round(((da * dr).sum() / (da * da).sum()).item(), 3),
            "bias": round((read - asked).mean().item(), 3),
            "mae": round((read - asked).abs().mean().item(), 3)}


@torch.no_grad()
def measure(swap, n: int, seed: int, grid_points: int, judge) -> dict:
    """Per expression attribute: by-synthesis slope/bias/MAE and the judge's MAE."""
    _, problems = conditional_problems(n, seed=seed)
    grid = torch.linspace(-1, 1, grid_points)
    expr = SCHEMA.expression_slice
    read, judged, asked, done = [], [], [], 0
    for b in problems:
        out = swap(b).float().cpu().clamp(-1, 1)
        a_t = b["target_attributes"]
        read.append(torch.stack([read_by_synthesis(out, a_t, b["scene"], SCHEMA.index(name),
                                                   grid) for name in EXPRESSION], 1))  # (B, E)
        judged.append(judge(out)[:, expr])
        asked.append(a_t[:, expr])
        done += len(out)
        if done >= n:
            break
    read_u, judged_u, asked_u = (SCHEMA.denormalize(torch.cat(v)[:n], "expression")
                                 for v in (read, judged, asked))           # (n, E), units
    result = {}
    for i, name in enumerate(EXPRESSION):
        result[name] = {**_line_stats(read_u[:, i], asked_u[:, i]),
                        "judge_mae": round((judged_u[:, i] - asked_u[:, i]).abs().mean().item(),
                                           3)}
    result["mean_mae"] = round(sum(result[m]["mae"] for m in EXPRESSION) / len(EXPRESSION), 4)
    result["judge_mean_mae"] = round(sum(result[m]["judge_mae"] for m in EXPRESSION)
                                     / len(EXPRESSION), 4)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--grid", type=int, default=21, help="candidate values per attribute")
    ap.add_argument("--model", action="append", default=None,
                    help="a model name or checkpoint (repeatable; default: the bundled "
                         "conditional SynthFaces models)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    judge = load_judge()
    names = args.model or [m["name"] for m in list_models()
                           if m["data"] == "synthfaces" and m["architecture"] != "two-decoder"]
    rows, t0 = {}, time.perf_counter()
    for name in names:
        model = load_model(name)
        rows[name] = measure(lambda b, m=model: m.swap(b["source_image"], b["source_attributes"],
                                                       b["target_attributes"]),
                             args.n, args.seed, args.grid, judge)
    rows["ground truth"] = measure(lambda b: b["target_image"], args.n, args.seed, args.grid,
                                   judge)
    if args.json:
        print(json.dumps({"n": args.n, "rows": rows, "seconds": round(time.perf_counter() - t0)}))
        return
    print(f"{args.n} held-out swaps; by synthesis: slope / bias / MAE, then the judge's MAE")
    print("| output | " + " | ".join(EXPRESSION) + " | mean MAE (judge) |")
    print("|---|" + "---|" * (len(EXPRESSION) + 1))
    for name, r in rows.items():
        cells = [f"{r[a]['slope']:.2f} / {r[a]['bias']:+.2f} / {r[a]['mae']:.3f} "
                 f"({r[a]['judge_mae']:.3f})" for a in EXPRESSION]
        print(f"| {name} | " + " | ".join(cells)
              + f" | {r['mean_mae']:.3f} ({r['judge_mean_mae']:.3f}) |")


if __name__ == "__main__":
    main()
