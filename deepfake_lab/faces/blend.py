"""Blending: put a generated face back into its frame so that no seam shows.

A model paints a face in the *aligned crop* (see :mod:`.align`); the video needs it in the
*frame*.  Four steps, the same as DeepFaceLab's merger, each a small function here:

1. **A mask** (:func:`hull_mask`) - which crop pixels belong to the face.  The convex hull
   of the 68 landmarks (jaw line below, brows above) is filled, **eroded** (shrunk) so that
   the generated face's own border - where autoencoders are blurriest - stays out, then
   **blurred** so that it fades out over a band instead of ending at a hard edge::

       mask (S, S) float32 in [0, 1]  =  blur(erode(fill(hull(landmarks))))

   Both are fractions of the crop side ``S``, so the same settings suit a 64 px and a
   256 px model.  ``erode < 0`` grows the mask instead.

2. **Colour transfer** (:func:`color_transfer`) - the generated face should have the
   frame's lighting and white balance, not the training set's.  Statistics are taken inside
   the mask only (the face, not the background) and the generated face is re-coloured to
   match the original face of the frame:

   * ``rct`` - Reinhard et al. 2001: in the decorrelated L*a*b* space, give each channel the
     target's mean and standard deviation, ``x' = (x - mu_s) * sigma_t / sigma_s + mu_t``;
   * ``lct`` - linear colour transfer: in RGB, match the mean *and* the 3x3 colour
     covariance with ``x' = A (x - mu_s) + mu_t``, ``A = C_t^(1/2) C_s^(-1/2)`` (symmetric
     matrix square roots), which also fixes colour casts that mix channels.

3. **Inverse warp** (:func:`compose`) - the crop and its mask go back through the inverse of
   the alignment matrix.  Only the region of interest (the crop square's bounding box in the
   frame) is warped and blended, which keeps the cost independent of the frame size.

4. **Blend** - ``frame = frame * (1 - m) + face * m``; optionally after a **seamless
   clone** (Perez et al. 2003, ``cv2.seamlessClone``), which solves a Poisson equation so
   that the face's gradients are kept but its border takes the frame's colours exactly.  It
   is slower (a sparse solve per frame) and can bleed background colours into the face, so it
   is off by default.

Everything is uint8 ``(H, W, 3)`` RGB at the edges and float32 inside.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .align import invert_affine, transform_points

COLOR_MODES = ("none", "rct", "lct")
MASK_MODES = ("hull", "box")


@dataclass(frozen=True)
class BlendOptions:
    """How a generated face is put back into its frame (see the module docstring)."""

    mask: str = "hull"  # "hull" (landmark convex hull) or "box" (the whole crop, feathered)
    erode: float = 0.04  # shrink the mask by this fraction of the crop side (< 0 grows it)
    blur: float = 0.08  # feather width, fraction of the crop side
    color: str = "rct"  # "none", "rct" (Reinhard, L*a*b*) or "lct" (linear, RGB covariance)
    seamless: bool = False  # Poisson blending (cv2.seamlessClone) before the feathered blend

    def __post_init__(self) -> None:
        if self.mask not in MASK_MODES:
            raise ValueError(f"mask must be one of {', '.join(MASK_MODES)}, got {self.mask!r}")
        if self.color not in COLOR_MODES:
            raise ValueError(f"color must be one of {', '.join(COLOR_MODES)}, "
                             f"got {self.color!r}")
        if not -0.5 < self.erode < 0.5:
            raise ValueError(f"erode must be in (-0.5, 0.5) (a fraction of the crop side), "
                             f"got {self.erode}")
        if not 0 <= self.blur < 0.5:
            raise ValueError(f"blur must be in [0, 0.5) (a fraction of the crop side), "
                             f"got {self.blur}")


# --------------------------------------------------------------------------------------
# 1. The mask
# --------------------------------------------------------------------------------------
def _odd(n: float) -> int:
    """The nearest odd integer >= 1 (OpenCV kernel sizes)."""
    k = max(1, int(round(n)))
    return k if k % 2 else k + 1


def hull_mask(landmarks: np.ndarray, size: int, *, erode: float = 0.04,
              blur: float = 0.08) -> np.ndarray:
    """The face mask of a ``size`` px crop: float32 ``(size, size)`` in [0, 1].

    ``landmarks`` are the 68 points *in crop pixels*.  The hull is filled, eroded (or grown)
    by ``erode * size`` pixels, then blurred with a Gaussian whose kernel spans
    ``blur * size`` pixels.
    """
    import cv2

    pts = np.asarray(landmarks, dtype=np.float64)
    hull = cv2.convexHull(np.round(pts * 4).astype(np.int32))  # 2 bits of sub-pixel precision
    mask = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(mask, hull, 255, lineType=cv2.LINE_AA, shift=2)
    return _erode_blur(mask, size, erode, blur)


def box_mask(size: int, *, erode: float = 0.04, blur: float = 0.08) -> np.ndarray:
    """The whole crop as a mask (eroded and feathered like :func:`hull_mask`)."""
    return _erode_blur(np.full((size, size), 255, np.uint8), size, erode, blur, border=True)


def _erode_blur(mask: np.ndarray, size: int, erode: float, blur: float,
                border: bool = False) -> np.ndarray:
    import cv2

    e = int(round(abs(erode) * size))
    if border:  # the box mask: erosion means a margin inside the crop's border
        mask[:max(e, 1)], mask[-max(e, 1):], mask[:, :max(e, 1)], mask[:, -max(e, 1):] = 0, 0, 0, 0
    elif e:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * e + 1, 2 * e + 1))
        mask = (cv2.erode if erode > 0 else cv2.dilate)(mask, kernel)
    out = mask.astype(np.float32) / 255.0
    if blur > 0:
        k = _odd(blur * size)
        out = cv2.GaussianBlur(out, (k, k), 0)
        if border:  # keep the feather inside the crop: nothing outside it is known
            out = np.minimum(out, _edge_ramp(size, max(k // 2, 1)))
    return out


def _edge_ramp(size: int, width: int) -> np.ndarray:
    r = np.clip(np.minimum(np.arange(size), size - 1 - np.arange(size)) / width, 0, 1)
    return np.minimum(r[:, None], r[None, :]).astype(np.float32)


def face_mask(landmarks: np.ndarray, size: int, options: BlendOptions) -> np.ndarray:
    """The mask that ``options`` asks for: :func:`hull_mask` or :func:`box_mask`."""
    if options.mask == "box":
        return box_mask(size, erode=options.erode, blur=options.blur)
    return hull_mask(landmarks, size, erode=options.erode, blur=options.blur)


# --------------------------------------------------------------------------------------
# 2. Colour transfer
# --------------------------------------------------------------------------------------
def _masked_stats(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean ``(C,)`` and covariance ``(C, C)`` of ``x`` ``(N, C)`` with weights ``w``."""
    total = max(float(w.sum()), 1e-6)
    mu = (x * w[:, None]).sum(0) / total
    d = x - mu
    cov = (d * w[:, None]).T @ d / total
    return mu, cov


