"""The video pipeline: a clip and a model in, a labelled, watermarked H.264 clip out.

One frame's journey, stage by stage (the names are the keys of :attr:`RenderReport.stage_ms`
and of ``benchmarks/video.py``)::

    stage     what happens                                              thread
    decode    FrameReader: ffmpeg -> uint8 (H, W, 3)                    decode
    track     FaceTracker: box -> 68 landmarks -> one-euro -> pose ...  main
    align     umeyama -> warpAffine -> aligned crop (S, S, 3)           main
    generate  Strategy on a batch of B crops -> faces (B, 3, S, S)      generate
    compose   mask + colour transfer -> inverse warp into the frame     generate
    mark      invisible watermark + visible label, every frame          generate
    encode    VideoWriter: rgb24 -> ffmpeg libx264 -> temp mp4          encode

Four threads (and two ffmpeg processes) work at once: while the main thread tracks and
aligns the frames of batch ``k + 1``, the generate thread runs the model on batch ``k``,
pastes the faces back, marks the frames and hands them, in order, to the writer.  Torch,
OpenCV and the pipes release the GIL, so on two cores the halves overlap.  Per-stage times
(:attr:`RenderReport.stage_ms`) are each thread's own; they add up to more than the wall
time when the threads overlap (``wait`` is the main thread blocked on a full queue).

Frames without a face pass through unchanged (still marked: the clip as a whole is
generated) and are counted.  A clip in which no frame has a face raises
:class:`~deepfake_lab.faces.errors.NoFaceError` and writes nothing.

:func:`swap_video` drives a video with a swap strategy; :func:`animate_video` renders frames
from attribute keyframes.  Both validate the model, the identity and the media *before*
any work, write through :class:`~.writer.VideoWriter` (temp file + rename: a failure
leaves nothing at the target path) and return a :class:`RenderReport`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..faces.align import AlignedFace, align_face
from ..faces.blend import BlendOptions, compose, face_mask
from ..faces.errors import MediaError, NoFaceError
from ..faces.media import file_sha256
from ..images import from_uint8, to_uint8
from ..provenance import VideoMarker, make_video_payload, video_metadata
from ..registry import LoadedModel, load_model
from .keyframes import parse_path
from .reader import DEFAULT_MAX_SECONDS, DEFAULT_MAX_SIDE, FrameReader, VideoSource, plan
from .strategies import Animate, Strategy, make_strategy
from .track import FaceTracker, TrackedFace
from .writer import VideoWriter

STAGES = ("decode", "track", "align", "generate", "compose", "mark", "encode")
#: not a stage: time the main thread was blocked because the generating thread was behind
WAIT = "wait"

#: called as ``on_frame(index, input_frame, output_frame, face)`` before the marks are put
#: on (``input_frame`` is ``None`` for animations); for analysis such as :mod:`.flicker`
FrameHook = Callable[[int, np.ndarray | None, np.ndarray, TrackedFace | None], None]


@dataclass(frozen=True)
class RenderOptions:
    """Everything about a render except its input, output, model and target."""

    blend: BlendOptions = field(default_factory=BlendOptions)
    crop: str | None = None  # aligned crop kind; None: what the model was trained on
    detect_every: int = 5  # confirm the face with a detector every k-th frame
    smooth: bool = True  # one-euro on landmarks and attributes
    batch: int = 8  # frames per generator call
    max_seconds: float | None = DEFAULT_MAX_SECONDS  # longer clips are trimmed (notice)
    max_side: int | None = DEFAULT_MAX_SIDE  # larger frames are downscaled (notice)
    crf: int = 20  # H.264 quality (lower = better, larger)
    preset: str = "veryfast"  # x264 speed preset
    audio: bool = True  # copy the source's audio track when there is one
    label: bool = True  # visible "AI-generated" label (developer-only switch)
    watermark: bool = True  # invisible watermark (developer-only switch)
    progress: bool = True  # a tqdm bar with frames per second

    def __post_init__(self) -> None:
        if self.batch < 1:
            raise ValueError(f"batch must be >= 1, got {self.batch}")
        if self.max_seconds is not None and self.max_seconds <= 0:
            raise ValueError(f"max_seconds must be positive, got {self.max_seconds}")
        if self.max_side is not None and self.max_side < 64:
            raise ValueError(f"max_side must be at least 64, got {self.max_side}")


@dataclass
class RenderReport:
    """What a render did: counts, timings, notices (printed by the CLI)."""

    output: Path
    model: str
    strategy: str
    width: int
    height: int
    fps: float
    frames: int = 0
    faces: int = 0
    no_face: int = 0
    several_faces: int = 0  # frames whose last full detection saw more than one face
    audio: bool = False
    seconds: float = 0.0
    stage_ms: dict[str, float] = field(default_factory=dict)  # per frame, main thread, wall
    stage_cpu_ms: dict[str, float] = field(default_factory=dict)  # ... its CPU time
    notices: list[str] = field(default_factory=list)
    content_sha256: str = ""
    tracking: dict[str, int] = field(default_factory=dict)

    @property
    def render_fps(self) -> float:
        """Frames rendered per second of wall time, end to end."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        """A few human lines: what was written, counts, speed, notices."""
        lines = [f"wrote {self.output}: {self.frames} frames {self.width}x{self.height} at "
                 f"{self.fps:g} fps, {self.strategy}; {self.faces} with a face"
                 + (f", {self.no_face} without (passed through)" if self.no_face else "")
                 + f"; {self.seconds:.1f} s ({self.render_fps:.1f} frames/s)"
                 + ("; audio copied" if self.audio else "")]
        lines += [f"  note: {n}" for n in self.notices]
        return "\n".join(lines)

    def to_json(self) -> dict:
        """The report as JSON-able data (``deepfake-lab swap --json``)."""
        d = asdict(self)
        d["output"] = str(self.output)
        d["render_fps"] = round(self.render_fps, 2)
        return d


class _Clock:
    """Milliseconds spent per stage on the main thread, summed over the clip: wall time and
    the thread's own CPU time (which other busy processes on the machine do not inflate)."""

    def __init__(self) -> None:
        self.wall = dict.fromkeys((*STAGES, WAIT), 0.0)
        self.cpu = dict.fromkeys((*STAGES, WAIT), 0.0)
        self._t, self._c = time.perf_counter(), time.thread_time()

    def lap(self, stage: str) -> None:
        """Charge the time since the last lap to ``stage``."""
        now, cpu = time.perf_counter(), time.thread_time()
        self.wall[stage] += (now - self._t) * 1000
        self.cpu[stage] += (cpu - self._c) * 1000
        self._t, self._c = now, cpu

    def restart(self) -> None:
        """Start the next lap now (time until here is not counted)."""
        self._t, self._c = time.perf_counter(), time.thread_time()

    def merge(self, other: _Clock | None) -> None:
        """Add another thread's stage times to these."""
        if other is not None:
            for k in self.wall:
                self.wall[k] += other.wall[k]
                self.cpu[k] += other.cpu[k]

    def per_frame(self, frames: int, cpu: bool = False) -> dict[str, float]:
        """Milliseconds per frame for each stage (wall, or CPU with ``cpu=True``)."""
        total = self.cpu if cpu else self.wall
        return {k: round(v / max(frames, 1), 3) for k, v in total.items()}


