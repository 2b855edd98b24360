"""Keyframes: a path through attribute space, written as text, for ``animate``.

Animation needs no driving video: the attributes of every frame come from a *path*::

    "yaw:-30..30,smile:0..1"          yaw sweeps -30 -> 30 degrees while smile goes 0 -> 1
    "yaw:0..40..-40..0,mouth_open:0..1..0"   several keyframes per attribute

Each ``NAME:V0..V1[..V2...]`` lists the values one attribute passes through; its keyframes
are spread evenly over the clip and the value is interpolated linearly in between (or with
a cosine ease-in/out, ``ease="smooth"``).  Attributes the path does not name keep a base
value (the schema default, or what the caller passes).  Names, units and ranges come from
the attribute schema and nowhere else: ``yaww:0..1`` is refused with "did you mean yaw?",
``smile:0..3`` with smile's range.  Identity sliders can be animated too (a SynthFaces
``skin_tone:0..1`` morph).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from ..attributes import AttributeSchema, AttributeValueError

EASES = ("linear", "smooth")


@dataclass(frozen=True)
class KeyframePath:
    """Per-attribute keyframe values (physical units), evenly spaced over ``[0, 1]``."""

    keys: dict[str, tuple[float, ...]]
    ease: str = "linear"

    def at(self, u: float) -> dict[str, float]:
        """The animated attributes at clip fraction ``u`` in [0, 1]."""
        u = min(max(float(u), 0.0), 1.0)
        out = {}
        for name, vals in self.keys.items():
            if len(vals) == 1:
                out[name] = vals[0]
                continue
            x = u * (len(vals) - 1)
            i = min(int(math.floor(x)), len(vals) - 2)
            f = x - i
            if self.ease == "smooth":
                f = 0.5 - 0.5 * math.cos(math.pi * f)
            out[name] = vals[i] + (vals[i + 1] - vals[i]) * f
        return out

    def frames(self, n: int, base: Mapping[str, float] | None = None) -> list[dict[str, float]]:
        """``n`` attribute dicts, first at ``u = 0``, last at ``u = 1``, over ``base``."""
        if n < 1:
            raise ValueError(f"need at least one frame, got {n}")
        base = dict(base or {})
        return [{**base, **self.at(k / (n - 1) if n > 1 else 0.0)} for k in range(n)]


def parse_path(text: str, schema: AttributeSchema, ease: str = "linear") -> KeyframePath:
    """Parse ``"NAME:V0..V1[..],NAME:..."`` against ``schema`` (names and ranges checked).

    Raises :class:`~deepfake_lab.attributes.AttributeValueError` (a ``ValueError``) with the
    offending part of the text.
    """
    if ease not in EASES:
        raise ValueError(f"ease must be one of {', '.join(EASES)}, got {ease!r}")
    keys: dict[str, tuple[float, ...]] = {}
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    if not parts:
        raise AttributeValueError("empty --path; expected e.g. 'yaw:-30..30,smile:0..1'")
    for part in parts:
        name, sep, values = part.partition(":")
        name = name.strip()
        if not sep or not values.strip():
            raise AttributeValueError(f"--path entry {part!r} is not NAME:V0..V1 "
                                      f"(e.g. 'yaw:-30..30')")
        attr = schema[name]  # unknown names: UnknownAttributeError with suggestions
        if name in keys:
            raise AttributeValueError(f"--path names {name!r} twice")
        nums = []
        for token in values.split(".."):
            try:
                v = float(token)
            except ValueError:
                raise AttributeValueError(f"--path {name}: {token.strip()!r} is not a number "
                                          f"(in {part!r})") from None
            nums.append(attr.check(v))
        keys[name] = tuple(nums)
    return KeyframePath(keys=keys, ease=ease)
