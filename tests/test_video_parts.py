"""The video pipeline's parts on their own: keyframe paths, identities, the tracker and its
smoothing, the flicker metric (and that smoothing lowers it), reader and writer details."""

from __future__ import annotations

import subprocess

import imageio_ffmpeg
import numpy as np
import pytest
import torch

from deepfake_lab.attributes import SYNTHFACES_SCHEMA as SCHEMA
from deepfake_lab.attributes import (
    AttributeRangeError,
    UnknownAttributeError,
    learned_identity_schema,
)
from deepfake_lab.checkpoints import save_checkpoint
from deepfake_lab.data.synthfaces import identity_vector
from deepfake_lab.faces.media import iter_video
from deepfake_lab.models import TwoDecoder, TwoDecoderConfig
from deepfake_lab.samples import sample_path
from deepfake_lab.video import (
    FaceTracker,
    RenderOptions,
    UnknownIdentityError,
    face_region,
    measure_flicker,
    parse_path,
    plan,
    resolve_identity,
    swap_video,
)
from deepfake_lab.video.identity import default_identity
from deepfake_lab.video.writer import EncodeError, VideoWriter

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
MAN = sample_path("clips/man.mp4")


@pytest.fixture(scope="module")
def backend():
    from deepfake_lab.faces import get_backend

    return get_backend()


@pytest.fixture(scope="module")
def man_frames() -> list[np.ndarray]:
    return [f.copy() for i, f in iter_video(MAN) if i < 24]


# ---- keyframes ---------------------------------------------------------------------------
def test_path_interpolates_each_attribute_over_the_clip():
    path = parse_path("yaw:-30..30, smile:0..1..0", SCHEMA)
    frames = path.frames(5, base={"pitch": 10.0})
    assert [f["yaw"] for f in frames] == [-30, -15, 0, 15, 30]
    assert [f["smile"] for f in frames] == [0, 0.5, 1, 0.5, 0]
    assert all(f["pitch"] == 10.0 for f in frames)
    smooth = parse_path("yaw:0..40", SCHEMA, ease="smooth")
    assert smooth.at(0.25)["yaw"] < 10 and smooth.at(0.5)["yaw"] == pytest.approx(20)
    assert parse_path("skin_tone:0..1", SCHEMA).at(1.0) == {"skin_tone": 1.0}
    assert path.frames(1)[0]["yaw"] == -30


@pytest.mark.parametrize("text, error, message", [
    ("yaww:0..1", UnknownAttributeError, "did you mean yaw"),
    ("smile:0..3", AttributeRangeError, r"outside its range \[-1, 1\]"),
    ("yaw", ValueError, "is not NAME:V0..V1"),
    ("yaw:0..x", ValueError, "'x' is not a number"),
    ("yaw:0..1,yaw:1..2", ValueError, "twice"),
    ("", ValueError, "empty --path"),
])
def test_path_errors_name_the_problem(text, error, message):
    with pytest.raises(error, match=message):
        parse_path(text, SCHEMA)


# ---- identities ---------------------------------------------------------------------------
def test_identities_follow_the_schema_kind():
    assert torch.equal(resolve_identity(SCHEMA, "ada"), identity_vector("ada"))
    assert torch.equal(resolve_identity(SCHEMA, "42"), identity_vector(42))
    assert torch.equal(default_identity(SCHEMA), torch.zeros(len(SCHEMA.identity)))
    learned = learned_identity_schema(["woman", "man"])
    one_hot = learned.denormalize(resolve_identity(learned, "man"), "identity")
    assert one_hot.tolist() == [0.0, 1.0]
    with pytest.raises(UnknownIdentityError, match="knows woman, man"):
        resolve_identity(learned, "ada")
    with pytest.raises(UnknownIdentityError, match="choose one of"):
        resolve_identity(SCHEMA, "nobody")


# ---- the tracker ----------------------------------------------------------------------------
def test_tracker_detects_every_k_frames_and_smoothing_steadies_landmarks(backend, man_frames):
    speeds = {}
    for smooth in (False, True):
        tracker = FaceTracker(backend, detect_every=4, smooth=smooth)
        faces = [tracker(f, i / 30) for i, f in enumerate(man_frames)]
        assert all(face is not None for face in faces)
        assert tracker.stats["full_detections"] == 1
        assert tracker.stats["window_detections"] == 5                # frames 4, 8, ... 20
        assert sum(f.detected for f in faces) == 6
        for f in faces:
            assert set(f.attributes) == {a.name for a in SCHEMA.pose + SCHEMA.expression}
            assert all(SCHEMA[k].low <= v <= SCHEMA[k].high for k, v in f.attributes.items())
        lm = np.stack([f.landmarks for f in faces])
        speeds[smooth] = float(np.abs(np.diff(lm, axis=0)).mean())
    assert speeds[True] < 0.8 * speeds[False]                          # px per frame


