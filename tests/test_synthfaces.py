"""Tests for the SynthFaces renderer (``deepfake_lab.data.synthfaces``).

Images are float tensors in [-1, 1]; "mean abs" below is the mean over all pixels and
channels of the absolute difference of two such images.  Almost everything renders at
64 px, the size the identity judges work at.
"""

from __future__ import annotations

import pytest
import torch

from deepfake_lab.attributes import (
    SYNTHFACES_SCHEMA,
    AttributeRangeError,
    UnknownAttributeError,
)
from deepfake_lab.data import synthfaces as sf
from deepfake_lab.data.synthfaces import Scene, render

S = SYNTHFACES_SCHEMA
DEFAULT_IDENTITY = S.to_tensor({})[S.identity_slice]  # every slider at 0.5


def _vec(identity: torch.Tensor, **attrs: float) -> torch.Tensor:
    """A normalised attribute vector: ``identity`` block plus pose/expression in physical units."""
    return S.with_identity(S.to_tensor(attrs), identity)


def _flip_pairs(identities, yaw, pitch, roll):
    """Vectors at (yaw, pitch, roll) and at the mirrored pose (-yaw, pitch, -roll)."""
    common = dict(pitch=pitch, smile=0.5, mouth_open=0.3, brow_raise=0.4)
    right = [_vec(ident, yaw=yaw, roll=roll, **common) for ident in identities]
    left = [_vec(ident, yaw=-yaw, roll=-roll, **common) for ident in identities]
    return torch.stack(right), torch.stack(left)


FLIP_IDENTITIES = [sf.catalogue_identity(n) for n in ("ada", "boris", "gus", "emeka")]
FLIP_IDENTITIES += list(sf.sample_identities(3, seed=7))
FLIP_POSES = [(30, 0, 0), (30, 15, 0), (30, -20, 0), (45, 10, 12)]  # (yaw, pitch, roll)
FLIP_MAX, FLIP_MEAN = 1e-4, 1e-5  # measured: exactly 0 (the grid and |X| are symmetric)


# ---- determinism and scenes ------------------------------------------------------------
def test_same_arguments_give_bit_identical_images():
    """Same attributes, scene and seed -> bit-identical pixels (and the samplers repeat)."""
    a1, a2 = sf.sample_attributes(4, seed=3), sf.sample_attributes(4, seed=3)
    assert torch.equal(a1, a2)
    img1 = render(a1, size=64, scene="random", seed=5)
    img2 = render(a2, size=64, scene="random", seed=5)
    assert torch.equal(img1, img2)
    assert torch.equal(render(a1, scene="neutral"), render(a1, scene="neutral"))
    assert not torch.equal(sf.sample_identities(4, seed=3), sf.sample_identities(4, seed=4))


def test_rendering_device_is_explicit_and_defaults_to_the_cpu():
    """``device="cpu"`` is the default render; attributes on another device never move it."""
    a = sf.sample_attributes(3, seed=2)
    assert torch.equal(render(a, size=32, device="cpu"), render(a, size=32))
    assert render(a, size=32, device="cpu").device.type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_render_matches_the_cpu_render():  # run where a GPU is present; skipped in CI
    a = sf.sample_attributes(16, seed=4)
    cpu = render(a, size=64, scene="random", seed=1)
    gpu = render(a, size=64, scene="random", seed=1, device="cuda")
    assert gpu.device.type == "cuda"
    diff = (gpu.cpu() - cpu).abs()
    # float rounding may move a few anti-aliased edge pixels; the image as a whole agrees
    assert diff.mean() < 1e-4 and (diff > 1e-2).float().mean() < 1e-3


def test_different_seeds_give_different_random_scenes():
    """The random scene depends on the seed: every face's lighting/background changes."""
    attrs = sf.sample_attributes(4, seed=3)
    a = render(attrs, size=64, scene="random", seed=0)
    b = render(attrs, size=64, scene="random", seed=1)
    per_face = (a - b).abs().mean(dim=(1, 2, 3))
    assert (per_face > 0.02).all(), per_face  # measured >= 0.10
    s0, s1 = Scene.sample(4, seed=0), Scene.sample(4, seed=1)
    assert not torch.equal(s0.light_dir, s1.light_dir)
    assert not torch.equal(s0.bg_top, s1.bg_top)
    neutral = render(attrs, size=64, scene="neutral")
    assert not torch.equal(neutral, a)


def test_neutral_scene_is_symmetric_and_unit_light():
    """Scene.neutral: n identical rows, light in the y-z plane, no background tilt."""
    scn = Scene.neutral(3)
    assert len(scn) == 3
    assert torch.equal(scn.light_dir[:, 0], torch.zeros(3))
    assert torch.allclose(scn.light_dir.norm(dim=1), torch.ones(3))
    assert torch.equal(scn.bg_angle, torch.zeros(3))
    assert len(Scene.sample(5, seed=0)) == 5


