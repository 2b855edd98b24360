"""Image-quality and distribution metrics: known values, monotonicity, masks, KID."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from deepfake_lab.eval.metrics import (
    PSNR_MIN_MSE,
    dssim_loss,
    face_mask,
    kid,
    laplacian_variance,
    psnr,
    sharpness_ratio,
    ssim,
)


def smooth_images(n: int = 4, size: int = 48, seed: int = 0) -> torch.Tensor:
    """Random textured images in [-0.6, 0.6]: upsampled noise (leaves headroom for noise)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, size // 4, size // 4, generator=g)
    return 0.6 * F.interpolate(x, size=size, mode="bicubic", align_corners=False).tanh()


def blur(x: torch.Tensor, k: int) -> torch.Tensor:
    return F.avg_pool2d(x, k, stride=1, padding=k // 2, count_include_pad=False)


def noise_like(x: torch.Tensor, std: float, seed: int = 1) -> torch.Tensor:
    return std * torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))


def test_psnr_identical_images_hit_the_cap():
    x = smooth_images()
    p = psnr(x, x)
    assert p.shape == (4,)
    assert torch.allclose(p, torch.full((4,), 10 * math.log10(1 / PSNR_MIN_MSE)))


def test_psnr_matches_the_analytic_value_for_gaussian_noise():
    x = smooth_images(size=64)
    # sigma = 0.1 in [0, 1] units is 0.2 in the library's [-1, 1] units -> MSE 0.01 -> 20 dB.
    p = psnr(x + noise_like(x, 0.2), x)
    assert torch.allclose(p, torch.full_like(p, 20.0), atol=0.2), p
    assert (psnr(x + noise_like(x, 0.1), x) > p + 5).all()   # half the noise: +6 dB


def test_psnr_mask_ignores_pixels_outside_it():
    x = smooth_images(n=2, size=32)
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    y = x + noise_like(x, 0.2) * (1 - mask)                   # noise only outside the mask
    assert (psnr(y, x) < 25).all()
    assert torch.allclose(psnr(y, x, mask=mask), torch.full((2,), 100.0))
    y2 = x + noise_like(x, 0.2) * mask                        # noise only inside the mask
    assert torch.allclose(psnr(y2, x, mask=mask.expand(2, 1, 32, 32)),
                          psnr(y2[..., 8:24, 8:24], x[..., 8:24, 8:24]), atol=1e-4)


def test_ssim_identity_monotonicity_symmetry_and_range():
    x, y = smooth_images(seed=0), smooth_images(seed=1)
    assert torch.allclose(ssim(x, x), torch.ones(4), atol=1e-5)
    s_blur3, s_blur7 = ssim(blur(x, 3), x), ssim(blur(x, 7), x)
    assert (s_blur3 < 0.999).all() and (s_blur7 < s_blur3).all()
    s_small, s_big = ssim(x + noise_like(x, 0.05), x), ssim(x + noise_like(x, 0.3), x)
    assert (s_small < 0.999).all() and (s_big < s_small).all()
    assert torch.allclose(ssim(x, y), ssim(y, x), atol=1e-6)
    s = ssim(x, -x)                                            # anti-correlated images
    assert (s >= -1).all() and (s < -0.5).all()
    s = ssim(x, y)                                             # unrelated images
    assert (s.abs() < 0.5).all()


def test_ssim_refuses_images_smaller_than_the_window():
    with pytest.raises(ValueError, match="window"):
        ssim(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))


def test_dssim_loss_is_zero_for_identical_images_and_differentiable():
    x = smooth_images(n=2)
    assert abs(dssim_loss(x, x).item()) < 1e-5
    y = blur(x, 5).requires_grad_(True)
    loss = dssim_loss(y, x)
    assert loss.dim() == 0 and loss.item() > 0
    loss.backward()
    assert y.grad is not None and y.grad.abs().sum() > 0


def test_dssim_is_computed_in_float32_under_bf16_autocast():
    """bf16 cancels E[x^2] - E[x]^2: the loss must not change inside an autocast region
    (the trainers compute it there on CUDA)."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 32, 32, generator=g) * 2 - 1
    y = x * 0.98
    ref = dssim_loss(x, y)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = dssim_loss(x, y)
    assert inside.dtype == torch.float32
    assert torch.allclose(inside, ref, rtol=1e-4, atol=1e-7)


def test_laplacian_variance_and_sharpness_ratio_detect_blur():
    x = smooth_images(size=64)
    assert (laplacian_variance(blur(x, 3)) < laplacian_variance(x)).all()
    r = sharpness_ratio(blur(x, 3), x)
    assert r.shape == (4,) and (r < 1).all()
    assert (sharpness_ratio(blur(x, 5), x) < r).all()
    assert torch.equal(sharpness_ratio(x, x), torch.ones(4))
    assert (sharpness_ratio(x + noise_like(x, 0.1), x) > 1).all()   # noise reads as "sharper"


@pytest.mark.parametrize("size", [64, 128])
def test_face_mask_is_a_centred_ellipse(size):
    m = face_mask(size)
    assert m.shape == (1, 1, size, size) and m.dtype == torch.float32
    assert set(m.unique().tolist()) == {0.0, 1.0}
    assert m[0, 0, size // 2, size // 2] == 1
    assert m[0, 0, 0, 0] == m[0, 0, 0, -1] == m[0, 0, -1, 0] == m[0, 0, -1, -1] == 0
    assert 0.3 < m.mean().item() < 0.45
    assert torch.equal(m, m.flip(-1))                          # left-right symmetric
    rows = m[0, 0].sum(1).nonzero()                            # taller than wide
    assert rows.max() - rows.min() > m[0, 0].sum(0).nonzero().max() - m[0, 0].sum(0).nonzero().min()


def test_kid_is_near_zero_for_one_distribution_and_grows_with_the_shift():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(300, 16, generator=g), torch.randn(300, 16, generator=g)
    same, std = kid(a, b, subsets=5, subset_size=200)
    assert abs(same) < 0.03 and std >= 0
    small, _ = kid(a, b + 0.25, subsets=5, subset_size=200)
    big, _ = kid(a, b + 0.5, subsets=5, subset_size=200)
    assert small > 0.1 and big > 2 * small
    assert kid(a, b + 0.25, subsets=5, subset_size=200, seed=3) != (small, _)
    assert kid(a.numpy(), b.numpy(), subsets=5, subset_size=200) == (same, std)


def test_kid_validates_its_inputs():
    a = torch.randn(10, 4)
    with pytest.raises(ValueError):
        kid(a, torch.randn(10, 5))
    with pytest.raises(ValueError):
        kid(a, a, subset_size=20)
