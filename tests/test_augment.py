"""DeepFaceLab-style random warp: shapes, range, determinism, identity, per-image warps."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from deepfake_lab.train.augment import random_warp, random_warp_pair

NO_WARP = dict(warp_scale=0, rotation_deg=0, zoom=0, shift=0)


def smooth_images(n: int = 4, size: int = 32, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, size // 4, size // 4, generator=g)
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False).tanh()


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_random_warp_keeps_shape_dtype_and_range():
    x = smooth_images()
    y = random_warp(x, gen(0))
    assert y.shape == x.shape and y.dtype == x.dtype and y.device == x.device
    assert y.min() >= -1 and y.max() <= 1
    assert (y - x).abs().mean() > 0.02                         # it actually moved pixels
    assert random_warp(x.double(), gen(0)).dtype == torch.float64


def test_random_warp_is_deterministic_per_generator_seed():
    x = smooth_images()
    assert torch.equal(random_warp(x, gen(7)), random_warp(x, gen(7)))
    assert not torch.allclose(random_warp(x, gen(7)), random_warp(x, gen(8)), atol=1e-3)


def test_random_warp_with_zero_magnitudes_is_the_identity():
    x = smooth_images()
    assert torch.allclose(random_warp(x, gen(0), **NO_WARP), x, atol=1e-5)


def test_each_image_of_a_batch_gets_its_own_warp():
    x = smooth_images(n=1).expand(4, -1, -1, -1).contiguous()
    y = random_warp(x, gen(0))
    for i in range(4):
        for j in range(i + 1, 4):
            assert (y[i] - y[j]).abs().mean() > 1e-3, (i, j)


def test_each_component_moves_pixels_on_its_own():
    x = smooth_images()
    for name, value in [("warp_scale", 0.05), ("rotation_deg", 10), ("zoom", 0.1),
                        ("shift", 0.05)]:
        y = random_warp(x, gen(0), **{**NO_WARP, name: value})
        assert (y - x).abs().mean() > 0.01, name


def test_flip_mirrors_some_images_exactly():
    x = smooth_images(n=8)
    y = random_warp(x, gen(0), flip=True, **NO_WARP)
    mirrored = [torch.allclose(y[i], x[i].flip(-1), atol=1e-5) for i in range(8)]
    kept = [torch.allclose(y[i], x[i], atol=1e-5) for i in range(8)]
    assert all(m != k for m, k in zip(mirrored, kept, strict=True))
    assert 0 < sum(mirrored) < 8


def test_warp_pair_target_shares_the_affine_but_not_the_elastic_warp():
    x = smooth_images()
    warped, target = random_warp_pair(x, gen(3), flip=True)
    assert torch.equal(warped, random_warp(x, gen(3), flip=True))
    # without an elastic part the two outputs coincide; with one they differ
    w0, t0 = random_warp_pair(x, gen(3), flip=True, warp_scale=0)
    assert torch.allclose(w0, t0, atol=1e-6)
    assert (warped - target).abs().mean() > 0.01


def test_random_warp_rejects_bad_input():
    with pytest.raises(ValueError):
        random_warp(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError):
        random_warp(torch.zeros(1, 3, 8, 8), grid=2)