# ---- output format ---------------------------------------------------------------------
@pytest.mark.parametrize("size,batch", [(64, 3), (128, 1), (256, 1), (16, 2)])
def test_output_shape_dtype_and_range(size, batch):
    """(B, 3, S, S) float32, finite, inside [-1, 1] and using a real part of that range."""
    attrs = sf.sample_attributes(batch, seed=size)
    img = render(attrs, size=size, scene="random", seed=1)
    assert img.shape == (batch, 3, size, size)
    assert img.dtype == torch.float32
    assert torch.isfinite(img).all()
    assert img.min() >= -1.0 and img.max() <= 1.0
    assert (img.amax(dim=(1, 2, 3)) - img.amin(dim=(1, 2, 3)) > 0.5).all()
    assert (img.std(dim=(1, 2, 3)) > 0.05).all()


def test_single_vector_gives_single_image():
    """A (dim,) vector renders to (3, S, S), equal to the batch-of-one result."""
    vec = sf.sample_attributes(1, seed=2)
    one = render(vec[0], size=64, scene="neutral")
    assert one.shape == (3, 64, 64)
    assert torch.equal(one, render(vec, size=64, scene="neutral")[0])


# ---- mirror symmetry -------------------------------------------------------------------
@pytest.mark.parametrize("yaw,pitch,roll", FLIP_POSES)
def test_flip_symmetry(yaw, pitch, roll):
    """Under the neutral scene, (yaw, pitch, roll) is the mirror image of (-yaw, pitch, -roll)."""
    right, left = _flip_pairs(FLIP_IDENTITIES, yaw, pitch, roll)
    a = render(right, size=64, scene="neutral")
    b = torch.flip(render(left, size=64, scene="neutral"), dims=[-1])
    diff = (a - b).abs()
    assert diff.max() < FLIP_MAX, f"max abs diff {diff.max():.4f}"
    assert diff.mean(dim=(1, 2, 3)).max() < FLIP_MEAN, f"mean abs diff {diff.mean():.5f}"


def test_pose_directions():
    """+yaw moves the nose to the image's right, +pitch moves it up (schema conventions)."""
    def nose_centroid(**pose):
        small = render(S.to_tensor(dict(nose_size=0.0, **pose)), scene="neutral")
        large = render(S.to_tensor(dict(nose_size=1.0, **pose)), scene="neutral")
        d = (large - small).abs().sum(0)
        pos = torch.arange(64.0) + 0.5
        return (d.sum(0) * pos).sum() / d.sum(), (d.sum(1) * pos).sum() / d.sum()  # col, row

    col0, row0 = nose_centroid()
    assert abs(col0 - 32) < 0.5
    assert nose_centroid(yaw=40)[0] > col0 + 3  # measured +6.8 px
    assert nose_centroid(yaw=-40)[0] < col0 - 3
    assert nose_centroid(pitch=30)[1] < row0 - 3  # rows grow downward; measured -9.4 px
    assert nose_centroid(pitch=-30)[1] > row0 + 3


# ---- what the sliders do ---------------------------------------------------------------
SMILE_IDENTITIES = [DEFAULT_IDENTITY] + [sf.catalogue_identity(n) for n in sf.catalogue_names()]
SMILE_IDENTITIES += list(sf.sample_identities(4, seed=11))


def test_smile_changes_mostly_the_mouth_region():
    """smile 0 -> 1 at yaw 0: >= 70 % of the change lies in the lower-centre box
    (rows 55-85 %, cols 25-75 %); measured 80-94 % over 13 identities."""
    neutral = torch.stack([_vec(i, smile=0.0) for i in SMILE_IDENTITIES])
    smiling = torch.stack([_vec(i, smile=1.0) for i in SMILE_IDENTITIES])
    size = 64
    d = (render(smiling, size=size, scene="neutral")
         - render(neutral, size=size, scene="neutral")).abs().sum(1)  # (B, S, S)
    r0, r1, c0, c1 = int(0.55 * size), int(0.85 * size), int(0.25 * size), int(0.75 * size)
    total = d.sum(dim=(1, 2))
    inside = d[:, r0:r1, c0:c1].sum(dim=(1, 2)) / total
    assert (total > 10).all(), total  # the smile changes something (measured >= 36)
    assert (inside >= 0.70).all(), inside


EFFECT_POSES = (-45, 0, 45)
EFFECT_IDENTITIES = {"default": DEFAULT_IDENTITY, "emeka": sf.catalogue_identity("emeka")}
# Thresholds below the weakest effect measured (eye_color at yaw +-45: 17 pixels changed by
# > 0.1, mean abs 7e-4; most sliders change 40 to 1,000 pixels) and far above "no change".
EFFECT_MEAN_MIN = 4e-4
EFFECT_PIXELS_MIN = 12  # pixels whose largest channel change exceeds 0.1
EFFECT_PARAMS = [a.name for a in S.identity + S.expression]


