"""The video pipeline end to end: every strategy, paste-back fidelity, audio, containers,
limits and bad input, atomic output, animation and the ``swap`` / ``animate`` commands.

Models are untrained (built in a temporary directory, 64 px like the bundled ones); clips
are a few frames cut from the bundled ones with the ffmpeg that imageio-ffmpeg ships.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from types import SimpleNamespace

import imageio_ffmpeg
import numpy as np
import pytest
from conftest import save_untrained_models

from deepfake_lab.attributes import SYNTHFACES_SCHEMA as SCHEMA
from deepfake_lab.checkpoints import CheckpointError
from deepfake_lab.cli import main
from deepfake_lab.data.synthfaces import identity_vector
from deepfake_lab.faces.errors import MediaError, NoFaceError
from deepfake_lab.faces.media import iter_video
from deepfake_lab.provenance import verify_video
from deepfake_lab.registry import load_model
from deepfake_lab.samples import sample_path
from deepfake_lab.video import (
    STAGES,
    RenderOptions,
    Strategy,
    UnknownIdentityError,
    animate_video,
    make_strategy,
    plan,
    swap_video,
)
from deepfake_lab.video.reader import FrameReader

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
WOMAN = sample_path("clips/woman.mp4")
MAN = sample_path("clips/man.mp4")
QUIET = RenderOptions(progress=False)


def ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-y", "-v", "error", *args], check=True)


def streams(path: Path) -> str:
    """ffmpeg's description of a file's streams (its stderr when given no output)."""
    return subprocess.run([FFMPEG, "-hide_banner", "-i", str(path)], capture_output=True,
                          text=True).stderr


def frames_of(path: Path) -> list[np.ndarray]:
    return [f.copy() for _, f in iter_video(path)]


def write_frames(path: Path, frames: list[np.ndarray], fps: float = 24.0) -> Path:
    from deepfake_lab.video.writer import VideoWriter

    h, w = frames[0].shape[:2]
    with VideoWriter(path, w, h, fps, crf=18, preset="ultrafast") as writer:
        for f in frames:
            writer.write(f)
    return path


# --------------------------------------------------------------------------------------
# Fixtures: three untrained models, a face backend, short clips
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def models(tmp_path_factory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("video-models")
    save_untrained_models(root, cgan=True)
    return SimpleNamespace(root=root, **{k: load_model(root / k) for k in ("cvae", "pair",
                                                                           "cgan")})


@pytest.fixture(scope="module")
def backend():
    from deepfake_lab.faces import get_backend

    return get_backend()


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> SimpleNamespace:
    d = tmp_path_factory.mktemp("clips")
    c = SimpleNamespace(dir=d)
    c.short = d / "short.mp4"  # 8 frames of the woman, 640x360, 23.98 fps
    ffmpeg("-i", str(WOMAN), "-frames:v", "8", "-c:v", "libx264", "-preset", "ultrafast",
           "-crf", "16", "-pix_fmt", "yuv420p", str(c.short))
    c.frames = frames_of(c.short)
    return c


def _options(**kw) -> RenderOptions:
    return RenderOptions(progress=False, **kw)


# --------------------------------------------------------------------------------------
# Every strategy, end to end
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("arch, strategy, expected", [
    ("pair", "auto", "swap to boris (two-decoder)"),
    ("cvae", "auto", "conditional swap to boris (cvae)"),
    ("cvae", "reenact", "reenact boris (cvae, z=first)"),
    ("cgan", "auto", "reenact boris (cgan, z=first)"),
    ("cgan", "conditional", "conditional swap to boris (cgan)"),
])
def test_every_strategy_writes_a_marked_browser_ready_clip(models, clips, backend, tmp_path,
                                                           arch, strategy, expected):
    out = tmp_path / "out.mp4"
    report = swap_video(clips.short, out, getattr(models, arch), to="boris",
                        strategy=strategy, options=QUIET, backend=backend)
    assert report.strategy == expected
    assert (report.frames, report.faces, report.no_face) == (8, 8, 0)
    assert set(STAGES) <= set(report.stage_ms) and report.render_fps > 0
    info = streams(out)
    assert "Video: h264" in info and "yuv420p" in info and "640x360" in info
    assert "23.98 fps" in info and "Audio" not in info
    written = frames_of(out)
    assert len(written) == 8
    changed = np.abs(written[4].astype(int) - clips.frames[4]).mean(-1) > 20
    assert 0.01 < changed.mean() < 0.4                            # the face, not the frame
    checked = verify_video(out)
    assert checked["label"] and checked["watermark"] and checked["matches_metadata"]
    assert checked["metadata"]["strategy"] == expected


class Mirror(Strategy):
    """A perfect 'model' that returns the face it was given: paste-back must be lossless."""

    name = "mirror"
    needs_attributes = False

    def __call__(self, crops, attributes):
        return crops


def test_paste_back_of_an_unchanged_face_reproduces_the_clip(models, clips, backend,
                                                             tmp_path):
    from deepfake_lab.faces.blend import BlendOptions

    out = tmp_path / "mirror.mp4"
    opts = _options(crop="face", blend=BlendOptions(color="none"), label=False,
                    watermark=False, crf=12)
    model = models.cvae
    model.config["model"]["size"] = 256  # the mirror crops at 256 px: enough to compare
    try:
        swap_video(clips.short, out, model, strategy=Mirror(model), options=opts,
                   backend=backend)
    finally:
        model.config["model"]["size"] = 64
    for a, b in zip(frames_of(out), clips.frames, strict=True):
        mse = np.mean((a.astype(float) - b) ** 2)
        assert 10 * np.log10(255 ** 2 / mse) > 38


def test_audio_is_copied_and_fps_kept(models, clips, backend, tmp_path):
    src = clips.dir / "with_audio.mp4"
    ffmpeg("-i", str(clips.short), "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
           "-c:v", "copy", "-c:a", "aac", "-shortest", str(src))
    out = tmp_path / "out.mp4"
    report = swap_video(src, out, models.pair, to="ada", options=QUIET, backend=backend)
    assert report.audio
    info = streams(out)
    assert "Audio: aac" in info and "23.98 fps" in info
    silent = swap_video(src, tmp_path / "silent.mp4", models.pair, to="ada",
                        options=_options(audio=False), backend=backend)
    assert not silent.audio and "Audio" not in streams(tmp_path / "silent.mp4")


# --------------------------------------------------------------------------------------
# Faces: none, some, many
# --------------------------------------------------------------------------------------
def test_frames_without_a_face_pass_through_and_are_counted(models, clips, backend,
                                                            tmp_path):
    blank = [np.full_like(clips.frames[0], 90) for _ in range(3)]
    src = write_frames(clips.dir / "gaps.mp4", clips.frames[:3] + blank + clips.frames[3:6])
    out = tmp_path / "out.mp4"
    report = swap_video(src, out, models.cvae, to="boris",
                        options=_options(label=False, watermark=False), backend=backend)
    assert (report.frames, report.faces, report.no_face) == (9, 6, 3)
    assert any("3 frame(s) without a face" in n for n in report.notices)
    assert report.tracking["full_detections"] >= 4                 # re-detected after loss
    written, original = frames_of(out), frames_of(src)
    for k in (3, 4, 5):                                            # passed through
        assert np.abs(written[k].astype(int) - original[k]).max() <= 3


def test_a_clip_without_any_face_raises_and_writes_nothing(models, backend, tmp_path):
    src = tmp_path / "noface.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10", "-frames:v", "4",
           "-pix_fmt", "yuv420p", str(src))
    out = tmp_path / "out.mp4"
    with pytest.raises(NoFaceError, match="no face found in any of the 4 frame"):
        swap_video(src, out, models.cvae, to="boris", options=QUIET, backend=backend)
    assert not out.exists() and not list(tmp_path.glob(".out.mp4*"))


def test_many_faces_the_largest_is_swapped_with_a_notice(models, clips, backend, tmp_path):
    import cv2

    crowd = []
    for f in clips.frames[:3]:
        half = f[:, 300:620]                                       # the face, full size
        small = cv2.resize(half, (192, 216), interpolation=cv2.INTER_AREA)
        canvas = np.full_like(f, 40)
        canvas[:, :320] = half
        canvas[72:288, 384:576] = small                            # the same face, 60 %
        crowd.append(canvas)
    src = write_frames(clips.dir / "crowd.mp4", crowd)
    report = swap_video(src, tmp_path / "out.mp4", models.pair, to="boris", options=QUIET,
                        backend=backend)
    assert report.faces == 3 and report.several_faces >= 1
    assert any("largest one was swapped" in n for n in report.notices)
    written, original = frames_of(tmp_path / "out.mp4")[1], frames_of(src)[1]
    diff = np.abs(written.astype(int) - original).mean(-1) > 20
    assert diff[:, :320].mean() > 0.05 and diff[:270, 320:].mean() < 0.01   # the big one


# --------------------------------------------------------------------------------------
# Limits and bad input
# --------------------------------------------------------------------------------------
def test_4k_frames_are_downscaled_with_a_notice(models, clips, backend, tmp_path):
    src = clips.dir / "uhd.mp4"
    ffmpeg("-i", str(clips.short), "-frames:v", "2", "-vf", "scale=3840:2160", "-c:v",
           "libx264", "-preset", "ultrafast", str(src))
    source = plan(src)
    assert (source.width, source.height) == (1920, 1080) and source.scaled
    out = tmp_path / "out.mp4"
    report = swap_video(src, out, models.pair, to="ada", options=_options(max_side=960),
                        backend=backend)
    assert (report.width, report.height) == (960, 540) and report.faces == 2
    assert any("3840x2160" in n and "960x540" in n for n in report.notices)
    assert "960x540" in streams(out)


def test_long_clips_are_trimmed_with_a_notice_or_refused(models, clips, backend, tmp_path):
    out = tmp_path / "out.mp4"
    report = swap_video(clips.short, out, models.pair, to="ada",
                        options=_options(max_seconds=0.2), backend=backend)
    assert report.frames == 4 and len(frames_of(out)) == 4
    assert any("only the first 0.2 s (4 frames)" in n for n in report.notices)
    with pytest.raises(MediaError, match="over the limit of 0.2 s"):
        plan(clips.short, max_seconds=0.2, trim=False)


@pytest.fixture(scope="module")
def bad_files(clips) -> dict[str, Path]:
    d = clips.dir
    files = {"missing": d / "nope.mp4", "empty": d / "empty.mp4", "text": d / "notes.mp4",
             "audio": d / "voice.mp4", "cut_index": d / "cut_index.mp4"}
    files["empty"].write_bytes(b"")
    files["text"].write_text("this is not a video\n" * 20)
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:duration=1", "-c:a", "aac",
           str(files["audio"]))
    # an mp4 with its index at the end, cut in half: the index is gone
    tail = d / "tail_index.mp4"
    ffmpeg("-i", str(clips.short), "-c", "copy", "-movflags", "-faststart", str(tail))
    files["cut_index"].write_bytes(tail.read_bytes()[: tail.stat().st_size // 2])
    return files


@pytest.mark.parametrize("name, message", [
    ("missing", "no such file"), ("empty", r"empty \(0 bytes\)"),
    ("text", "not a video|moov atom"), ("audio", "audio only, no video stream"),
    ("cut_index", "moov atom"),
])
def test_bad_media_fails_with_a_specific_message(models, bad_files, backend, tmp_path,
                                                 name, message):
    out = tmp_path / "out.mp4"
    with pytest.raises(MediaError, match=message):
        swap_video(bad_files[name], out, models.pair, to="ada", options=QUIET,
                   backend=backend)
    assert not out.exists()


def test_a_truncated_stream_renders_what_is_there_with_a_notice(models, clips, backend,
                                                                tmp_path):
    whole = clips.dir / "long.mp4"  # 24 frames, index first, cut at 40 %
    ffmpeg("-i", str(WOMAN), "-frames:v", "24", "-c:v", "libx264", "-preset", "ultrafast",
           "-g", "4", "-movflags", "+faststart", str(whole))
    cut = clips.dir / "truncated.mp4"
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.4)])
    report = swap_video(cut, tmp_path / "out.mp4", models.pair, to="ada", options=QUIET,
                        backend=backend)
    assert 0 < report.frames < 20
    assert any("the stream ended after" in n for n in report.notices)


def test_other_containers_read_the_same(models, clips, backend, tmp_path):
    d = clips.dir
    webm, gif, mov = d / "c.webm", d / "c.gif", d / "c.mov"
    ffmpeg("-i", str(clips.short), "-frames:v", "3", "-vf", "scale=320:180", "-c:v",
           "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", str(webm))
    ffmpeg("-i", str(clips.short), "-frames:v", "3", "-vf", "scale=320:180", str(gif))
    ffmpeg("-i", str(clips.short), "-c", "copy", str(mov))
    for path, codec in ((webm, "vp9"), (gif, "gif"), (mov, "h264")):
        source = plan(path)
        assert source.codec == codec and (source.width, source.height) in ((320, 180),
                                                                           (640, 360))
        with FrameReader(source) as reader:
            got = list(reader)
        assert len(got) in (3, 8) and got[0][1].shape == (source.height, source.width, 3)
    report = swap_video(gif, tmp_path / "from_gif.mp4", models.pair, to="ada", options=QUIET,
                        backend=backend)
    assert report.faces == 3 and "Video: h264" in streams(tmp_path / "from_gif.mp4")


def test_unknown_identity_model_or_strategy_fail_before_any_work(models, clips, tmp_path):
    out = tmp_path / "out.mp4"
    with pytest.raises(UnknownIdentityError, match="decoder for ada, boris only"):
        swap_video(clips.short, out, models.pair, to="zoe", options=QUIET)
    with pytest.raises(UnknownIdentityError, match="choose one of ada, boris"):
        swap_video(clips.short, out, models.cvae, to="zoe", options=QUIET)
    with pytest.raises(ValueError, match="needs a two-decoder model"):
        make_strategy(models.cvae, "swap", to="ada")
    with pytest.raises(ValueError, match="unknown strategy"):
        make_strategy(models.cvae, "morph", to="ada")
    with pytest.raises(CheckpointError, match="no model"):
        swap_video(clips.short, out, str(tmp_path / "missing"), to="ada", options=QUIET)
    assert not out.exists()


class Exploding(Strategy):
    """Fails on its second batch: the render dies half-way."""

    name = "exploding"
    needs_attributes = False

    def __init__(self, model) -> None:
        super().__init__(model)
        self.calls = 0

    def __call__(self, crops, attributes):
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("the model fell over")
        return crops


def test_a_failure_mid_render_leaves_no_half_written_file(models, clips, backend, tmp_path):
    out = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="fell over"):
        swap_video(clips.short, out, models.pair, strategy=Exploding(models.pair),
                   options=_options(batch=2), backend=backend)
    assert list(tmp_path.iterdir()) == []                          # no output, no partial
    out.write_bytes(b"an older result")
    with pytest.raises(RuntimeError, match="fell over"):
        swap_video(clips.short, out, models.pair, strategy=Exploding(models.pair),
                   options=_options(batch=2), backend=backend)
    assert out.read_bytes() == b"an older result"                   # left as it was
    assert list(tmp_path.iterdir()) == [out]


# --------------------------------------------------------------------------------------
# Animation
# --------------------------------------------------------------------------------------
def test_animate_renders_keyframes_with_marks(models, tmp_path):
    out = tmp_path / "anim.mp4"
    report = animate_video(out, models.cvae, identity="ada", path="yaw:-30..30,smile:0..1",
                           seconds=0.4, fps=10, size=128, options=QUIET)
    assert (report.frames, report.width, report.fps) == (4, 128, 10)
    frames = frames_of(out)
    assert len(frames) == 4 and frames[0].shape == (128, 128, 3)
    checked = verify_video(out)
    assert checked["label"] and checked["watermark"] and checked["matches_metadata"]
    again = animate_video(tmp_path / "again.mp4", models.cvae, identity="ada",
                          path="yaw:-30..30,smile:0..1", seconds=0.4, fps=10, size=128,
                          options=QUIET)
    assert again.content_sha256 == report.content_sha256             # same request, same hash
    # the frames are the model's faces for the keyframed attributes, nothing else
    seen = {}
    animate_video(tmp_path / "hook.mp4", models.cvae, identity="ada", path="yaw:-30..30",
                  seconds=0.3, fps=10, size=128, options=QUIET,
                  on_frame=lambda i, _, frame, __: seen.setdefault(i, frame.copy()))
    import cv2

    from deepfake_lab.images import to_uint8
    a = SCHEMA.with_identity(SCHEMA.to_tensor([{"yaw": -30}, {"yaw": 0}, {"yaw": 30}]),
                             identity_vector("ada"))
    expected = to_uint8(models.cvae.generate(a))
    for i in range(3):
        up = cv2.resize(expected[i], (128, 128), interpolation=cv2.INTER_CUBIC)
        assert np.array_equal(seen[i], up)
    cgan = animate_video(tmp_path / "g.mp4", models.cgan, identity=7, path="mouth_open:0..1",
                         seconds=0.2, fps=10, size=128, z="random", seed=3, options=QUIET)
    assert cgan.frames == 2


@pytest.mark.parametrize("kwargs, error, message", [
    ({"path": "yaww:0..1"}, ValueError, "did you mean yaw"),
    ({"path": "smile:0..3"}, ValueError, "outside its range"),
    ({"identity": "nobody"}, UnknownIdentityError, "choose one of"),
    ({"seconds": 120}, ValueError, "over the limit"),
    ({"size": 64}, ValueError, "at least 128"),
])
def test_animate_refuses_bad_requests(models, tmp_path, kwargs, error, message):
    args = {"identity": "ada", "path": "yaw:0..10", "seconds": 0.2, "size": 128, **kwargs}
    with pytest.raises(error, match=message):
        animate_video(tmp_path / "a.mp4", models.cvae, options=QUIET, **args)
    assert not (tmp_path / "a.mp4").exists()


def test_animate_needs_a_conditional_model(models, tmp_path):
    with pytest.raises(ValueError, match="needs a conditional model"):
        animate_video(tmp_path / "a.mp4", models.pair, identity="ada", path="yaw:0..1",
                      seconds=0.2, options=QUIET)


# --------------------------------------------------------------------------------------
# The commands
# --------------------------------------------------------------------------------------
def test_swap_and_animate_commands(models, clips, tmp_path, capsys):
    out = tmp_path / "s.mp4"
    assert main(["swap", str(clips.short), "--model", str(models.root / "pair"), "--to",
                 "boris", "--out", str(out), "--color", "lct", "--seamless", "--erode", "0.02",
                 "--no-progress", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["frames"] == 8 and report["output"] == str(out)
    assert verify_video(out)["watermark"]
    anim = tmp_path / "a.mp4"
    assert main(["animate", "--model", str(models.root / "cvae"), "--identity", "ada",
                 "--path", "yaw:-20..20", "--seconds", "0.2", "--fps", "10", "--size", "128",
                 "--set", "smile=0.5", "--out", str(anim), "--no-progress"]) == 0
    assert "wrote" in capsys.readouterr().out and len(frames_of(anim)) == 2


def test_commands_fail_clearly(models, clips, bad_files, tmp_path, capsys):
    out = str(tmp_path / "s.mp4")
    pair = str(models.root / "pair")
    with pytest.raises(SystemExit) as e:
        main(["swap", str(clips.short), "--model", pair, "--to", "zoe", "--out", out])
    assert e.value.code == 2 and "decoder for ada, boris only" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["swap", str(clips.short), "--model", "nope-64", "--to", "ada", "--out", out])
    assert "no model 'nope-64'" in capsys.readouterr().err
    assert main(["swap", str(bad_files["audio"]), "--model", pair, "--to", "ada", "--out",
                 out, "--no-progress"]) == 1
    assert "audio only" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["animate", "--model", pair, "--identity", "ada", "--path", "yaw:0..1",
              "--seconds", "1", "--out", out])
    assert "needs a conditional model" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["swap", str(clips.short), "--model", pair, "--to", "ada", "--out", out,
              "--blur", "0.9"])
    assert "blur must be" in capsys.readouterr().err
    assert not (tmp_path / "s.mp4").exists()


def test_developer_switch_is_hidden_and_recorded(models, clips, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["swap", "--help"])
    help_text = capsys.readouterr().out
    assert "--dev-unmarked" not in help_text and "--seamless" in help_text
    out = tmp_path / "raw.mp4"
    assert main(["swap", str(clips.short), "--model", str(models.root / "pair"), "--to",
                 "ada", "--out", str(out), "--no-progress", "--dev-unmarked"]) == 0
    assert "developer use only" in capsys.readouterr().out
    checked = verify_video(out)
    assert not checked["label"] and not checked["watermark"]
    assert checked["metadata"]["ai_generated"] == "true"
    assert checked["metadata"]["watermark"] == "none"
