"""Average the weights of several checkpoints of one run (Polyak / SWA-style averaging).

    python scripts/average_checkpoints.py runs/avg/model runs/snaps/28400 runs/snaps/28600 ...

Late in training at a small learning rate the weights wander around a minimum; their mean
usually sits nearer its centre than any one of them (Izmailov et al. 2018, "Averaging
Weights Leads to Wider Optima").  The models here have no batch-norm statistics to
recompute, so the plain mean of the tensors is the whole method.

The inputs must share architecture, sizes and schema (the configs are compared, all but the
step); the output keeps the last input's config and records what it averaged in
``averaged_from``.  Pick the inputs on a validation seed, not on the evaluation's problems.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from deepfake_lab.checkpoints import CheckpointError, load_checkpoint, save_checkpoint

VOLATILE = ("step", "format", "averaged_from")


def average(paths: list[str]) -> tuple[dict[str, torch.Tensor], dict]:
    """The mean of the checkpoints' floating-point tensors (fp32; integer tensors must agree)
    and the last config."""
    if len(paths) < 2:
        raise ValueError("averaging needs at least two checkpoints")
    total, first_cfg, cfg, steps = None, None, {}, []
    for p in paths:
        tensors, cfg = load_checkpoint(p, kind="model")
        steps.append(cfg.get("step"))
        same = {k: v for k, v in cfg.items() if k not in VOLATILE}
        if first_cfg is None:
            first_cfg, total = same, {k: v.double() if v.is_floating_point() else v
                                      for k, v in tensors.items()}
            continue
        if same != first_cfg or tensors.keys() != total.keys():
            raise CheckpointError(f"{p} is not the same model as {paths[0]} (config or "
                                  "tensor names differ): only checkpoints of one run average")
        for k, v in tensors.items():
            if v.is_floating_point():
                total[k] += v.double()
            elif not torch.equal(v, total[k]):
                raise CheckpointError(f"{p}: integer tensor {k!r} differs between the inputs")
    mean = {k: (v / len(paths)).float() if v.is_floating_point() else v
            for k, v in total.items()}
    out_cfg = {k: v for k, v in cfg.items() if k != "format"}
    out_cfg["averaged_from"] = [f"{Path(p).name}@{s}" for p, s in zip(paths, steps, strict=True)]
    return mean, out_cfg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="output checkpoint path (without extension)")
    ap.add_argument("inputs", nargs="+", help="checkpoints of one run")
    args = ap.parse_args()
    tensors, cfg = average(args.inputs)
    out = save_checkpoint(args.out, tensors, cfg)
    print(f"wrote {out}: mean of {len(args.inputs)} checkpoints, step {cfg.get('step')}")


if __name__ == "__main__":
    main()