@pytest.mark.parametrize("name", EFFECT_PARAMS)
def test_every_slider_has_a_visible_effect(name):
    """Moving one identity/expression slider from low to high visibly changes a 64 px render
    at yaw -45, 0 and 45, for the default identity and a dark-skinned short-haired one."""
    lows, highs, labels = [], [], []
    for who, ident in EFFECT_IDENTITIES.items():
        for yaw in EFFECT_POSES:
            v = _vec(ident, yaw=yaw)
            lo, hi = v.clone(), v.clone()
            lo[S.index(name)], hi[S.index(name)] = -1.0, 1.0
            lows.append(lo)
            highs.append(hi)
            labels.append(f"{who}@yaw{yaw:+d}")
    d = (render(torch.stack(highs), scene="neutral")
         - render(torch.stack(lows), scene="neutral")).abs()
    mean = d.mean(dim=(1, 2, 3))
    pixels = (d.amax(dim=1) > 0.1).sum(dim=(1, 2))
    weak = [f"{lab}: mean {m:.5f}, {p} px" for lab, m, p in zip(labels, mean, pixels, strict=True)
            if m < EFFECT_MEAN_MIN or p < EFFECT_PIXELS_MIN]
    assert not weak, f"{name} is too weak to see: " + "; ".join(weak)


def test_different_identities_differ():
    """Distinct people (catalogue and random) give clearly different images."""
    people = [sf.catalogue_identity(n) for n in sf.catalogue_names()]
    people += list(sf.sample_identities(4, seed=5))
    img = render(torch.stack([_vec(i) for i in people]), scene="neutral")
    dist = (img[:, None] - img[None]).abs().mean(dim=(2, 3, 4))
    dist.fill_diagonal_(float("inf"))
    assert dist.min() > 0.02, dist.min()  # measured >= 0.057


# ---- batching --------------------------------------------------------------------------
@pytest.mark.parametrize("size,n", [(64, 6), (256, 5)])
def test_batch_equals_faces_rendered_one_by_one(size, n):
    """A batch is exactly its faces rendered alone (256 px: crosses the 4-face chunk size)."""
    attrs = sf.sample_attributes(n, seed=4)
    scene = Scene.sample(n, seed=9)
    batch = render(attrs, size=size, scene=scene)
    singles = torch.cat([render(attrs[i:i + 1], size=size, scene=scene[i:i + 1])
                         for i in range(n)])
    assert torch.equal(batch, singles), (batch - singles).abs().max()


# ---- render_one and identities ---------------------------------------------------------
def test_render_one_matches_render():
    """render_one(name/seed, **attrs) is render() of the vector those arguments describe."""
    img = sf.render_one("boris", size=64, yaw=30, smile=0.8)
    ref = render(_vec(sf.catalogue_identity("boris"), yaw=30, smile=0.8), size=64,
                 scene="neutral")
    assert torch.equal(img, ref)
    by_seed = sf.render_one(7, size=64)
    assert torch.equal(by_seed, render(_vec(sf.sample_identities(1, 7)[0]), scene="neutral"))
    assert torch.equal(sf.render_one("7", size=64), by_seed)
    # An explicit slider overrides the chosen person's value.
    bald = sf.render_one("ada", size=64, hair_length=0.0)
    ident = sf.catalogue_identity("ada").clone()
    ident[S.index("hair_length")] = -1.0
    assert torch.equal(bald, render(_vec(ident), scene="neutral"))


def test_catalogue():
    """Catalogue names are stable and each resolves to an identity block in [-1, 1]."""
    names = sf.catalogue_names()
    assert names[:3] == ["ada", "boris", "chen"] and len(names) == 8
    for n in names:
        ident = sf.catalogue_identity(n)
        assert ident.shape == (len(S.identity),)
        assert ident.min() >= -1 and ident.max() <= 1
    ids = sf.sample_identities(50, seed=0)
    assert ids.shape == (50, len(S.identity)) and ids.min() >= -1 and ids.max() <= 1
    assert sf.sample_attributes(3, seed=0).shape == (3, S.dim)


# ---- bad inputs ------------------------------------------------------------------------
def test_bad_inputs_give_clear_errors():
    """Wrong length, NaN, tiny size, unknown names and mismatched scenes are refused."""
    good = sf.sample_attributes(2, seed=0)
    with pytest.raises(ValueError, match=rf"shape \(B, {S.dim}\)"):
        render(torch.zeros(2, S.dim - 1))
    with pytest.raises(ValueError, match=rf"shape \(B, {S.dim}\)"):
        render(torch.zeros(2, 3, S.dim))
    bad = good.clone()
    bad[1, 4] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        render(bad)
    with pytest.raises(ValueError, match="between 16 and 1024"):
        render(good, size=8)
    with pytest.raises(ValueError, match="between 16 and 1024"):
        render(good, size=4096)  # refused before allocating gigabytes
    with pytest.raises(ValueError, match="3 rows but there are 2 faces"):
        render(good, scene=Scene.neutral(3))
    with pytest.raises(ValueError, match="scene must be"):
        render(good, scene="sunny")
    with pytest.raises(KeyError, match="unknown SynthFaces identity 'zed'"):
        sf.render_one("zed", size=64)
    with pytest.raises(KeyError, match="ada"):  # the message lists the valid names
        sf.catalogue_identity("zed")
    with pytest.raises(UnknownAttributeError, match="did you mean smile"):
        sf.render_one("ada", size=64, smiel=1.0)
    with pytest.raises(AttributeRangeError, match="yaw"):
        sf.render_one("ada", size=64, yaw=90.0)
