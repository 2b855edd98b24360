"""Judges: networks that read identity, pose and expression back from a face.

A swap is good when the output *is* the target person, with the source's pose and
expression.  Humans judge that by eye; we judge it with a network trained **only on
ground-truth SynthFaces renders** (never on any model's output), so it cannot have learned a
model's quirks.  One judge regresses the whole attribute vector:

    image (B, 3, S, S) --resize--> (B, 3, 64, 64) --CNN--> features (B, 256) --> (B, dim)

* identity: the predicted identity block is an *identity embedding*; retrieval = nearest
  gallery person in that space;
* pose and expression: the predicted values, compared with the truth in schema units;
* the 256-d features feed a KID score (are outputs distributed like real renders?).

A judge is only trusted if it passes on ground truth itself (see ``deepfake-lab eval``'s
``ground_truth`` block): ID retrieval >= 98 %, pose MAE <= 2 deg, expression MAE <= 0.05.

Training uses mild blur/noise augmentation so that a slightly soft (but correct) face is
not mistaken for another person: the judge should measure *who* and *how posed*, while
sharpness is measured separately.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..attributes import AttributeSchema
from ..checkpoints import (
    checkpoint_paths,
    flatten_state,
    load_checkpoint,
    save_checkpoint,
    unflatten_state,
)
from ..data.synth_datasets import (
    N_HELD_OUT,
    POPULATION,
    POPULATION_SEED,
    SynthFacesStream,
    render_device_for,
    synthfaces_population,
)
from ..data.synthfaces import SCHEMA

JUDGE_SIZE = 64
# What a judge looks at: the whole face, or only the mouth (rows, columns of a 64 px crop:
# every pixel that ``smile`` or ``mouth_open`` moves by a fifth of their most, over the
# schema's range of poses and faces; see :mod:`~deepfake_lab.data.expression_region`).
VIEWS = ("face", "mouth")
MOUTH_BOX = (slice(22, 62), slice(12, 52))   # 40 x 40 px, magnified to 64 x 64
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
BUNDLED_JUDGE = WEIGHTS_DIR / "judge_synthfaces"

def _stage(cin: int, cout: int) -> nn.Sequential:
    """conv3x3 -> BN -> ReLU -> conv3x3 stride 2 -> BN -> ReLU: halves the resolution."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True),
        nn.Conv2d(cout, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout),
        nn.ReLU(True))


class Judge(nn.Module):
    """A VGG-style regressor of the attribute vector (~2.2 M parameters, ~0.1 GFLOP/face).

    ``view="mouth"`` makes a *mouth reader*: the same network looking only at the mouth
    (``MOUTH_BOX``, magnified 1.6x), trained on the expression numbers alone.  A frown is two
    1-px lines; magnified, they are what the first convolutions see before the first
    stride-2 halving.  Its identity and pose outputs are untrained and unused."""

    def __init__(self, dim: int = SCHEMA.dim, width: int = 32, features: int = 256,
                 view: str = "face") -> None:
        super().__init__()
        if view not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
        self.dim, self.width, self.n_features, self.view = dim, width, features, view
        w = width
        self.body = nn.Sequential(              # (B, 3, 64, 64)
            _stage(3, w),                       # (B, w, 32, 32)
            _stage(w, 2 * w),                   # (B, 2w, 16, 16)
            _stage(2 * w, 4 * w),               # (B, 4w, 8, 8)
            _stage(4 * w, 8 * w),               # (B, 8w, 4, 4)
            nn.Flatten())                       # flatten, not pool: *where* things are is pose
        self.embed = nn.Sequential(nn.Linear(8 * w * 16, features), nn.ReLU(True))
        self.head = nn.Linear(features, dim)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) in [-1, 1] -> (B, features); any S is resized to 64 px first."""
        if x.shape[-1] != JUDGE_SIZE:
            x = F.interpolate(x, size=(JUDGE_SIZE, JUDGE_SIZE), mode="bilinear",
                              antialias=True, align_corners=False)
        if self.view == "mouth":                # (B, 3, 40, 40) -> (B, 3, 64, 64)
            x = F.interpolate(x[..., MOUTH_BOX[0], MOUTH_BOX[1]], size=(JUDGE_SIZE, JUDGE_SIZE),
                              mode="bilinear", align_corners=False)
        return self.embed(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> predicted normalised attribute vector (B, dim)."""
        return self.head(self.features(x))


