"""# Random warp: the augmentation that makes a two-decoder face swap work

A deepfake autoencoder has **one shared encoder** and **one decoder per identity**.  Trained
naively (input = target = the same face crop) the encoder can get away with memorising
pixels, and decoder B never learns what to do with an encoding of face A.  DeepFaceLab's fix is
to feed the network a *randomly warped* face and ask it to reproduce the *unwarped* one:

* the encoder cannot rely on exact pixel positions, so it must encode *what the face is*
  (pose, expression, lighting) rather than a pixel map;
* each decoder learns to *undo* a warp -- to draw a clean face of its identity from an
  imperfect code -- and a swapped code (face A through decoder B) is just another imperfect
  code, so the swap generalises.

The warp is two parts, both expressed as a sampling grid for ``grid_sample`` (for each output
pixel, where in the input to read from; coordinates normalised to [-1, 1]):

1. a random **affine** per image: horizontal flip (optional), rotation, zoom and shift;
2. a smooth random **elastic** warp: random offsets at the interior points of a coarse
   ``grid x grid`` lattice (the border points stay put, as in DeepFaceLab), upsampled
   bicubically to a dense per-pixel flow field.

Everything is vectorised over the batch -- one random draw per image, one ``grid_sample`` call
-- and deterministic given a ``torch.Generator``.  :func:`random_warp` returns the warped
images; :func:`random_warp_pair` also returns the DeepFaceLab-style *target*: the same affine
and flip but without the elastic warp, so the decoder only has to undo the elastic part.
To warp a mask identically, concatenate it to the image as an extra channel.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _rand(shape: tuple[int, ...], generator: torch.Generator | None) -> torch.Tensor:
    """U[0, 1) on the generator's device (CPU without one) -- reproducible per generator."""
    device = generator.device if generator is not None else torch.device("cpu")
    return torch.rand(shape, generator=generator, device=device)


def _randn(shape: tuple[int, ...], generator: torch.Generator | None) -> torch.Tensor:
    device = generator.device if generator is not None else torch.device("cpu")
    return torch.randn(shape, generator=generator, device=device)


