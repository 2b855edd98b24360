"""One-euro smoothing: steady landmarks when the head is still, no lag when it moves.

Landmarks jitter by a pixel or two from frame to frame even on a motionless face, and an
aligned crop magnifies that into a shaking face.  A plain low-pass filter removes jitter but
makes fast motion lag behind.  The one-euro filter (Casiez, Roussel & Vogel, CHI 2012) is a
low-pass filter whose cutoff frequency *rises with speed*:

    cutoff = min_cutoff + beta * |speed|        (speed itself low-passed at d_cutoff)
    alpha  = 1 / (1 + tau / dt),  tau = 1 / (2 pi cutoff)
    x_hat  = x_hat_prev + alpha * (x - x_hat_prev)

Still: the cutoff is ``min_cutoff`` (heavy smoothing, jitter gone).  Moving fast: the cutoff
grows and the filter follows.  Two knobs, ``min_cutoff`` (Hz) for jitter and ``beta`` for
lag, tuned in that order.
"""

from __future__ import annotations

import math

import numpy as np


def _alpha(cutoff: float, dt: float) -> float:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Smooth a stream of arrays (any fixed shape) sampled at times ``t`` (seconds).

    >>> f = OneEuroFilter(min_cutoff=1.0, beta=0.5)
    >>> smooth = [f(x, t) for t, x in stream]          # doctest: +SKIP
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.0,
                 d_cutoff: float = 1.0) -> None:
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError("need min_cutoff > 0, d_cutoff > 0 and beta >= 0")
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.reset()

    def reset(self) -> None:
        """Forget the past (call it when the tracked face is lost or changes)."""
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._t is None or t <= self._t:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), float(t)
            return x.copy()
        dt = t - self._t
        dx = (x - self._x) / dt
        self._dx = self._dx + _alpha(self.d_cutoff, dt) * (dx - self._dx)
        cutoff = self.min_cutoff + self.beta * np.abs(self._dx)
        tau = 1.0 / (2.0 * math.pi * cutoff)
        a = 1.0 / (1.0 + tau / dt)
        self._x = self._x + a * (x - self._x)
        self._t = float(t)
        return self._x.copy()


class LandmarkSmoother:
    """One-euro filter for 68 landmarks, in units of the face's size *at the track's start*.

    Measuring in face sizes (the outer-eye-corner distance) makes the same settings work for
    a face 60 px wide and one 600 px wide.  The size is measured **once per track** (the
    first frame after :meth:`reset`): dividing pixel coordinates by a size that itself
    jitters by 1 % would move a point 300 px from the image origin by 3 px - more than the
    jitter being removed.
    """

    def __init__(self, min_cutoff: float = 1.5, beta: float = 2.0) -> None:
        self.filter = OneEuroFilter(min_cutoff=min_cutoff, beta=beta)
        self.scale: float | None = None

    def reset(self) -> None:
        """Forget the track (the next frame sets a new face size)."""
        self.filter.reset()
        self.scale = None

    def __call__(self, landmarks: np.ndarray, t: float) -> np.ndarray:
        lm = np.asarray(landmarks, dtype=np.float64)
        if self.scale is None:  # outer eye corners' distance, fixed for the whole track
            self.scale = max(float(np.linalg.norm(lm[45] - lm[36])), 1.0)
        return (self.filter(lm / self.scale, t) * self.scale).astype(np.float32)