def _soften(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Mix each image with a blurred copy (random amount) and add faint noise."""
    k = torch.tensor([1.0, 2.0, 1.0])
    k = (k[:, None] * k[None]) / 16
    blurred = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"),
                       k.expand(3, 1, 3, 3).to(x), groups=3)
    blurred = F.conv2d(F.pad(blurred, (1, 1, 1, 1), mode="replicate"),
                       k.expand(3, 1, 3, 3).to(x), groups=3)
    a = torch.rand(len(x), 1, 1, 1, generator=g).to(x) * (torch.rand(
        len(x), 1, 1, 1, generator=g).to(x) < 0.5)
    noise = torch.randn(x.shape, generator=g).to(x) * 0.02
    return (1 - a) * x + a * blurred + noise


# Loss weights per block: pose and expression are few numbers that must be exact.
GROUP_WEIGHTS = {"identity": 1.0, "pose": 3.0, "expression": 3.0}


def view_weights(view: str) -> dict[str, float]:
    """The groups a judge of this ``view`` cannot read, weighted 0 (the mouth: all but the
    expression), for :func:`judge_loss`'s ``weights``."""
    return {"identity": 0.0, "pose": 0.0} if view == "mouth" else {}


def judge_loss(pred: torch.Tensor, target: torch.Tensor, schema: AttributeSchema = SCHEMA,
               weights: dict[str, float] | None = None) -> torch.Tensor:
    """Smooth-L1 on normalised attributes, pose and expression weighted up
    (``GROUP_WEIGHTS``; ``weights`` overrides some groups' weights)."""
    w = torch.ones(schema.dim, device=pred.device)
    for group, weight in {**GROUP_WEIGHTS, **(weights or {})}.items():
        w[schema.group_slice(group)] = weight
    return (F.smooth_l1_loss(pred, target, beta=0.05, reduction="none") * w).mean()


def judge_config(net: Judge, step: int, recipe: dict) -> dict:
    return {"kind": "judge", "architecture": "judge-vgg", "image_size": JUDGE_SIZE,
            "width": net.width, "features": net.n_features, "dim": net.dim, "view": net.view,
            "schema": SCHEMA.to_json(), "step": step, "recipe": recipe,
            "population": {"n": POPULATION, "seed": POPULATION_SEED, "held_out": N_HELD_OUT}}


def load_judge(path: str | os.PathLike | None = None,
               device: str | torch.device = "cpu") -> Judge:
    """The bundled judge (default) or one saved by :func:`train_judge`, in eval mode."""
    tensors, cfg = load_checkpoint(path or BUNDLED_JUDGE, kind="judge", schema=SCHEMA,
                                   device=device)
    net = Judge(cfg["dim"], cfg["width"], cfg["features"], cfg.get("view", "face")).to(device)
    net.load_state_dict({k: v.float() for k, v in tensors.items()})
    return net.eval()


def train_judge(out: str | os.PathLike, steps: int = 3000, batch: int = 96, lr: float = 2e-3,
                seed: int = 0, save_every: int = 250, resume: bool = True,
                fp16_weights: bool = True, progress: bool = True,
                init_from: str | os.PathLike | None = None,
                device: str | torch.device | None = None,
                max_minutes: float | None = None, view: str = "face") -> Judge:
    """Train a judge on ground-truth renders of the training population.

    Cosine learning rate with 200 warm-up steps; checkpoints ``out`` every ``save_every``
    steps (``out.state`` holds the optimiser so that training resumes where it stopped).
    ``init_from`` starts from another judge's weights (e.g. the bundled one) with a fresh
    optimiser: a longer schedule continues where a shorter one ended.  ``device``: as
    :func:`~deepfake_lab.device.pick_device` (on a GPU the batches are rendered there too).
    ``max_minutes``: a wall-time budget for a time slot (a rented GPU): the cosine then runs
    over the budget instead of over ``steps`` (which stays the upper bound), and training
    saves and ends when the budget is spent.  ``view="mouth"`` trains a mouth reader (see
    :class:`Judge`) on the expression numbers only.
    """
    from ..device import pick_device

    dev = pick_device(str(device) if device else None)
    people, train_idx, _ = synthfaces_population()
    net = (load_judge(init_from) if init_from else Judge(view=view)).to(dev).train()
    if net.view != view:
        raise ValueError(f"{init_from} is a {net.view!r} judge, not a {view!r} one")
    opt = torch.optim.AdamW(net.parameters(), lr, weight_decay=1e-4)
    start = 0
    state_path = Path(str(out) + ".state")
    if resume and checkpoint_paths(state_path)[1].exists():
        t, cfg = load_checkpoint(state_path, kind="judge-state", device=dev)
        net.load_state_dict({k[4:]: v for k, v in t.items() if k.startswith("net.")})
        opt.load_state_dict(unflatten_state(cfg["optimizer"], t))
        start = cfg["step"]
    recipe = {"steps": steps, "batch": batch, "lr": lr, "seed": seed, "augment": "soften",
              "init_from": None if init_from is None else Path(init_from).name,
              "max_minutes": max_minutes, "device": dev.type, "view": view}
    budget = None if max_minutes is None else 60.0 * max_minutes
    stream = SynthFacesStream(people, train_idx, batch_size=batch, size=JUDGE_SIZE, seed=seed,
                              device=render_device_for(dev)).batches(start)
    g = torch.Generator().manual_seed(seed * 7919 + start)
    net.train()
    bar = tqdm(range(start, steps), desc="judge", disable=not progress, initial=start,
               total=steps)
    t0 = time.perf_counter()
    for step in bar:
        warm = min(1.0, (step + 1) / 200)
        done = step / steps if budget is None else (time.perf_counter() - t0) / budget
        for group in opt.param_groups:
            group["lr"] = lr * warm * 0.5 * (1 + math.cos(math.pi * min(done, 1.0)))
        b = next(stream)
        x, a = b["image"].to(dev), b["attributes"].to(dev)
        loss = judge_loss(net(_soften(x, g)), a, weights=view_weights(view))
        if not torch.isfinite(loss):
            raise FloatingPointError(f"judge loss is {loss.item()} at step {step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        bar.set_postfix(loss=f"{loss.item():.4f}",
                        img_s=f"{(step + 1 - start) * batch / (time.perf_counter() - t0):.0f}")
        out_of_time = budget is not None and time.perf_counter() - t0 >= budget
        if (step + 1) % save_every == 0 or step + 1 == steps or out_of_time:
            _save_judge(net, opt, out, state_path, step + 1, recipe, fp16_weights)
        if out_of_time:
            break
    return net.eval()


def _save_judge(net: Judge, opt: torch.optim.Optimizer, out, state_path: Path, step: int,
                recipe: dict, fp16: bool) -> None:
    sd = net.state_dict()
    weights = {k: (v.half() if fp16 and v.is_floating_point() else v) for k, v in sd.items()}
    save_checkpoint(out, weights, judge_config(net, step, recipe))
    tensors = {f"net.{k}": v for k, v in sd.items()}
    skeleton = flatten_state("opt", opt.state_dict(), tensors)
    save_checkpoint(state_path, tensors, {"kind": "judge-state", "step": step,
                                          "optimizer": skeleton})


def main(argv: list[str] | None = None) -> None:
    """``python -m deepfake_lab.eval.judges --steps 3000 --out runs/judge/judge_synthfaces``"""
    import argparse

    ap = argparse.ArgumentParser(description="Train the SynthFaces judge on ground-truth renders")
    ap.add_argument("--out", default="runs/judge/judge_synthfaces")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=96)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init-from", default=None, help="start from these judge weights")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--device", default=None, help="cuda / mps / cpu (default: the best here)")
    ap.add_argument("--max-minutes", type=float, default=None,
                    help="wall-time budget: the cosine runs over it and training ends with it")
    ap.add_argument("--view", default="face", choices=VIEWS,
                    help="face: a judge or attribute reader; mouth: a mouth reader, which "
                         "reads the expression from the mouth alone, magnified")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    train_judge(args.out, steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed,
                init_from=args.init_from, device=args.device, max_minutes=args.max_minutes,
                view=args.view)


if __name__ == "__main__":
    main()