def _sampling_grids(images: torch.Tensor, generator: torch.Generator | None, grid: int,
                    warp_scale: float, rotation_deg: float, zoom: float, shift: float,
                    flip: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The affine-only and the affine+elastic sampling grids, each ``(B, H, W, 2)``."""
    if images.dim() != 4 or not images.is_floating_point():
        raise ValueError(f"expected float (B, C, H, W) images, got {images.dtype} "
                         f"{tuple(images.shape)}")
    if grid < 3:
        raise ValueError(f"grid must be >= 3 (border points are fixed), got {grid}")
    b, _, h, w = images.shape
    dev, dt = images.device, images.dtype

    # All random numbers, always drawn in the same order so a seed means the same warp
    # whatever the options.  Shapes: (B,) per-image scalars, (B, 2, grid, grid) offsets.
    u_rot, u_zoom, u_flip = _rand((b,), generator), _rand((b,), generator), _rand((b,), generator)
    u_shift = _rand((b, 2), generator)
    offsets = _randn((b, 2, grid, grid), generator)
    to = dict(device=dev, dtype=torch.promote_types(dt, torch.float32))  # geometry precision
    u_rot, u_zoom, u_flip, u_shift, offsets = (
        t.to(**to) for t in (u_rot, u_zoom, u_flip, u_shift, offsets))

    # Output pixel centres in normalised coordinates (align_corners=False convention).
    xs = (torch.arange(w, **to) + 0.5) / w * 2 - 1                   # (W,)
    ys = (torch.arange(h, **to) + 0.5) / h * 2 - 1                   # (H,)
    px = xs.view(1, 1, w).expand(b, h, w)                            # (B, H, W)
    py = ys.view(1, h, 1).expand(b, h, w)                            # (B, H, W)

    # ### Elastic part: offsets on the lattice interior, std = warp_scale x image size
    # (normalised coordinates span 2 per image side, hence the factor 2).
    offsets = offsets * (2 * warp_scale)
    pin = torch.zeros(grid, grid, **to)
    pin[1:-1, 1:-1] = 1                                              # border points stay put
    offsets = offsets * pin                                          # (B, 2, g, g)
    flow = F.interpolate(offsets, size=(h, w), mode="bicubic", align_corners=True)  # (B,2,H,W)
    ex, ey = px + flow[:, 0], py + flow[:, 1]                        # elastically moved points

    # ### Affine part: source = R(θ) · p / s + t, with optional mirror of x.
    # Rotation is done in aspect-corrected units so non-square images rotate without shear.
    theta = (u_rot * 2 - 1) * math.radians(rotation_deg)             # (B,)
    scale = 1 + (u_zoom * 2 - 1) * zoom                              # (B,)  > 1 zooms in
    t = (u_shift * 2 - 1) * (2 * shift)                              # (B, 2) normalised units
    flipped = (u_flip < 0.5) if flip else torch.zeros_like(u_flip, dtype=torch.bool)
    mirror = 1 - 2 * flipped.to(u_flip.dtype)                        # (B,)  -1 = mirrored
    ax, ay = w / max(h, w), h / max(h, w)
    cos, sin = (theta.cos() / scale).view(b, 1, 1), (theta.sin() / scale).view(b, 1, 1)
    m, tx, ty = mirror.view(b, 1, 1), t[:, 0].view(b, 1, 1), t[:, 1].view(b, 1, 1)

    def affine(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        u, v = m * x * ax, y * ay                                    # (B, H, W) square units
        sx = (cos * u - sin * v) / ax + tx
        sy = (sin * u + cos * v) / ay + ty
        return torch.stack([sx, sy], dim=-1).to(dt)                  # (B, H, W, 2)

    return affine(px, py), affine(ex, ey)


def _sample(images: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="border",
                        align_corners=False)
    return out.clamp(-1, 1)   # bilinear is a convex mix, so this only trims float round-off


def random_warp(images: torch.Tensor, generator: torch.Generator | None = None, grid: int = 5,
                warp_scale: float = 0.05, rotation_deg: float = 10, zoom: float = 0.05,
                shift: float = 0.05, flip: bool = False) -> torch.Tensor:
    """DeepFaceLab-style random warp of ``(B, C, H, W)`` images in [-1, 1]; same shape/dtype.

    Per image (vectorised, no Python loop): a random affine -- rotation ``U(±rotation_deg)``
    degrees, zoom factor ``U(1 ± zoom)``, shift ``U(±shift)`` of the image size per axis, and a
    horizontal flip with probability 1/2 if ``flip`` -- combined with a smooth elastic warp:
    Gaussian offsets with std ``warp_scale`` (fraction of image size) at the interior points of
    a ``grid x grid`` control lattice, upsampled bicubically to a dense flow.  Resampled with
    ``grid_sample`` (bilinear, border padding, ``align_corners=False``).

    Deterministic for a given ``generator`` (random numbers are drawn on its device, CPU when
    ``None`` uses the global RNG).  With all magnitudes 0 it returns the input (up to float
    round-off).  Use it for the *input* of the autoencoder; see :func:`random_warp_pair`.
    """
    _, warped = _sampling_grids(images, generator, grid, warp_scale, rotation_deg, zoom, shift,
                                flip)
    return _sample(images, warped)


def random_warp_pair(images: torch.Tensor, generator: torch.Generator | None = None,
                     grid: int = 5, warp_scale: float = 0.05, rotation_deg: float = 10,
                     zoom: float = 0.05, shift: float = 0.05, flip: bool = False
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(warped, target)``: the training pair DeepFaceLab uses, both ``(B, C, H, W)``.

    ``warped`` is exactly ``random_warp(images, generator, ...)`` for the same generator state;
    ``target`` has the same affine transform and flip but no elastic warp, so the decoder is
    asked to undo only the elastic distortion (the affine part is plain data augmentation).
    """
    affine, warped = _sampling_grids(images, generator, grid, warp_scale, rotation_deg, zoom,
                                     shift, flip)
    return _sample(images, warped), _sample(images, affine)
