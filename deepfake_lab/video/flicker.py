"""Temporal flicker: does the swapped face change more from frame to frame than the real one?

A face swapped frame by frame can shimmer even when every single frame looks right: the
alignment jitters by a pixel, the generator answers a slightly different crop with a
slightly different face, the mask edge wanders.  The eye is very sensitive to that.  The
metric compares the frame-to-frame change inside the face region of the *output* with the
same change in the *input*::

    change(x)_t = mean over the face region R_t of |x_t - x_(t-1)|      (0..255 units)
    flicker     = mean_t change(output)_t / mean_t change(input)_t

``R_t`` is the union of the face regions of frames ``t-1`` and ``t``.  A flicker of 1 means
the swapped face moves exactly as much as the real one did; above 1 the swap adds motion
of its own (jitter, shimmer).  Real motion (a head turn, speech) is in both terms, so the
ratio is about what the *swap* adds.  Measure two settings on the same clip with the same
regions (e.g. smoothing on and off, ``benchmarks/video.py``) to compare them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Flicker:
    """Mean frame-to-frame change of the face region in the output and the input."""

    output_change: float
    input_change: float
    pairs: int

    @property
    def ratio(self) -> float:
        """``output_change / input_change`` (1 = no flicker added; inf for a still input)."""
        return self.output_change / self.input_change if self.input_change > 0 else float("inf")


def face_region(landmarks: np.ndarray, shape: tuple[int, ...], grow: float = 0.15
                ) -> np.ndarray:
    """Boolean ``(H, W)`` mask: the landmarks' convex hull, grown by ``grow`` of the face size."""
    import cv2

    lm = np.asarray(landmarks, dtype=np.float64)
    size = float(np.sqrt(np.prod(np.maximum(lm.max(0) - lm.min(0), 1.0))))
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(lm).astype(np.int32)), 1)
    r = int(round(grow * size))
    if r > 0:
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2))
    return mask.astype(bool)


def frame_change(a: np.ndarray, b: np.ndarray, region: np.ndarray) -> float:
    """Mean absolute difference of two uint8 frames inside a boolean ``region``."""
    if not region.any():
        return 0.0
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))[region]
    return float(d.mean())


def measure_flicker(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray],
            regions: Sequence[np.ndarray | None]) -> Flicker:
    """The flicker of ``outputs`` against ``inputs`` (uint8 ``(H, W, 3)`` frames, same length).

    ``regions[t]`` is the boolean face region of frame ``t`` (``None`` where there is no face;
    pairs touching such a frame are skipped).
    """
    if not len(inputs) == len(outputs) == len(regions):
        raise ValueError(f"need as many inputs, outputs and regions, got {len(inputs)}, "
                         f"{len(outputs)} and {len(regions)}")
    d_out, d_in = [], []
    for t in range(1, len(inputs)):
        if regions[t] is None or regions[t - 1] is None:
            continue
        r = regions[t] | regions[t - 1]
        d_out.append(frame_change(outputs[t], outputs[t - 1], r))
        d_in.append(frame_change(inputs[t], inputs[t - 1], r))
    if not d_out:
        raise ValueError("no two consecutive frames with a face region: nothing to measure")
    return Flicker(float(np.mean(d_out)), float(np.mean(d_in)), len(d_out))
