"""One small interface in front of every face library: boxes, 68 landmarks, an identity.

The rest of the face pipeline never imports dlib (or mediapipe); it talks to a
:class:`FaceBackend`, which answers three questions about a uint8 ``(H, W, 3)`` RGB image:

1. :meth:`~FaceBackend.detect` - *where are the faces?*  A list of :class:`Box` es.
2. :meth:`~FaceBackend.landmarks` - *where are the 68 points of this face?*  The classic
   iBUG-300W layout (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67), as a
   float ``(68, 2)`` array of pixel coordinates ``(x, y)``.
3. :meth:`~FaceBackend.embedding` - *who is it?*  A vector in which photos of the same
   person lie close together (dlib: 128-d, same person when the distance is < 0.6).

Detection is the slow step (a sliding-window HOG detector scans every position and scale),
so it runs on a frame **downscaled** to ``detect_size`` pixels on its longer side, and in
videos only **near the previous face** (:meth:`FaceBackend.detect_near`: a small window
around the last box, scaled so that the face is about 100 px wide - a few milliseconds).

The default backend is dlib with the models of the ``face_recognition_models`` package:
everything ships inside wheels, nothing is downloaded at run time.
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import BackendUnavailable

N_LANDMARKS = 68

# Index ranges of the 68-point layout, shared by alignment and estimation.
JAW = slice(0, 17)
# "right" / "left" are the subject's, as in iBUG-300W: the right eye is on the image's left.
RIGHT_BROW, LEFT_BROW = slice(17, 22), slice(22, 27)
NOSE_BRIDGE, NOSE_BASE = slice(27, 31), slice(31, 36)
RIGHT_EYE, LEFT_EYE = slice(36, 42), slice(42, 48)
OUTER_LIPS, INNER_LIPS = slice(48, 60), slice(60, 68)


@dataclass(frozen=True)
class Box:
    """An axis-aligned face box in pixels, ``right``/``bottom`` exclusive, with a score."""

    left: float
    top: float
    right: float
    bottom: float
    score: float = 0.0

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    @property
    def center(self) -> tuple[float, float]:
        return (self.left + self.right) / 2, (self.top + self.bottom) / 2

    def scaled(self, factor: float, dx: float = 0.0, dy: float = 0.0) -> Box:
        """Coordinates multiplied by ``factor`` then shifted by ``(dx, dy)``."""
        return Box(self.left * factor + dx, self.top * factor + dy,
                   self.right * factor + dx, self.bottom * factor + dy, self.score)

    def to_list(self) -> list[float]:
        """``[left, top, right, bottom]`` rounded to 0.1 px (for JSON)."""
        return [round(float(v), 1) for v in (self.left, self.top, self.right, self.bottom)]


def resize(image: np.ndarray, scale: float) -> np.ndarray:
    """Resize by ``scale`` (area averaging when shrinking, bilinear when growing)."""
    import cv2

    if scale == 1.0:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else
                      cv2.INTER_LINEAR)


class FaceBackend(ABC):
    """Detection, 68 landmarks and an identity embedding behind one interface.

    Subclasses implement :meth:`_detect_scaled`, :meth:`landmarks` and :meth:`embedding`;
    downscaling and tracking windows are handled here, once for all backends.
    """

    name: str = "?"
    embedding_dim: int = 128
    #: the same-person threshold on the Euclidean distance between two embeddings
    match_threshold: float = 0.6

    def __init__(self, detect_size: int = 640) -> None:
        if detect_size < 80:
            raise ValueError(f"detect_size must be at least 80 pixels, got {detect_size}")
        self.detect_size = int(detect_size)

    # ---- detection -----------------------------------------------------------------
    @abstractmethod
    def _detect_scaled(self, image: np.ndarray, upsample: int) -> list[Box]:
        """Detect on an image as given (no resizing); boxes in its own pixels."""

    def detect(self, image: np.ndarray, *, upsample: int = 0) -> list[Box]:
        """All faces in ``image``, largest first.

        The image is scaled so that its longer side is ``detect_size`` (small images are
        enlarged, so that faces reach the detector's minimum of ~80 px); ``upsample=1``
        doubles that resolution for small faces in large photos (4x slower).
        """
        h, w = image.shape[:2]
        scale = self.detect_size / max(h, w)
        boxes = self._detect_scaled(resize(image, scale), upsample)
        return sorted((b.scaled(1 / scale) for b in boxes), key=lambda b: -b.area)

    def detect_near(self, image: np.ndarray, box: Box, *, margin: float = 0.6,
                    face_px: float = 100.0) -> Box | None:
        """Track: detect only in a window around ``box`` (the face's last position).

        The window is ``box`` grown by ``margin`` of its size on every side, rescaled so that
        the face is ``face_px`` wide.  Returns the best box in the window, or ``None``.
        """
        h, w = image.shape[:2]
        mx, my = box.width * margin, box.height * margin
        x0, y0 = max(0, int(box.left - mx)), max(0, int(box.top - my))
        x1, y1 = min(w, int(box.right + mx) + 1), min(h, int(box.bottom + my) + 1)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        scale = face_px / max(box.width, 1.0)
        window = resize(np.ascontiguousarray(image[y0:y1, x0:x1]), scale)
        found = self._detect_scaled(window, 0)
        if not found:
            return None
        best = max(found, key=lambda b: b.score)
        return best.scaled(1 / scale, x0, y0)

    # ---- landmarks and identity ------------------------------------------------------
    @abstractmethod
    def landmarks(self, image: np.ndarray, box: Box) -> np.ndarray:
        """The 68 landmarks of the face in ``box``: float32 ``(68, 2)`` pixel ``(x, y)``."""

    @abstractmethod
    def embedding(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """Identity embedding (float32, ``(embedding_dim,)``) of the face at ``landmarks``."""

    def info(self) -> dict:
        """Name, versions and parameters, recorded in a faceset's provenance."""
        return {"name": self.name, "detect_size": self.detect_size}


# --------------------------------------------------------------------------------------
# dlib + face_recognition_models
# --------------------------------------------------------------------------------------
def dlib_models_dir() -> Path:
    """The ``models/`` folder of the installed ``face_recognition_models`` package.

    Located with :func:`importlib.util.find_spec` rather than imported: the package's
    ``__init__`` needs ``pkg_resources``, which setuptools >= 81 no longer ships.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        raise BackendUnavailable(None, "the dlib backend needs the face_recognition_models "
                                       "package: pip install face_recognition_models")
    return Path(spec.origin).parent / "models"


class DlibBackend(FaceBackend):
    """dlib's HOG face detector, 68-point shape predictor and ResNet face embedding."""

    name = "dlib"

    def __init__(self, detect_size: int = 640, models_dir: str | Path | None = None) -> None:
        super().__init__(detect_size)
        try:
            import dlib
        except ImportError:
            raise BackendUnavailable(None, "the dlib backend needs dlib: "
                                           "pip install dlib-bin") from None
        self._dlib = dlib
        self.models_dir = Path(models_dir) if models_dir else dlib_models_dir()
        predictor = self.models_dir / "shape_predictor_68_face_landmarks.dat"
        if not predictor.is_file():
            raise BackendUnavailable(predictor, "model file missing; reinstall "
                                                "face_recognition_models")
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(predictor))
        self._recognizer = None  # ~20 MB ResNet, loaded on first use

    @staticmethod
    def _grey(image: np.ndarray) -> np.ndarray:
        import cv2

        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image

    def _detect_scaled(self, image: np.ndarray, upsample: int) -> list[Box]:
        rects, scores, _ = self._detector.run(self._grey(image), upsample, 0.0)
        return [Box(r.left(), r.top(), r.right() + 1, r.bottom() + 1, float(s))
                for r, s in zip(rects, scores, strict=True)]

    def _rect(self, box: Box):
        return self._dlib.rectangle(round(box.left), round(box.top), round(box.right) - 1,
                                    round(box.bottom) - 1)

    def landmarks(self, image: np.ndarray, box: Box) -> np.ndarray:
        shape = self._predictor(self._grey(image), self._rect(box))
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)

    def embedding(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        dlib = self._dlib
        if self._recognizer is None:
            path = self.models_dir / "dlib_face_recognition_resnet_model_v1.dat"
            if not path.is_file():
                raise BackendUnavailable(path, "model file missing; reinstall "
                                               "face_recognition_models")
            self._recognizer = dlib.face_recognition_model_v1(str(path))
        pts = np.asarray(landmarks, dtype=np.float64)
        x0, y0 = pts.min(0)
        x1, y1 = pts.max(0)
        shape = dlib.full_object_detection(
            dlib.rectangle(int(x0), int(y0), int(x1), int(y1)),
            [dlib.point(round(x), round(y)) for x, y in pts])
        vec = self._recognizer.compute_face_descriptor(np.ascontiguousarray(image), shape)
        return np.asarray(vec, dtype=np.float32)

    def info(self) -> dict:
        from importlib.metadata import PackageNotFoundError, version

        def _v(name: str) -> str:
            try:
                return version(name)
            except PackageNotFoundError:
                return "?"

        return {**super().info(), "dlib": self._dlib.__version__,
                "face_recognition_models": _v("face_recognition_models"),
                "detector": "HOG (frontal_face_detector)",
                "landmarks": "shape_predictor_68_face_landmarks",
                "embedding": "dlib_face_recognition_resnet_model_v1 (128-d)"}


#: backends by name; another library joins by subclassing FaceBackend and registering here
BACKENDS: dict[str, type[FaceBackend]] = {"dlib": DlibBackend}


def get_backend(name: str = "dlib", **kwargs) -> FaceBackend:
    """Build a registered backend by name (``"dlib"``, the default)."""
    try:
        cls = BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown face backend {name!r}; choose from "
                         f"{', '.join(sorted(BACKENDS))}") from None
    return cls(**kwargs)
