"""What else moves when a model is asked for another expression: each model's change against
the renderer's, on the same faces.

    python benchmarks/expression_entanglement.py --seed 8
    python benchmarks/expression_entanglement.py --attribute mouth_open --json

SynthFaces can render a counterfactual: the same face, pose and scene with one expression
attribute redrawn.  For held-out frames ``x`` and their counterfactuals ``x_cf`` (``--attribute``,
default the smile) each conditional model reconstructs both from the frame's own latent (the
reconstruction ``swap(x, a, a)`` and ``swap(x, a, a_cf)``), and we compare its change with the
renderer's::

    change        mean |out - out_cf|                       (the renderer's: mean |x - x_cf|)
    peak          the largest change in one frame (channels averaged), median over frames
    pixels        how many pixels of a frame change by more than 0.1, on average
    outside       share of that change where the renderer's map of the attribute
                  (expression_region) is below 0.05: pixels the attribute never moves
    cf_loss       |(out - out_cf) - (x - x_cf)|.mean() / |x - x_cf|.mean()   (0: the right
                  change; 1: none at all; the cGAN recipe's --counterfactual loss)

A model whose attribute input draws only the expression has an ``outside`` share near the
renderer's; one whose input leaks into hair, skin and background spends its change there.
``peak`` and ``pixels`` tell a faint change from a small one: the renderer's expression is a
few pixels that change a lot, in a place that moves with pose and face (averaged over frames,
as the expression map is, no pixel changes much).  No judge is involved.
"""

from __future__ import annotations

import argparse
import json

import torch

from deepfake_lab.data.expression_region import expression_region
from deepfake_lab.data.synth_datasets import SynthFacesStream, synthfaces_population
from deepfake_lab.registry import load_model
from deepfake_lab.train.cgan import counterfactual_loss


def entanglement(model_names: list[str], attribute: str = "smile", n: int = 256,
                 seed: int = 8, batch: int = 64) -> list[dict]:
    """One row per model (and one for the renderer) of the figures described above."""
    people, _, held_out = synthfaces_population()
    outside = expression_region(64, attributes=(attribute,))[0, 0] < 0.05     # (S, S)
    stream = SynthFacesStream(people, held_out, batch_size=batch, seed=seed,
                              counterfactual=(attribute,)).batches(0)
    batches = [next(stream) for _ in range((n + batch - 1) // batch)]
    x = torch.cat([b["image"] for b in batches])[:n]                         # (n, 3, S, S)
    x_cf = torch.cat([b["image_cf"] for b in batches])[:n]

    def row(name: str, out: torch.Tensor, out_cf: torch.Tensor) -> dict:
        d = (out - out_cf).abs().mean(1)                                       # (n, S, S)
        return {"model": name, "change": round(d.mean().item(), 5),
                "peak": round(d.flatten(1).amax(1).median().item(), 3),
                "pixels": round((d > 0.1).flatten(1).sum(1).float().mean().item(), 1),
                "outside": round((d[:, outside].sum() / d.sum()).item(), 3),
                "cf_loss": round(counterfactual_loss(out, out_cf, x, x_cf).item(), 3)}

    rows = [row("renderer", x, x_cf)]
    for name in model_names:
        model = load_model(name)
        outs, outs_cf = [], []
        with torch.no_grad():
            for b in batches:
                a, a_cf = b["attributes"], b["attributes_cf"]
                outs.append(model.swap(b["image"], a, a).float().cpu())
                outs_cf.append(model.swap(b["image"], a, a_cf).float().cpu())
        rows.append(row(name, torch.cat(outs)[:n], torch.cat(outs_cf)[:n]))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="cvae-synthfaces-64,cgan-synthfaces-64")
    ap.add_argument("--attribute", default="smile", help="the expression attribute redrawn")
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--seed", type=int, default=8, help="problem seed (7 is the reporting one)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = entanglement(args.models.split(","), args.attribute, args.n, args.seed)
    if args.json:
        print(json.dumps(rows))
        return
    print(f"{args.attribute} redrawn on {args.n} held-out frames (seed {args.seed})")
    print(f"{'':34s} {'change':>8s} {'peak':>6s} {'pixels':>7s} {'outside':>8s} {'cf_loss':>8s}")
    for r in rows:
        print(f"{r['model']:34s} {r['change']:8.4f} {r['peak']:6.3f} {r['pixels']:7.1f} "
              f"{r['outside']:8.3f} {r['cf_loss']:8.3f}")


if __name__ == "__main__":
    main()
