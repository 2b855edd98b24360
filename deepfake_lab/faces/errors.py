"""What can go wrong with real faces, as exception classes that name the file.

Real media is messy: empty files, half-copied videos, a PDF renamed to ``.jpg``, a folder
without a single face.  Every problem the face pipeline can report is one of these classes,
and every message starts with the path it is about, so a CLI can print it as it is and a
caller can catch exactly the case it knows how to handle::

    FaceError (ValueError)
    ├── MediaError            the file cannot be read as an image or a video
    ├── NoFaceError           the media was read, but holds no usable face
    ├── FacesetError          a faceset on disk is missing, damaged, or incompatible
    └── BackendUnavailable    a face backend's package or model files are not installed
"""

from __future__ import annotations

from pathlib import Path


class FaceError(ValueError):
    """Base class of every real-face problem (a ``ValueError``, so CLIs can report it)."""

    def __init__(self, path: str | Path | None, message: str) -> None:
        self.path = None if path is None else Path(path)
        super().__init__(f"{path}: {message}" if path is not None else message)


class MediaError(FaceError):
    """A file that is not a readable image or video (empty, truncated, wrong format...)."""


class NoFaceError(FaceError):
    """Readable media in which no face (or no face matching a reference) was found."""


class FacesetError(FaceError):
    """A faceset directory that is missing, damaged, or was made with other parameters."""


class BackendUnavailable(FaceError):
    """A face backend whose package or model files are not installed."""
