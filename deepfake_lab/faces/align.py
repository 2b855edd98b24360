"""Alignment: a similarity transform that puts every face in the same place of a crop.

A face-swapping network should spend its capacity on *what* a face looks like, not on
*where* it is in the frame.  So before training, every face is moved, turned and scaled so
that its landmarks land as close as possible to a fixed **canonical template**; the crop of
that normalised face is what models see.  The same matrix, inverted, pastes a generated
face back into the original frame.

**The template** (:data:`TEMPLATE_68`) is the mean shape of the 68 landmarks over the faces
of the bundled sample clips (a generalised Procrustes mean of ~1,000 frames and their
mirror images, so it is left-right symmetric), in a unit square: x to the right, y down,
the eyebrows' top at ``y = 0``, the chin at ``y = 1``.

**The transform** is found by Umeyama's least-squares method (:func:`umeyama`): the
rotation, uniform scale and translation that best map the face's landmarks onto the
template.  Only rotation + scale + shift ("similarity") - no shearing - so a face is never
distorted, only placed.  The fit uses landmarks 17-67 (brows, nose, eyes, mouth): the jaw
line slides along the cheek as the head turns and would pull the fit sideways.

**The crops** (:data:`CROPS`) frame the template square with a margin:

==============  ==================================================================
``face``        the template square plus 12.5 % on every side: brows to chin, cheek
                to cheek (the classic deepfake crop)
``whole_face``  the square plus 40 % on every side, centre moved up by 10 % of the
                square: forehead, hairline, ears and part of the neck
==============  ==================================================================

at any size (64, 128 and 256 px are the sizes the models use).  In numbers, a template
point ``t`` lands at crop pixel ``((t - c) / (1 + 2 m) + 0.5) * size`` with ``m`` the
margin and ``c`` the centre of the square, ``(0.5, 0.5 + shift)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Mean 68-point face in a unit square (x right, y down); see the module docstring.
TEMPLATE_68 = np.array([
    (0.0238, 0.2299), (0.0236, 0.3559), (0.0335, 0.4834), (0.0570, 0.6094),
    (0.1049, 0.7275), (0.1794, 0.8303), (0.2708, 0.9166), (0.3778, 0.9813),
    (0.5000, 1.0000), (0.6222, 0.9813), (0.7292, 0.9166), (0.8206, 0.8303),
    (0.8951, 0.7275), (0.9430, 0.6094), (0.9665, 0.4834), (0.9764, 0.3559),
    (0.9762, 0.2299), (0.1023, 0.0960), (0.1564, 0.0299), (0.2406, 0.0000),
    (0.3311, 0.0055), (0.4156, 0.0398), (0.5844, 0.0398), (0.6689, 0.0055),
    (0.7594, 0.0000), (0.8436, 0.0299), (0.8977, 0.0960), (0.5000, 0.1638),
    (0.5000, 0.2445), (0.5000, 0.3234), (0.5000, 0.4055), (0.3968, 0.4701),
    (0.4468, 0.4862), (0.5000, 0.5018), (0.5532, 0.4862), (0.6032, 0.4701),
    (0.1974, 0.1976), (0.2508, 0.1672), (0.3133, 0.1666), (0.3710, 0.2017),
    (0.3113, 0.2127), (0.2490, 0.2135), (0.6290, 0.2017), (0.6867, 0.1666),
    (0.7492, 0.1672), (0.8026, 0.1976), (0.7510, 0.2135), (0.6887, 0.2127),
    (0.2943, 0.6365), (0.3672, 0.5945), (0.4455, 0.5771), (0.5000, 0.5891),
    (0.5545, 0.5771), (0.6328, 0.5945), (0.7057, 0.6365), (0.6363, 0.7210),
    (0.5597, 0.7584), (0.5000, 0.7646), (0.4403, 0.7584), (0.3637, 0.7210),
    (0.3214, 0.6396), (0.4447, 0.6262), (0.5000, 0.6309), (0.5553, 0.6262),
    (0.6786, 0.6396), (0.5567, 0.6912), (0.5000, 0.6980), (0.4433, 0.6912),
], dtype=np.float64)

#: landmarks used to fit the alignment (brows, nose, eyes, mouth; not the jaw line)
ALIGN_POINTS = np.arange(17, 68)

#: landmark ``i`` of a mirrored face is landmark ``MIRROR_68[i]`` of the original
MIRROR_68 = np.array(
    list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30]
    + [35, 34, 33, 32, 31] + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65])


@dataclass(frozen=True)
class CropSpec:
    """How much of the head a crop shows around the template square."""

    margin: float  # added on every side, as a fraction of the square
    shift: float  # vertical move of the crop centre, fraction of the square (- = up)


CROPS: dict[str, CropSpec] = {
    "face": CropSpec(margin=0.125, shift=0.0),
    "whole_face": CropSpec(margin=0.40, shift=-0.10),
}
CROP_SIZES = (64, 128, 256)


def umeyama(src: np.ndarray, dst: np.ndarray, *, scale: bool = True) -> np.ndarray:
    """Least-squares similarity transform mapping points ``src`` onto ``dst``.

    Umeyama (1991): centre both point sets, take the SVD of their covariance
    ``U S V^T``; the rotation is ``U D V^T`` (``D`` flips the last axis if that would
    otherwise be a reflection), the scale is ``trace(D S) / var(src)`` and the translation
    moves the rotated, scaled centre of ``src`` onto the centre of ``dst``.
    Returns a ``(2, 3)`` affine matrix ``[sR | t]``.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    cov = d0.T @ s0 / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1
    rot = u @ np.diag(d) @ vt
    var = (s0 ** 2).sum() / len(src)
    c = float((sig * d).sum() / var) if scale and var > 0 else 1.0
    return np.hstack([c * rot, (mu_d - c * rot @ mu_s)[:, None]])


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a ``(2, 3)`` affine matrix to ``(N, 2)`` points."""
    pts = np.asarray(points, dtype=np.float64)
    return pts @ matrix[:, :2].T + matrix[:, 2]


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a ``(2, 3)`` affine matrix (crop -> frame for an alignment matrix)."""
    full = np.vstack([matrix, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def affine_scale(matrix: np.ndarray) -> float:
    """The uniform scale of a similarity matrix (crop pixels per frame pixel)."""
    return float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))


