"""Real-face geometry and I/O that need no face library: alignment, pose conventions,
smoothing, media loading of bad and unusual files, and the faceset writer."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

from deepfake_lab.attributes import EXPRESSION, POSE
from deepfake_lab.data.facesets import Faceset, FacesetWriter
from deepfake_lab.faces.align import (
    ALIGN_POINTS,
    MIRROR_68,
    TEMPLATE_68,
    align_face,
    alignment_matrix,
    invert_affine,
    paste_back,
    template_in_crop,
    transform_points,
    umeyama,
)
from deepfake_lab.faces.errors import FaceError, FacesetError, MediaError
from deepfake_lab.faces.estimate import (
    MODEL_3D,
    _ray_rotation,
    estimate_attributes,
    estimate_expression,
    estimate_pose,
    rotation_to_pose,
)
from deepfake_lab.faces.media import list_media, load_image, media_kind
from deepfake_lab.faces.smoothing import OneEuroFilter

cv2 = pytest.importorskip("cv2")


# ---- alignment --------------------------------------------------------------------------
def _similarity(angle_deg: float, scale: float, tx: float, ty: float) -> np.ndarray:
    a = math.radians(angle_deg)
    return np.array([[scale * math.cos(a), -scale * math.sin(a), tx],
                     [scale * math.sin(a), scale * math.cos(a), ty]])


def test_umeyama_recovers_a_known_similarity():
    src = np.random.default_rng(0).normal(size=(30, 2)) * 40
    m = _similarity(23.0, 1.7, 12.0, -5.0)
    assert np.allclose(umeyama(src, transform_points(src, m)), m, atol=1e-9)


def test_template_is_symmetric_and_mirror_is_an_involution():
    assert sorted(MIRROR_68) == list(range(68))
    assert np.array_equal(MIRROR_68[MIRROR_68], np.arange(68))
    mirrored = TEMPLATE_68[MIRROR_68] * [-1, 1] + [1, 0]
    assert np.allclose(mirrored, TEMPLATE_68, atol=1e-3)


@pytest.mark.parametrize("kind", ["face", "whole_face"])
@pytest.mark.parametrize("size", [64, 128, 256])
def test_alignment_puts_the_landmarks_on_the_template(kind, size):
    m = _similarity(-17.0, 3.1, 240.0, 130.0)
    frame_lm = transform_points(template_in_crop(size, kind), invert_affine(m))
    got = transform_points(frame_lm, alignment_matrix(frame_lm, size, kind))
    assert np.allclose(got[ALIGN_POINTS], template_in_crop(size, kind)[ALIGN_POINTS], atol=1e-6)
    # the whole-face crop shows more around the face than the face crop
    box = template_in_crop(size, kind)
    assert box.min() > 0 and box.max() < size


def test_inverse_transform_pastes_back_where_the_crop_came_from():
    rng = np.random.default_rng(1)
    frame = (rng.random((300, 400, 3)) * 255).astype(np.uint8)
    frame = cv2.GaussianBlur(frame, (0, 0), 3)
    lm = transform_points(TEMPLATE_68 * 150, _similarity(12.0, 1.0, 140.0, 60.0))
    aligned = align_face(frame, lm, 256, "face")
    assert aligned.image.shape == (256, 256, 3)
    assert np.allclose(transform_points(aligned.landmarks, aligned.inverse), lm, atol=1e-3)
    back = paste_back(frame, aligned.image, aligned.matrix, feather=0.1)
    centre = transform_points(np.array([[128.0, 128.0]]), aligned.inverse)[0].astype(int)
    x, y = centre
    patch = np.abs(back[y - 20:y + 20, x - 20:x + 20].astype(int)
                   - frame[y - 20:y + 20, x - 20:x + 20].astype(int))
    assert patch.mean() < 3.0  # resampled twice, otherwise identical
    far = back[:10, -10:] == frame[:10, -10:]
    assert far.all()  # outside the crop nothing changes


def test_align_rejects_bad_arguments():
    with pytest.raises(ValueError, match="68, 2"):
        alignment_matrix(np.zeros((5, 2)), 128)
    with pytest.raises(ValueError, match="unknown crop kind"):
        template_in_crop(128, "torso")


# ---- pose conventions -------------------------------------------------------------------
def _synth_rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """SynthFaces' head->camera rotation R = Rz Rx Ry (y up, z to camera), in OpenCV axes."""
    y, p, r = map(math.radians, (yaw, pitch, roll))
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(p), math.sin(p)], [0, -math.sin(p), math.cos(p)]])
    rz = np.array([[math.cos(r), math.sin(r), 0], [-math.sin(r), math.cos(r), 0], [0, 0, 1]])
    c = np.diag([1.0, -1.0, -1.0])
    return c @ (rz @ rx @ ry) @ c


@pytest.mark.parametrize("angles", [(0, 0, 0), (30, 0, 0), (-25, 10, 5), (10, -20, -15),
                                    (45, 15, 20), (-50, -10, 30)])
