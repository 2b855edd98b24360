"""``deepfake-lab extract``: the command-line face of :func:`deepfake_lab.faces.extract`.

    deepfake-lab extract clip.mp4 --out facesets/clip
    deepfake-lab extract photos/ --out facesets/me --size 128 --crop whole_face
    deepfake-lab extract party.mp4 --out facesets/ana --reference ana.jpg

:func:`add_extract_parser` adds the sub-command to a parser's sub-parsers and
:func:`cmd_extract` runs it; both are used by :mod:`deepfake_lab.cli`.
"""

from __future__ import annotations

import argparse
import json
import sys

from .align import CROP_SIZES, CROPS
from .backend import BACKENDS


def add_extract_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``extract`` to ``subparsers`` (from ``parser.add_subparsers()``); return it."""
    p = subparsers.add_parser(
        "extract", help="extract aligned, labelled faces from a video, an image or a folder",
        description="Detect, align and label the faces of a video, an image or a folder "
                    "(recursively) and write a faceset: aligned crops, attributes.jsonl "
                    "(box, landmarks, pose, expression, identity embedding per face) and "
                    "faceset.json (provenance). One face per frame: the largest, or the one "
                    "matching --reference. Re-running skips what is already done.")
    p.add_argument("input", metavar="INPUT", help="a video, an image, or a folder of them")
    p.add_argument("--out", required=True, metavar="DIR", help="faceset folder to write")
    p.add_argument("--size", type=int, default=256, choices=CROP_SIZES,
                   help="crop side in pixels (default 256)")
    p.add_argument("--crop", default="face", choices=tuple(CROPS),
                   help="face: brows to chin (default); whole_face: with forehead and hair")
    p.add_argument("--reference", default=None, metavar="PHOTO",
                   help="keep only the face of the person in this photo (identity match)")
    p.add_argument("--every", type=int, default=1, metavar="N",
                   help="use every N-th video frame (default 1: all)")
    p.add_argument("--detect-size", type=int, default=640, metavar="PX",
                   help="longer side of the frame the detector sees (default 640; larger "
                        "finds smaller faces, slower)")
    p.add_argument("--backend", default="dlib", choices=tuple(BACKENDS),
                   help="face library (default dlib)")
    p.add_argument("--no-smooth", action="store_true",
                   help="do not smooth landmarks over video frames")
    p.add_argument("--jpeg-quality", type=int, default=92, metavar="Q",
                   help="JPEG quality of the crops (default 92)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing faceset made with other parameters")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    return p


def cmd_extract(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run ``extract``; returns the exit status (0 ok, 1 on a face/media error)."""
    from .errors import FaceError
    from .extract import ExtractOptions, extract

    try:
        options = ExtractOptions(size=args.size, crop=args.crop, backend=args.backend,
                                 detect_size=args.detect_size, every=args.every,
                                 smooth=not args.no_smooth, jpeg_quality=args.jpeg_quality)
    except ValueError as e:
        parser.error(str(e))
    log = (lambda msg: print(msg, file=sys.stderr))
    try:
        report = extract(args.input, args.out, options, reference=args.reference,
                         overwrite=args.overwrite, progress=not args.no_progress, log=log)
    except FaceError as e:
        print(f"deepfake-lab extract: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("deepfake-lab extract: interrupted; run the same command again to continue",
              file=sys.stderr)
        return 130
    print(json.dumps(report.to_json(), indent=2) if args.json else report.summary())
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``extract`` on its own (``python -m deepfake_lab.faces.cli INPUT --out DIR``)."""
    parser = argparse.ArgumentParser(prog="deepfake-lab")
    sub = parser.add_subparsers(dest="command", required=True)
    p = add_extract_parser(sub)
    args = parser.parse_args(["extract", *(sys.argv[1:] if argv is None else argv)])
    return cmd_extract(args, p)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