def test_tracker_loses_a_face_that_leaves_and_finds_it_again(backend, man_frames):
    blank = np.full_like(man_frames[0], 120)
    tracker = FaceTracker(backend, detect_every=10, attributes=False)
    seq = man_frames[:3] + [blank, blank] + man_frames[3:6]
    found = [tracker(f, i / 30) is not None for i, f in enumerate(seq)]
    assert found == [True, True, True, False, False, True, True, True]
    assert tracker.stats["appearance_changes"] >= 1 and tracker.stats["lost"] == 1


# ---- flicker ----------------------------------------------------------------------------------
def test_flicker_metric_on_known_changes():
    rng = np.random.default_rng(0)
    frames = [np.clip(100 + 3 * t + rng.normal(0, 1, (40, 40, 3)), 0, 255).astype(np.uint8)
              for t in range(6)]
    region = np.zeros((40, 40), bool)
    region[10:30, 10:30] = True
    same = measure_flicker(frames, frames, [region] * 6)
    assert same.ratio == pytest.approx(1.0) and same.pairs == 5
    shaky = [np.clip(f.astype(int) + (10 if t % 2 else -10), 0, 255).astype(np.uint8)
             for t, f in enumerate(frames)]
    assert measure_flicker(frames, shaky, [region] * 6).ratio > 3
    gaps = measure_flicker(frames, frames, [region, None, region, region, None, region])
    assert gaps.pairs == 1
    with pytest.raises(ValueError, match="nothing to measure"):
        measure_flicker(frames[:2], frames[:2], [region, None])
    lm = np.array([[10, 10], [30, 10], [30, 30], [10, 30]] * 17, float)[:68]
    r = face_region(lm, (40, 40), grow=0.0)
    assert r[20, 20] and not r[2, 2]


def test_smoothing_lowers_the_flicker_of_a_swap(backend, man_frames, tmp_path):
    """The demonstration: same clip, same untrained model, same face regions."""
    torch.manual_seed(0)
    cfg = TwoDecoderConfig(people=("ada", "boris"))
    save_checkpoint(tmp_path / "pair" / "model", TwoDecoder(cfg).state_dict(),
                    {"kind": "model", "architecture": "two-decoder", "model": cfg.to_dict(),
                     "schema": SCHEMA.to_json()})
    raw = FaceTracker(backend, smooth=False, attributes=False)
    regions = [face_region(raw(f, i / 30).landmarks, f.shape) for i, f in enumerate(man_frames)]
    results = {}
    for smooth in (False, True):
        ins, outs = [], []

        def keep(i, before, after, face, ins=ins, outs=outs):
            ins.append(before)
            outs.append(after.copy())

        swap_video(MAN, tmp_path / f"s{smooth}.mp4", str(tmp_path / "pair"), to="boris",
                   options=RenderOptions(progress=False, smooth=smooth, max_seconds=0.8,
                                         label=False, watermark=False),
                   backend=backend, on_frame=keep)
        results[smooth] = measure_flicker(ins, outs, regions)
    assert results[True].input_change == results[False].input_change
    assert results[True].ratio < 0.95 * results[False].ratio


# ---- reader and writer ---------------------------------------------------------------------------
def test_writer_pads_odd_sizes_and_keeps_the_frame_rate(tmp_path):
    frames = [np.full((101, 151, 3), v, np.uint8) for v in (10, 120, 240)]
    out = tmp_path / "odd.mp4"
    with VideoWriter(out, 151, 101, 12.5) as w:
        for f in frames:
            w.write(f)
    src = plan(out)
    assert (src.width, src.height) == (152, 102) and src.fps == pytest.approx(12.5)
    got = [f for _, f in iter_video(out)]
    assert len(got) == 3 and abs(int(got[1][50, 75, 0]) - 120) <= 3
    with pytest.raises(ValueError, match="frame must be uint8"):
        with VideoWriter(tmp_path / "bad.mp4", 16, 16, 10) as w:
            w.write(np.zeros((8, 8, 3), np.uint8))
    assert not (tmp_path / "bad.mp4").exists()
    with pytest.raises(EncodeError, match="no frames were written"):
        with VideoWriter(tmp_path / "none.mp4", 16, 16, 10):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd.mp4"]


def test_ffmpeg_failures_surface_as_encode_errors(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not media")
    with pytest.raises(EncodeError, match="encoding failed"):
        with VideoWriter(tmp_path / "x.mp4", 16, 16, 10, audio_from=notes,
                         audio_codec="aac") as w:
            for _ in range(30):
                w.write(np.zeros((16, 16, 3), np.uint8))
    assert list(tmp_path.iterdir()) == [notes]


def test_audio_only_and_odd_inputs_are_told_apart(tmp_path):
    audio = tmp_path / "a.m4a"
    subprocess.run([FFMPEG, "-y", "-v", "error", "-f", "lavfi", "-i",
                    "sine=frequency=200:duration=0.5", str(audio)], check=True)
    from deepfake_lab.faces.errors import MediaError

    with pytest.raises(MediaError, match="audio only"):
        plan(audio)
    with pytest.raises(MediaError, match="not a file"):
        plan(tmp_path)
