"""# Metrics: how good is a reconstruction, a swap, a set of generated faces?

Every function here is a pure, batched function of tensors: it works on any device, needs no
gradient, and (where noted) *is* differentiable so it can double as a loss.  Images follow the
library convention: float ``(B, C, H, W)`` in **[-1, 1]**, RGB.  Metrics that have a textbook
definition on [0, 1] images (PSNR, SSIM) rescale internally with ``(x + 1) / 2``, so numbers match
what papers and other tools report.

* **PSNR** (peak signal-to-noise ratio, dB) -- ``10 log10(1 / MSE)`` on [0, 1] images.  Pure
  pixel fidelity.  *Higher is better*; ~20 dB is "clearly noisy", 30+ dB is "hard to tell".
  An optional mask (e.g. :func:`face_mask`) restricts it to the face.
* **SSIM** (structural similarity, Wang et al. 2004) -- compares local means, contrasts and
  correlations in a Gaussian window.  1 means identical; *higher is better*; range [-1, 1].
* **DSSIM loss** -- ``(1 - SSIM) / 2``, the structural loss DeepFaceLab trains with.
  *Lower is better*; 0 for identical images.  Differentiable.
* **Laplacian variance** -- variance of the 3x3 Laplacian of the grey image: a classic sharpness
  score (edges give large second derivatives).  Larger means sharper.
* **Sharpness ratio** -- Laplacian variance of an output over that of its target.  Autoencoders
  blur, so this is usually < 1; *closer to 1 is better* (> 1 means extra high-frequency noise).
* **KID** (Kernel Inception Distance, Bińkowski et al. 2018) -- an unbiased distance between two
  *sets* of feature vectors (here: the judge network's features of real and generated faces).
  *Lower is better*; ≈ 0 for the same distribution (it can dip slightly below 0).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

# Smallest MSE we let PSNR see: 10 * log10(1 / 1e-10) = 100 dB is the cap for identical images.
PSNR_MIN_MSE = 1e-10
# ITU-R BT.601 luma weights, the usual RGB -> grey conversion.
LUMA = (0.299, 0.587, 0.114)


def _to_unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1] (no clamping: out-of-range values are measured, not hidden)."""
    return (x + 1) / 2


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.dim() != 4 or x.shape != y.shape:
        raise ValueError(f"expected two (B, C, H, W) tensors of the same shape, "
                         f"got {tuple(x.shape)} and {tuple(y.shape)}")


# ## PSNR

def psnr(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-image PSNR in dB between ``x`` and ``y``, both ``(B, C, H, W)`` in [-1, 1].

    The images are mapped to [0, 1] first (peak value 1), so ``PSNR = 10 log10(1 / MSE)``.
    ``mask`` -- ``(B, 1, H, W)`` or ``(1, 1, H, W)``, values in {0, 1} or soft weights --
    restricts the MSE to the masked pixels (a weighted mean over pixels and channels).
    The MSE is clamped to ``PSNR_MIN_MSE`` so identical images give a finite **100 dB** cap.
    Returns ``(B,)``.  Higher is better.
    """
    _check_pair(x, y)
    se = (_to_unit(x) - _to_unit(y)).pow(2)                          # (B, C, H, W)
    if mask is None:
        mse = se.flatten(1).mean(1)                                  # (B,)
    else:
        if mask.dim() != 4 or mask.shape[1] != 1:
            raise ValueError(f"mask must be (B, 1, H, W) or (1, 1, H, W), "
                             f"got {tuple(mask.shape)}")
        w = mask.to(se.dtype).expand(se.shape[0], 1, *se.shape[2:])  # (B, 1, H, W)
        num = (se * w).flatten(1).sum(1)                             # (B,)  broadcast over C
        den = w.flatten(1).sum(1) * se.shape[1]                      # (B,)  weight x channels
        mse = num / den.clamp_min(torch.finfo(se.dtype).tiny)
    return 10 * torch.log10(1 / mse.clamp_min(PSNR_MIN_MSE))


# ## SSIM
#
# For each pixel, with Gaussian-weighted local statistics (μ means, σ² variances, σ_xy
# covariance) computed on [0, 1] images:
#
#   SSIM = (2 μx μy + C1)(2 σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2))
#
# with C1 = 0.01², C2 = 0.03² (for a dynamic range of 1).  We use a **'valid'** convolution (no
# padding): only windows that fit entirely inside the image count, as in Wang et al.'s reference
# code, so borders are never invented.  Images must therefore be at least ``window`` pixels wide.

def _gaussian_window(window: int, sigma: float, channels: int, like: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Separable normalised Gaussian as two depthwise kernels: (C, 1, 1, k) and (C, 1, k, 1)."""
    r = torch.arange(window, dtype=like.dtype, device=like.device) - (window - 1) / 2
    g = torch.exp(-r.pow(2) / (2 * sigma ** 2))
    g = g / g.sum()                                                  # (k,)
    return g.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), g.view(1, 1, -1, 1).repeat(
        channels, 1, 1, 1)