def _as_model(model: LoadedModel | str) -> LoadedModel:
    return model if isinstance(model, LoadedModel) else load_model(model)


def default_crop(model: LoadedModel) -> str:
    """The crop kind a model was trained on: ``face`` for real facesets, else ``whole_face``
    (the framing of SynthFaces renders: forehead, hair and chin in view)."""
    data = model.config.get("data")
    if isinstance(data, Mapping) and data.get("kind") == "facesets":
        return str(data.get("crop", "face"))
    return "whole_face"


def _progress(total: int | None, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total or None, unit="frame", desc=desc, disable=not enabled,
                dynamic_ncols=True)


# --------------------------------------------------------------------------------------
# Driving video -> swapped video
# --------------------------------------------------------------------------------------
@dataclass
class _Pending:
    index: int
    frame: np.ndarray
    face: TrackedFace | None
    aligned: AlignedFace | None
    original: np.ndarray | None = None  # a copy of the input, only when a hook wants it


def swap_video(input: str | Path, output: str | Path, model: LoadedModel | str, *,
               to: str | int | None = None, strategy: str | Strategy = "auto",
               source: str | int | None = None, z: str = "first", seed: int = 0,
               options: RenderOptions | None = None, backend=None,
               on_frame: FrameHook | None = None,
               on_progress: Callable[[int, int], None] | None = None) -> RenderReport:
    """Swap the face of every frame of ``input`` and write ``output`` (H.264 mp4).

    ``strategy``: ``auto`` (the model's natural one), ``swap``, ``conditional``,
    ``reenact``, or a ready :class:`~.strategies.Strategy`.  ``to``: the target identity
    (a two-decoder model's person, or a name/seed of the model's identity kind).
    ``source``: the identity block assumed for the real faces (default: the average).
    ``on_progress(done, total)`` is called after every written frame (e.g. for a UI).

    Raises ``ValueError`` subclasses before doing any work for an unknown model, identity
    or strategy, :class:`~deepfake_lab.faces.errors.MediaError` for unreadable media and
    :class:`~deepfake_lab.faces.errors.NoFaceError` when no frame has a face.
    """
    opts = options or RenderOptions()
    t0 = time.perf_counter()
    model = _as_model(model)
    strat = strategy if isinstance(strategy, Strategy) else make_strategy(
        model, strategy, to=to, source=source, z=z, seed=seed)
    src = plan(input, max_side=opts.max_side, max_seconds=opts.max_seconds)
    sha = file_sha256(src.path)
    crop = opts.crop or default_crop(model)
    if backend is None:
        from ..faces.backend import get_backend
        backend = get_backend()
    tracker = FaceTracker(backend, detect_every=opts.detect_every, smooth=opts.smooth,
                          attributes=strat.needs_attributes)
    marker, meta = _marks(model, strat, sha, src.height, src.width, opts)
    report = RenderReport(output=Path(output), model=model.name, strategy=strat.describe(),
                          width=src.width, height=src.height, fps=src.fps,
                          notices=list(src.notices), content_sha256=sha)
    audio = src.audio_codec if (opts.audio and src.audio_codec) else None
    clock = _Clock()
    bar = _progress(src.frames_estimate, opts.progress, "swap")
    pending: list[_Pending] = []

    def finish_batch(batch: list[_Pending], worker_clock: _Clock) -> None:
        """Generate, compose, mark and write one batch (on the worker thread)."""
        _flush(batch, strat, model.size, opts.blend, marker, writer, worker_clock, on_frame)
        bar.update(len(batch))
        report.frames += len(batch)
        if on_progress is not None:
            on_progress(report.frames, src.frames_estimate)

    try:
        with FrameReader(src) as reader, VideoWriter(
                output, src.width, src.height, src.fps, crf=opts.crf, preset=opts.preset,
                audio_from=src.path if audio else None, audio_codec=audio,
                metadata=meta) as writer:
            report.audio = writer.audio
            worker = _BatchWorker(finish_batch)
            try:
                clock.lap("encode")  # opening ffmpeg counts as encoding
                for index, frame in reader:
                    clock.lap("decode")
                    face = tracker(frame, index / src.fps)
                    clock.lap("track")
                    aligned = None
                    if face is None:
                        report.no_face += 1
                    else:
                        report.faces += 1
                        report.several_faces += int(face.faces_seen > 1)
                        aligned = align_face(frame, face.landmarks, model.size, crop)
                        clock.lap("align")
                    original = frame.copy() if on_frame is not None else None
                    pending.append(_Pending(index, frame, face, aligned, original))
                    if len(pending) >= opts.batch:
                        worker.submit(pending)
                        pending = []
                        clock.lap("wait")  # blocked: the worker is a batch behind
                if pending:
                    worker.submit(pending)
            except BaseException:
                worker.close(reraise=False)  # the main thread's error is the one to report
                raise
            worker.close()  # re-raises the worker's error, if any
            clock.lap("wait")
            clock.merge(worker.clock)
            if report.faces == 0:
                raise NoFaceError(src.path, f"no face found in any of the {report.frames} "
                                            "frame(s); nothing was written")
    finally:
        bar.close()
    _notes(report, src, reader.frames_read, reader.error)
    report.tracking = dict(tracker.stats)
    report.seconds = time.perf_counter() - t0
    report.stage_ms = clock.per_frame(report.frames)
    report.stage_cpu_ms = clock.per_frame(report.frames, cpu=True)
    return report


