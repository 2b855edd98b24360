"""Execute notebooks in place so that GitHub shows their outputs.

    python notebooks/execute.py                  # every notebook, full size
    python notebooks/execute.py notebooks/01_*.ipynb
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def execute(path: Path, timeout: int = 1800) -> float:
    nb = nbformat.read(path, as_version=4)
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(nb, path)
    return time.perf_counter() - t0


if __name__ == "__main__":
    here = Path(__file__).parent
    paths = [Path(p) for p in sys.argv[1:]] or sorted(here.glob("[0-9][0-9]_*.ipynb"))
    for p in paths:
        secs = execute(p)
        kb = p.stat().st_size / 1024
        print(f"{p.name}: {secs:.1f} s, {kb:.0f} KB")
