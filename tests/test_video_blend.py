"""Blending a generated face back into its frame: masks, colour transfer, paste-back."""

from __future__ import annotations

import numpy as np
import pytest

from deepfake_lab.faces.align import align_face, template_in_crop, transform_points
from deepfake_lab.faces.blend import (
    BlendOptions,
    box_mask,
    color_transfer,
    compose,
    crop_roi,
    face_mask,
    hull_mask,
    lct,
    rct,
)
from deepfake_lab.samples import sample_path

cv2 = pytest.importorskip("cv2")
STILL = sample_path("stills/woman.jpg")


@pytest.fixture(scope="module")
def face():
    """A real frame, its landmarks (from the dlib backend) and a 64 px whole_face crop."""
    from deepfake_lab.faces import get_backend, load_image

    frame = load_image(STILL)
    backend = get_backend()
    lm = backend.landmarks(frame, backend.detect(frame)[0])
    return frame, lm, align_face(frame, lm, 64, "whole_face")


def test_hull_mask_covers_the_face_and_erosion_shrinks_it():
    lm = template_in_crop(64, "face")
    sharp = hull_mask(lm, 64, erode=0, blur=0)
    assert sharp.dtype == np.float32 and sharp.shape == (64, 64)
    centre = tuple(np.round(lm[30]).astype(int))[::-1]           # the nose tip
    assert sharp[centre] == 1.0 and sharp[0, 0] == 0.0 and sharp[-1, -1] == 0.0
    eroded = hull_mask(lm, 64, erode=0.1, blur=0)
    grown = hull_mask(lm, 64, erode=-0.1, blur=0)
    assert eroded.sum() < sharp.sum() < grown.sum()
    soft = hull_mask(lm, 64, erode=0, blur=0.2)
    assert ((soft > 0.05) & (soft < 0.95)).sum() > 100           # a feathered band
    assert abs(soft.sum() - sharp.sum()) < 0.1 * sharp.sum()     # same area, softer edge


def test_box_mask_fades_inside_the_crop():
    m = box_mask(64, erode=0.05, blur=0.1)
    assert m[32, 32] == pytest.approx(1.0)
    assert m[0].max() == 0 and m[:, -1].max() == 0


def test_rct_matches_lab_statistics_inside_the_mask():
    rng = np.random.default_rng(0)
    src = np.clip(rng.normal(90, 20, (48, 48, 3)), 0, 255).astype(np.uint8)
    tgt = np.clip(rng.normal((180, 140, 110), 12, (48, 48, 3)), 0, 255).astype(np.uint8)
    out = rct(src, tgt)
    lab = [cv2.cvtColor(x.astype(np.float32) / 255, cv2.COLOR_RGB2LAB).reshape(-1, 3)
           for x in (out, tgt)]
    np.testing.assert_allclose(lab[0].mean(0), lab[1].mean(0), atol=1.0)
    np.testing.assert_allclose(lab[0].std(0), lab[1].std(0), rtol=0.15, atol=0.5)
    # statistics come from the masked part only
    mask = np.zeros((48, 48), np.float32)
    mask[:24] = 1
    tgt2 = tgt.copy()
    tgt2[24:] = 0                                                # ignored by the mask
    assert np.abs(rct(src, tgt2, mask)[:24].astype(int) - out[:24]).mean() < 2


def test_lct_matches_mean_and_colour_covariance():
    rng = np.random.default_rng(1)
    base = rng.normal(0, 1, (4096, 3))
    src = np.clip(120 + base @ np.diag([30, 10, 5]), 0, 255).astype(np.uint8).reshape(64, 64, 3)
    mix = np.array([[20, 10, 0], [10, 25, 5], [0, 5, 15]])
    tgt = np.clip(100 + rng.normal(0, 1, (4096, 3)) @ mix, 0, 255).astype(np.uint8)
    tgt = tgt.reshape(64, 64, 3)
    out = lct(src, tgt).reshape(-1, 3).astype(float)
    t = tgt.reshape(-1, 3).astype(float)
    np.testing.assert_allclose(out.mean(0), t.mean(0), atol=1.5)
    np.testing.assert_allclose(np.cov(out.T), np.cov(t.T), atol=25)
    assert color_transfer(src, tgt, "none") is src
    with pytest.raises(ValueError, match="unknown colour transfer"):
        color_transfer(src, tgt, "xyz")


