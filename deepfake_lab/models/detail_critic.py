"""A detail critic: is this fine detail the kind real faces have, where they have it?

The cGAN's swaps fail the identity judge in their *finest* detail.  Measured on the cGAN
bundled before this critic (validation seed, 512 swaps; the band split is a Gaussian of
1 px): its own picture scores 90 % ID retrieval, but its coarse picture with the ground
truth's fine detail added scores 99 %, while the ground truth's coarse picture with the
cGAN's fine detail scores 98 % and the cGAN's coarse picture with the blurry CVAE's fine
detail 95 %.  The coarse picture is right; the detail on top of it misleads.  Looked at, the
detail is a 2-px grid painted over skin and hair alike - the kind of pattern a pixel-shuffle
generator falls into - where real renders have hair strands, crisp outlines and almost
smooth skin.  Its energy per frequency is that of real detail (within 25 % in every band);
its *shape* is not.

The main discriminator sees whole 64 px faces through four strided layers and has many
things to judge at once.  This critic judges one: small patches of the image's high band,
next to the low band they sit on, so that "a grid on smooth skin" and "no strands in the
hair" are fake whatever the face::

    low  = blur(x, sigma)                  (B, 3, S', S')   'valid' Gaussian, S' = S-6 sigma
    high = x[crop] - low                   (B, 3, S', S')   the finest detail
    [gain * high | low] --SN conv 3x3--> --SN conv 4x4 /2--> --SN conv 3x3--> --1x1-->
                                             (B, 1, S'/2, S'/2)  one logit per ~10 px patch

It is fully convolutional (a PatchGAN of Isola et al. 2017 on the high band, as
super-resolution GANs judge the detail given the coarse image), so every image gives it
hundreds of patches to learn from.  It needs no attributes: whether detail is plausible is a
local question.  Only training uses it; it lives in the training state.  What it bought the
cGAN, measured, is in the model card ("The detail critic").
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..eval.metrics import frequency_bands
from .blocks import act

SN = nn.utils.parametrizations.spectral_norm


class DetailCritic(nn.Module):
    """``(B, 3, S, S)`` images in [-1, 1] -> ``(B, 1, S'/2, S'/2)`` patch logits on their
    fine detail (``S' = S - 2 ceil(3 sigma)``).

    ``sigma``: the band split, in px; ``gain`` scales the high band (std 0.09 in real
    renders, the low band's 0.34) to the low band's range, so the spectrally normalised
    layers weigh the two alike.
    """

    def __init__(self, width: int = 32, sigma: float = 1.0, gain: float = 4.0) -> None:
        super().__init__()
        self.sigma, self.gain = sigma, gain
        w = width
        self.net = nn.Sequential(
            SN(nn.Conv2d(6, w, 3, padding=1)), act(),                  # (B, w, S', S')
            SN(nn.Conv2d(w, 2 * w, 4, stride=2, padding=1)), act(),    # (B, 2w, S'/2, S'/2)
            SN(nn.Conv2d(2 * w, 2 * w, 3, padding=1)), act(),
            SN(nn.Conv2d(2 * w, 1, 1)))                                # (B, 1, S'/2, S'/2)

    def bands(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(low, high)``, each ``(B, 3, S', S')``: ``low + high`` is ``x`` cropped."""
        return frequency_bands(x, self.sigma)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low, high = self.bands(x)
        return self.net(torch.cat([self.gain * high, low], dim=1))
