"""Provenance marks: the visible label, the DCT/QIM watermark, PNG metadata and verification."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from deepfake_lab.provenance import (
    WATERMARK_VERSION,
    embed_watermark,
    extract_watermark,
    label_image,
    label_region,
    make_payload,
    mark_image,
    save_generated_png,
    verify_image,
)

PAYLOAD = bytes.fromhex("0123456789ab")


def natural(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A procedural 'natural-ish' picture: smooth gradients, a few flat shapes, sensor noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([180 * xx + 40, 120 + 80 * np.sin(3 * yy + 1), 200 - 150 * yy * xx], -1)
    im = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    for _ in range(6):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        r = int(rng.integers(h // 10, h // 3))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x - r, y - r, x + r, y + r), fill=colour)
    noisy = np.asarray(im).astype(np.float64) + rng.normal(0, 6, (h, w, 3))
    return np.clip(noisy, 0, 255).astype(np.uint8)


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / mse))


# ---------------------------------------------------------------- the visible label

@pytest.mark.parametrize("size", [(128, 128), (256, 192)])
def test_label_changes_only_the_bottom_left_box_and_not_the_input(size):
    h, w = size
    img = natural(h, w, seed=1)
    before = img.copy()
    out = label_image(img)
    assert np.array_equal(img, before), "label_image modified its input"
    assert out.shape == img.shape and out.dtype == np.uint8
    x0, y0, x1, y1 = label_region(h, w)
    assert x0 < w // 8 and y1 > h - h // 8, "the box is not in the bottom-left corner"
    assert x1 - x0 < w and y1 - y0 < h // 4
    outside = np.ones((h, w), bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(out[outside], img[outside])
    box, orig = out[y0:y1, x0:x1].astype(int), img[y0:y1, x0:x1].astype(int)
    assert np.mean(np.any(box != orig, axis=-1)) > 0.9          # nearly every box pixel changed
    assert np.median(box) < 0.5 * np.median(orig)               # dark box ...
    assert (box.min(axis=-1) >= 200).sum() >= 40                # ... with white text in it


# ---------------------------------------------------------------- the watermark

def test_embed_extract_round_trip_is_exact_and_leaves_input_alone():
    img = natural(128, 128, seed=2)
    before = img.copy()
    marked = embed_watermark(img, PAYLOAD)
    assert np.array_equal(img, before)
    assert marked.shape == img.shape and marked.dtype == np.uint8
    assert not np.array_equal(marked, img)
    res = extract_watermark(marked)
    assert res["found"] is True and res["payload"] == PAYLOAD
    assert res["bit_accuracy_vs_sync"] == 1.0 and res["confidence"] > 0.9


@pytest.mark.parametrize("size", [256, 128])
def test_watermark_survives_jpeg_quality_75(size):
    marked = embed_watermark(natural(size, size, seed=3), PAYLOAD)
    res = extract_watermark(jpeg(marked, 75))
    assert res["found"] and res["payload"] == PAYLOAD


def test_watermark_is_nearly_invisible():
    img = natural(256, 256, seed=4)
    assert psnr(embed_watermark(img, PAYLOAD), img) >= 38.0


@pytest.mark.parametrize("img", [natural(128, 128, seed=5), natural(256, 256, seed=6),
                                 np.full((128, 128, 3), 128, np.uint8)],
                         ids=["natural128", "natural256", "flat-grey"])
def test_unmarked_images_report_no_watermark(img):
    res = extract_watermark(img)
    assert res["found"] is False and res["payload"] is None
    assert res["confidence"] < 0.5


@pytest.mark.parametrize("bad", [b"12345", b"1234567", "abcdef"])
def test_payload_must_be_six_bytes(bad):
    with pytest.raises(ValueError, match="6 bytes"):
        embed_watermark(natural(128, 128), bad)


def test_too_small_image_is_refused_with_the_minimum_size():
    embed_watermark(natural(112, 112), PAYLOAD)  # the documented minimum square works
    with pytest.raises(ValueError, match=r"too small.*112x112"):
        embed_watermark(natural(104, 104), PAYLOAD)
    assert extract_watermark(natural(64, 64))["found"] is False  # reading never raises


def test_make_payload_hashes_model_and_content():
    img = natural(128, 128, seed=7)
    p = make_payload("model-a", img)
    assert len(p) == 6
    assert p[:3] == hashlib.sha256(b"model-a").digest()[:3]
    assert p[3:] == hashlib.sha256(img.tobytes()).digest()[:3]
    assert make_payload("model-a", img.tobytes()) == p
    assert make_payload("model-b", img)[:3] != p[:3]
    assert make_payload("model-a", b"other")[3:] != p[3:]


def test_mark_image_watermarks_the_unlabelled_pixels_then_labels():
    img = natural(128, 128, seed=8)
    marked = mark_image(img, "model-a")
    res = extract_watermark(marked)
    assert res["found"] and res["payload"] == make_payload("model-a", img)
    x0, y0, x1, y1 = label_region(128, 128)
    assert np.median(marked[y0:y1, x0:x1]) < 0.5 * np.median(img[y0:y1, x0:x1])
    unlabelled = mark_image(img, "model-a", label=False)
    assert np.array_equal(unlabelled, embed_watermark(img, make_payload("model-a", img)))


# ---------------------------------------------------------------- files

def test_save_and_verify_round_trip(tmp_path):
    img = natural(128, 128, seed=9)
    path = save_generated_png(img, tmp_path / "out" / "gen.png", "cvae-synth",
                              extra={"seed": 7, "prompt": "boris smiling"})
    assert path.is_file()
    report = verify_image(path)
    meta = report["metadata"]
    assert meta["ai_generated"] == "true" and meta["generator"] == "deepfake-lab"
    assert meta["model"] == "cvae-synth" and meta["watermark"] == WATERMARK_VERSION
    assert meta["seed"] == "7" and meta["prompt"] == "boris smiling"
    assert report["watermark"] is True
    assert report["payload"] == make_payload("cvae-synth", img).hex()
    assert report["label"] is True


def test_developer_escape_hatches_are_recorded(tmp_path):
    img = natural(128, 128, seed=10)
    no_wm = verify_image(save_generated_png(img, tmp_path / "a.png", "m", watermark=False))
    assert no_wm["watermark"] is False and no_wm["payload"] is None
    assert no_wm["metadata"]["watermark"] == "none" and no_wm["label"] is True
    no_label = verify_image(save_generated_png(img, tmp_path / "b.png", "m", label=False))
    assert no_label["watermark"] is True and no_label["label"] is False
    with pytest.raises(ValueError, match="reserved"):
        save_generated_png(img, tmp_path / "c.png", "m", extra={"ai_generated": "false"})


def test_plain_png_verifies_as_not_generated(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(natural(128, 128, seed=11)).save(path)
    report = verify_image(path)
    assert report["label"] is False and report["watermark"] is False
    assert report["payload"] is None and "ai_generated" not in report["metadata"]


def test_missing_or_corrupt_files_raise_value_error(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 10)
    with pytest.raises(ValueError, match="broken.png"):
        verify_image(bad)
    good = tmp_path / "cut.png"
    Image.fromarray(natural(128, 128)).save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(ValueError, match="truncated.png"):
        verify_image(truncated)
    with pytest.raises(ValueError, match="missing.png"):
        verify_image(tmp_path / "missing.png")
