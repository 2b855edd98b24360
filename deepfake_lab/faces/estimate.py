"""Estimation: 68 landmarks -> the schema's pose and expression, in its units and ranges.

This is where real faces learn to speak the attribute schema.  Every number here is read
off the landmark geometry; nothing is learned, so every step can be checked by hand.

**Pose** - ``cv2.solvePnP`` finds the rotation and translation that make a rigid 3D model
of the 68 points (:data:`MODEL_3D`) project onto the detected landmarks through a pinhole
camera (focal length = the frame's longer side, about a 53 degree field of view).  Only
points that do not move with expressions take part (:data:`POSE_POINTS`: eye corners and
lids, nose, the upper jaw line), so an open mouth does not read as a nod.

The rotation is then expressed exactly as SynthFaces builds its heads,
``R = Rz(roll) Rx(pitch) Ry(yaw)`` in a y-up, z-toward-the-camera frame, which gives the
schema's conventions by construction: +yaw turns the face toward the image's right, +pitch
looks up, +roll tilts the head clockwise in the image.  A face away from the image centre
is seen along an oblique ray; the rotation is measured relative to that ray (how the face
looks in its crop), not to the optical axis.

**Expression** - after removing position, size and roll (an Umeyama fit of the landmarks to
the template), four ratios of distances, each divided by a length that scales with the face
(eye-corner span or nose length):

=============  =====================================================================
smile          mouth width + how far the corners rise above the lip midline
mouth_open     gap between the inner lips / nose length
eyes_open      eye aspect ratio: lid opening / eye width (both eyes averaged)
brow_raise     brow height above the eyes / nose length (+ the inner brows' share)
=============  =====================================================================

each mapped linearly (:data:`EXPRESSION_CALIBRATION`) so that a neutral face reads as the
schema's default and a strong expression of the bundled clips reaches the end of the range,
then clipped into the schema's range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..attributes import EXPRESSION, POSE
from .align import ALIGN_POINTS, TEMPLATE_68, umeyama

# --------------------------------------------------------------------------------------
# The 3D face model
# --------------------------------------------------------------------------------------
#: millimetres per template unit: the outer eye corners (36, 45) end up 90 mm apart
MM_PER_UNIT = 90.0 / float(TEMPLATE_68[45, 0] - TEMPLATE_68[36, 0])

# Depth of each landmark in mm, + = away from the camera, 0 = the outer eye corners' plane
# (typical adult proportions: the nose tip 35 mm in front, the jaw line near the ears
# 45 mm behind).  Symmetric, written for the image-left half and mirrored below.
_DEPTH_LEFT = {
    0: 45, 1: 42, 2: 38, 3: 32, 4: 24, 5: 14, 6: 4, 7: -4, 8: -10,       # jaw line, chin
    17: 5, 18: -3, 19: -9, 20: -12, 21: -13,                            # brow
    27: -12, 28: -18, 29: -25, 30: -35,                                 # nose bridge, tip
    31: -15, 32: -20, 33: -22,                                          # nostrils
    36: 0, 37: -10, 38: -11, 39: -10, 40: -10, 41: -9,                  # eye
    48: -8, 49: -17, 50: -21, 51: -22, 57: -19, 58: -18, 59: -15,       # outer lips
    60: -9, 61: -17, 62: -18, 66: -17, 67: -16,                         # inner lips
}


def _build_model() -> np.ndarray:
    from .align import MIRROR_68

    depth = np.full(68, np.nan)
    for i, z in _DEPTH_LEFT.items():
        depth[i] = z
        depth[MIRROR_68[i]] = z
    assert not np.isnan(depth).any(), "every landmark needs a depth"
    xy = (TEMPLATE_68 - TEMPLATE_68[[36, 45]].mean(0)) * MM_PER_UNIT
    return np.column_stack([xy, depth])


#: the 68 landmarks of an average head in mm: x right, y down, z away from the camera
MODEL_3D = _build_model()

#: landmarks that stay put under expressions: upper jaw line, nose, eye corners and lids
POSE_POINTS = np.array([0, 1, 2, 14, 15, 16, *range(27, 36), *range(36, 48)])


@dataclass(frozen=True)
class Pose:
    """Head pose in degrees, in the schema's conventions."""

    yaw: float
    pitch: float
    roll: float


def _ray_rotation(direction: np.ndarray) -> np.ndarray:
    """The smallest rotation taking the optical axis (0, 0, 1) onto ``direction``."""
    z = np.array([0.0, 0.0, 1.0])
    d = direction / np.linalg.norm(direction)
    v = np.cross(z, d)
    s, c = np.linalg.norm(v), float(z @ d)
    if s < 1e-12:
        return np.eye(3)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]]) / s
    angle = math.atan2(s, c)
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k


def rotation_to_pose(rotation: np.ndarray) -> Pose:
    """A head -> camera rotation in OpenCV axes (x right, y down, z forward) -> degrees.

    Flip to SynthFaces' axes (y up, z toward the camera) with ``C = diag(1, -1, -1)``, then
    read ``R = Rz(roll) Rx(pitch) Ry(yaw)`` off its last row and first two columns.
    """
    c = np.diag([1.0, -1.0, -1.0])
    m = c @ rotation @ c
    pitch = -math.asin(float(np.clip(m[2, 1], -1.0, 1.0)))
    yaw = math.atan2(-m[2, 0], m[2, 2])
    roll = math.atan2(m[0, 1], m[1, 1])
    return Pose(math.degrees(yaw), math.degrees(pitch), math.degrees(roll))


