"""Building blocks shared by the three architectures.

Every model here is a stack of three kinds of block:

* :class:`Down` - a strided 4x4 convolution halves the resolution (encoders, discriminator);
* :class:`Up` - a 3x3 convolution to 4x channels, then pixel shuffle doubles the resolution
  (DeepFaceLab's "upscale" block: no checkerboard from transposed convolutions);
* :class:`FiLM` - feature-wise linear modulation (Perez et al. 2018): a conditioning vector
  ``c`` predicts a per-channel scale and shift, ``h * (1 + gamma(c)) + beta(c)``.  This is
  how the attribute vector steers every layer of a conditional decoder, not only its input.

Widths are kept small on purpose: everything must train on two CPU cores.
"""

from __future__ import annotations

from itertools import pairwise

import torch
import torch.nn as nn
import torch.nn.functional as F


def act() -> nn.Module:
    """LeakyReLU(0.2): the activation every block uses."""
    return nn.LeakyReLU(0.2, inplace=True)


class Down(nn.Module):
    """(B, cin, H, W) -> (B, cout, H/2, W/2): conv 4x4 stride 2 + LeakyReLU."""

    def __init__(self, cin: int, cout: int, spectral: bool = False) -> None:
        super().__init__()
        conv = nn.Conv2d(cin, cout, 4, stride=2, padding=1)
        self.conv = nn.utils.parametrizations.spectral_norm(conv) if spectral else conv
        self.act = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


class FiLM(nn.Module):
    """Scale and shift each channel from a conditioning vector: ``h * (1 + g) + b``.

    The linear layer starts at zero, so an untrained FiLM is the identity.
    """

    def __init__(self, cond_dim: int, channels: int) -> None:
        super().__init__()
        self.to_gb = nn.Linear(cond_dim, 2 * channels)
        nn.init.zeros_(self.to_gb.weight)
        nn.init.zeros_(self.to_gb.bias)

    def forward(self, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.to_gb(c)[:, :, None, None].chunk(2, dim=1)   # (B, C, 1, 1) each
        return h * (1 + gamma) + beta


class Up(nn.Module):
    """(B, cin, H, W) -> (B, cout, 2H, 2W): conv 3x3 -> pixel shuffle -> [FiLM] -> LeakyReLU.

    With ``cond_dim`` the block is modulated by a conditioning vector (FiLM).
    """

    def __init__(self, cin: int, cout: int, cond_dim: int = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, 4 * cout, 3, padding=1)
        self.film = FiLM(cond_dim, cout) if cond_dim else None
        self.act = act()

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = F.pixel_shuffle(self.conv(x), 2)                  # (B, cout, 2H, 2W)
        if self.film is not None:
            h = self.film(h, c)
        return self.act(h)


class ConditionalDecoder(nn.Module):
    """Vector -> image: the decoder of the CVAE and the generator of the cGAN.

    ``v`` (B, in_dim) is the latent z concatenated with the attribute vector; a linear layer
    makes a 4x4 map, then ``log2(size / 4)`` FiLM-modulated :class:`Up` blocks double it to
    ``size`` and a 3x3 convolution gives RGB in [-1, 1] (tanh)::

        v (B, in) -> (B, C0, 4, 4) -> (B, C1, 8, 8) -> ... -> (B, Ck, S, S) -> (B, 3, S, S)

    Every Up block sees ``v`` through FiLM, so attributes steer coarse layout *and* fine
    detail.  ``widths`` lists C0..Ck; its length fixes the output size (4 * 2**(len-1)).
    """

    def __init__(self, in_dim: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        self.in_dim, self.widths = in_dim, tuple(widths)
        self.size = 4 * 2 ** (len(widths) - 1)
        self.fc = nn.Linear(in_dim, widths[0] * 16)
        self.ups = nn.ModuleList(Up(a, b, cond_dim=in_dim) for a, b in pairwise(widths))
        self.to_rgb = nn.Conv2d(widths[-1], 3, 3, padding=1)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.fc(v), 0.2).view(len(v), self.widths[0], 4, 4)   # (B, C0, 4, 4)
        for up in self.ups:
            h = up(h, v)                                                        # doubles H, W
        return torch.tanh(self.to_rgb(h))                                       # (B, 3, S, S)


class ConvEncoder(nn.Module):
    """Image -> flat features: ``log2(size / 4)`` :class:`Down` blocks to a 4x4 map, flattened.

    ``(B, 3, S, S) -> (B, widths[-1] * 16)``; ``widths`` lists the channels after each Down.
    """

    def __init__(self, size: int, widths: tuple[int, ...], spectral: bool = False) -> None:
        super().__init__()
        if 4 * 2 ** len(widths) != size:
            raise ValueError(f"{len(widths)} Down blocks take {4 * 2 ** len(widths)} px to "
                             f"4x4, not {size} px")
        chans = (3, *widths)
        self.blocks = nn.Sequential(*(Down(a, b, spectral) for a, b in pairwise(chans)))
        self.out_dim = widths[-1] * 16

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x).flatten(1)


def widths_for(size: int, base: tuple[int, ...]) -> tuple[int, ...]:
    """Decoder widths for ``size`` px from a 64 px recipe: 128 px adds one thin last block."""
    if size == 64:
        return base
    if size == 128:
        return (*base, max(16, base[-1] // 2))
    raise ValueError(f"models are built for 64 or 128 px, not {size}")


def encoder_widths_for(size: int, base: tuple[int, ...]) -> tuple[int, ...]:
    """Encoder widths for ``size`` px from a 64 px recipe: 128 px adds one thin first block."""
    if size == 64:
        return base
    if size == 128:
        return (max(16, base[0] // 2), *base)
    raise ValueError(f"models are built for 64 or 128 px, not {size}")


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
