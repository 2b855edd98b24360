"""The real-face pipeline on real faces: the bundled samples, and images made from them
(rotated, mirrored, enlarged, grey, 16-bit, with alpha, several faces in one picture)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

pytest.importorskip("dlib")
pytest.importorskip("cv2")
pytest.importorskip("imageio_ffmpeg")

from deepfake_lab.data.facesets import Faceset  # noqa: E402
from deepfake_lab.faces import (  # noqa: E402
    ExtractOptions,
    MediaError,
    NoFaceError,
    estimate_attributes,
    extract,
    get_backend,
    load_image,
    write_video,
)
from deepfake_lab.faces.cli import main as extract_main  # noqa: E402
from deepfake_lab.samples import FACESETS, sample_faceset, sample_path  # noqa: E402

FAST = ExtractOptions(size=64, crop="face")


@pytest.fixture(scope="module")
def backend():
    return get_backend("dlib")


def _estimate(backend, image: np.ndarray) -> dict[str, float]:
    boxes = backend.detect(image) or backend.detect(image, upsample=1)
    assert boxes, "no face found"
    return estimate_attributes(backend.landmarks(image, boxes[0]), image.shape[:2])


def _still(name: str) -> Image.Image:
    return Image.open(sample_path(f"stills/{name}.jpg")).convert("RGB")


# ---- estimation on real faces --------------------------------------------------------
@pytest.mark.parametrize("name", ["woman", "man"])
@pytest.mark.parametrize("angle", [-15, 12])
def test_rotating_the_image_changes_roll_by_that_angle(backend, name, angle):
    img = _still(name)
    base = _estimate(backend, np.asarray(img))["roll"]
    # PIL turns counter-clockwise for positive angles; the schema's roll is clockwise
    turned = img.rotate(-angle, resample=Image.BICUBIC, expand=True, fillcolor=(128, 128, 128))
    assert _estimate(backend, np.asarray(turned))["roll"] - base == pytest.approx(angle, abs=3)


@pytest.mark.parametrize("name", ["woman", "man"])
def test_a_mirrored_face_has_the_opposite_yaw(backend, name):
    img = np.asarray(_still(name))
    yaw = _estimate(backend, img)["yaw"]
    assert _estimate(backend, img[:, ::-1].copy())["yaw"] == pytest.approx(-yaw, abs=3)


def test_the_woman_turned_right_reads_positive_yaw(backend):
    """In stills/woman.jpg her face turns toward the image's right (nose right of centre)."""
    img = np.asarray(_still("woman"))
    lm = backend.landmarks(img, backend.detect(img)[0])
    assert lm[30, 0] > (lm[0, 0] + lm[16, 0]) / 2  # nose tip right of the jaw's middle
    assert _estimate(backend, img)["yaw"] > 3


def test_bundled_facesets_load_with_labels_in_range():
    for name in FACESETS:
        fs = sample_faceset(name)
        assert len(fs) > 100 and fs.size == 128 and fs.crop_kind == "face"
        assert fs.image(0).shape == (128, 128, 3)
        attrs = fs.attribute_matrix()
        assert attrs.shape == (len(fs), 7) and np.isfinite(attrs).all()
        assert np.isfinite(fs.embeddings()).all()
    a, b = sample_faceset("woman").embeddings(), sample_faceset("man").embeddings()
    within = np.linalg.norm(a[:20] - a[20:40], axis=1).mean()
    across = np.linalg.norm(a[:20] - b[:20], axis=1).mean()
    assert within < 0.45 < across  # same person close, different people far


# ---- extraction ------------------------------------------------------------------------
def test_extract_a_clip_then_rerun_skips_it(tmp_path, backend):
    out = tmp_path / "man"
    rep = extract(sample_path("clips/man.mp4"), out, ExtractOptions(size=64, every=8),
                  progress=False, backend=backend)
    assert rep.faces == rep.frames == 9 and rep.no_face == 0
    fs = Faceset(out)
    assert len(fs) == 9 and fs.image(3).shape == (64, 64, 3)
    meta = json.loads((out / "faceset.json").read_text())
    assert meta["sources"][0]["sha256"] and meta["parameters"]["every"] == 8
    rec = fs.records[0]
    assert {"frame", "box", "landmarks", "pose", "expression", "embedding"} <= set(rec)
    assert len(rec["landmarks"]) == 68 and len(rec["embedding"]) == 128
    again = extract(sample_path("clips/man.mp4"), out, ExtractOptions(size=64, every=8),
                    progress=False, backend=backend)
    assert again.up_to_date and again.skipped == 1


def test_image_variants_all_extract(tmp_path, backend):
    """Grey, 16-bit, RGBA and a 4000x3000 enlargement of a real photo: a face in each."""
    img = _still("man")
    folder = tmp_path / "in"
    folder.mkdir()
    grey = img.convert("L")
    grey.save(folder / "grey.jpg")
    Image.fromarray(np.asarray(grey).astype(np.uint16) * 257).save(folder / "deep.png")
    rgba = img.convert("RGBA")
    alpha = Image.new("L", img.size, 0)  # transparent but for an oval around the middle
    ImageDraw.Draw(alpha).ellipse((img.width * 0.2, 0, img.width * 0.8, img.height), fill=255)
    rgba.putalpha(alpha)
    rgba.save(folder / "alpha.png")
    canvas = Image.new("RGB", (4000, 3000), (90, 90, 90))
    canvas.paste(img.resize((img.width * 4, img.height * 4)), (800, 600))
    canvas.save(folder / "huge.jpg", quality=80)
    rep = extract(folder, tmp_path / "fs", FAST, progress=False, backend=backend)
    assert rep.faces == 4 and rep.no_face == 0 and not rep.failed
    huge = next(r for r in Faceset(tmp_path / "fs").records if r["source"] == "huge.jpg")
    assert 800 < huge["box"][0] < 4000 and 600 < huge["box"][1] < 3000


