"""Execute notebooks in place so that GitHub shows their outputs.

    python notebooks/execute.py                           # every notebook, medium mode
    python notebooks/execute.py notebooks/02_*.ipynb      # some notebooks
    python notebooks/execute.py --mode full notebooks/03_*.ipynb

The mode reaches the notebooks through the environment: ``DEEPFAKE_LAB_NOTEBOOK_MODE`` is set to
``fast``, ``medium`` (the mode the committed outputs use) or ``full``; ``fast`` also sets
``DEEPFAKE_LAB_FAST=1``, as CI does.  Cell timestamps are not recorded, so a re-run changes only
what the cells print and draw; progress bars are stored as their final line.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

MODES = ("fast", "medium", "full")


def set_mode(mode: str) -> None:
    """Make the kernels started from now on run in ``mode``."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    os.environ["DEEPFAKE_LAB_NOTEBOOK_MODE"] = mode
    if mode == "fast":
        os.environ["DEEPFAKE_LAB_FAST"] = "1"
    else:
        os.environ.pop("DEEPFAKE_LAB_FAST", None)


def coalesce_streams(nb: nbformat.NotebookNode) -> None:
    """Merge consecutive stdout/stderr outputs of a cell and keep only what a terminal would
    show after carriage returns, so a progress bar is stored as its final line."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        merged: list = []
        for out in cell.outputs:
            prev = merged[-1] if merged else None
            if (out.output_type == "stream" and prev is not None
                    and prev.output_type == "stream" and prev.name == out.name):
                prev.text += out.text
            else:
                merged.append(out)
        for out in merged:
            if out.output_type == "stream":
                out.text = "\n".join(line.rsplit("\r", 1)[-1] for line in out.text.split("\n"))
        cell.outputs = merged


def execute(path: Path, timeout: int = 3600) -> float:
    """Run every cell of ``path`` (kernel started in the notebook's folder), save it in place."""
    nb = nbformat.read(path, as_version=4)
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    coalesce_streams(nb)
    nbformat.write(nb, path)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    here = Path(__file__).parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="*", type=Path, help="default: every NN_*.ipynb here")
    ap.add_argument("--mode", choices=MODES, default="medium")
    args = ap.parse_args(argv)
    set_mode(args.mode)
    paths = args.notebooks or sorted(here.glob("[0-9][0-9]_*.ipynb"))
    for p in paths:
        secs = execute(p)
        kb = p.stat().st_size / 1024
        print(f"{p.name}: {secs:.1f} s in {args.mode} mode, {kb:.0f} KB", flush=True)


if __name__ == "__main__":
    main()
