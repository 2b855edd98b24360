"""Tracking: one face followed through a clip, with steady landmarks and attributes.

Detecting a face from scratch (dlib's HOG detector scanning the whole frame) costs ~13 ms
at 640x360; its 68 landmarks cost ~2.5 ms.  So the tracker detects rarely and predicts
landmarks every frame::

    frame 0          full detection -> the largest face -> landmarks
    frame 1..k-1     box = last detector box, moved and scaled with the landmarks
                     -> landmarks                              (no detection at all)
    frame k, 2k ...  detection in a small window around the face (``detect_near``, ~3 ms)
                     confirms it; if the window is empty: full detection; nothing -> lost
    lost             full detection on every frame until a face comes back

Between detections two cheap checks catch a track that has gone wrong, and that frame is
re-detected at once:

* **geometry** - the landmark fit has run away: the face's size jumps by more than 40 % or
  its centre by more than half a face;
* **appearance** - the face is gone: the grey 24x24 patch under the box no longer
  resembles the patch at the last detection (normalised cross-correlation below 0.5).  The
  landmark predictor always answers with 68 points, even on a blank wall, so without this
  a cut to an empty scene would keep a ghost face until the next detection.

The landmark predictor was trained on boxes from this detector, so the tracker keeps the
*detector's* box and only moves it with the landmarks' centre and size, rather than boxing
the landmarks themselves (which shifts the fit frame after frame).

**Smoothing** (one-euro, :class:`deepfake_lab.faces.smoothing.OneEuroFilter`): landmarks
jitter by a pixel or two on a still face, which the aligned crop magnifies into a shaking
face; pose from ``solvePnP`` and expression ratios jitter further.  Both streams are
filtered - landmarks in units of the face size, attributes in the schema's normalised
units - and both filters restart when the face is lost.  ``smooth=False`` turns both off
(to measure what they do: :mod:`.flicker`).

The face size that sets the landmark units is measured **once per track** (at its first
frame; :class:`~deepfake_lab.faces.smoothing.LandmarkSmoother`), not on every frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..attributes import EXPRESSION, POSE
from ..faces.backend import Box, FaceBackend
from ..faces.estimate import estimate_attributes
from ..faces.extract import face_size
from ..faces.smoothing import LandmarkSmoother, OneEuroFilter

_POSE_EXPR = POSE + EXPRESSION
PATCH = 24  # side of the appearance patch
MIN_NCC = 0.5  # below this the patch is "not the face we were following"


def face_patch(frame: np.ndarray, box: Box) -> np.ndarray | None:
    """The grey ``PATCH`` x ``PATCH`` patch under ``box``, zero-mean and unit-norm (flattened);
    ``None`` for a box off the frame or a flat patch (no texture: no face)."""
    import cv2

    h, w = frame.shape[:2]
    x0, y0 = max(int(box.left), 0), max(int(box.top), 0)
    x1, y1 = min(int(box.right), w), min(int(box.bottom), h)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    grey = cv2.cvtColor(np.ascontiguousarray(frame[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    p = cv2.resize(grey, (PATCH, PATCH), interpolation=cv2.INTER_AREA).astype(np.float32)
    p = p.reshape(-1) - p.mean()
    norm = float(np.linalg.norm(p))
    return p / norm if norm > 1e-3 * PATCH else None


@dataclass
class TrackedFace:
    """The tracked face in one frame."""

    landmarks: np.ndarray  # (68, 2) frame pixels, smoothed when smoothing is on
    box: Box  # the detector-style box the landmarks were predicted from
    attributes: dict[str, float] | None  # pose + expression (schema names, units), if asked
    faces_seen: int  # faces found at the last full detection (>= 1)
    detected: bool  # True if a detector ran on this frame


class FaceTracker:
    """Follow the largest face of a clip (see the module docstring).

    ``detect_every``: confirm the face with a window detection every k-th frame (1 = every
    frame).  ``attributes``: also estimate pose and expression (conditional models need
    them).  Call once per frame, in order, with the frame's time in seconds.
    """

    def __init__(self, backend: FaceBackend, *, detect_every: int = 5, smooth: bool = True,
                 attributes: bool = True, min_cutoff: float = 1.5, beta: float = 2.0,
                 attribute_cutoff: float = 1.0, attribute_beta: float = 0.5) -> None:
        if detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {detect_every}")
        self.backend = backend
        self.detect_every = int(detect_every)
        self.smooth = smooth
        self.want_attributes = attributes
        self._lm_filter = LandmarkSmoother(min_cutoff=min_cutoff, beta=beta)
        self._attr_filter = OneEuroFilter(min_cutoff=attribute_cutoff, beta=attribute_beta)
        self.stats = {"full_detections": 0, "window_detections": 0, "lost": 0,
                      "rejected_fits": 0, "appearance_changes": 0}
        self.reset()

    def reset(self) -> None:
        """Forget the face (the next frame starts with a full detection)."""
        self._box: Box | None = None  # detector box at the last detection
        self._anchor: tuple[np.ndarray, float] | None = None  # landmark centre, size then
        self._last: tuple[np.ndarray, float] | None = None  # centre, size on the last frame
        self._since = 0
        self._faces = 0
        self._patch: np.ndarray | None = None  # appearance at the last detection
        self._lm_filter.reset()
        self._attr_filter.reset()

    # ---- locating the face -------------------------------------------------------------
    @staticmethod
    def _geometry(lm: np.ndarray) -> tuple[np.ndarray, float]:
        return lm.mean(0), max(face_size(lm), 1.0)

    def _full_detect(self, frame: np.ndarray) -> tuple[Box, np.ndarray] | None:
        self.stats["full_detections"] += 1
        boxes = self.backend.detect(frame)
        self._faces = len(boxes)
        if not boxes:
            return None
        # "largest" by the landmarks: detector boxes come in a few fixed sizes
        found = [(b, self.backend.landmarks(frame, b)) for b in boxes]
        return max(found, key=lambda f: face_size(f[1]))

    def _predicted_box(self) -> Box:
        """The last detector box, moved and scaled as the landmarks moved since then."""
        (c0, s0), (c1, s1) = self._anchor, self._last
        f = s1 / s0
        b = self._box
        cx, cy = b.center
        w, h = b.width * f, b.height * f
        nx, ny = cx + (c1[0] - c0[0]), cy + (c1[1] - c0[1])
        return Box(nx - w / 2, ny - h / 2, nx + w / 2, ny + h / 2, b.score)

    def _plausible(self, lm: np.ndarray) -> bool:
        c, s = self._geometry(lm)
        c_prev, s_prev = self._last
        return 1 / 1.4 < s / s_prev < 1.4 and float(np.linalg.norm(c - c_prev)) < 0.5 * s_prev

    def _locate(self, frame: np.ndarray) -> tuple[Box, np.ndarray, bool] | None:
        if self._box is not None:
            if self._since + 1 >= self.detect_every:
                self.stats["window_detections"] += 1
                box = self.backend.detect_near(frame, self._predicted_box())
                if box is not None:
                    return box, self.backend.landmarks(frame, box), True
            else:
                predicted = self._predicted_box()
                patch = face_patch(frame, predicted)
                if patch is None or self._patch is None or float(patch @ self._patch) < MIN_NCC:
                    self.stats["appearance_changes"] += 1
                else:
                    lm = self.backend.landmarks(frame, predicted)
                    if self._plausible(lm):
                        return self._box, lm, False
                    self.stats["rejected_fits"] += 1
                box = self.backend.detect_near(frame, predicted)
                if box is not None:
                    self.stats["window_detections"] += 1
                    return box, self.backend.landmarks(frame, box), True
        found = self._full_detect(frame)
        if found is None:
            return None
        return found[0], found[1], True

    # ---- one frame ---------------------------------------------------------------------
    def __call__(self, frame: np.ndarray, t: float) -> TrackedFace | None:
        """The face in uint8 ``(H, W, 3)`` ``frame`` at time ``t`` (s), or ``None``."""
        had_face = self._box is not None
        found = self._locate(frame)
        if found is None:
            if had_face:
                self.stats["lost"] += 1
            self.reset()
            return None
        box, raw, detected = found
        raw = np.asarray(raw, np.float32)
        geometry = self._geometry(raw)
        if detected:
            self._box, self._anchor, self._since = box, geometry, 0
            self._patch = face_patch(frame, box)
        else:
            self._since += 1
        self._last = geometry
        lm = self._lm_filter(raw, t) if self.smooth else raw
        attrs = None
        if self.want_attributes:
            attrs = estimate_attributes(lm, frame.shape[:2])
            if self.smooth:
                attrs = self._smooth_attributes(attrs, t)
        return TrackedFace(landmarks=lm, box=box, attributes=attrs,
                           faces_seen=max(self._faces, 1), detected=detected)

    def _smooth_attributes(self, attrs: dict[str, float], t: float) -> dict[str, float]:
        # filter in normalised units ([-1, 1]), so one cutoff suits degrees and ratios
        v = np.array([a.normalize(attrs[a.name]) for a in _POSE_EXPR])
        s = self._attr_filter(v, t)
        return {a.name: float(np.clip(a.denormalize(x), a.low, a.high))
                for a, x in zip(_POSE_EXPR, s, strict=True)}