class _BatchWorker:
    """Runs ``fn(batch, clock)`` for each submitted batch on one thread, in order.

    The main thread tracks and aligns frame ``t + 1`` while this thread generates, composes
    and marks frame ``t``'s batch: torch and OpenCV release the GIL, so on two cores the two
    halves overlap.  The first error stops the work; :meth:`submit` and :meth:`close`
    re-raise it on the main thread.
    """

    def __init__(self, fn: Callable[[list[_Pending], _Clock], None], depth: int = 2) -> None:
        import queue
        import threading

        self.fn, self.clock, self.error = fn, None, None
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._thread = threading.Thread(target=self._run, name="video-generate", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.clock = _Clock()  # created here: it measures this thread's CPU time
        while (batch := self._queue.get()) is not None:
            if self.error is not None:
                continue  # drain after a failure
            self.clock.restart()  # waiting for work is nobody's stage
            try:
                self.fn(batch, self.clock)
            except BaseException as e:
                self.error = e

    def submit(self, batch: list[_Pending]) -> None:
        """Queue a batch (blocks while two are waiting); re-raises an earlier failure."""
        if self.error is not None:
            raise self.error
        self._queue.put(batch)

    def close(self, reraise: bool = True) -> None:
        """Finish the queued batches, stop the thread, re-raise its error."""
        self._queue.put(None)
        self._thread.join()
        if reraise and self.error is not None:
            raise self.error


def _marks(model: LoadedModel, strat: Strategy, sha: str, height: int, width: int,
           opts: RenderOptions) -> tuple[VideoMarker | None, dict[str, str]]:
    """The frame marker and the mp4 metadata of a render."""
    meta = video_metadata(model.name, sha, watermark=opts.watermark, label=opts.label,
                          extra={"architecture": model.architecture,
                                 "strategy": strat.describe()})
    if not (opts.label or opts.watermark):
        return None, meta
    try:
        marker = VideoMarker(height, width, make_video_payload(model.name, sha),
                             label=opts.label, watermark=opts.watermark)
    except ValueError as e:  # frames too small for the watermark
        raise MediaError(None, f"cannot mark the output: {e}") from None
    return marker, meta


def _flush(pending: list[_Pending], strat: Strategy, size: int, blend: BlendOptions,
           marker: VideoMarker | None, writer: VideoWriter, clock: _Clock,
           on_frame: FrameHook | None) -> None:
    """Generate the faces of a batch, compose, mark and write its frames in order."""
    faces = [p for p in pending if p.face is not None]
    if faces:
        crops = None
        if strat.needs_crops:
            crops = from_uint8(np.stack([p.aligned.image for p in faces]))  # (B, 3, S, S)
        attrs = [p.face.attributes or {} for p in faces]
        with torch.inference_mode():
            generated = to_uint8(strat(crops, attrs))                     # (B, S, S, 3)
        clock.lap("generate")
        for p, gen in zip(faces, generated, strict=True):
            mask = face_mask(p.aligned.landmarks, size, blend)           # (S, S)
            compose(p.frame, gen, p.aligned.matrix, mask, original=p.aligned.image,
                    color=blend.color, seamless=blend.seamless, out=p.frame)
        clock.lap("compose")
    for p in pending:
        if on_frame is not None:
            on_frame(p.index, p.original, p.frame, p.face)
        if marker is not None:
            marker(p.frame)
        clock.lap("mark")
        writer.write(p.frame)
        clock.lap("encode")


def _notes(report: RenderReport, src: VideoSource, frames_read: int,
           error: str | None) -> None:
    """Notices about what the input did not deliver."""
    expected = src.frames_estimate
    if expected and frames_read < 0.9 * expected - 1:
        report.notices.append(f"the stream ended after {frames_read} of ~{expected} frames "
                              f"(a truncated or damaged file?)"
                              + (f": {error}" if error else ""))
    if report.no_face:
        report.notices.append(f"{report.no_face} frame(s) without a face passed through "
                              "unchanged (still labelled and watermarked)")
    if report.several_faces:
        report.notices.append(f"several faces in {report.several_faces} frame(s): the "
                              "largest one was swapped")


# --------------------------------------------------------------------------------------
# Keyframes -> animated video
# --------------------------------------------------------------------------------------
def animate_video(output: str | Path, model: LoadedModel | str, *, identity: str | int,
                  path: str, seconds: float, fps: float = 25.0, size: int = 256,
                  z: str = "prior", seed: int = 0, ease: str = "linear",
                  base: Mapping[str, float] | None = None,
                  options: RenderOptions | None = None,
                  on_frame: FrameHook | None = None,
                  on_progress: Callable[[int, int], None] | None = None) -> RenderReport:
    """Render ``seconds`` of ``identity`` moving along the keyframe ``path`` (no driving video).

    ``path`` is e.g. ``"yaw:-30..30,smile:0..1"`` (:mod:`.keyframes`); attributes it does not
    name take ``base`` or the schema defaults.  Frames are the model's output upscaled to
    ``size`` px (bicubic).  The content hash in the watermark is that of the request.
    """
    import cv2

    opts = options or RenderOptions()
    t0 = time.perf_counter()
    model = _as_model(model)
    strat = Animate(model, identity, z=z, seed=seed)
    keys = parse_path(path, model.schema, ease=ease)
    base = model.schema.validate(dict(base or {}))
    if not (seconds > 0 and fps > 0):
        raise ValueError(f"seconds and fps must be positive, got {seconds} and {fps}")
    if opts.max_seconds is not None and seconds > opts.max_seconds:
        raise ValueError(f"--seconds {seconds:g} is over the limit of {opts.max_seconds:g} s")
    if size < 128 or size % 2:
        raise ValueError(f"size must be an even number of at least 128 pixels, got {size}")
    n = max(1, int(round(seconds * fps)))
    request = {"model": model.name, "identity": str(identity), "path": path, "seconds": seconds,
               "fps": fps, "size": size, "z": z, "seed": seed, "ease": ease, "base": base}
    sha = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
    marker, meta = _marks(model, strat, sha, size, size, opts)
    report = RenderReport(output=Path(output), model=model.name, strategy=strat.describe(),
                          width=size, height=size, fps=fps, content_sha256=sha)
    frames = keys.frames(n, base)
    clock = _Clock()
    bar = _progress(n, opts.progress, "animate")
    try:
        with VideoWriter(output, size, size, fps, crf=opts.crf, preset=opts.preset,
                         metadata=meta) as writer:
            clock.lap("encode")
            for start in range(0, n, opts.batch):
                chunk = frames[start:start + opts.batch]
                with torch.inference_mode():
                    faces = to_uint8(strat(None, chunk))                    # (B, S, S, 3)
                clock.lap("generate")
                for k, face in enumerate(faces):
                    frame = cv2.resize(face, (size, size), interpolation=cv2.INTER_CUBIC)
                    clock.lap("compose")
                    if on_frame is not None:
                        on_frame(start + k, None, frame, None)
                    if marker is not None:
                        marker(frame)
                    clock.lap("mark")
                    writer.write(frame)
                    clock.lap("encode")
                report.frames += len(chunk)
                bar.update(len(chunk))
                if on_progress is not None:
                    on_progress(report.frames, n)
    finally:
        bar.close()
    report.faces = report.frames
    report.seconds = time.perf_counter() - t0
    report.stage_ms = clock.per_frame(report.frames)
    report.stage_cpu_ms = clock.per_frame(report.frames, cpu=True)
    return report
