"""Average the weights of several checkpoints of one run (Polyak / SWA-style averaging).

    python scripts/average_checkpoints.py runs/avg/model runs/snaps/28400 runs/snaps/28600 ...

Late in training at a small learning rate the weights wander around a minimum; their mean
usually sits nearer its centre than any one of them (Izmailov et al. 2018, "Averaging
Weights Leads to Wider Optima").  The models here have no batch-norm statistics to
recompute, so the plain mean of the tensors is the whole method.

The inputs must share architecture, sizes and schema (the configs are compared, all but the
step); the output keeps the last input's config and records what it averaged in
``averaged_from``.  Pick the inputs on a validation seed, not on the evaluation's problems.

``--only PREFIX,...`` averages only the tensors whose names start with one of the prefixes and
takes every other tensor from one input (``--rest-from``, default the middle one), whose
config the output then keeps.  A GAN's generator is why: the mean of its checkpoints is
blurrier than any of them, since each paints its fine texture a little differently and the
mean paints the average of those textures.  Its coarse stages, which place the face, gain from
the mean as a slow-moving network does; its fine stages, which paint the texture, do not::

    python scripts/average_checkpoints.py runs/avg/model runs/snaps/{1000,1100,1200,1300,1400} \
        --only generator.net.fc,generator.net.ups.0,generator.net.ups.1   # the rest from 1200
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from deepfake_lab.checkpoints import CheckpointError, load_checkpoint, save_checkpoint

VOLATILE = ("step", "format", "averaged_from")


def average(paths: list[str], only: list[str] | None = None,
            rest_from: str | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """The mean of the checkpoints' floating-point tensors (fp32; integer tensors must agree)
    and the last config.  With ``only`` (tensor-name prefixes), only the tensors so named are
    averaged; the others, and the config, are those of ``rest_from`` (one of ``paths``,
    default the middle one)."""
    if len(paths) < 2:
        raise ValueError("averaging needs at least two checkpoints")
    if rest_from is not None and not only:
        raise ValueError("--rest-from names where the tensors outside --only come from; "
                         "give --only too")
    if only:
        rest_from = paths[len(paths) // 2] if rest_from is None else rest_from
        if rest_from not in paths:
            raise ValueError(f"--rest-from must be one of the inputs, got {rest_from!r}")
    total, first_cfg, cfg, steps, rest = None, None, {}, [], None
    for p in paths:
        tensors, cfg = load_checkpoint(p, kind="model")
        if p == rest_from:
            rest = tensors, cfg
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
    if only:
        unmatched = [p for p in only if not any(k.startswith(p) for k in mean)]
        if unmatched:
            raise ValueError(f"--only {', '.join(unmatched)} names no tensor; the tensors are "
                             f"e.g. {', '.join(sorted(mean)[:4])}")
        rest_tensors, cfg = rest
        mean = {k: v if any(k.startswith(p) for p in only) else rest_tensors[k]
                for k, v in mean.items()}
    out_cfg = {k: v for k, v in cfg.items() if k != "format"}
    out_cfg["averaged_from"] = [f"{Path(p).name}@{s}" for p, s in zip(paths, steps, strict=True)]
    if only:
        out_cfg["averaged_only"] = list(only)
        out_cfg["rest_from"] = f"{Path(rest_from).name}@{rest[1].get('step')}"
    return mean, out_cfg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="output checkpoint path (without extension)")
    ap.add_argument("inputs", nargs="+", help="checkpoints of one run")
    ap.add_argument("--only", default=None, metavar="PREFIX,...",
                    help="average only the tensors whose names start with one of these; the "
                         "others come from --rest-from")
    ap.add_argument("--rest-from", default=None, metavar="CKPT",
                    help="with --only: the input the other tensors and the config come from "
                         "(default: the middle input)")
    args = ap.parse_args()
    only = [p.strip() for p in args.only.split(",") if p.strip()] if args.only else None
    try:
        tensors, cfg = average(args.inputs, only=only, rest_from=args.rest_from)
    except (ValueError, CheckpointError) as e:
        ap.error(str(e))
    out = save_checkpoint(args.out, tensors, cfg)
    what = f"the mean of {len(args.inputs)} checkpoints"
    if only:
        what += f" for {', '.join(only)}, the rest from {cfg['rest_from']}"
    print(f"wrote {out}: {what}, step {cfg.get('step')}")


if __name__ == "__main__":
    main()