def estimate_pose(landmarks: np.ndarray, image_size: tuple[int, int],
                  focal: float | None = None) -> Pose:
    """Yaw, pitch and roll (degrees, unclipped) from 68 landmarks in a ``(h, w)`` frame."""
    import cv2

    h, w = image_size
    f = float(focal or max(h, w))
    camera = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]], dtype=np.float64)
    obj = MODEL_3D[POSE_POINTS]
    img = np.asarray(landmarks, dtype=np.float64)[POSE_POINTS]
    ok, rvec, tvec = cv2.solvePnP(obj, img, camera, None, flags=cv2.SOLVEPNP_EPNP)
    if ok:
        ok, rvec, tvec = cv2.solvePnP(obj, img, camera, None, rvec, tvec,
                                      useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok or tvec[2, 0] <= 0:  # degenerate landmarks: fall back to a frontal guess
        return Pose(0.0, 0.0, 0.0)
    rotation, _ = cv2.Rodrigues(rvec)
    rotation = _ray_rotation(tvec[:, 0]).T @ rotation
    return rotation_to_pose(rotation)


# --------------------------------------------------------------------------------------
# Expression
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Calibration:
    """``value = default + (raw - neutral) / span``, then clipped into the schema range."""

    neutral: float
    span: float


# Measured on the ~1,000 face frames of the sample clips (the raw ratios' percentiles):
# ``neutral`` is the ratio of a calm face (it maps to the schema default), ``span`` the
# step from there to a strong expression of the clips (the surprised driver's open mouth and
# raised brows, the woman's broad smile and shut eyes).
EXPRESSION_CALIBRATION: dict[str, Calibration] = {
    "smile": Calibration(neutral=0.62, span=0.60),
    "mouth_open": Calibration(neutral=0.0, span=0.60),
    "eyes_open": Calibration(neutral=0.28, span=0.277),
    "brow_raise": Calibration(neutral=0.49, span=0.15),
}


def _dist(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b))


def expression_features(landmarks: np.ndarray) -> dict[str, float]:
    """The raw (uncalibrated) ratio behind each expression attribute."""
    lm = np.asarray(landmarks, dtype=np.float64)
    # Normalise away position, scale and roll: landmarks in template units.
    p = lm @ (m := umeyama(lm[ALIGN_POINTS], TEMPLATE_68[ALIGN_POINTS]))[:, :2].T + m[:, 2]
    eye_span = _dist(p[36], p[45])
    nose = _dist(p[27], p[33])
    # smile: wider mouth, corners above the midline of the lips
    midline_y = (p[62, 1] + p[66, 1] + p[51, 1] + p[57, 1]) / 4
    corners = (p[48] + p[54]) / 2
    width = _dist(p[48], p[54]) / eye_span
    lift = (midline_y - corners[1]) / nose
    # mouth_open: inner-lip gap
    gap = float(p[65:68, 1].mean() - p[61:64, 1].mean()) / nose
    # eyes_open: eye aspect ratio (Soukupova & Cech, 2016), averaged over both eyes
    ears = []
    for e in (range(36, 42), range(42, 48)):
        q = p[list(e)]
        ears.append((_dist(q[1], q[5]) + _dist(q[2], q[4])) / (2 * _dist(q[0], q[3])))
    # brow_raise: brows above the eye corners; inner ends weigh more (frowns pull them down)
    eye_y = p[[36, 39, 42, 45], 1].mean()
    brow = float(eye_y - p[17:27, 1].mean()) / nose
    inner = float(eye_y - p[[20, 21, 22, 23], 1].mean()) / nose
    return {"smile_width": width, "smile_lift": lift, "mouth_open": gap,
            "eyes_open": float(np.mean(ears)), "brow_raise": 0.5 * brow + 0.5 * inner}


def estimate_expression(landmarks: np.ndarray) -> dict[str, float]:
    """``smile``, ``mouth_open``, ``eyes_open``, ``brow_raise`` in schema units and ranges."""
    f = expression_features(landmarks)
    # An open jaw pulls the corners in (an "O" is narrow): give that width back to smile.
    raw = {"smile": f["smile_width"] + 2.0 * f["smile_lift"] + 0.5 * max(f["mouth_open"], 0),
           "mouth_open": f["mouth_open"],
           "eyes_open": f["eyes_open"], "brow_raise": f["brow_raise"]}
    out = {}
    for a in EXPRESSION:
        cal = EXPRESSION_CALIBRATION[a.name]
        value = a.default + (raw[a.name] - cal.neutral) / cal.span
        out[a.name] = float(np.clip(value, a.low, a.high))
    return out


def estimate_attributes(landmarks: np.ndarray, image_size: tuple[int, int]) -> dict[str, float]:
    """Pose and expression of one face, in schema order, units and ranges (clipped)."""
    pose = estimate_pose(landmarks, image_size)
    out = {a.name: float(np.clip(getattr(pose, a.name), a.low, a.high)) for a in POSE}
    out.update(estimate_expression(landmarks))
    return out
