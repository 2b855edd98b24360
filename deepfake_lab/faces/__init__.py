"""Real faces: detection, landmarks, alignment, attribute estimation and extraction.

The pipeline in one place::

    from deepfake_lab.faces import get_backend, align_face, estimate_attributes, load_image
    backend = get_backend()                       # dlib + face_recognition_models
    image = load_image("photo.jpg")               # uint8 (H, W, 3) RGB
    box = backend.detect(image)[0]                # largest face
    lm = backend.landmarks(image, box)            # (68, 2)
    crop = align_face(image, lm, size=128).image  # aligned 128 px crop
    attrs = estimate_attributes(lm, image.shape[:2])   # yaw, pitch, ..., brow_raise

or for whole files and folders: ``deepfake-lab extract INPUT --out DIR`` /
:func:`extract`.  Modules: :mod:`.backend` (the face library interface), :mod:`.align`,
:mod:`.estimate`, :mod:`.smoothing`, :mod:`.media`, :mod:`.extract`, :mod:`.errors`.
Importing this package does not import dlib or OpenCV; they load on first use.
"""

from __future__ import annotations

from .align import (
    CROP_SIZES,
    CROPS,
    MIRROR_68,
    TEMPLATE_68,
    AlignedFace,
    align_face,
    alignment_matrix,
    invert_affine,
    paste_back,
    transform_points,
    umeyama,
)
from .backend import Box, DlibBackend, FaceBackend, get_backend
from .errors import BackendUnavailable, FaceError, FacesetError, MediaError, NoFaceError
from .estimate import MODEL_3D, Pose, estimate_attributes, estimate_expression, estimate_pose
from .extract import ExtractOptions, ExtractReport, FacePipeline, FaceResult, extract
from .media import iter_video, list_media, load_image, video_info, write_video
from .smoothing import LandmarkSmoother, OneEuroFilter

__all__ = [
    "CROPS", "CROP_SIZES", "MIRROR_68", "MODEL_3D", "TEMPLATE_68", "AlignedFace",
    "BackendUnavailable", "Box", "DlibBackend", "ExtractOptions", "ExtractReport",
    "FaceBackend", "FaceError", "FacePipeline", "FaceResult", "FacesetError",
    "LandmarkSmoother", "MediaError", "NoFaceError", "OneEuroFilter", "Pose", "align_face",
    "alignment_matrix", "estimate_attributes", "estimate_expression", "estimate_pose",
    "extract", "get_backend", "invert_affine", "iter_video", "list_media", "load_image",
    "paste_back", "transform_points", "umeyama", "video_info", "write_video",
]
