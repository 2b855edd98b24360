"""Writing video: H.264 ``yuv420p`` mp4 that browsers play, written atomically.

The encoder is the ffmpeg binary that ``imageio-ffmpeg`` ships (it has ``libx264``).  Raw
``rgb24`` frames go into ffmpeg's stdin from a background thread, so encoding overlaps with
the face work; the command is spelled out in :meth:`VideoWriter.command`::

    ffmpeg -f rawvideo -pix_fmt rgb24 -s WxH -r FPS -i -      <- our frames
           [-i SOURCE]                                        <- audio, if the source has it
           -map 0:v:0 [-map 1:a:0 -c:a copy|aac -shortest]
           -c:v libx264 -pix_fmt yuv420p -crf 20 -preset veryfast
           -movflags +faststart+use_metadata_tags -metadata KEY=VALUE ...  -f mp4 TEMP

* ``yuv420p`` is the only pixel format every browser decodes; it needs even sides, so an
  odd frame is padded by one pixel at the right/bottom (the 8x8 watermark grid, anchored at
  the top-left, is unaffected).
* ``+faststart`` moves the index to the front so a browser can start playing at once.
* **Audio** is copied from the source when it is AAC or MP3 (what mp4 players take), and
  re-encoded to AAC otherwise; ``-shortest`` cuts it where the (possibly trimmed) video ends.
* **Atomic**: ffmpeg writes ``.NAME.partial-PID.mp4`` beside the target; only a complete,
  successful encode is renamed onto the target path (:meth:`VideoWriter.commit`).  Any
  failure - in ffmpeg or in the code feeding it - deletes the partial file, so a crash never
  leaves a half-written video where the result should be (nor destroys an older one).
"""

from __future__ import annotations

import os
import queue
import subprocess
import tempfile
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np

AUDIO_COPY = ("aac", "mp3")
_END = object()


class EncodeError(RuntimeError):
    """ffmpeg failed to write the video (its last error line is in the message)."""


class VideoWriter:
    """Encode uint8 ``(H, W, 3)`` RGB frames to an H.264 mp4 at ``path``, atomically.

    >>> with VideoWriter("out.mp4", 640, 360, 25.0) as w:   # doctest: +SKIP
    ...     for frame in frames:
    ...         w.write(frame)
    ... # leaving the block without an exception commits (renames) the file

    ``audio_from``/``audio_codec``: a media file whose first audio stream is muxed in.
    ``metadata``: container tags.  ``crf`` (quality, lower is better; 18-23 is typical) and
    ``preset`` (x264 speed) trade size and encode time.
    """

    def __init__(self, path: str | Path, width: int, height: int, fps: float, *,
                 crf: int = 20, preset: str = "veryfast", audio_from: str | Path | None = None,
                 audio_codec: str | None = None, metadata: dict[str, str] | None = None,
                 queue_size: int = 8) -> None:
        if not 0 <= crf <= 51:
            raise ValueError(f"crf must be in 0..51, got {crf}")
        self.path = Path(path)
        self.width, self.height, self.fps = int(width), int(height), float(fps)
        self.crf, self.preset = int(crf), preset
        self.audio_from = None if audio_from is None or audio_codec is None else Path(audio_from)
        self.audio_codec = audio_codec
        self.metadata = dict(metadata or {})
        self.frames_written = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.partial = self.path.with_name(f".{self.path.name}.partial-{os.getpid()}.mp4")
        self._log = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(self.command(), stdin=subprocess.PIPE,
                                      stdout=subprocess.DEVNULL, stderr=self._log)
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, queue_size))
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="video-encode", daemon=True)
        self._thread.start()
        self._closed = False

    @property
    def audio(self) -> bool:
        """Whether an audio stream is muxed in."""
        return self.audio_from is not None

    def command(self) -> list[str]:
        """The ffmpeg command line (see the module docstring)."""
        import imageio_ffmpeg

        rate = Fraction(self.fps).limit_denominator(1001)
        cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-v", "error", "-nostdin",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{self.width}x{self.height}",
               "-r", str(rate), "-i", "-"]
        if self.audio_from is not None:
            cmd += ["-i", str(self.audio_from)]
        cmd += ["-map", "0:v:0"]
        if self.audio_from is not None:
            codec = "copy" if self.audio_codec in AUDIO_COPY else "aac"
            cmd += ["-map", "1:a:0", "-c:a", codec, "-shortest"]
        if self.width % 2 or self.height % 2:
            cmd += ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]
        cmd += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", str(self.crf),
                "-preset", self.preset, "-movflags", "+faststart+use_metadata_tags"]
        for key, value in self.metadata.items():
            cmd += ["-metadata", f"{key}={value}"]
        return cmd + ["-f", "mp4", str(self.partial)]

    def _run(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is _END:
                    break
                self._proc.stdin.write(item)
        except BaseException as e:  # a broken pipe: ffmpeg died; reported by commit()
            self._error = e
            while self._queue.get() is not _END:  # let the producer finish
                pass

    def write(self, frame: np.ndarray) -> None:
        """Queue one uint8 ``(H, W, 3)`` RGB frame (the array is encoded as it is now)."""
        if self._closed:
            raise EncodeError(f"{self.path}: the writer is closed")
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(f"frame must be uint8 {(self.height, self.width, 3)}, "
                             f"got {frame.dtype} {frame.shape}")
        self._queue.put(np.ascontiguousarray(frame).tobytes())
        self.frames_written += 1

    def _finish(self) -> int:
        self._closed = True
        self._queue.put(_END)
        self._thread.join()
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        return self._proc.wait()

    def _stderr(self) -> str:
        self._log.seek(0)
        text = self._log.read().decode("utf-8", "replace").strip()
        return text.splitlines()[-1] if text else "no error output"

    def commit(self) -> Path:
        """Finish encoding and move the file onto the target path; returns it."""
        rc = self._finish()
        try:
            if rc != 0 or self._error is not None or self.frames_written == 0:
                why = ("no frames were written" if self.frames_written == 0
                       else f"ffmpeg exited with {rc}: {self._stderr()}")
                raise EncodeError(f"{self.path}: encoding failed ({why})")
            os.replace(self.partial, self.path)
        finally:
            self._cleanup()
        return self.path

    def abort(self) -> None:
        """Stop ffmpeg and delete the partial file; the target path is left untouched."""
        if not self._closed:
            self._closed = True
            self._proc.kill()
            self._queue.put(_END)
            self._thread.join()
            self._proc.wait()
        self._cleanup()

    def _cleanup(self) -> None:
        self._log.close()
        if self.partial.exists():
            self.partial.unlink()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()