def _blur(x: torch.Tensor, kernels: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Valid depthwise separable Gaussian: (B, C, H, W) -> (B, C, H-k+1, W-k+1)."""
    c = x.shape[1]
    return F.conv2d(F.conv2d(x, kernels[0], groups=c), kernels[1], groups=c)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of std ``sigma`` px, 'valid' (no padding, so no invented border):
    ``(B, C, H, W) -> (B, C, H-k+1, W-k+1)`` with window ``k = 2 ceil(3 sigma) + 1``.  A pattern
    of period ``p`` px keeps ``exp(-2 pi^2 sigma^2 / p^2)`` of its amplitude."""
    k = _gaussian_window(2 * math.ceil(3 * sigma) + 1, sigma, x.shape[1], x)
    return _blur(x, k)


def crop_like(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Centre-crop ``x`` (..., H, W) to ``like``'s last two sizes, as :func:`gaussian_blur`
    crops an image."""
    r = (x.shape[-1] - like.shape[-1]) // 2
    return x[..., r:r + like.shape[-2], r:r + like.shape[-1]]


def frequency_bands(x: torch.Tensor, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(low, high)`` of ``(B, C, H, W)`` images, each ``(B, C, H', W')`` as
    :func:`gaussian_blur` crops them: ``low`` is the blur, ``high = x - low`` (cropped alike)
    the detail finer than about ``sigma`` px; ``low + high`` is ``x`` cropped."""
    low = gaussian_blur(x, sigma)
    return low, crop_like(x, low) - low


def ssim(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Per-image SSIM (Wang et al. 2004), ``(B, C, H, W)`` in [-1, 1] -> ``(B,)`` in [-1, 1].

    Gaussian window of size ``window`` and std ``sigma``; 'valid' convolution (no padding);
    computed on [0, 1]-scaled images with C1 = 0.01², C2 = 0.03²; the SSIM map is averaged
    over channels and valid pixels.  1 for identical images; higher is better.  Differentiable.
    """
    _check_pair(x, y)
    if min(x.shape[-2:]) < window:
        raise ValueError(f"images {tuple(x.shape[-2:])} are smaller than the SSIM window {window}")
    # Always float32, autocast or not: var = E[x^2] - E[x]^2 cancels catastrophically in
    # bf16 (8-bit mantissa).  Under bf16 autocast the DSSIM of x against 0.98 x came out
    # 0.039 instead of 0.0005, and a GPU run trained against that noise went downhill.
    with torch.autocast(x.device.type, enabled=False):
        return _ssim_fp32(x.float(), y.float(), window, sigma)


def _ssim_fp32(x: torch.Tensor, y: torch.Tensor, window: int, sigma: float) -> torch.Tensor:
    x, y = _to_unit(x), _to_unit(y)
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    k = _gaussian_window(window, sigma, x.shape[1], x)
    mu_x, mu_y = _blur(x, k), _blur(y, k)                            # (B, C, H', W')
    var_x = _blur(x * x, k) - mu_x ** 2
    var_y = _blur(y * y, k) - mu_y ** 2
    cov = _blur(x * y, k) - mu_x * mu_y
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return s.flatten(1).mean(1)                                      # (B,)


def dssim_loss(x: torch.Tensor, y: torch.Tensor, window: int = 11,
               sigma: float = 1.5) -> torch.Tensor:
    """Structural dissimilarity ``(1 - mean SSIM) / 2``: a scalar loss in [0, 1], 0 when equal.

    This is the structural loss DeepFaceLab trains its autoencoders with.  Differentiable.
    """
    return (1 - ssim(x, y, window=window, sigma=sigma).mean()) / 2


# ## Sharpness
#
# Blur removes high frequencies, and the Laplacian (sum of second derivatives) *is* a high-pass
# filter, so the variance of its response is a cheap, standard focus/sharpness score.

_LAPLACIAN = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))


def _grey(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB or (B, 1, H, W) in [-1, 1] -> (B, 1, H, W) luma in [0, 1]."""
    x = _to_unit(x)
    if x.shape[1] == 1:
        return x
    if x.shape[1] != 3:
        raise ValueError(f"expected 1 or 3 channels, got {x.shape[1]}")
    w = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def laplacian_variance(x: torch.Tensor) -> torch.Tensor:
    """Variance of the 3x3 Laplacian of the grey image: ``(B, C, H, W)`` -> ``(B,)``.

    Grey is BT.601 luma (0.299 R + 0.587 G + 0.114 B) on the [0, 1]-scaled image; the
    convolution is 'valid' (no padding) so image borders add no fake edges.  Larger = sharper.
    """
    if x.dim() != 4:
        raise ValueError(f"expected (B, C, H, W), got {tuple(x.shape)}")
    g = _grey(x)
    k = torch.tensor(_LAPLACIAN, dtype=g.dtype, device=g.device).view(1, 1, 3, 3)
    lap = F.conv2d(g, k)                                             # (B, 1, H-2, W-2)
    return lap.flatten(1).var(1, unbiased=False)


def sharpness_ratio(output: torch.Tensor, target: torch.Tensor, eps: float = 1e-12
                    ) -> torch.Tensor:
    """``laplacian_variance(output) / laplacian_variance(target)``, per image ``(B,)``.

    < 1: the output is blurrier than the target (the usual autoencoder failure); 1: equally
    sharp (exactly 1 for identical images); > 1: extra high-frequency content (noise,
    artefacts).  ``eps`` is added to numerator and denominator, so a flat target does not
    divide by zero (but then the ratio is meaningless -- it just becomes large).
    """
    return (laplacian_variance(output) + eps) / (laplacian_variance(target) + eps)


# ## Face-region mask
#
# The lab's face crops (SynthFaces renders and aligned crops, 64 or 128 px) are centred and
# aligned, so the face occupies a fixed ellipse: centre (0.5 S, 0.52 S) -- slightly below the
# middle, the chin reaches further than the forehead -- with semi-axes 0.30 S horizontally and
# 0.38 S vertically.  Masking PSNR with it ("face-region PSNR") ignores background, hair and
# clothes, which a face swap is not supposed to change anyway.  It covers π·0.30·0.38 ≈ 36%.

FACE_CENTRE = (0.5, 0.52)   # (x, y) as fractions of the crop size
FACE_AXES = (0.30, 0.38)    # (horizontal, vertical) semi-axes as fractions of the crop size


def face_mask(size: int, device: torch.device | str | None = None) -> torch.Tensor:
    """A ``(1, 1, size, size)`` float mask: 1 inside the face ellipse of an aligned crop, else 0.

    Ellipse centre ``(0.5 S, 0.52 S)``, semi-axes ``0.30 S`` (x) and ``0.38 S`` (y), evaluated
    at pixel centres.  Broadcasts over a batch, e.g. ``psnr(x, y, mask=face_mask(64))``.
    """
    c = (torch.arange(size, dtype=torch.float32, device=device) + 0.5) / size  # (S,) centres
    u = (c.view(1, -1) - FACE_CENTRE[0]) / FACE_AXES[0]                # (1, S)  x
    v = (c.view(-1, 1) - FACE_CENTRE[1]) / FACE_AXES[1]                # (S, 1)  y
    return (u ** 2 + v ** 2 <= 1).float().view(1, 1, size, size)


# ## KID
#
# Maximum mean discrepancy between feature sets A (m vectors) and B (n vectors) with the cubic
# polynomial kernel k(a, b) = (a·b / d + 1)³.  The *unbiased* estimator drops the diagonal
# (self-similarity) terms:
#
#   MMD² = Σ_{i≠j} k(a_i, a_j) / m(m-1) + Σ_{i≠j} k(b_i, b_j) / n(n-1) - 2 Σ_{i,j} k(a_i, b_j) / mn
#
# Unbiased means its *expectation* is exactly 0 when A and B come from the same distribution,
# so single estimates scatter around 0 and can be slightly negative.  Unlike FID it has no
# small-sample bias, which is why it suits the lab's few-hundred-image evaluations.

def _mmd2_unbiased(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Unbiased MMD² with the cubic polynomial kernel; a (m, d), b (n, d) -> scalar."""
    m, n, d = a.shape[0], b.shape[0], a.shape[1]
    k_aa = (a @ a.T / d + 1) ** 3                                    # (m, m)
    k_bb = (b @ b.T / d + 1) ** 3                                    # (n, n)
    k_ab = (a @ b.T / d + 1) ** 3                                    # (m, n)
    s_aa = (k_aa.sum() - k_aa.diagonal().sum()) / (m * (m - 1))
    s_bb = (k_bb.sum() - k_bb.diagonal().sum()) / (n * (n - 1))
    return s_aa + s_bb - 2 * k_ab.mean()


def kid(features_a: torch.Tensor | np.ndarray, features_b: torch.Tensor | np.ndarray,
        subsets: int = 10, subset_size: int | None = None, seed: int = 0
        ) -> tuple[float, float]:
    """KID on judge features: Kernel Inception Distance between two sets of feature vectors.

    ``features_a`` ``(m, d)`` and ``features_b`` ``(n, d)`` are any feature vectors -- the
    project uses its judge network's features of real and generated faces, hence "KID on judge
    features" rather than on Inception features (numbers are not comparable to published KID).
    For each of ``subsets`` random subsets of ``subset_size`` rows from each set (drawn without
    replacement; default ``min(m, n, 1000)``), compute the unbiased MMD² with the cubic kernel
    ``k(x, y) = (x·y / d + 1)³``; return the ``(mean, std)`` over subsets (population std).

    Lower is better.  Same distribution -> ≈ 0; because the estimator is unbiased it can be
    slightly **negative**.  Deterministic for a given ``seed``; computed in float64 on the
    features' device.
    """
    a = torch.as_tensor(features_a).detach().to(torch.float64)
    b = torch.as_tensor(features_b).detach().to(device=a.device, dtype=torch.float64)
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"expected (m, d) and (n, d) features, "
                         f"got {tuple(a.shape)} and {tuple(b.shape)}")
    size = subset_size if subset_size is not None else min(len(a), len(b), 1000)
    if not 2 <= size <= min(len(a), len(b)):
        raise ValueError(f"subset_size must be in [2, {min(len(a), len(b))}], got {size}")
    if subsets < 1:
        raise ValueError(f"subsets must be >= 1, got {subsets}")
    gen = torch.Generator().manual_seed(seed)                       # CPU stream: same everywhere
    scores = []
    for _ in range(subsets):
        ia = torch.randperm(len(a), generator=gen)[:size].to(a.device)
        ib = torch.randperm(len(b), generator=gen)[:size].to(b.device)
        scores.append(_mmd2_unbiased(a[ia], b[ib]))
    s = torch.stack(scores)                                          # (subsets,)
    return s.mean().item(), s.std(unbiased=False).item()
