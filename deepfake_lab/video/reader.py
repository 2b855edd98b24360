"""Reading video: any container ffmpeg knows, decoded in a background thread.

``imageio-ffmpeg`` ships an ffmpeg binary, so mp4, mov (H.264 or HEVC), webm (VP8/VP9), mkv,
avi and animated gif all decode the same way: ffmpeg writes raw ``rgb24`` frames into a pipe
and we cut the byte stream into uint8 ``(H, W, 3)`` arrays.

Before decoding, :func:`probe` reads what the container says (size, frame rate, duration,
codecs) and turns every way a file can be unreadable into one specific
:class:`~deepfake_lab.faces.errors.MediaError`: an empty file, a file that is not media at
all, an audio-only file, a container with its index cut off.  :func:`plan` then applies the
limits of a render:

* frames larger than ``max_side`` on their longer side are **downscaled** by ffmpeg itself
  (area filter, even sizes), with a notice - a 4K clip becomes 1080p;
* clips longer than ``max_seconds`` are **trimmed** to their start, with a notice.

:class:`FrameReader` then decodes in a thread that stays a few frames ahead of the
consumer, so decoding overlaps with the face work on the main thread (the pipe read and
ffmpeg itself release the GIL).
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..faces.errors import MediaError
from ..faces.media import open_video

DEFAULT_MAX_SIDE = 1920
DEFAULT_MAX_SECONDS = 60.0


@dataclass(frozen=True)
class VideoSource:
    """A probed video and how it will be read (size after downscaling, frame limit)."""

    path: Path
    source_width: int
    source_height: int
    width: int  # frames as delivered (after downscaling)
    height: int
    fps: float
    duration: float  # seconds, as the container says (0 if unknown)
    codec: str
    audio_codec: str | None
    max_frames: int | None = None  # None: the whole clip
    notices: tuple[str, ...] = field(default_factory=tuple)

    @property
    def frames_estimate(self) -> int:
        """Frames that will be read (the container's count, capped by ``max_frames``)."""
        n = max(1, round(self.fps * self.duration)) if self.duration > 0 else 0
        if self.max_frames is not None:
            n = min(n, self.max_frames) if n else self.max_frames
        return n

    @property
    def scaled(self) -> bool:
        """Whether frames are downscaled on the way in."""
        return (self.width, self.height) != (self.source_width, self.source_height)


def probe(path: str | Path) -> dict:
    """The container's metadata via ffmpeg (``size``, ``fps``, ``duration``, ``codec``,
    ``audio_codec``); raises :class:`MediaError` with a specific reason."""
    gen, meta = open_video(Path(path))
    gen.close()
    return meta


def _even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)


def plan(path: str | Path, *, max_side: int | None = DEFAULT_MAX_SIDE,
         max_seconds: float | None = DEFAULT_MAX_SECONDS, trim: bool = True) -> VideoSource:
    """Probe ``path`` and decide how to read it under the limits.

    ``max_side``: longer frames are downscaled (notice).  ``max_seconds``: longer clips are
    trimmed (notice), or refused with :class:`MediaError` when ``trim=False``.  ``None``
    lifts a limit.
    """
    path = Path(path)
    meta = probe(path)
    sw, sh = (int(v) for v in meta["size"])
    fps = float(meta.get("fps") or 0.0)
    if not math.isfinite(fps) or fps <= 0:
        fps = 25.0
    duration = float(meta.get("duration") or 0.0)
    notices = []
    w, h = sw, sh
    if max_side is not None and max(sw, sh) > max_side:
        s = max_side / max(sw, sh)
        w, h = _even(sw * s), _even(sh * s)
        notices.append(f"{path.name} is {sw}x{sh}; frames downscaled to {w}x{h} "
                       f"(--max-side {max_side})")
    max_frames = None
    if max_seconds is not None and duration > max_seconds + 0.5 / fps:
        if not trim:
            raise MediaError(path, f"the clip is {duration:.1f} s long, over the limit of "
                                   f"{max_seconds:g} s (raise --max-seconds or cut it)")
        max_frames = max(1, int(math.floor(max_seconds * fps + 1e-6)))
        notices.append(f"{path.name} is {duration:.1f} s long; only the first "
                       f"{max_seconds:g} s ({max_frames} frames) are rendered "
                       f"(--max-seconds {max_seconds:g})")
    return VideoSource(path=path, source_width=sw, source_height=sh, width=w, height=h,
                       fps=fps, duration=duration,
                       codec=str(meta.get("codec", "?")).rstrip(",;"),
                       audio_codec=meta.get("audio_codec"), max_frames=max_frames,
                       notices=tuple(notices))


_END = object()


class FrameReader:
    """Iterate ``(index, frame)`` over a :class:`VideoSource`, decoding in a thread.

    Frames are writable uint8 ``(H, W, 3)`` RGB arrays (the pipeline composes in place).
    A stream that is cut off part-way simply ends; :attr:`frames_read` says where.
    Use as a context manager, or call :meth:`close`, to stop ffmpeg early.
    """

    def __init__(self, source: VideoSource, prefetch: int = 8) -> None:
        self.source = source
        self.frames_read = 0
        self.error: str | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, prefetch))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="video-decode", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import imageio_ffmpeg

        s = self.source
        params = []
        if s.scaled:
            params = ["-vf", f"scale={s.width}:{s.height}:flags=area"]
        gen = None
        try:
            gen = imageio_ffmpeg.read_frames(str(s.path), pix_fmt="rgb24", output_params=params)
            next(gen)  # the metadata
            shape = (s.height, s.width, 3)
            nbytes = s.height * s.width * 3
            for i, raw in enumerate(gen):
                if self._stop.is_set() or (s.max_frames is not None and i >= s.max_frames):
                    break
                if len(raw) != nbytes:
                    break  # a cut-off last frame
                frame = np.frombuffer(raw, dtype=np.uint8).reshape(shape).copy()
                while not self._stop.is_set():
                    try:
                        self._queue.put((i, frame), timeout=0.1)
                        break
                    except queue.Full:
                        continue
        except (OSError, RuntimeError) as e:  # damaged data: keep what was decoded
            self.error = str(e).strip().splitlines()[-1] if str(e).strip() else "ffmpeg failed"
        finally:
            if gen is not None:
                gen.close()
            while True:
                try:
                    self._queue.put(_END, timeout=0.1)
                    break
                except queue.Full:
                    if self._stop.is_set():
                        break

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            self.frames_read += 1
            yield item

    def close(self) -> None:
        """Stop decoding (ffmpeg is terminated) and wait for the thread."""
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get_nowait()
            except queue.Empty:
                self._thread.join(timeout=0.05)

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
