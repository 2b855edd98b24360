"""Can a small CNN read identity, pose and expression back from 64 px SynthFaces?

    python benchmarks/synthfaces_learnability.py --steps 1000 --json

SynthFaces exists so that swaps can be *judged*: later, networks trained only on
ground-truth renders score a model's swaps by identity retrieval, pose error and expression
error.  That only works if every attribute is visible at 64 px.  This script is the check:
it trains a small regressor of the whole attribute vector on a population of random people
(random poses, expressions, lighting, backgrounds), then measures on people it never saw:

* identity retrieval top-1 among the held-out people (gallery: one render of each; probes:
  other renders at other poses / expressions / scenes; nearest predicted identity block);
* pose MAE in degrees and expression MAE in schema units;
* per-slider identity MAE (sliders are in [0, 1]; guessing gives ~0.33).

It is a lower bound: the project's judges train longer and with more care.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from deepfake_lab.data.synth_datasets import SynthFacesStream, split_identities
from deepfake_lab.data.synthfaces import (
    SCHEMA,
    Scene,
    render,
    sample_identities,
    sample_pose_expression,
)


def judge(dim: int) -> nn.Module:
    """Four conv blocks (64 -> 4 px) and an MLP head: ~1 M parameters."""
    def block(i: int, o: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True),
            nn.Conv2d(o, o, 3, padding=1, stride=2, bias=False), nn.BatchNorm2d(o),
            nn.ReLU(inplace=True))
    return nn.Sequential(block(3, 32), block(32, 64), block(64, 128), block(128, 192),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(192, 256), nn.ReLU(),
                         nn.Linear(256, dim))


@torch.no_grad()
def evaluate(net: nn.Module, people: torch.Tensor, views: int, size: int, seed: int) -> dict:
    net.eval()
    g = torch.Generator().manual_seed(seed)
    n = len(people)
    who = torch.arange(n).repeat(views)  # view 0 of everyone is the gallery
    attrs = torch.cat([people[who], sample_pose_expression(len(who), g)], 1)
    pred = torch.cat([net(render(a, size=size, scene=Scene.sample(len(a), g)))
                      for a in attrs.split(100)])
    ident = pred[:, SCHEMA.identity_slice]
    gallery, probes = ident[:n], ident[n:]
    top1 = (torch.cdist(probes, gallery).argmin(1) == who[n:]).float().mean().item()
    phys_p, phys_t = SCHEMA.denormalize(pred), SCHEMA.denormalize(attrs)
    err = (phys_p - phys_t).abs().mean(0)
    names = SCHEMA.names
    return {
        "id_top1": round(top1, 4),
        "n_people": n,
        "pose_mae_deg": {k: round(err[SCHEMA.index(k)].item(), 2)
                         for k in names[SCHEMA.pose_slice]},
        "expression_mae": {k: round(err[SCHEMA.index(k)].item(), 3)
                           for k in names[SCHEMA.expression_slice]},
        "identity_mae": {k: round(err[SCHEMA.index(k)].item(), 3)
                         for k in names[SCHEMA.identity_slice]},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=96)
    ap.add_argument("--people", type=int, default=2050, help="population (50 are held out)")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    people = sample_identities(args.people, args.seed)
    split = split_identities(args.people, n_test=50, seed=args.seed)
    stream = SynthFacesStream(people, split.train, batch_size=args.batch, size=args.size,
                              seed=args.seed).batches()
    net = judge(SCHEMA.dim)
    opt = torch.optim.AdamW(net.parameters(), args.lr, weight_decay=1e-4)
    t0 = time.perf_counter()
    for step in range(args.steps):
        for group in opt.param_groups:  # linear decay to 5 %
            group["lr"] = args.lr * max(0.05, 1 - step / args.steps)
        batch = next(stream)
        loss = F.smooth_l1_loss(net(batch["image"]), batch["attributes"], beta=0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if not args.json and (step + 1) % 100 == 0:
            print(f"step {step + 1}: loss {loss.item():.4f} ({time.perf_counter() - t0:.0f} s)",
                  flush=True)
    result = {"steps": args.steps, "batch": args.batch, "train_s": round(time.perf_counter() - t0),
              **evaluate(net, people[split.test], views=6, size=args.size, seed=args.seed + 1)}
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
