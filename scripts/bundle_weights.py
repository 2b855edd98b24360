"""Copy a trained run into the package's bundled weights (fp16, with a description).

    python scripts/bundle_weights.py runs/cvae64 cvae-synthfaces-64 "CVAE on SynthFaces, 64 px"
    python scripts/bundle_weights.py runs/judge/judge_synthfaces judge "Judge ..." --kind judge

The bundled file keeps the run's JSON config (architecture, sizes, schema, recipe, step) and
adds ``description`` and ``bundled_from``; floating-point tensors are stored as fp16 to halve
the size (loading converts back to fp32; the difference is far below what any metric sees).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from deepfake_lab.checkpoints import load_checkpoint, save_checkpoint
from deepfake_lab.registry import BUNDLED, WEIGHTS_DIR

JUDGE_STEM = "judge_synthfaces"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="run directory (its model.*) or checkpoint path")
    ap.add_argument("name", help=f"bundled name: one of {', '.join(BUNDLED)} or 'judge'")
    ap.add_argument("description")
    ap.add_argument("--kind", default="model", choices=("model", "judge"))
    args = ap.parse_args()
    src = Path(args.run)
    if src.is_dir():
        src = src / "model"
    tensors, cfg = load_checkpoint(src, kind=args.kind)
    stem = JUDGE_STEM if args.kind == "judge" else BUNDLED[args.name]
    half = {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}
    cfg = {k: v for k, v in cfg.items() if k != "format"}
    # "RUN" for a run directory, "RUN/snapshots/STEP" for one of its kept checkpoints
    origin = "/".join(src.parts[-3:]) if src.parent.name == "snapshots" else Path(args.run).name
    cfg.update(description=args.description, bundled_from=origin, dtype="float16")
    out = save_checkpoint(WEIGHTS_DIR / stem, half, cfg)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, step {cfg.get('step')})")


if __name__ == "__main__":
    main()
