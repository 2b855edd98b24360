"""Process settings for serving the studio on a CPU (``deepfake-lab studio``, ``apps/studio.py``).

A preview is a chain of many *small* tensor operations (one SynthFaces render is ~1,200 torch
calls on a 128 px face) called from whichever Gradio worker thread picked the request.  Two
process-wide defaults cost such a server more than they save, measured with
``benchmarks/studio.py`` on 2 cores:

* **One torch thread per request.**  Intra-op parallelism splits each small operation over
  the cores and pays a wake-up for every one; worse, every Gradio worker thread that calls
  torch gets its own OpenMP team, and once two teams exist a 128 px render from a worker
  thread took ~2x as long as from the main thread.  With one thread, the render does not
  care which thread calls it, and two users' previews (the queue runs two at once) each get
  a core instead of fighting over both.
* **Keep freed memory.**  glibc hands the top of a worker thread's heap back to the kernel
  whenever more than the trim threshold is free; the next render faults every page in again
  (~2,200 page faults per 128 px render in the server, none once the memory stays).  A
  256 MiB trim threshold keeps it.  Linux with glibc only; elsewhere nothing changes.

Tests and notebooks never call this: it changes settings for the whole process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

import torch

SERVING_THREADS = 1
"""torch CPU threads while serving (``--threads`` overrides)."""

TRIM_THRESHOLD = 256 << 20
"""Bytes of free heap glibc may keep before returning memory to the kernel."""

_M_TRIM_THRESHOLD = -1  # mallopt parameter number, from glibc's <malloc.h>


def keep_freed_memory(threshold: int = TRIM_THRESHOLD) -> bool:
    """Raise glibc's trim threshold (``mallopt(M_TRIM_THRESHOLD, threshold)``); ``True`` if
    it took effect, ``False`` where there is no glibc (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt(_M_TRIM_THRESHOLD, int(threshold)) == 1


def tune_for_serving(threads: int | None = None) -> dict:
    """Apply the serving settings above; return what was set.

    Args:
        threads: torch CPU threads (default :data:`SERVING_THREADS`).

    Returns:
        ``{"torch_threads": int, "keep_freed_memory": bool}``.
    """
    n = SERVING_THREADS if threads is None else int(threads)
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    torch.set_num_threads(n)
    return {"torch_threads": torch.get_num_threads(), "keep_freed_memory": keep_freed_memory()}
