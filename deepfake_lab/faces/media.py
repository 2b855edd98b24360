"""Reading real media: images and videos in, uint8 ``(H, W, 3)`` RGB frames out.

Everything downstream of this module sees one kind of picture, whatever the file held:

* **images** (PIL): EXIF rotation applied; grey, palette, CMYK and 16-bit images converted;
  transparent pixels composited over white (a face cut-out stays a face, not a black blob);
* **videos** (imageio-ffmpeg, which ships its own ffmpeg): decoded frame by frame, never all
  at once, so an hour of video needs the memory of one frame.

Anything that is not readable media raises :class:`~deepfake_lab.faces.errors.MediaError`
with the path and the reason: an empty file, a truncated JPEG, a text file called
``face.png``, a video whose container is cut off.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import MediaError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")
VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".mpg", ".mpeg")


def media_kind(path: str | Path) -> str:
    """``"image"`` or ``"video"`` from the file's extension (raises :class:`MediaError`)."""
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    raise MediaError(path, f"unsupported file type {suffix or '(no extension)'!r}; images: "
                           f"{' '.join(IMAGE_EXTENSIONS)}; videos: {' '.join(VIDEO_EXTENSIONS)}")


def list_media(path: str | Path) -> list[Path]:
    """The media files an input names: the file itself, or a folder's images and videos.

    Folders are walked recursively in sorted order (so runs are reproducible); files of
    other types inside a folder are skipped.  A single file of an unsupported type raises.
    """
    path = Path(path)
    if not path.exists():
        raise MediaError(path, "no such file or folder")
    if path.is_file():
        media_kind(path)
        return [path]
    found = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
                   and p.suffix.lower() in IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)
    if not found:
        raise MediaError(path, "the folder holds no image or video files")
    return found


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes: a source's identity in a faceset's provenance."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------
def to_rgb_uint8(image) -> np.ndarray:
    """Any PIL image -> uint8 ``(H, W, 3)`` RGB.

    16-bit and 32-bit integer modes are scaled by their real range (a 16-bit PNG of a face
    uses 0..65535), alpha is composited over white, everything else goes through PIL's own
    conversion.
    """
    from PIL import Image

    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or a.max() > 255 else 255.0
        grey = np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    return np.asarray(image.convert("RGB"))


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as uint8 ``(H, W, 3)`` RGB (raises :class:`MediaError`)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise MediaError(path, "no such file")
    if path.stat().st_size == 0:
        raise MediaError(path, "the file is empty (0 bytes)")
    try:
        with Image.open(path) as im:
            im.load()  # decode now: a truncated file fails here, not later
            im = ImageOps.exif_transpose(im)
            return to_rgb_uint8(im)
    except UnidentifiedImageError:
        raise MediaError(path, "not an image file PIL can read") from None
    except Image.DecompressionBombError as e:
        raise MediaError(path, f"image too large to decode safely ({e})") from None
    except (OSError, SyntaxError, ValueError) as e:  # truncated / corrupt data
        raise MediaError(path, f"cannot decode the image ({e})") from None


# --------------------------------------------------------------------------------------
# Videos
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video (the frame count is an estimate)."""

    width: int
    height: int
    fps: float
    duration: float
    codec: str

    @property
    def frames_estimate(self) -> int:
        return max(1, round(self.fps * self.duration))


def ffmpeg_reason(text: str) -> str:
    """ffmpeg's error output -> one specific, human sentence."""
    if "Output file does not contain any stream" in text or "matches no streams" in text:
        if "Audio:" in text:
            return "the file holds audio only, no video stream"
        return "the file holds no video stream"
    if "moov atom not found" in text:
        return ("not a readable video: the mp4/mov index (moov atom) is missing - "
                "a truncated download or not a video at all")
    if "Invalid data found when processing input" in text:
        return "not a video file ffmpeg can read (invalid data)"
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return f"cannot read as a video ({lines[-1] if lines else 'ffmpeg failed'})"


def open_video(path: Path):
    """``(frame generator, metadata)`` of a video via ffmpeg; :class:`MediaError` with a
    specific reason (missing, empty, audio only, truncated index, not a video ...)."""
    import imageio_ffmpeg

    if not path.exists():
        raise MediaError(path, "no such file")
    if not path.is_file():
        raise MediaError(path, "not a file")
    if path.stat().st_size == 0:
        raise MediaError(path, "the file is empty (0 bytes)")
    gen = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    try:
        meta = next(gen)
    except (OSError, RuntimeError, StopIteration) as e:
        gen.close()
        raise MediaError(path, ffmpeg_reason(str(e))) from None
    if not meta.get("size") or meta["size"][0] <= 0:
        gen.close()
        raise MediaError(path, "the file holds no video stream")
    return gen, meta


def video_info(path: str | Path) -> VideoInfo:
    """Size, frame rate, duration and codec of a video (raises :class:`MediaError`)."""
    gen, meta = open_video(Path(path))
    gen.close()
    return _info(meta)


def _info(meta: dict) -> VideoInfo:
    w, h = meta["size"]
    return VideoInfo(width=int(w), height=int(h), fps=float(meta.get("fps") or 25.0),
                     duration=float(meta.get("duration") or 0.0),
                     codec=str(meta.get("codec", "?")))


def iter_video(path: str | Path, start: int = 0) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame_index, frame)`` pairs, frames as uint8 ``(H, W, 3)`` RGB.

    ``start`` skips (still decodes) the first frames.  A file that cannot be opened raises
    :class:`MediaError`; a stream that is cut off part-way simply ends early.
    """
    path = Path(path)
    gen, meta = open_video(path)
    info = _info(meta)
    shape = (info.height, info.width, 3)
    try:
        for i, raw in enumerate(gen):
            if len(raw) != shape[0] * shape[1] * 3:
                break  # a cut-off last frame
            if i >= start:
                yield i, np.frombuffer(raw, dtype=np.uint8).reshape(shape)
    except (OSError, RuntimeError):
        return  # ffmpeg gave up on damaged data: keep the frames decoded so far
    finally:
        gen.close()


def write_video(path: str | Path, frames, fps: float, *, crf: int = 23) -> Path:
    """Write uint8 ``(H, W, 3)`` RGB frames as H.264 ``yuv420p`` mp4 (plays in browsers).

    Sides must be even for yuv420p; odd sizes are padded by one pixel.
    """
    import imageio_ffmpeg

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    try:
        for frame in frames:
            f = np.ascontiguousarray(frame, dtype=np.uint8)
            h, w = f.shape[:2]
            if h % 2 or w % 2:
                f = np.pad(f, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
            if writer is None:
                writer = imageio_ffmpeg.write_frames(
                    str(path), (f.shape[1], f.shape[0]), fps=fps, codec="libx264",
                    pix_fmt_out="yuv420p", quality=None,
                    output_params=["-crf", str(crf), "-preset", "slow",
                                   "-movflags", "+faststart"],
                    macro_block_size=1)
                writer.send(None)
            writer.send(f)
    finally:
        if writer is not None:
            writer.close()
    return path
