"""The ``deepfake-lab`` command line.

    deepfake-lab render --identity boris --yaw 30 --smile 0.8 -o boris.png
    deepfake-lab render --grid -o synthfaces.png
    deepfake-lab schema [--json]
    deepfake-lab train --arch cvae --steps 3000 --out runs/cvae [--resume]
    deepfake-lab plot runs/cvae -o curves.png
    deepfake-lab models [--json]
    deepfake-lab generate --model cvae-synthfaces-64 --identity ada --yaw 20 --swap-to boris
    deepfake-lab eval --model cvae-synthfaces-64 --json
    deepfake-lab verify generated.png --json
    deepfake-lab extract clip.mp4 --out facesets/clip
    deepfake-lab swap clip.mp4 --model cvae-synthfaces-64 --to boris --out swapped.mp4
    deepfake-lab animate --model cvae-synthfaces-64 --identity ada --path "yaw:-30..30" \
        --seconds 4 --out ada.mp4

Attribute flags are generated from the attribute schema (``--yaw``, ``--mouth-open``,
``--hair-length`` ...), so the CLI can never disagree with it.  ``--set NAME=VALUE`` takes
any attribute by its schema name.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence

from . import __version__
from .attributes import SYNTHFACES_SCHEMA, AttributeValueError

SCHEMA = SYNTHFACES_SCHEMA


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _add_attribute_flags(parser: argparse.ArgumentParser) -> None:
    for group in ("pose", "expression", "identity"):
        title = {"pose": "pose (degrees)", "expression": "expression",
                 "identity": "identity sliders (override the chosen --identity)"}[group]
        g = parser.add_argument_group(title)
        for a in getattr(SCHEMA, group):
            g.add_argument(_flag(a.name), dest=a.name, type=float, default=None,
                           metavar="V",
                           help=f"{a.description}; range [{a.low:g}, {a.high:g}], "
                                f"default {a.default:g}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deepfake-lab",
        description="A teaching-first lab for face swapping.",
    )
    parser.add_argument("--version", action="version", version=f"deepfake-lab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser(
        "render", allow_abbrev=False,
        usage="deepfake-lab render [--identity NAME|SEED] [--ATTRIBUTE V ...] [--grid] [-o FILE]",
        help="render SynthFaces (one face, or a grid of identities x poses x expressions)",
        description="Render SynthFaces: procedural faces with exact attribute labels.",
    )
    r.add_argument("--identity", default="ada",
                   help="a catalogue name (ada, boris, ...) or an integer seed for a random "
                        "person (default: ada)")
    r.add_argument("--size", type=int, default=None,
                   help="image side in pixels (default: 256 for one face, 96 for a grid)")
    r.add_argument("--scene", choices=("neutral", "random"), default="neutral",
                   help="lighting and background: neutral (default) or random from --seed")
    r.add_argument("--seed", type=int, default=0, help="seed for --scene random")
    r.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="set any attribute by its schema name (repeatable)")
    r.add_argument("--grid", action="store_true",
                   help="a contact sheet: catalogue identities x poses x expressions")
    r.add_argument("--identities", default=None,
                   help="comma-separated identities for --grid rows (names or seeds)")
    r.add_argument("-o", "--output", default="synthfaces.png", help="output image file")
    _add_attribute_flags(r)

    s = sub.add_parser("schema", help="print the attribute schema")
    s.add_argument("--json", action="store_true", help="machine-readable JSON")

    t = sub.add_parser("train", help="train a two-decoder, CVAE or cGAN model",
                       description="Train one of the three architectures on SynthFaces. "
                                   "Also runs under torchrun --nproc_per_node=N (DDP).")
    t.add_argument("--arch", required=True, choices=("two-decoder", "cvae", "cgan"))
    t.add_argument("--data", default="synthfaces",
                   help="'synthfaces' (default) or real facesets, comma-separated: bundled "
                        "samples (woman, man, carphone) or folders made by 'deepfake-lab "
                        "extract'. two-decoder: exactly two facesets, one per person; cvae: "
                        "one learned identity per faceset")
    t.add_argument("--steps", type=int, default=3000, help="total steps (default 3000)")
    t.add_argument("--batch", type=int, default=None, help="batch size (recipe default)")
    t.add_argument("--size", type=int, default=64, choices=(64, 128), help="image size")
    t.add_argument("--lr", type=float, default=None, help="learning rate (recipe default)")
    t.add_argument("--people", default="ada,boris",
                   help="two-decoder: the two SynthFaces people (names or seeds)")
    t.add_argument("--init-from", default=None, metavar="CKPT",
                   help="cgan: warm-start generator and encoder from a CVAE, or from a "
                        "trained cGAN with an encoder (bundled name, run directory or "
                        "checkpoint); --anchor then anchors to that generator")
    t.add_argument("--continue-from", default=None, metavar="MODEL",
                   help="start from the weights and step of a model of the same architecture "
                        "and sizes (a bundled name or a run's model), with fresh optimisers; "
                        "--steps is the total to reach")
    t.add_argument("--reader", default=None, metavar="CKPT",
                   help="SynthFaces: a frozen attribute reader (a judge trained with another "
                        "seed, never the evaluation judge) whose reading of each output joins "
                        "the loss: the CVAE's reconstructions, the cGAN's and the pair's swaps; "
                        "sharpens what pixels under-weight, e.g. smiles")
    t.add_argument("--w-read", type=float, default=None, metavar="W",
                   help="weight of the reader loss (default 0.2 when --reader is given)")
    t.add_argument("--read-identity", type=float, default=None, metavar="W",
                   help="weight of each identity number in the reader loss (default 1; pose "
                        "and expression numbers weigh 3): more asks swaps to look like their "
                        "target more than to follow the source")
    t.add_argument("--read-expression", type=float, default=None, metavar="W",
                   help="weight of each expression number in the reader loss (default 3, as "
                        "pose): more asks swaps to show the source's smile, mouth, eyes and "
                        "brows more than anything else")
    t.add_argument("--code-critic", type=float, default=None, metavar="W",
                   help="two-decoder: weight of a code critic that keeps the two people's "
                        "codes indistinguishable, so a swap's code is one the target's decoder "
                        "has trained on (DeepFaceLab's 'true face'; default 0: off; 0.1 "
                        "raised the SynthFaces pair's identity retrieval from 71 to 92 %%, but "
                        "worsened the real pair's pose: it assumes both people show the same "
                        "range of poses)")
    t.add_argument("--anchor", type=float, default=None, metavar="W",
                   help="cgan: weight of an anchor that keeps each swap's low frequencies "
                        "(blurred by --anchor-blur px) those of the CVAE of --init-from, "
                        "so the game sharpens the CVAE's swaps instead of changing whom they "
                        "show (default 0: off)")
    t.add_argument("--anchor-blur", type=float, default=None, metavar="SIGMA",
                   help="cgan: the anchor compares the swaps blurred by a Gaussian of SIGMA px "
                        "(default 1)")
    t.add_argument("--anchor-release", type=float, default=None, metavar="F",
                   help="cgan: in [0, 1], how far the anchor lets go where expressions show "
                        "(the renderer's map of the pixels smile, mouth, eyes and brows move: "
                        "deepfake_lab.data.expression_region), so that the game can draw an "
                        "expression the CVAE leaves out (default 0: an even anchor)")
    t.add_argument("--rec-focus", type=float, default=None, metavar="K",
                   help="cgan: the reconstruction loss counts 1 + K times where expressions "
                        "show (DeepFaceLab's eyes-and-mouth priority; default 0: even)")
    t.add_argument("--rec-blur", type=float, default=None, metavar="SIGMA",
                   help="cgan: --rec-focus's extra weight compares the images blurred by a "
                        "Gaussian of SIGMA px, so that a thin line drawn a pixel off (a frown's "
                        "crease) costs less than none (default: unblurred)")
    t.add_argument("--counterfactual", type=float, default=None, metavar="W",
                   help="cgan: weight of a counterfactual loss: each frame is rendered again "
                        "with one expression redrawn (SynthFaces can), and the generator's "
                        "change between its two reconstructions is asked to be the "
                        "renderer's, so an expression too faint for a pixel loss counts "
                        "(default 0: off)")
    t.add_argument("--frame-focus", type=float, default=None, metavar="K",
                   help="cgan: the reconstruction loss counts 1 + K times on the very pixels "
                        "where each frame's --focus-on expressions show (where it differs "
                        "from a render of the same frame with one of them redrawn), e.g. a "
                        "frown's two creases; instead of --rec-focus's map over all faces "
                        "(default 0: off)")
    t.add_argument("--focus-on", default=None, metavar="NAMES",
                   help="cgan: --anchor-release and --rec-focus act where these expression "
                        "attributes show, and --counterfactual and --frame-focus redraw "
                        "them, e.g. "
                        "smile,mouth_open (default: all four)")
    t.add_argument("--adversarial", type=float, default=None, metavar="W",
                   help="cgan: weight of the game, the discriminator's and the detail "
                        "critic's terms (default 1); 0 leaves the critics out: a polish of a "
                        "trained cGAN (--init-from) by its anchor, reconstruction and reader "
                        "alone, which restarts no game against a fresh discriminator")
    t.add_argument("--d-warmup", type=int, default=None, metavar="N",
                   help="cgan: the first N steps train only the critics, so that a trained "
                        "generator continued with --init-from meets a discriminator that "
                        "knows it rather than a fresh one (default 0)")
    t.add_argument("--detail-critic", type=float, default=None, metavar="W",
                   help="cgan: weight of a second, patch critic that judges only the finest "
                        "detail (the image minus its 1-px Gaussian blur) beside the coarse "
                        "picture under it, asking for strands and outlines rather than a "
                        "grid; measured in the model card (default 0: off)")
    t.add_argument("--ema", type=float, default=None, metavar="DECAY",
                   help="cgan: the saved model generates with an exponential moving average "
                        "of the generator's weights (e.g. 0.995), which smooths the "
                        "step-to-step swings of GAN training but also fades its fine texture "
                        "(measured in the model card); the live generator trains as before "
                        "(default 0: off)")
    t.add_argument("--out", default=None, help="run directory (default runs/ARCH)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--save-every", type=int, default=250)
    t.add_argument("--keep-every", type=int, default=0, metavar="N",
                   help="also keep the model of every N-th step as OUT/snapshots/STEP (to "
                        "average late checkpoints: scripts/average_checkpoints.py; default 0: "
                        "off)")
    t.add_argument("--sample-every", type=int, default=250)
    t.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    t.add_argument("--device", default=None, help="cuda, mps or cpu (default: best present)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--eval-every", type=int, default=0, metavar="N",
                   help="judge the swaps on 64 held-out problems every N steps (and at the "
                        "end) into OUT/eval.jsonl; needs the judge (default 0: off)")
    t.add_argument("--csv", action="store_true", help="also write OUT/log.csv")
    t.add_argument("--max-minutes", type=float, default=None, metavar="M",
                   help="stop cleanly after M minutes (a resumable checkpoint is written)")

    m = sub.add_parser("models", help="list the bundled models")
    m.add_argument("--json", action="store_true", help="machine-readable JSON")

    gen = sub.add_parser(
        "generate", allow_abbrev=False,
        help="a face from a model: from attributes, or swapped to another identity",
        description="Generate with a trained model. Conditional models draw the face the "
                    "attributes describe; --swap-to renders the source face (a SynthFaces "
                    "render of --identity, or --source IMAGE) and swaps it.")
    gen.add_argument("--model", required=True, help="bundled name or checkpoint path")
    gen.add_argument("--identity", default="ada", help="identity of the face (name or seed)")
    gen.add_argument("--swap-to", default=None, metavar="IDENTITY",
                     help="swap the source face to this identity (name, seed, or for a "
                          "two-decoder model one of its people)")
    gen.add_argument("--source", default=None, metavar="IMAGE",
                     help="an aligned face image as the source instead of a render; its "
                          "pose/expression come from the attribute flags")
    gen.add_argument("--scene", choices=("neutral", "random"), default="neutral")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    gen.add_argument("--size", type=int, default=256, help="output side in pixels")
    gen.add_argument("--sheet", action="store_true",
                     help="write source | output | ground truth side by side")
    gen.add_argument("-o", "--output", default="generated.png")
    gen.add_argument("--dev-unmarked", action="store_true", help=argparse.SUPPRESS)
    _add_attribute_flags(gen)

    e = sub.add_parser("eval", help="judge a model's swaps on held-out identities",
                       description="SynthFaces models: ID retrieval, pose/expression error, "
                                   "PSNR, SSIM, sharpness and KID against exact ground-truth "
                                   "swaps. Real-face models: identity (dlib embedding nearer "
                                   "the target), pose and expression kept, on held-out frames.")
    e.add_argument("--model", required=True, help="bundled name or checkpoint path")
    e.add_argument("--n", type=int, default=512, help="number of swaps (default 512)")
    e.add_argument("--seed", type=int, default=7)
    e.add_argument("--judge", default=None, help="judge checkpoint (default: bundled)")
    e.add_argument("--json", action="store_true", help="machine-readable JSON")

    v = sub.add_parser("verify", help="check a file for the AI-generated label, watermark "
                                      "and metadata")
    v.add_argument("file", help="an image or a video written by deepfake-lab (PNG, mp4 ...)")
    v.add_argument("--json", action="store_true", help="machine-readable JSON")
    pl = sub.add_parser("plot", help="draw a run's learning curves to PNG",
                        description="One panel per logged quantity of RUN_DIR/log.jsonl "
                                    "(losses, images/s, GFLOP/s) and per swap metric of "
                                    "RUN_DIR/eval.jsonl, against the training step.")
    pl.add_argument("run", metavar="RUN_DIR", help="a run directory (deepfake-lab train --out)")
    pl.add_argument("-o", "--output", default=None,
                    help="PNG file to write (default RUN_DIR/curves.png)")
    pl.add_argument("--keys", default=None,
                    help="comma-separated quantities to draw (default: every one logged)")
    from .faces.cli import add_extract_parser
    x = add_extract_parser(sub)
    from .video.cli import add_video_parsers
    video = add_video_parsers(sub)
    parser.set_defaults(subparsers={"render": r, "schema": s, "train": t, "models": m,
                                    "generate": gen, "eval": e, "verify": v, "extract": x,
                                    "plot": pl,
                                    **video})
    return parser


def _attribute_values(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict:
    values = {a.name: getattr(args, a.name) for a in SCHEMA.attributes
              if getattr(args, a.name) is not None}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set expects NAME=VALUE, got {item!r}")
        try:
            values[name.strip()] = float(value)
        except ValueError:
            parser.error(f"--set {name}: {value!r} is not a number")
    try:
        SCHEMA.validate(values)
    except AttributeValueError as e:
        parser.error(str(e))
    return values


def _identity_arg(text: str) -> str | int:
    return int(text) if text.strip().lstrip("-").isdigit() else text.strip()


def cmd_render(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .data import synthfaces
    from .images import labelled_sheet, save_image

    values = _attribute_values(args, parser)
    try:
        if args.grid:
            size = args.size or 96
            idents = ([_identity_arg(t) for t in args.identities.split(",") if t.strip()]
                      if args.identities else synthfaces.catalogue_names())
            views = {k: {**v, **values} for k, v in synthfaces.GRID_VIEWS.items()}
            images = synthfaces.render_grid(idents, views, size=size, scene=args.scene,
                                            seed=args.seed)
            sheet = labelled_sheet(images, len(views), [str(i) for i in idents], list(views))
            path = save_image(sheet, args.output)
        else:
            size = args.size or 256
            img = synthfaces.render_one(_identity_arg(args.identity), size=size,
                                        scene=args.scene, seed=args.seed, **values)
            path = save_image(img, args.output)
    except (KeyError, ValueError) as e:
        parser.error(str(e).strip("\"'"))
    print(f"wrote {path}")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    print(SCHEMA.dumps() if args.json else SCHEMA.table())
    return 0


def _reject_unknown(unknown: list[str], parser: argparse.ArgumentParser) -> None:
    """Turn argparse's 'unrecognized arguments' into a hint about attribute names."""
    flag = next((u for u in unknown if u.startswith("-")), unknown[0]).split("=")[0]
    known = sorted(_flag(a.name) for a in SCHEMA.attributes)
    close = difflib.get_close_matches(flag, known, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    parser.error(f"unknown option or attribute {flag}{hint} "
                 f"(see 'deepfake-lab schema' for all attributes)")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    sub = parser.get_default("subparsers").get(args.command, parser)
    if unknown and args.command in ("render", "generate"):
        _reject_unknown(unknown, sub)
    elif unknown:
        sub.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.command == "render":
        return cmd_render(args, sub)
    if args.command == "schema":
        return cmd_schema(args)
    if args.command == "extract":
        from .faces.cli import cmd_extract
        return cmd_extract(args, sub)
    if args.command in ("swap", "animate"):
        from .video import cli as video_cli
        return getattr(video_cli, f"cmd_{args.command}")(args, sub)
    if args.command in ("train", "models", "generate", "eval", "verify", "plot"):
        from . import commands
        return getattr(commands, f"cmd_{args.command}")(args, sub)
    parser.print_help()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
