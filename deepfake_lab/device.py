"""Device choice (cuda > mps > cpu, overridable) and seeding, in one place."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

ENV_DEVICE = "DEEPFAKE_LAB_DEVICE"


def pick_device(preferred: str | None = None) -> torch.device:
    """The device to run on: ``preferred``, else ``$DEEPFAKE_LAB_DEVICE``, else the best present.

    Raises ``RuntimeError`` with a clear message when an explicitly requested device is absent.
    """
    name = preferred or os.environ.get(ENV_DEVICE) or ""
    if name:
        dev = torch.device(name)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {name!r} requested but CUDA is not available here")
        if dev.type == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError(f"device {name!r} requested but Apple MPS is not available here")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def fast_mode() -> bool:
    """True when ``DEEPFAKE_LAB_FAST=1``: tiny sizes for CI and notebooks."""
    return os.environ.get("DEEPFAKE_LAB_FAST", "0") not in ("", "0", "false", "False")