def test_pasting_the_aligned_crop_back_reproduces_the_frame(face):
    """A 'model' that returns its input must give back the frame: the geometry is exact."""
    frame, lm, aligned = face
    big = align_face(frame, lm, 256, "whole_face")               # enough pixels to compare
    mask = face_mask(big.landmarks, 256, BlendOptions(erode=0.0, blur=0.05))
    out = compose(frame, big.image, big.matrix, mask)
    x0, y0, x1, y1 = crop_roi(big.matrix, 256, frame.shape, mask)
    outside = np.ones(frame.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(out[outside], frame[outside])          # only the face region
    hull = np.zeros(frame.shape[:2], np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.round(lm).astype(np.int32)), 1)
    diff = np.abs(out.astype(int) - frame.astype(int))[hull.astype(bool)]
    assert diff.mean() < 4.0                                      # resampling blur only


def test_compose_puts_the_face_where_the_landmarks_are(face):
    frame, lm, aligned = face
    red = np.zeros_like(aligned.image)
    red[..., 0] = 255
    mask = face_mask(aligned.landmarks, 64, BlendOptions(erode=0.0, blur=0.0))
    out = compose(frame, red, aligned.matrix, mask)
    nose = tuple(np.round(lm[30]).astype(int))
    assert tuple(out[nose[1], nose[0]]) == (255, 0, 0)
    # the crop's landmarks map back onto the frame's landmarks
    back = transform_points(aligned.landmarks, np.linalg.inv(
        np.vstack([aligned.matrix, [0, 0, 1]]))[:2])
    assert np.abs(back - lm).max() < 0.01
    assert compose(frame, red, aligned.matrix, np.zeros((64, 64), np.float32)).tobytes() \
        == frame.tobytes()                                        # empty mask: unchanged


@pytest.mark.parametrize("color", ["rct", "lct"])
def test_colour_transfer_and_seamless_clone_pull_the_face_toward_the_frame(face, color):
    frame, lm, aligned = face
    blue = np.zeros_like(aligned.image)
    blue[..., 2] = 200
    blue[::2, ::2] = 120                                         # some texture
    mask = face_mask(aligned.landmarks, 64, BlendOptions())
    plain = compose(frame, blue, aligned.matrix, mask)
    matched = compose(frame, blue, aligned.matrix, mask, original=aligned.image, color=color)
    seamless = compose(frame, blue, aligned.matrix, mask, original=aligned.image, color=color,
                       seamless=True)
    hull = np.zeros(frame.shape[:2], np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.round(lm).astype(np.int32)), 1)
    inside = hull.astype(bool)

    def err(x):
        return np.abs(x[inside].astype(float).mean(0) - frame[inside].astype(float).mean(0)).sum()

    assert err(matched) < 0.3 * err(plain)
    assert err(seamless) < 0.3 * err(plain)
    with pytest.raises(ValueError, match="original aligned crop"):
        compose(frame, blue, aligned.matrix, mask, color=color)


def test_compose_in_place_and_off_frame_crops(face):
    frame, lm, aligned = face
    target = frame.copy()
    gen = np.full_like(aligned.image, 40)
    mask = face_mask(aligned.landmarks, 64, BlendOptions())
    assert compose(target, gen, aligned.matrix, mask, out=target) is target
    assert not np.array_equal(target, frame)
    far = aligned.matrix.copy()
    far[:, 2] += 5000                                             # the crop is off the frame
    assert np.array_equal(compose(frame, gen, far, mask), frame)


@pytest.mark.parametrize("kwargs, message", [
    ({"mask": "oval"}, "mask must be"), ({"color": "hist"}, "color must be"),
    ({"erode": 0.7}, "erode must be"), ({"blur": -0.1}, "blur must be"),
])
def test_blend_options_are_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BlendOptions(**kwargs)
