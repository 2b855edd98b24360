"""``deepfake-lab swap`` and ``deepfake-lab animate``: the command-line face of the video
pipeline.

    deepfake-lab swap clip.mp4 --model cvae-synthfaces-64 --to boris --out swapped.mp4
    deepfake-lab swap clip.mp4 --model runs/pair --to boris --color lct --seamless --out s.mp4
    deepfake-lab animate --model cvae-synthfaces-64 --identity ada \\
        --path "yaw:-30..30,smile:0..1" --seconds 4 --out ada.mp4

:func:`add_video_parsers` adds both sub-commands, :func:`cmd_swap` and :func:`cmd_animate`
run them; :mod:`deepfake_lab.cli` wires them in.  Every output carries the visible label,
the watermark and mp4 metadata; ``--dev-unmarked`` (developer-only, hidden from ``--help``)
switches label and watermark off for debugging, and the metadata then says so.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..faces.align import CROPS
from ..faces.blend import COLOR_MODES, MASK_MODES, BlendOptions
from .reader import DEFAULT_MAX_SECONDS, DEFAULT_MAX_SIDE

# strategies.Z_MODES, spelled out so that building the parser does not import the models
Z_MODES = ("first", "prior", "random")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, metavar="OUT.mp4", help="the video to write")
    p.add_argument("--model", required=True, help="bundled model name or checkpoint path")
    p.add_argument("--seed", type=int, default=0, help="seed for --z random (default 0)")
    p.add_argument("--batch", type=int, default=8, help="frames per generator call")
    p.add_argument("--crf", type=int, default=20,
                   help="H.264 quality, 0-51, lower is better (default 20)")
    p.add_argument("--preset", default="veryfast",
                   help="x264 speed preset (default veryfast; slower = smaller files)")
    p.add_argument("--max-seconds", type=float, default=DEFAULT_MAX_SECONDS, metavar="S",
                   help=f"longest clip to render (default {DEFAULT_MAX_SECONDS:g}); swap: "
                        "longer inputs are trimmed with a notice")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads for the generator (default 1: the other cores "
                        "decode and encode)")
    p.add_argument("--device", default=None, help="cuda, mps or cpu (default: best present)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--dev-unmarked", action="store_true", help=argparse.SUPPRESS)


def add_video_parsers(subparsers: argparse._SubParsersAction) -> dict[str, argparse.ArgumentParser]:
    """Add ``swap`` and ``animate`` to ``subparsers``; return them by name."""
    s = subparsers.add_parser(
        "swap", help="swap the face in a video (H.264 mp4 out, labelled and watermarked)",
        description="Track the largest face of a video (mp4, mov, webm, gif ...), swap it "
                    "frame by frame with a model, paste it back and write an H.264 mp4 at "
                    "the same frame rate, with the audio. Every frame carries a visible "
                    "'AI-generated' label and an invisible watermark.")
    s.add_argument("input", metavar="INPUT", help="the driving video")
    s.add_argument("--to", required=True, metavar="IDENTITY",
                   help="who to swap to: a two-decoder model's person, or an identity of "
                        "the model's schema (SynthFaces: a catalogue name or a seed)")
    s.add_argument("--strategy", default="auto",
                   choices=("auto", "swap", "conditional", "reenact"),
                   help="auto (default): swap for two-decoder, conditional for cvae, "
                        "reenact for cgan")
    s.add_argument("--from", dest="source", default=None, metavar="IDENTITY",
                   help="conditional/reenact: the identity assumed for the real face "
                        "(default: the schema's average person)")
    s.add_argument("--z", default="first", choices=Z_MODES,
                   help="reenact: the fixed latent - the first face frame's (default), the "
                        "prior mean, or a seeded random one")
    g = s.add_argument_group("mask and colour")
    g.add_argument("--mask", default="hull", choices=MASK_MODES,
                   help="hull: the landmarks' convex hull (default); box: the whole crop")
    g.add_argument("--erode", type=float, default=BlendOptions.erode, metavar="F",
                   help=f"shrink the mask by F of the crop side (default {BlendOptions.erode})")
    g.add_argument("--blur", type=float, default=BlendOptions.blur, metavar="F",
                   help=f"feather the mask over F of the crop side (default {BlendOptions.blur})")
    g.add_argument("--color", default="rct", choices=COLOR_MODES,
                   help="colour transfer: rct (Reinhard, default), lct (linear), none")
    g.add_argument("--seamless", action="store_true",
                   help="Poisson blending (cv2.seamlessClone) before the feathered blend")
    t = s.add_argument_group("tracking and limits")
    t.add_argument("--crop", default=None, choices=tuple(CROPS),
                   help="aligned crop kind (default: what the model was trained on)")
    t.add_argument("--detect-every", type=int, default=5, metavar="K",
                   help="confirm the face with the detector every K frames (default 5)")
    t.add_argument("--no-smooth", action="store_true",
                   help="no one-euro smoothing of landmarks and attributes")
    t.add_argument("--max-side", type=int, default=DEFAULT_MAX_SIDE, metavar="PX",
                   help=f"downscale larger frames (default {DEFAULT_MAX_SIDE})")
    t.add_argument("--no-audio", action="store_true", help="leave the audio out")
    _common(s)

    a = subparsers.add_parser(
        "animate", help="animate an identity along attribute keyframes (no driving video)",
        description="Render a conditional model's face moving along a path through the "
                    "attribute schema, e.g. --path 'yaw:-30..30,smile:0..1' (NAME:V0..V1[..V2] "
                    "per attribute, keyframes spread evenly over the clip).")
    a.add_argument("--identity", required=True, help="who to animate (the model's schema)")
    a.add_argument("--path", required=True, help="keyframes, e.g. 'yaw:-30..30,smile:0..1'")
    a.add_argument("--seconds", type=float, required=True, help="clip length in seconds")
    a.add_argument("--fps", type=float, default=25.0, help="frames per second (default 25)")
    a.add_argument("--size", type=int, default=256, help="frame side in pixels (default 256)")
    a.add_argument("--ease", default="linear", choices=("linear", "smooth"),
                   help="interpolation between keyframes (default linear)")
    a.add_argument("--z", default="prior", choices=("prior", "random"),
                   help="the fixed latent: the prior mean (default) or seeded random")
    a.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="a fixed value for an attribute the path does not move (repeatable)")
    _common(a)
    return {"swap": s, "animate": a}


def _setup(args: argparse.Namespace, parser: argparse.ArgumentParser):
    """Threads, device and the model; parser errors for what the user can fix."""
    import torch

    from ..checkpoints import CheckpointError
    from ..device import pick_device
    from ..registry import load_model

    if args.threads < 1:
        parser.error("--threads must be at least 1")
    torch.set_num_threads(args.threads)
    try:
        return load_model(args.model, device=pick_device(args.device))
    except (CheckpointError, ValueError, RuntimeError) as e:
        parser.error(str(e))


def _options(args: argparse.Namespace, parser: argparse.ArgumentParser, **blend):
    from .pipeline import RenderOptions

    try:
        return RenderOptions(
            blend=BlendOptions(**blend), batch=args.batch, crf=args.crf, preset=args.preset,
            max_seconds=args.max_seconds, progress=not (args.no_progress or args.json),
            label=not args.dev_unmarked, watermark=not args.dev_unmarked,
            **({"crop": args.crop, "detect_every": args.detect_every,
                "smooth": not args.no_smooth, "max_side": args.max_side,
                "audio": not args.no_audio} if hasattr(args, "crop") else {}))
    except ValueError as e:
        parser.error(str(e))


def _finish(report, args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        print(report.summary())
        if args.dev_unmarked:
            print("  note: --dev-unmarked: no label and no watermark (developer use only; "
                  "the mp4 metadata still says ai_generated=true)")
    return 0


def _run(prog: str, fn) -> int | None:
    """Run ``fn``; media, face and encoding problems end the command with status 1."""
    from ..faces.errors import FaceError
    from .writer import EncodeError

    try:
        return fn()
    except (FaceError, EncodeError) as e:
        print(f"deepfake-lab {prog}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"deepfake-lab {prog}: interrupted; nothing was written", file=sys.stderr)
        return 130


def cmd_swap(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run ``swap``: 0 on success, 1 for unreadable media or a clip without faces."""
    from .pipeline import swap_video
    from .strategies import make_strategy

    model = _setup(args, parser)
    opts = _options(args, parser, mask=args.mask, erode=args.erode, blur=args.blur,
                    color=args.color, seamless=args.seamless)
    if args.detect_every < 1:
        parser.error("--detect-every must be at least 1")
    try:  # an unknown identity or strategy is a usage error, found before any work
        strategy = make_strategy(model, args.strategy, to=args.to, source=args.source,
                                 z=args.z, seed=args.seed)
    except ValueError as e:
        parser.error(str(e))
    return _run("swap", lambda: _finish(swap_video(args.input, args.out, model,
                                                   strategy=strategy, options=opts), args))


def cmd_animate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run ``animate``: 0 on success."""
    from ..attributes import AttributeValueError
    from .pipeline import animate_video

    model = _setup(args, parser)
    opts = _options(args, parser)
    base = {}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set expects NAME=VALUE, got {item!r}")
        try:
            base[name.strip()] = float(value)
        except ValueError:
            parser.error(f"--set {name}: {value!r} is not a number")
    try:
        report = animate_video(args.out, model, identity=args.identity, path=args.path,
                               seconds=args.seconds, fps=args.fps, size=args.size, z=args.z,
                               seed=args.seed, ease=args.ease, base=base, options=opts)
    except (AttributeValueError, ValueError) as e:
        parser.error(str(e))
    return _finish(report, args)