def _face_patch(backend, name: str, scale: float) -> Image.Image:
    img = _still(name)
    box = backend.detect(np.asarray(img))[0]
    cx, cy = box.center
    r = box.width
    patch = img.crop((int(cx - r), int(cy - r), int(cx + r), int(cy + r)))
    return patch.resize((int(patch.width * scale), int(patch.height * scale)))


def test_several_faces_largest_by_default_or_the_reference(tmp_path, backend):
    woman, man = _face_patch(backend, "woman", 1.0), _face_patch(backend, "man", 0.8)
    group = Image.new("RGB", (woman.width + man.width + 40, max(woman.height, man.height)),
                      (120, 120, 120))
    group.paste(woman, (0, 0))
    group.paste(man, (woman.width + 40, 0))
    group.save(tmp_path / "group.jpg", quality=92)
    assert len(backend.detect(np.asarray(group))) == 2

    extract(tmp_path / "group.jpg", tmp_path / "largest", FAST, progress=False,
            backend=backend)
    assert Faceset(tmp_path / "largest").records[0]["box"][0] < woman.width  # the woman

    _still("man").save(tmp_path / "ref.jpg")
    extract(tmp_path / "group.jpg", tmp_path / "ref", FAST, reference=tmp_path / "ref.jpg",
            progress=False, backend=backend)
    rec = Faceset(tmp_path / "ref").records[0]
    assert rec["box"][0] > woman.width and rec["distance"] < 0.6  # the man


def test_no_face_video_raises_and_writes_nothing(tmp_path, backend):
    frames = [np.full((120, 160, 3), (40 + 10 * i, 90, 160), np.uint8) for i in range(8)]
    write_video(tmp_path / "sky.mp4", frames, fps=8)
    with pytest.raises(NoFaceError, match="no face found in 8 frame") as err:
        extract(tmp_path / "sky.mp4", tmp_path / "fs", FAST, progress=False, backend=backend)
    assert "sky.mp4" in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sky.mp4"]


def test_bad_files_give_a_clear_error_and_no_faceset(tmp_path, capsys):
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "fake.jpg").write_text("not a picture")
    (tmp_path / "cut.mp4").write_bytes(sample_path("clips/man.mp4").read_bytes()[:2000])
    half = sample_path("clips/man.mp4").read_bytes()
    (tmp_path / "half.mp4").write_bytes(half[: len(half) // 2])
    for name in ("empty.mp4", "fake.jpg", "cut.mp4", "missing.png"):
        code = extract_main([str(tmp_path / name), "--out", str(tmp_path / "fs"),
                             "--no-progress", "--size", "64"])
        err = capsys.readouterr().err
        assert code == 1 and str(tmp_path / name) in err, err
        assert not (tmp_path / "fs").exists() and not (tmp_path / ".fs.partial").exists()
    # half a video: the frames before the cut are extracted
    code = extract_main([str(tmp_path / "half.mp4"), "--out", str(tmp_path / "fs"),
                         "--no-progress", "--size", "64", "--every", "6", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and 0 < report["frames"] < 12 and report["faces"] == report["frames"]


def test_a_folder_with_a_broken_file_extracts_the_rest(tmp_path, backend):
    _still("man").save(tmp_path / "a.jpg")
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    rep = extract(tmp_path, tmp_path / "fs", FAST, progress=False, backend=backend)
    assert rep.faces == 1 and len(rep.failed) == 1 and "b.jpg" in rep.failed[0][1]


def test_an_interrupted_extraction_resumes(tmp_path, backend):
    class Flaky:
        """The real backend, but the run is interrupted on the third embedding."""

        def __init__(self, inner, fail_at):
            self.inner, self.calls, self.fail_at = inner, 0, fail_at

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def embedding(self, image, landmarks):
            self.calls += 1
            if self.calls == self.fail_at:
                raise KeyboardInterrupt
            return self.inner.embedding(image, landmarks)

    folder = tmp_path / "in"
    folder.mkdir()
    for i, name in enumerate(("man", "woman", "carphone")):
        _still(name).save(folder / f"{i}.jpg")
    with pytest.raises(KeyboardInterrupt):
        extract(folder, tmp_path / "fs", FAST, progress=False, backend=Flaky(backend, 3))
    assert not (tmp_path / "fs").exists() and (tmp_path / ".fs.partial").exists()
    rep = extract(folder, tmp_path / "fs", FAST, progress=False, backend=backend)
    assert rep.skipped == 2 and rep.sources == 1 and rep.total_faces == 3
    assert len(Faceset(tmp_path / "fs")) == 3
    assert not (tmp_path / ".fs.partial").exists()


def test_load_image_of_a_real_photo_in_every_mode(tmp_path):
    img = _still("carphone")
    for mode in ("L", "RGBA", "P", "CMYK"):
        path = tmp_path / f"c_{mode}.{'jpg' if mode in ('L', 'CMYK') else 'png'}"
        img.convert(mode).save(path)
        out = load_image(path)
        assert out.shape == (img.height, img.width, 3) and out.dtype == np.uint8, mode
    with pytest.raises(MediaError):
        load_image(tmp_path)