def test_rotation_to_pose_inverts_the_renderers_rotation(angles):
    pose = rotation_to_pose(_synth_rotation(*angles))
    assert np.allclose((pose.yaw, pose.pitch, pose.roll), angles, atol=1e-6)


def _project(angles, size=(480, 640), f=640.0, distance=600.0, offset=(0.0, 0.0)):
    """68 landmarks of the model posed by ``angles`` *relative to its viewing ray*."""
    h, w = size
    t = np.array([offset[0], offset[1], distance])
    cam = MODEL_3D @ (_ray_rotation(t) @ _synth_rotation(*angles)).T + t
    return np.column_stack([f * cam[:, 0] / cam[:, 2] + w / 2, f * cam[:, 1] / cam[:, 2] + h / 2])


@pytest.mark.parametrize("angles", [(0, 0, 0), (30, 0, 0), (-20, 15, 10), (15, -25, -20)])
def test_solvepnp_recovers_the_pose_of_a_projected_model(angles):
    pose = estimate_pose(_project(angles), (480, 640))
    assert np.allclose((pose.yaw, pose.pitch, pose.roll), angles, atol=0.5)


def test_projected_model_moves_the_way_the_schema_says():
    frontal = _project((0, 0, 0))
    nose = 30
    assert _project((30, 0, 0))[nose, 0] > frontal[nose, 0]  # +yaw: nose to image right
    assert _project((0, 20, 0))[nose, 1] < frontal[nose, 1]  # +pitch: looks up
    top = frontal[[19, 24]].mean(0)  # brows move right when the head tilts clockwise
    assert _project((0, 0, 20))[[19, 24]].mean(0)[0] > top[0]


@pytest.mark.parametrize("angles", [(0, 0, 0), (20, -10, 5)])
def test_pose_is_measured_relative_to_the_viewing_ray(angles):
    """A face at the side of a wide frame that looks at the camera reads as frontal."""
    pose = estimate_pose(_project(angles, offset=(250.0, -120.0)), (480, 640))
    assert np.allclose((pose.yaw, pose.pitch, pose.roll), angles, atol=0.5)


def test_estimates_are_in_schema_ranges_and_order():
    lm = _project((80, 60, -70))  # beyond every range: must be clipped
    attrs = estimate_attributes(lm, (480, 640))
    assert list(attrs) == [a.name for a in POSE + EXPRESSION]
    for a in POSE + EXPRESSION:
        assert a.low <= attrs[a.name] <= a.high


def test_expression_reacts_to_an_open_mouth_and_raised_brows():
    lm = TEMPLATE_68 * 200 + 50
    base = estimate_expression(lm)
    opened = lm.copy()
    opened[[65, 66, 67, 56, 57, 58, 7, 8, 9]] += [0, 40]  # drop the jaw
    raised = lm.copy()
    raised[17:27] -= [0, 15]
    assert estimate_expression(opened)["mouth_open"] > base["mouth_open"] + 0.3
    assert estimate_expression(raised)["brow_raise"] > base["brow_raise"] + 0.3


# ---- smoothing -------------------------------------------------------------------------
def test_one_euro_filter_removes_jitter_but_follows_motion():
    rng = np.random.default_rng(0)
    t = np.arange(200) / 30.0
    still = 5 + rng.normal(0, 1, 200)
    f = OneEuroFilter(min_cutoff=1.0, beta=0.05)
    out = np.array([f(x, ti) for x, ti in zip(still, t, strict=True)])
    assert out[50:].std() < 0.5 * still[50:].std()
    f.reset()
    ramp = 100 * t  # fast steady motion: lag stays small
    out = np.array([f(x, ti) for x, ti in zip(ramp, t, strict=True)])
    assert abs(out[-1] - ramp[-1]) < 5.0
    with pytest.raises(ValueError):
        OneEuroFilter(min_cutoff=0)


