"""An exponential moving average (EMA) of a network's weights.

A GAN's generator never settles: each step answers the discriminator of the moment, so two
checkpoints 100 steps apart can differ more than their average differs from either.  Measured
here (model card, "Then the identity term"), the cGAN's identity retrieval moves by up to five
points from one kept checkpoint to the next around a mean that sits on its bar.  The usual cure
(Karras et al., Progressive GANs; Yazici et al., "The unusual effectiveness of averaging in GAN
training", 2019) is to *generate* with a running average of the generator's weights while
training the live one as before::

    ema <- d * ema + (1 - d) * theta            after every optimiser step of theta

The live network still plays the game; the average only watches, so training is unchanged and
only what is exported differs.  The decay warms up, ``d_n = min(decay, n / (n + 10))`` after
``n`` updates: the first update copies the live weights (a run warm-started or continued from
another model starts its average there, not at random weights), and early on, while the live
weights still move fast, the average reaches back about ``n / 10`` steps rather than
``1 / (1 - decay)``.

Measured on the cGAN (model card, "A weight average of the generator"), it did steady identity
and expression, and it also cost 0.07 of sharpness: the average of generators that each paint
their fine texture a little differently paints a fainter one.  Averaging only the coarse
stages (``scripts/average_checkpoints.py --only``) avoids that cost.
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn


class WeightEMA(nn.Module):
    """A frozen copy of ``net`` that :meth:`update` moves towards ``net``'s weights.

    Its ``state_dict`` holds the averaged weights (under ``net.``) and the update count, so a
    run that saves it in its training state resumes the average exactly."""

    def __init__(self, net: nn.Module, decay: float) -> None:
        super().__init__()
        if not 0 < decay < 1:
            raise ValueError(f"an EMA decay is in (0, 1), got {decay}")
        self.decay = decay
        self.net = copy.deepcopy(net).requires_grad_(False).eval()
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    def current_decay(self) -> float:
        """The decay the next :meth:`update` uses (0 for the first: a copy)."""
        n = int(self.updates)
        return min(self.decay, n / (n + 10))

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        """``ema <- d * ema + (1 - d) * net`` for every parameter; buffers are copied."""
        d = self.current_decay()
        for mine, theirs in zip(self.net.parameters(), net.parameters(), strict=True):
            mine.lerp_(theirs.detach(), 1 - d)
        for mine, theirs in zip(self.net.buffers(), net.buffers(), strict=True):
            mine.copy_(theirs)
        self.updates += 1

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return self.net(*args)
