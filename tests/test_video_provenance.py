"""Provenance for video: the per-frame watermark survives H.264 twice, the label survives
compression, mp4 metadata round-trips, and ``verify`` tells marked from untouched clips."""

from __future__ import annotations

import json
import subprocess

import imageio_ffmpeg
import numpy as np
import pytest

from deepfake_lab.cli import main
from deepfake_lab.faces.media import iter_video
from deepfake_lab.provenance import (
    VIDEO_WATERMARK_VERSION,
    FrameWatermark,
    LabelStamp,
    VideoMarker,
    label_image,
    make_video_payload,
    parse_video_payload,
    read_video_metadata,
    verify,
    verify_video,
    video_message_bits,
    video_metadata,
)
from deepfake_lab.samples import sample_path
from deepfake_lab.video.writer import VideoWriter

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
CLIP = sample_path("clips/woman.mp4")
SHA = "ab" * 32
PAYLOAD = make_video_payload("cvae-synthfaces-64", SHA)


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return [f.copy() for i, f in iter_video(CLIP) if i < 24]


@pytest.fixture(scope="module")
def marked_clip(frames, tmp_path_factory) -> dict:
    """The frames marked and labelled, written by our writer, then re-encoded at CRF 23."""
    root = tmp_path_factory.mktemp("wm")
    h, w = frames[0].shape[:2]
    marker = VideoMarker(h, w, PAYLOAD)
    ours = root / "ours.mp4"
    with VideoWriter(ours, w, h, 23.98, crf=20,
                     metadata=video_metadata("cvae-synthfaces-64", SHA)) as writer:
        for f in frames:
            writer.write(marker(f.copy()))
    again = root / "crf23.mp4"
    subprocess.run([FFMPEG, "-y", "-v", "error", "-i", str(ours), "-c:v", "libx264",
                    "-crf", "23", str(again)], check=True)
    return {"ours": ours, "crf23": again}


def test_payload_layout():
    assert len(PAYLOAD) == 8 and PAYLOAD[:2] == b"DL"
    fields = parse_video_payload(PAYLOAD)
    assert fields["project"] == "deepfake-lab"
    assert fields["content_fingerprint"] == SHA[:6]
    with pytest.raises(ValueError, match="SHA-256"):
        make_video_payload("m", "abcd")


def test_frame_watermark_round_trip_and_unmarked_frames(frames):
    h, w = frames[0].shape[:2]
    wm = FrameWatermark(h, w)
    marked = wm.embed(frames[0], PAYLOAD)
    assert marked is not frames[0] and not np.array_equal(marked, frames[0])
    psnr = 10 * np.log10(255 ** 2 / np.mean((marked.astype(float) - frames[0]) ** 2))
    assert psnr > 40                                                  # invisible
    found = wm.decode(wm.soft_bits(marked))
    assert found["found"] and found["payload"] == PAYLOAD
    assert wm.slot_accuracy(marked, PAYLOAD) > 0.97
    for f in frames[::6]:                                             # untouched frames
        assert not wm.decode(wm.soft_bits(f))["found"]
    with pytest.raises(ValueError, match="too small"):
        FrameWatermark(96, 96)


def test_watermark_survives_h264_and_a_crf23_reencode(marked_clip):
    """Per frame, with the vote of that frame alone: >= 95 % of the message bits right."""
    h, w = 360, 640
    wm = FrameWatermark(h, w)
    truth = video_message_bits(PAYLOAD)
    accuracy, slots, found, votes = [], [], 0, 0
    for _, f in iter_video(marked_clip["crf23"]):
        v = wm.soft_bits(f)
        accuracy.append(np.mean((v < 0) == truth))
        slots.append(wm.slot_accuracy(f, PAYLOAD))
        found += wm.decode(v)["found"]
        votes = votes + v
    assert len(accuracy) == 24
    assert np.mean(accuracy) >= 0.95 and min(accuracy) >= 0.9
    assert found >= 22                                                # nearly every frame alone
    assert wm.decode(votes)["payload"] == PAYLOAD                     # and the clip for sure
    assert 0.6 < np.mean(slots) < 1.0                                 # single slots do suffer


def test_label_stamp_is_the_image_label(frames):
    h, w = frames[0].shape[:2]
    stamp = LabelStamp(h, w)
    ref = label_image(frames[0])
    out = stamp.apply(frames[0].copy())
    assert np.abs(out.astype(int) - ref).max() <= 1
    x0, y0, x1, y1 = stamp.box
    outside = np.ones((h, w), bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(out[outside], frames[0][outside])


def test_verify_a_marked_clip_after_reencoding(marked_clip):
    for name in ("ours", "crf23"):
        report = verify_video(marked_clip[name])
        assert report["label"] is True and report["label_frames"] >= 0.9
        assert report["watermark"] is True and report["payload"] == PAYLOAD.hex()
        assert report["payload_fields"]["project"] == "deepfake-lab"
    meta = read_video_metadata(marked_clip["ours"])
    assert meta["ai_generated"] == "true" and meta["watermark"] == VIDEO_WATERMARK_VERSION
    assert meta["content_sha256"] == SHA and "AI-generated" in meta["comment"]
    assert verify_video(marked_clip["ours"])["matches_metadata"] is True


def test_verify_says_not_found_on_an_untouched_clip(capsys):
    report = verify(CLIP)
    assert report["kind"] == "video"
    assert report["watermark"] is False and report["payload"] is None
    assert report["label"] is False
    assert "ai_generated" not in report["metadata"]
    assert main(["verify", str(CLIP)]) == 0
    out = capsys.readouterr().out
    assert "watermark       not found" in out and "visible label   not found" in out
    assert main(["verify", str(CLIP), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["watermark"] is False


def test_verify_cli_on_a_marked_clip_and_bad_files(marked_clip, tmp_path, capsys):
    assert main(["verify", str(marked_clip["crf23"])]) == 0
    out = capsys.readouterr().out
    assert "found (payload " + PAYLOAD.hex() in out and "deepfake-lab" in out
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(SystemExit):
        main(["verify", str(empty)])
    assert "empty" in capsys.readouterr().err


def test_metadata_keys_are_protected():
    meta = video_metadata("m", SHA, watermark=False, label=False, extra={"strategy": "swap"})
    assert meta["watermark"] == "none" and meta["label"] == "none"
    assert meta["strategy"] == "swap"
    with pytest.raises(ValueError, match="reserved"):
        video_metadata("m", SHA, extra={"model": "other"})
