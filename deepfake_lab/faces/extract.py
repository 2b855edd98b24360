"""Extraction: real images and videos in, a faceset of aligned, labelled faces out.

For every frame, one face goes through five steps::

    frame --detect/track--> box --landmarks--> 68 points --smooth--> --align--> crop
                                                              \\--estimate--> pose, expression
                                                               \\--embed---> identity

* **detect / track** - a full detection on the downscaled frame when there is no face to
  follow; otherwise a detection in a small window around the last box (video only), with a
  full detection every ``redetect_every`` frames so a new, larger face is not missed.
* **choose** - several faces: the largest, or with a reference photo the one whose identity
  embedding is nearest to the reference (none if all are farther than the backend's
  same-person threshold: such frames count as ``no_match``).
* **smooth** (video) - a one-euro filter on the landmarks, so crops and labels do not
  jitter; it restarts whenever the face is lost.
* **align**, **estimate**, **embed** - see :mod:`.align`, :mod:`.estimate`, :mod:`.backend`.

:func:`extract` runs this over a file or a folder and writes the faceset with
:class:`~deepfake_lab.data.facesets.FacesetWriter` (atomic, resumable, extendable).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .align import CROP_SIZES, CROPS, AlignedFace, align_face
from .backend import Box, FaceBackend, get_backend
from .errors import FaceError, MediaError, NoFaceError
from .estimate import estimate_attributes
from .media import file_sha256, iter_video, list_media, load_image, media_kind, video_info
from .smoothing import LandmarkSmoother


@dataclass(frozen=True)
class ExtractOptions:
    """Settings of an extraction; all but ``jpeg_quality`` are part of the faceset's identity."""

    size: int = 256
    crop: str = "face"
    backend: str = "dlib"
    detect_size: int = 640
    every: int = 1  # keep every n-th video frame
    smooth: bool = True
    jpeg_quality: int = 92

    def __post_init__(self) -> None:
        if self.size not in CROP_SIZES:
            raise ValueError(f"crop size must be one of {CROP_SIZES}, got {self.size}")
        if self.crop not in CROPS:
            raise ValueError(f"crop kind must be one of {', '.join(CROPS)}, got {self.crop!r}")
        if self.every < 1:
            raise ValueError(f"every must be >= 1, got {self.every}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in 1..100, got {self.jpeg_quality}")


@dataclass
class FaceResult:
    """The chosen face of one frame, fully processed."""

    box: Box
    landmarks: np.ndarray  # (68, 2) frame pixels (smoothed in videos)
    aligned: AlignedFace
    attributes: dict[str, float]  # pose + expression, schema names and units
    embedding: np.ndarray | None
    distance: float | None = None  # to the reference embedding, if any


def face_size(landmarks: np.ndarray) -> float:
    """A face's size in pixels: the square root of its landmarks' bounding-box area."""
    lm = np.asarray(landmarks, dtype=np.float64)
    w, h = lm.max(0) - lm.min(0)
    return float(np.sqrt(max(w, 0.0) * max(h, 0.0)))


class FacePipeline:
    """One frame in, the chosen face (or ``None``) out; keeps tracking state for videos.

    After each call :attr:`status` says what happened: ``"face"``, ``"no_face"`` or
    ``"no_match"`` (faces, but none is the reference person).
    """

    def __init__(self, backend: FaceBackend, *, size: int = 256, crop: str = "face",
                 reference: np.ndarray | None = None, smooth: bool = True,
                 embed: bool = True, redetect_every: int = 30) -> None:
        self.backend, self.size, self.crop = backend, size, crop
        self.reference = None if reference is None else np.asarray(reference, np.float32)
        self.embed = embed or reference is not None
        self.smoother = LandmarkSmoother() if smooth else None
        self.redetect_every = redetect_every
        self.status = "no_face"
        self.reset()

    def reset(self) -> None:
        """Forget the tracked face (call between unrelated images or videos)."""
        self._box: Box | None = None
        self._since_detect = 0
        if self.smoother is not None:
            self.smoother.reset()

    def _distance(self, emb: np.ndarray) -> float:
        return float(np.linalg.norm(emb - self.reference))

    def _choose(self, frame: np.ndarray, boxes: list[Box]):
        """Largest face, or the one nearest the reference; ``None`` if nobody matches.

        "Largest" is measured on the landmarks (:func:`face_size`), not on the boxes:
        detector boxes come in a few fixed sizes, so faces of similar size tie.
        """
        if self.reference is None:
            found = [(b, self.backend.landmarks(frame, b)) for b in boxes]
            box, lm = max(found, key=lambda f: face_size(f[1]))
            return box, lm, None, None
        best = None
        for box in boxes:
            lm = self.backend.landmarks(frame, box)
            emb = self.backend.embedding(frame, lm)
            d = self._distance(emb)
            if best is None or d < best[3]:
                best = (box, lm, emb, d)
        if best[3] > self.backend.match_threshold:
            return None
        return best

    def _locate(self, frame: np.ndarray, video: bool):
        if video and self._box is not None and self._since_detect < self.redetect_every:
            box = self.backend.detect_near(frame, self._box)
            if box is not None:
                self._since_detect += 1
                lm = self.backend.landmarks(frame, box)
                if self.reference is None:
                    return box, lm, None, None
                emb = self.backend.embedding(frame, lm)
                d = self._distance(emb)
                if d <= self.backend.match_threshold:
                    return box, lm, emb, d
        # full detection (the first frame, a lost track, or time for a fresh look)
        self._since_detect = 0
        boxes = self.backend.detect(frame)
        if not boxes and not video:  # stills: try again for small faces (4x slower)
            boxes = self.backend.detect(frame, upsample=1)
        if not boxes:
            self.status = "no_face"
            return None
        chosen = self._choose(frame, boxes)
        if chosen is None:
            self.status = "no_match"
        return chosen

    def __call__(self, frame: np.ndarray, t: float = 0.0, *, video: bool = False
                 ) -> FaceResult | None:
        """Process one uint8 ``(H, W, 3)`` RGB frame shown at time ``t`` (seconds)."""
        found = self._locate(frame, video)
        if found is None:
            self.reset()
            return None
        box, lm, emb, dist = found
        if emb is None and self.embed:
            emb = self.backend.embedding(frame, lm)
        self._box = box
        if video and self.smoother is not None:
            lm = self.smoother(lm, t)
        aligned = align_face(frame, lm, self.size, self.crop)
        attrs = estimate_attributes(lm, frame.shape[:2])
        self.status = "face"
        return FaceResult(box, np.asarray(lm, np.float32), aligned, attrs, emb, dist)


