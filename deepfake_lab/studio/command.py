"""``deepfake-lab studio``: open the Gradio studio on this machine.

    deepfake-lab studio                                  # http://127.0.0.1:7860
    deepfake-lab studio --port 8080 --model runs/cvae    # also offer a fresh run

Only argparse and os are imported at module level, so registering the sub-command costs the
command line nothing; torch and Gradio load when the studio actually starts.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def add_studio_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``studio`` on an ``add_subparsers()`` object; returns its parser."""
    p = subparsers.add_parser(
        "studio", help="open the Gradio studio: attribute sliders that drive a face, live",
        description="Serve the studio (sliders generated from the attribute schema, a model "
                    "picker, live previews labelled and watermarked) on HOST:PORT. Extra "
                    "checkpoints come from --model and $DEEPFAKE_LAB_STUDIO_MODELS "
                    "(comma-separated).")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"interface to listen on (default {DEFAULT_HOST}: this machine only; "
                        "0.0.0.0 makes the app reachable from the network)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--model", action="append", default=[], metavar="CKPT",
                   help="a checkpoint or run directory to offer besides the bundled models "
                        "(repeatable)")
    p.add_argument("--device", default=None,
                   help="cuda, mps or cpu (default: $DEEPFAKE_LAB_DEVICE, else the best present)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch (default 1: previews are chains of small "
                        "operations that threads slow down; see deepfake_lab/studio/serving.py)")
    p.add_argument("--display-size", type=int, default=None,
                   help="side of the images the app sends, in pixels (default 128; the browser "
                        "enlarges them with crisp pixels)")
    p.add_argument("--upscale", choices=("nearest", "bicubic"), default="nearest",
                   help="how model outputs are enlarged for display (default nearest: every "
                        "model pixel stays visible)")
    return p


def cmd_studio(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Start the studio and serve until interrupted."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    if not 0 < args.port < 65536:
        parser.error(f"--port must be in 1..65535, got {args.port}")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    try:
        import gradio  # noqa: F401
    except ImportError:
        parser.error("the studio needs Gradio: pip install 'deepfake-lab[studio]' "
                     "(or: pip install 'gradio>=6,<7')")
    from .core import DISPLAY_SIZE, Studio, StudioError
    from .serving import tune_for_serving
    from .ui import build_app, launch

    shown = DISPLAY_SIZE if args.display_size is None else args.display_size
    try:
        studio = Studio(args.model, device=args.device, display_size=shown,
                        upscale=args.upscale)
    except (StudioError, RuntimeError) as e:
        parser.error(str(e))
    tune_for_serving(args.threads)  # after the checks: a refused start changes nothing
    if args.host not in LOOPBACK:
        print(f"note: listening on {args.host}: anyone who can reach this machine can use "
              "the studio")
    demo = build_app(studio)
    try:
        launch(demo, args.host, args.port, block=True)
    except OSError as e:  # port taken, host not resolvable
        parser.error(f"cannot serve on {args.host}:{args.port}: {e}")
    return 0