def template_in_crop(size: int, kind: str = "face") -> np.ndarray:
    """Where the template's 68 points lie in a ``size`` px crop of ``kind``."""
    try:
        spec = CROPS[kind]
    except KeyError:
        raise ValueError(f"unknown crop kind {kind!r}; choose from {', '.join(CROPS)}") from None
    centre = np.array([0.5, 0.5 + spec.shift])
    return ((TEMPLATE_68 - centre) / (1 + 2 * spec.margin) + 0.5) * size


def alignment_matrix(landmarks: np.ndarray, size: int, kind: str = "face") -> np.ndarray:
    """The ``(2, 3)`` matrix taking frame pixels to pixels of the aligned crop."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (68, 2):
        raise ValueError(f"expected (68, 2) landmarks, got {lm.shape}")
    return umeyama(lm[ALIGN_POINTS], template_in_crop(size, kind)[ALIGN_POINTS])


@dataclass(frozen=True)
class AlignedFace:
    """An aligned crop, the matrix that made it (frame -> crop) and its landmarks."""

    image: np.ndarray  # uint8 (size, size, 3)
    matrix: np.ndarray  # (2, 3) frame -> crop
    landmarks: np.ndarray  # (68, 2) in crop pixels
    kind: str

    @property
    def inverse(self) -> np.ndarray:
        """Crop -> frame, for pasting a generated face back (see :func:`paste_back`)."""
        return invert_affine(self.matrix)


def warp(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Warp ``image`` into a ``size`` x ``size`` crop with ``matrix`` (frame -> crop).

    ``warpAffine`` samples bilinearly, which aliases when shrinking a lot (a 1,000 px face
    into a 64 px crop); so the region the crop sees is first shrunk with area averaging
    until the remaining warp scale is at least 1/2.
    """
    import cv2

    m = np.asarray(matrix, dtype=np.float64)
    s = affine_scale(m)
    if s < 0.5:
        inv = invert_affine(m)
        corners = transform_points(np.array([[0, 0], [size, 0], [0, size], [size, size]]), inv)
        h, w = image.shape[:2]
        x0, y0 = np.clip(np.floor(corners.min(0)) - 2, 0, [w, h]).astype(int)
        x1, y1 = np.clip(np.ceil(corners.max(0)) + 2, 0, [w, h]).astype(int)
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            f = 2 * s
            roi = image[y0:y1, x0:x1]
            small = cv2.resize(roi, (max(1, round((x1 - x0) * f)), max(1, round((y1 - y0) * f))),
                               interpolation=cv2.INTER_AREA)
            fx, fy = small.shape[1] / (x1 - x0), small.shape[0] / (y1 - y0)
            # frame -> roi pixels -> shrunk roi pixels, then the original warp undone
            to_small = np.array([[fx, 0, -x0 * fx], [0, fy, -y0 * fy]])
            m = m @ np.vstack([invert_affine(to_small), [0, 0, 1]])
            image = small
    return cv2.warpAffine(np.ascontiguousarray(image), m, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int = 128,
               kind: str = "face") -> AlignedFace:
    """Cut the aligned ``size`` px crop of ``kind`` ("face" or "whole_face") out of ``image``.

    Pixels outside the frame repeat its border (a face at the edge of a video).
    """
    matrix = alignment_matrix(landmarks, size, kind)
    crop = warp(image, matrix, size)
    return AlignedFace(image=crop, matrix=matrix,
                       landmarks=transform_points(landmarks, matrix).astype(np.float32),
                       kind=kind)


def paste_back(frame: np.ndarray, crop: np.ndarray, matrix: np.ndarray, *,
               feather: float = 0.1) -> np.ndarray:
    """Put ``crop`` (made with ``matrix``, frame -> crop) back into a copy of ``frame``.

    The crop is warped with the inverse matrix and blended through a mask that is 1 in the
    crop's middle and fades to 0 over ``feather`` of its side at the border, so no seam
    shows.  (Later releases blend along the face's own outline; this is the geometry.)
    """
    import cv2

    h, w = frame.shape[:2]
    size = crop.shape[0]
    inv = invert_affine(matrix)
    back = cv2.warpAffine(np.ascontiguousarray(crop), inv, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT)
    ramp = np.clip(np.minimum(np.arange(size) + 0.5, size - np.arange(size) - 0.5)
                   / max(feather * size, 1e-6), 0, 1)
    mask = np.minimum(ramp[:, None], ramp[None, :]).astype(np.float32)
    alpha = cv2.warpAffine(mask, inv, (w, h), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT)[..., None]
    out = frame.astype(np.float32) * (1 - alpha) + back.astype(np.float32) * alpha
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
