"""The studio's Video and Animate tabs, without Gradio: limits, consent, one render each.

A public app must not be a free video-rendering service, nor a way to process someone's face
without consent, so every request passes these checks *before* any work:

* **uploads** need the consent box ticked, must be at most :data:`MAX_UPLOAD_MB` and must be
  a readable video (the pipeline's own probe says why not); bundled driving clips need no
  consent (their people are the bundled samples, see ``samples/PROVENANCE.md``);
* **length**: at most :data:`MAX_SECONDS` seconds are rendered (longer clips are trimmed,
  with a notice in the report); animations longer than that are refused;
* every output is H.264 with the visible label, the watermark and mp4 metadata (the render
  options leave them on; there is no switch in the app).

Both functions return ``(path of the mp4, report text)`` and raise
:class:`~.core.StudioError` with a message the user can act on.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from ..faces.blend import COLOR_MODES, BlendOptions
from ..faces.errors import MediaError, NoFaceError
from ..samples import CLIPS, sample_path
from .core import Studio, StudioError

MAX_SECONDS = 10.0  # longest clip the app renders
MAX_UPLOAD_MB = 50.0  # largest upload it accepts
STRATEGIES = ("auto", "swap", "conditional", "reenact")
ProgressFn = Callable[[int, int], None]


def video_model_choices(studio: Studio) -> list[tuple[str, str]]:
    """``(label, value)`` of every model a clip can go through: SynthFaces and real-face."""
    from .core import RENDERER
    from .real import real_model_choices

    rows = [(c.label, c.value) for c in studio.choices() if c.value != RENDERER]
    rows += [(c.label, c.value) for c in real_model_choices(studio)]
    return rows


def targets_for(studio: Studio, model: str) -> tuple[list[str], bool]:
    """``(who the model can swap to, whether it takes attributes)`` for the pickers."""
    from ..data.synthfaces import catalogue_names

    loaded = studio.load(model, synthfaces_only=False)
    if loaded.architecture == "two-decoder":
        return list(loaded.people), False
    if loaded.schema.identity_kind == "learned":
        return [a.name.split(":", 1)[1] for a in loaded.schema.identity], True
    return list(catalogue_names()), True


def bundled_clips() -> list[str]:
    """Names of the bundled driving clips (``woman``, ``man``)."""
    return list(CLIPS)


def _output_path(out_dir: str | os.PathLike | None, stem: str) -> Path:
    root = Path(out_dir or tempfile.gettempdir()) / "deepfake-lab-studio"
    root.mkdir(parents=True, exist_ok=True)
    return root / f"{stem}-{uuid.uuid4().hex[:10]}.mp4"


def resolve_input(clip: str | None, upload: str | None, consent: bool) -> Path:
    """The video to process: an upload (consent required, size-limited) or a bundled clip."""
    if upload:
        if not consent:
            raise StudioError("tick the consent box first: only process faces of people who "
                              "have agreed to it")
        path = Path(upload)
        if not path.is_file():
            raise StudioError("the upload did not arrive; try again")
        mb = path.stat().st_size / 1e6
        if mb > MAX_UPLOAD_MB:
            raise StudioError(f"the upload is {mb:.0f} MB; the studio takes at most "
                              f"{MAX_UPLOAD_MB:.0f} MB (trim it, or use 'deepfake-lab swap')")
        if mb == 0:
            raise StudioError("the upload is empty (0 bytes)")
        return path
    if not clip:
        raise StudioError("choose a bundled clip or upload a video")
    if clip not in CLIPS:
        raise StudioError(f"unknown bundled clip {clip!r}; choose one of {', '.join(CLIPS)}")
    return sample_path(f"clips/{clip}.mp4")


def render_swap(studio: Studio, model: str, clip: str | None, upload: str | None,
                consent: bool, to: str, strategy: str = "auto", color: str = "rct",
                erode: float = BlendOptions.erode, blur: float = BlendOptions.blur,
                seamless: bool = False, smooth: bool = True, seconds: float = MAX_SECONDS,
                out_dir: str | os.PathLike | None = None,
                progress: ProgressFn | None = None) -> tuple[str, str]:
    """Swap the face through a clip; ``(mp4 path, report)``."""
    from ..video import RenderOptions, swap_video

    src = resolve_input(clip, upload, consent)
    if strategy not in STRATEGIES:
        raise StudioError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if color not in COLOR_MODES:
        raise StudioError(f"colour transfer must be one of {', '.join(COLOR_MODES)}")
    if not 0 < float(seconds) <= MAX_SECONDS:
        raise StudioError(f"seconds must be in (0, {MAX_SECONDS:g}], got {seconds}")
    if not str(to or "").strip():
        raise StudioError("choose who to swap to")
    loaded = studio.load(model, synthfaces_only=False)
    try:
        blend = BlendOptions(erode=float(erode), blur=float(blur), color=color,
                             seamless=bool(seamless))
        opts = RenderOptions(blend=blend, smooth=bool(smooth), max_seconds=float(seconds),
                             progress=False)
        out = _output_path(out_dir, "swap")
        # A bundled clip of someone a learned-identity model knows: that is the source.
        known = [a.name.split(":", 1)[1] for a in loaded.schema.identity
                 if loaded.schema.identity_kind == "learned"]
        source = clip if (not upload and clip in known) else None
        report = swap_video(src, out, loaded, to=to.strip(), strategy=strategy,
                            source=source, options=opts, on_progress=progress)
    except NoFaceError as e:
        raise StudioError(f"no face found in the clip: {e}") from None
    except MediaError as e:
        raise StudioError(f"cannot read the video: {e}") from None
    except ValueError as e:
        raise StudioError(str(e)) from None
    return str(report.output), report.summary()


def render_animation(studio: Studio, model: str, identity: str, path: str,
                     seconds: float = 4.0, fps: float = 25.0,
                     out_dir: str | os.PathLike | None = None,
                     progress: ProgressFn | None = None) -> tuple[str, str]:
    """Animate ``identity`` along the keyframe ``path``; ``(mp4 path, report)``."""
    from ..video import RenderOptions, animate_video

    if not 0 < float(seconds) <= MAX_SECONDS:
        raise StudioError(f"seconds must be in (0, {MAX_SECONDS:g}], got {seconds}")
    if not 1 <= float(fps) <= 30:
        raise StudioError(f"fps must be in [1, 30], got {fps}")
    loaded = studio.load(model, synthfaces_only=False)
    if loaded.architecture == "two-decoder":
        raise StudioError("a two-decoder model has no attribute input to animate; choose a "
                          "cvae or cgan model")
    try:
        out = _output_path(out_dir, "animate")
        report = animate_video(out, loaded, identity=str(identity).strip(), path=path,
                               seconds=float(seconds), fps=float(fps),
                               options=RenderOptions(progress=False, max_seconds=MAX_SECONDS),
                               on_progress=progress)
    except ValueError as e:
        raise StudioError(str(e)) from None
    return str(report.output), report.summary()