# --------------------------------------------------------------------------------------
# Whole inputs -> a faceset
# --------------------------------------------------------------------------------------
@dataclass
class ExtractReport:
    """What an extraction did (also printed by ``deepfake-lab extract``)."""

    out: Path
    sources: int = 0  # processed in this run
    skipped: int = 0  # already in the faceset
    frames: int = 0
    faces: int = 0
    no_face: int = 0
    no_match: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    total_faces: int = 0  # in the faceset, after this run
    seconds: float = 0.0
    up_to_date: bool = False

    def summary(self) -> str:
        if self.up_to_date:
            return (f"{self.out}: up to date ({self.skipped} source(s) already extracted, "
                    f"{self.total_faces} faces); nothing to do")
        lines = [f"{self.out}: {self.faces} faces from {self.frames} frames of "
                 f"{self.sources} source(s) in {self.seconds:.1f} s "
                 f"({self.total_faces} faces in the faceset)"]
        if self.no_face:
            lines.append(f"  frames without a face: {self.no_face}")
        if self.no_match:
            lines.append(f"  frames whose faces did not match the reference: {self.no_match}")
        if self.skipped:
            lines.append(f"  skipped {self.skipped} source(s) already in the faceset")
        for _path, msg in self.failed:
            lines.append(f"  failed: {msg}")
        return "\n".join(lines)

    def to_json(self) -> dict:
        d = asdict(self)
        d["out"] = str(self.out)
        return d


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text)[:40].strip("_") or "source"


def _round(a, nd: int) -> list:
    return np.round(np.asarray(a, dtype=np.float64), nd).tolist()


def _record(res: FaceResult, *, name: str, sha: str, frame: int, t: float) -> dict:
    from ..attributes import EXPRESSION, POSE

    rec = {
        "file": f"crops/{_slug(Path(name).stem)}-{sha[:8]}-{frame:06d}.jpg",
        "source": name, "frame": frame, "time": round(t, 4),
        "box": res.box.to_list(),
        "landmarks": _round(res.landmarks, 1),
        "matrix": _round(res.aligned.matrix, 6),
        "pose": {a.name: round(res.attributes[a.name], 2) for a in POSE},
        "expression": {a.name: round(res.attributes[a.name], 3) for a in EXPRESSION},
        "embedding": None if res.embedding is None else _round(res.embedding, 5),
    }
    if res.distance is not None:
        rec["distance"] = round(res.distance, 4)
    return rec


def reference_embedding(backend: FaceBackend, path: str | Path) -> np.ndarray:
    """Identity embedding of the largest face in a reference photo."""
    image = load_image(path)
    boxes = backend.detect(image) or backend.detect(image, upsample=1)
    if not boxes:
        raise NoFaceError(path, "no face found in the reference photo")
    return backend.embedding(image, backend.landmarks(image, boxes[0]))


