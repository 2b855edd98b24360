"""Where expressions live in a face crop, measured by the renderer itself.

An expression moves few pixels.  Turning ``smile`` from -1 (corners down) to +1 (a broad
smile) changes a 64 px SynthFaces crop by 0.07 at its most sensitive pixel when averaged over
faces (images in [-1, 1]), and only a fifth of the crop at all; the half of that range from -1
to -0.5 (a sad mouth turning sadder) changes 0.03 averaged so, through two 1-px lines beside
the mouth.  In any one face those lines change a lot (~40 pixels by more than 0.1), but where
they fall moves with pose and face, so the average is small.  A pixel loss unsure of where a
line falls prefers no line, an anchor to a model that left them out keeps them out, and the
bundled decoders draw a frown about half as deep as asked (measured in the model card).

DeepFaceLab's answer to the same problem on real faces is "eyes and mouth priority": a mask
from the landmarks that weighs those regions up in the loss.  SynthFaces needs no landmarks to
find them.  For each expression attribute we render the same faces at its two ends and
average the absolute difference::

    d_e(p) = mean over faces | render(a with e = +1) - render(a with e = -1) |(p)   # (S, S)
    region(p) = max over e of d_e(p) / max_p d_e(p)                               # in [0, 1]

Each attribute is scaled to peak at 1 before the maximum, so the eyes (``eyes_open``,
``brow_raise``) count as much as the mouth (``smile``, ``mouth_open``).  The faces are a fixed
random sample over the schema's whole range of identity, pose and scene, so the map is a
*prior* over where an aligned face's expression shows, not the place in one face.  It is
deterministic and cached per size.  ``attributes`` narrows it to some of them (the mouth's
``smile`` and ``mouth_open``, say).
"""

from __future__ import annotations

from functools import lru_cache

import torch

from .synthfaces import SCHEMA, Scene, render, sample_attributes


@lru_cache(maxsize=8)
def _region(size: int, n: int, seed: int, attributes: tuple[str, ...]) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    a = sample_attributes(n, g)                                           # (n, dim)
    scene = Scene.sample(n, g)
    maps = []
    for j in (SCHEMA.index(name) for name in attributes):
        lo, hi = a.clone(), a.clone()
        lo[:, j], hi[:, j] = -1.0, 1.0
        d = (render(hi, size=size, scene=scene) - render(lo, size=size, scene=scene))
        d = d.abs().mean(1).mean(0)                                       # (S, S)
        maps.append(d / d.max().clamp(min=1e-8))
    return torch.stack(maps).amax(0)                                      # (S, S) in [0, 1]


def expression_region(size: int = 64, n: int = 256, seed: int = 0,
                      attributes: tuple[str, ...] | None = None) -> torch.Tensor:
    """``(1, 1, size, size)`` map in [0, 1]: how strongly the expression ``attributes`` (all
    of them by default) move each pixel of an aligned SynthFaces crop (1 where one of them
    moves it most), from ``n`` random faces rendered at both ends of each (cached)."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    return _region(int(size), int(n), int(seed), expression_names(attributes)).clone()[None, None]


def expression_names(attributes: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """``attributes`` checked to be the schema's expression attributes (all of them when
    empty or ``None``); a clear error names any that are not."""
    names = tuple(a.name for a in SCHEMA.expression)
    attributes = names if not attributes else tuple(attributes)
    unknown = [a for a in attributes if a not in names]
    if unknown:
        raise ValueError(f"not expression attributes: {', '.join(unknown)} (choose from "
                         f"{', '.join(names)})")
    return attributes