def _sym_pow(c: np.ndarray, p: float, eps: float = 1e-4) -> np.ndarray:
    """``C^p`` of a symmetric positive semi-definite matrix (eigenvalues floored at ``eps``)."""
    vals, vecs = np.linalg.eigh(c)
    return (vecs * np.maximum(vals, eps) ** p) @ vecs.T


def rct(source: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Reinhard colour transfer: ``source`` re-coloured like ``target`` (both uint8 RGB).

    In L*a*b* each channel gets the target's mean and standard deviation, measured inside
    ``mask`` (float ``(H, W)``; everything when ``None``).  Returns uint8.
    """
    import cv2

    s = cv2.cvtColor(source.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)  # (H, W, 3)
    t = cv2.cvtColor(target.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    w = np.ones(s.shape[:2], np.float32) if mask is None else mask.astype(np.float32)
    w = w.reshape(-1)
    mu_s, cov_s = _masked_stats(s.reshape(-1, 3), w)
    mu_t, cov_t = _masked_stats(t.reshape(-1, 3), w)
    sd_s = np.sqrt(np.maximum(np.diag(cov_s), 1e-6))
    sd_t = np.sqrt(np.maximum(np.diag(cov_t), 1e-6))
    out = (s - mu_s) * (sd_t / sd_s) + mu_t
    out[..., 0] = np.clip(out[..., 0], 0, 100)  # L* in [0, 100]
    rgb = cv2.cvtColor(out.astype(np.float32), cv2.COLOR_LAB2RGB)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def lct(source: np.ndarray, target: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Linear colour transfer: match the RGB mean and 3x3 covariance inside ``mask``.

    ``x' = A (x - mu_s) + mu_t`` with ``A = C_t^(1/2) C_s^(-1/2)``: the source's colour
    cloud is whitened, then given the target's shape.  Returns uint8.
    """
    s = source.astype(np.float32).reshape(-1, 3) / 255.0
    t = target.astype(np.float32).reshape(-1, 3) / 255.0
    w = (np.ones(len(s), np.float32) if mask is None
         else mask.astype(np.float32).reshape(-1))
    mu_s, cov_s = _masked_stats(s, w)
    mu_t, cov_t = _masked_stats(t, w)
    a = _sym_pow(cov_t, 0.5) @ _sym_pow(cov_s, -0.5)  # (3, 3)
    out = (s - mu_s) @ a.T + mu_t
    return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8).reshape(source.shape)


def color_transfer(source: np.ndarray, target: np.ndarray, mode: str,
                   mask: np.ndarray | None = None) -> np.ndarray:
    """``source`` re-coloured like ``target`` with ``mode`` ("none", "rct" or "lct")."""
    if mode == "none":
        return source
    if mode == "rct":
        return rct(source, target, mask)
    if mode == "lct":
        return lct(source, target, mask)
    raise ValueError(f"unknown colour transfer {mode!r}; choose from {', '.join(COLOR_MODES)}")