def extract(input: str | Path, out: str | Path, options: ExtractOptions | None = None, *,
            reference: str | Path | None = None, overwrite: bool = False,
            progress: bool = True, backend: FaceBackend | None = None,
            log: Callable[[str], None] | None = None) -> ExtractReport:
    """Extract the faces of an image, a video or a folder of them into the faceset ``out``.

    Re-running skips the sources already in ``out`` (by content hash) and continues an
    interrupted run.  A single unreadable file raises :class:`MediaError`; inside a folder
    it is reported in :attr:`ExtractReport.failed` and the others are extracted.  If no
    face at all is found, :class:`NoFaceError` is raised and nothing is written.
    """
    from tqdm.auto import tqdm

    from .. import __version__
    from ..data.facesets import FacesetWriter

    opts = options or ExtractOptions()
    t0 = time.perf_counter()
    input = Path(input)
    files = list_media(input)
    single = input.is_file()
    root = input.parent if single else input
    be = backend or get_backend(opts.backend, detect_size=opts.detect_size)
    ref_emb, ref_sha = None, None
    if reference is not None:
        ref_emb, ref_sha = reference_embedding(be, reference), file_sha256(reference)
    parameters = {**{k: v for k, v in asdict(opts).items() if k != "jpeg_quality"},
                  "reference_sha256": ref_sha}
    writer = FacesetWriter(out, parameters, overwrite=overwrite,
                           jpeg_quality=opts.jpeg_quality)
    report = ExtractReport(out=Path(out))

    todo: list[tuple[Path, str]] = []
    seen: set[str] = set()
    for p in files:
        sha = file_sha256(p)
        if writer.is_done(sha) or sha in seen:
            report.skipped += 1
        else:
            todo.append((p, sha))
        seen.add(sha)
    if not todo and not writer.dirty:
        writer.discard()
        report.up_to_date, report.total_faces = True, writer.n_faces()
        return report

    estimates = {}
    for p, _ in todo:
        try:
            estimates[p] = (video_info(p).frames_estimate + opts.every - 1) // opts.every \
                if media_kind(p) == "video" else 1
        except MediaError:
            estimates[p] = 1
    bar = tqdm(total=sum(estimates.values()), unit="frame", disable=not progress,
               desc="extract", dynamic_ncols=True)
    pipe = FacePipeline(be, size=opts.size, crop=opts.crop, reference=ref_emb,
                        smooth=opts.smooth)
    try:
        for p, sha in todo:
            name = p.relative_to(root).as_posix()
            stats = {"frames": 0, "faces": 0, "no_face": 0, "no_match": 0}
            try:
                _extract_source(p, name, sha, pipe, writer, opts, bar, stats)
            except MediaError as e:
                if single:
                    writer.discard()
                    raise
                report.failed.append((name, str(e)))
                if log:
                    log(f"skipping {e}")
                continue
            finally:
                bar.update(max(0, estimates[p] - stats["frames"]))  # estimates can be off
            report.sources += 1
            for k, v in stats.items():
                setattr(report, k, getattr(report, k) + v)
    finally:
        bar.close()
    report.total_faces = writer.n_faces()
    report.seconds = time.perf_counter() - t0
    if report.total_faces == 0:
        writer.discard()
        what = f"{report.frames} frame(s) of {report.sources} file(s)"
        if report.no_match and not report.no_face:
            raise NoFaceError(input, f"no face matching the reference in {what}")
        raise NoFaceError(input, f"no face found in {what}" + (
            f"; {len(report.failed)} file(s) could not be read" if report.failed else ""))
    writer.commit({"deepfake_lab": __version__, "backend": be.info(),
                   "embedding_dim": be.embedding_dim,
                   "schema": [a.to_json() for a in _pose_expression()]})
    return report


def _pose_expression():
    from ..attributes import EXPRESSION, POSE

    return POSE + EXPRESSION


def _extract_source(path: Path, name: str, sha: str, pipe: FacePipeline, writer,
                    opts: ExtractOptions, bar, stats: dict[str, int]) -> None:
    """Run one file through the pipeline into the writer, counting into ``stats``."""
    kind = media_kind(path)
    pipe.reset()
    if kind == "image":
        image = load_image(path)
        info = {"path": name, "sha256": sha, "kind": kind,
                "width": image.shape[1], "height": image.shape[0]}
        frames = [(0, image)]
        fps = None
    else:
        vi = video_info(path)
        info = {"path": name, "sha256": sha, "kind": kind, "width": vi.width,
                "height": vi.height, "fps": round(vi.fps, 3), "codec": vi.codec}
        frames = iter_video(path)
        fps = vi.fps
    writer.begin_source(info)
    for index, frame in frames:
        if index % opts.every:
            continue
        t = index / fps if fps else 0.0
        res = pipe(frame, t, video=kind == "video")
        stats["frames"] += 1
        bar.update(1)
        if res is None:
            stats[pipe.status] += 1
            continue
        writer.add(_record(res, name=name, sha=sha, frame=index, t=t), res.aligned.image)
        stats["faces"] += 1
    if stats["frames"] == 0:
        raise MediaError(path, "no frames could be decoded")
    writer.end_source(stats)


__all__ = ["ExtractOptions", "ExtractReport", "FaceError", "FacePipeline", "FaceResult",
           "extract", "face_size", "reference_embedding"]
