"""Video: swap, reenact and animate faces in clips; labelled, watermarked H.264 out.

    from deepfake_lab.video import swap_video, animate_video
    report = swap_video("clip.mp4", "out.mp4", "cvae-synthfaces-64", to="boris")
    print(report.summary())                  # frames, faces, fps, notices
    animate_video("anim.mp4", "cvae-synthfaces-64", identity="ada",
                  path="yaw:-30..30,smile:0..1", seconds=4)

or ``deepfake-lab swap`` / ``deepfake-lab animate``.  Modules, in the order a frame meets
them: :mod:`.reader` (probe, limits, threaded decode), :mod:`.track` (detect, landmarks,
smoothing), :mod:`.strategies` (what the model does per frame; :mod:`.identity` names the
target, :mod:`.keyframes` drives ``animate``), :mod:`deepfake_lab.faces.blend` (mask,
colour transfer, paste-back), :mod:`deepfake_lab.provenance` (label and watermark on every
frame), :mod:`.writer` (H.264, audio, atomic), all run by :mod:`.pipeline`;
:mod:`.flicker` measures temporal stability.
"""

from __future__ import annotations

# Submodules load on first use (PEP 562), so that `deepfake-lab --help` and the commands
# that never touch video do not import the models.
_EXPORTS = {
    "Flicker": "flicker", "face_region": "flicker", "measure_flicker": "flicker",
    "UnknownIdentityError": "identity", "resolve_identity": "identity",
    "KeyframePath": "keyframes", "parse_path": "keyframes",
    "STAGES": "pipeline", "RenderOptions": "pipeline", "RenderReport": "pipeline",
    "animate_video": "pipeline", "swap_video": "pipeline",
    "FrameReader": "reader", "VideoSource": "reader", "plan": "reader", "probe": "reader",
    "STRATEGIES": "strategies", "Animate": "strategies", "ConditionalSwap": "strategies",
    "Reenact": "strategies", "Strategy": "strategies", "Swap": "strategies",
    "make_strategy": "strategies",
    "FaceTracker": "track", "TrackedFace": "track",
    "EncodeError": "writer", "VideoWriter": "writer",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "STAGES", "STRATEGIES", "Animate", "ConditionalSwap", "EncodeError", "FaceTracker",
    "Flicker", "FrameReader", "KeyframePath", "Reenact", "RenderOptions", "RenderReport",
    "Strategy", "Swap", "TrackedFace", "UnknownIdentityError", "VideoSource", "VideoWriter",
    "animate_video", "face_region", "make_strategy", "measure_flicker", "parse_path", "plan",
    "probe", "resolve_identity", "swap_video",
]