# --------------------------------------------------------------------------------------
# 3 + 4. Inverse warp and blend, inside the region of interest only
# --------------------------------------------------------------------------------------
def crop_roi(matrix: np.ndarray, size: int, frame_shape: tuple[int, ...],
             mask: np.ndarray | None = None) -> tuple[int, int, int, int] | None:
    """The frame pixels ``(x0, y0, x1, y1)`` that a ``size`` px crop covers (None if none).

    With a ``mask``, only the bounding box of its non-zero pixels counts: the face hull is
    about half of a ``whole_face`` crop, so blending there halves the work.
    """
    x0c, y0c, x1c, y1c = 0, 0, size, size
    if mask is not None:
        cols, rows = np.flatnonzero(mask.max(0) > 0), np.flatnonzero(mask.max(1) > 0)
        if not len(cols):
            return None
        x0c, x1c, y0c, y1c = cols[0], cols[-1] + 1, rows[0], rows[-1] + 1
    corners = np.array([[x0c, y0c], [x1c, y0c], [x0c, y1c], [x1c, y1c]], np.float64)
    pts = transform_points(corners, invert_affine(matrix))
    h, w = frame_shape[:2]
    x0, y0 = np.floor(pts.min(0)).astype(int) - 1
    x1, y1 = np.ceil(pts.max(0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return int(x0), int(y0), int(x1), int(y1)


def compose(frame: np.ndarray, face: np.ndarray, matrix: np.ndarray, mask: np.ndarray, *,
            original: np.ndarray | None = None, color: str = "none",
            seamless: bool = False, out: np.ndarray | None = None) -> np.ndarray:
    """Blend the generated ``face`` (a crop made with ``matrix``, frame -> crop) into ``frame``.

    ``mask`` is the crop's float ``(S, S)`` mask, ``original`` the aligned crop of the real
    face (the colour reference for ``color``).  Writes into ``out`` (``frame`` itself is
    allowed; default: a copy) and returns it.  Only the crop's region of interest changes.
    """
    import cv2

    size = face.shape[0]
    result = frame.copy() if out is None else out
    if out is not None and out is not frame:
        np.copyto(result, frame)
    if color != "none":
        if original is None:
            raise ValueError("colour transfer needs the original aligned crop")
        face = color_transfer(face, original, color, mask)
    roi = crop_roi(matrix, size, frame.shape, mask)
    if roi is None:
        return result
    x0, y0, x1, y1 = roi
    # crop -> ROI pixels: the inverse matrix, then a shift by the ROI's corner
    inv = invert_affine(matrix)
    inv[:, 2] -= (x0, y0)
    rw, rh = x1 - x0, y1 - y0
    face_roi = cv2.warpAffine(np.ascontiguousarray(face), inv, (rw, rh), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)                 # (rh, rw, 3)
    alpha = cv2.warpAffine(mask, inv, (rw, rh), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)     # (rh, rw)
    region = result[y0:y1, x0:x1]
    if seamless:
        face_roi = _seamless(face_roi, frame, alpha, (x0, y0))
    # region * (1 - alpha) + face * alpha, rounded and saturated, in one OpenCV call
    region[...] = cv2.blendLinear(region, face_roi, 1.0 - alpha, alpha)
    return result


def _seamless(face_roi: np.ndarray, frame: np.ndarray, alpha: np.ndarray,
              corner: tuple[int, int]) -> np.ndarray:
    """Poisson-blend ``face_roi`` into ``frame`` where ``alpha > 0.5``; returns the ROI result.

    ``cv2.seamlessClone`` places the bounding box of the mask centred at a point of the
    destination; we crop source and mask to that box so the placement is exact.  The mask
    must stay one pixel away from the frame's border (OpenCV needs neighbours there).
    """
    import cv2

    binary = (alpha > 0.5).astype(np.uint8) * 255
    binary[[0, -1], :] = 0
    binary[:, [0, -1]] = 0
    x, y, w, h = cv2.boundingRect(binary)
    if w < 3 or h < 3:
        return face_roi
    fh, fw = frame.shape[:2]
    cx, cy = corner[0] + x + w // 2, corner[1] + y + h // 2
    if corner[0] + x < 1 or corner[1] + y < 1 or corner[0] + x + w >= fw \
            or corner[1] + y + h >= fh:
        return face_roi  # touching the frame's edge: the feathered blend alone
    src = np.ascontiguousarray(face_roi[y:y + h, x:x + w])
    m = np.ascontiguousarray(binary[y:y + h, x:x + w])
    try:
        cloned = cv2.seamlessClone(src, np.ascontiguousarray(frame), m, (int(cx), int(cy)),
                                   cv2.NORMAL_CLONE)
    except cv2.error:
        return face_roi
    out = face_roi.copy()
    # cloned is the whole frame; take back the mask's box (where the clone changed pixels)
    ox, oy = cx - w // 2, cy - h // 2
    out[y:y + h, x:x + w] = cloned[oy:oy + h, ox:ox + w]
    return out