# ---- media -----------------------------------------------------------------------------
def test_unreadable_files_raise_media_error_with_the_path(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("this is not an image")
    good = tmp_path / "good.jpg"
    Image.new("RGB", (64, 48), (200, 100, 50)).save(good, quality=95)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    for path in (empty, text, truncated, tmp_path / "missing.jpg"):
        with pytest.raises(MediaError) as err:
            load_image(path)
        assert str(path) in str(err.value) and isinstance(err.value, FaceError)
    with pytest.raises(MediaError, match="unsupported file type"):
        media_kind(tmp_path / "x.pdf")


def test_unusual_image_modes_become_uint8_rgb(tmp_path):
    grey = np.tile(np.arange(256, dtype=np.uint8), (20, 1))
    Image.fromarray(grey).save(tmp_path / "grey.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "deep.png")  # 16-bit
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:, :15, 3] = 255  # left half opaque red, right half transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    Image.fromarray(grey).convert("P").save(tmp_path / "palette.gif")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    for name in ("grey.png", "deep.png", "alpha.png", "palette.gif"):
        img = load_image(tmp_path / name)
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3, name
    assert np.abs(load_image(tmp_path / "deep.png")[0, :, 0].astype(int) - grey[0]).max() <= 1
    alpha = load_image(tmp_path / "alpha.png")
    assert tuple(alpha[0, 0]) == (255, 0, 0) and tuple(alpha[0, -1]) == (255, 255, 255)


def test_list_media_walks_folders_and_rejects_empty_ones(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.jpg").write_bytes(b"1")
    (tmp_path / "b.mov").write_bytes(b"1")
    (tmp_path / "readme.txt").write_text("skip me")
    assert [p.name for p in list_media(tmp_path)] == ["x.jpg", "b.mov"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(MediaError, match="no image or video"):
        list_media(tmp_path / "empty")


# ---- faceset writer / reader -------------------------------------------------------------
def _record(i: int) -> dict:
    return {"file": f"crops/s-{i:06d}.jpg", "source": "s.mp4", "frame": i, "time": i / 25,
            "box": [0, 0, 10, 10], "landmarks": [[0.0, 0.0]] * 68, "matrix": [[1, 0, 0]] * 2,
            "pose": {a.name: 0.0 for a in POSE},
            "expression": {a.name: a.default for a in EXPRESSION}, "embedding": [0.1] * 128}


def _write_source(w: FacesetWriter, sha: str, n: int) -> None:
    w.begin_source({"path": f"{sha}.mp4", "sha256": sha})
    for i in range(n):
        rec = _record(i) | {"file": f"crops/{sha}-{i:06d}.jpg"}
        w.add(rec, np.full((64, 64, 3), i, np.uint8))
    w.end_source({"frames": n, "faces": n, "no_face": 0, "no_match": 0})


def test_faceset_writer_is_atomic_resumable_and_extendable(tmp_path):
    out = tmp_path / "fs"
    params = {"size": 64, "crop": "face"}
    w = FacesetWriter(out, params)
    _write_source(w, "aaa", 3)
    w.begin_source({"path": "b.mp4", "sha256": "bbb"})
    w.add(_record(0) | {"file": "crops/bbb-000000.jpg"}, np.zeros((64, 64, 3), np.uint8))
    # ... the process dies here: nothing at `out`, the work so far is staged
    assert not out.exists()
    w2 = FacesetWriter(out, params)
    assert w2.resumed and w2.is_done("aaa") and not w2.is_done("bbb")
    _write_source(w2, "bbb", 2)
    w2.commit({"note": "test"})
    fs = Faceset(out)
    assert len(fs) == 5 and fs.image(4).shape == (64, 64, 3)
    assert fs.attribute_matrix().shape == (5, 7) and fs.embeddings().shape == (5, 128)
    assert json.loads((out / "faceset.json").read_text())["counts"]["faces"] == 5
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())
    # extend with a third source; the first two stay
    w3 = FacesetWriter(out, params)
    assert w3.is_done("aaa") and w3.is_done("bbb")
    _write_source(w3, "ccc", 1)
    w3.commit({})
    assert len(Faceset(out)) == 6
    # other parameters: refused, unless overwriting
    with pytest.raises(FacesetError, match="size"):
        FacesetWriter(out, {"size": 128, "crop": "face"})
    w4 = FacesetWriter(out, {"size": 128, "crop": "face"}, overwrite=True)
    assert not w4.is_done("aaa")
    w4.discard()
    assert len(Faceset(out)) == 6


def test_faceset_reader_rejects_non_facesets(tmp_path):
    with pytest.raises(FacesetError, match="no such"):
        Faceset(tmp_path / "nope")
    (tmp_path / "plain").mkdir()
    with pytest.raises(FacesetError, match="not a faceset"):
        Faceset(tmp_path / "plain")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x.txt").write_text("x")
    with pytest.raises(FacesetError, match="not empty"):
        FacesetWriter(tmp_path / "busy", {})


def test_importing_the_face_package_loads_no_face_library():
    import subprocess
    import sys

    code = ("import sys, deepfake_lab.faces, deepfake_lab.faces.cli; "
            "print('dlib' in sys.modules, 'cv2' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]


def test_unknown_backend_is_a_clear_error():
    from deepfake_lab.faces import get_backend

    with pytest.raises(ValueError, match="unknown face backend 'nope'.*dlib"):
        get_backend("nope")


def test_landmark_smoother_steadies_a_jittering_face_far_from_the_origin():
    """Jitter in, less jitter out - also 300 px from the image origin, where a face size
    re-measured on every frame would scale the coordinates and add motion of its own."""
    from deepfake_lab.faces.align import template_in_crop
    from deepfake_lab.faces.smoothing import LandmarkSmoother

    rng = np.random.default_rng(0)
    base = template_in_crop(128) + 300.0                     # a still face at (300+, 300+)
    frames = [base + rng.normal(0, 1.0, base.shape) for _ in range(60)]
    smoother = LandmarkSmoother()
    out = [smoother(f, t / 25) for t, f in enumerate(frames)]
    def motion(seq: list) -> float:
        return float(np.abs(np.diff(np.stack(seq), axis=0)).mean())

    assert motion(out[10:]) < 0.5 * motion(frames[10:])
    smoother.reset()
    assert smoother.scale is None and np.allclose(smoother(frames[0], 0.0), frames[0], atol=1e-3)
