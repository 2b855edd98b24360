"""The attribute schema: the one place that names, orders and bounds every attribute.

Every conditional piece of deepfake-lab speaks one language::

    attribute vector = [ identity block | pose block | expression block ]

* **pose** - ``yaw``, ``pitch``, ``roll`` in degrees.
* **expression** - continuous controls that a renderer can draw *and* an estimator can
  read off real landmarks: ``smile``, ``mouth_open``, ``eyes_open``, ``brow_raise``.
* **identity** - a block whose meaning depends on the data source (its *kind*):

  ``synthfaces``        the SynthFaces renderer's own named parameters (face shape, skin
                        tone, hair, eyes, ...), each a slider in [0, 1];
  ``learned``           a closed set of real people, one weight per person (one-hot for a
                        person, fractional weights mix people);
  ``face_recognition``  a face-recognition embedding (e.g. dlib's 128-d vector).

Inside vectors every attribute is stored **normalised to [-1, 1]** (``low -> -1``,
``high -> +1``) so that networks see comparable scales; dictionaries and the CLI speak
**physical units** (degrees, slider values).  :class:`AttributeSchema` converts between the
two, validates ranges with clear errors, and serialises itself into checkpoints so that a
model trained on one layout refuses to run on another.

Conventions (shared by the renderer and the real-face estimator):

* positive ``yaw``  - the face turns toward the *image's right* (the subject's left);
* positive ``pitch`` - the face looks up;
* positive ``roll`` - the head tilts clockwise in the image (the top of the head moves
  toward the image's right).
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import torch

SCHEMA_VERSION = "1.0"
GROUPS = ("identity", "pose", "expression")
IDENTITY_KINDS = ("synthfaces", "learned", "face_recognition")


class AttributeValueError(ValueError):
    """Base class for attribute problems (a ``ValueError``, so CLIs can report it plainly)."""


class UnknownAttributeError(AttributeValueError):
    """An attribute name that the schema does not define."""


class AttributeRangeError(AttributeValueError):
    """A value outside an attribute's documented range."""


class SchemaMismatchError(AttributeValueError):
    """Two schemas (e.g. a checkpoint's and the running code's) disagree."""


@dataclass(frozen=True)
class Attribute:
    """One named, bounded, continuous attribute."""

    name: str
    group: str  # "identity" | "pose" | "expression"
    low: float
    high: float
    default: float
    unit: str
    description: str

    def __post_init__(self) -> None:
        if self.group not in GROUPS:
            raise ValueError(f"attribute {self.name!r}: unknown group {self.group!r}")
        if not self.low < self.high or not self.low <= self.default <= self.high:
            raise ValueError(f"attribute {self.name!r}: need low < high and default in range")

    def normalize(self, value: float | torch.Tensor) -> float | torch.Tensor:
        """Physical units -> [-1, 1]."""
        return (value - self.low) / (self.high - self.low) * 2.0 - 1.0

    def denormalize(self, value: float | torch.Tensor) -> float | torch.Tensor:
        """[-1, 1] -> physical units."""
        return (value + 1.0) * 0.5 * (self.high - self.low) + self.low

    def check(self, value: float) -> float:
        """Return ``value`` as a float, or raise :class:`AttributeRangeError`."""
        v = float(value)
        if not math.isfinite(v):
            raise AttributeRangeError(f"{self.name}={value!r} is not a finite number")
        if v < self.low or v > self.high:
            raise AttributeRangeError(
                f"{self.name}={v:g} is outside its range [{self.low:g}, {self.high:g}]"
                f"{' ' + self.unit if self.unit else ''} ({self.description})"
            )
        return v

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "group": self.group,
            "low": self.low,
            "high": self.high,
            "default": self.default,
            "unit": self.unit,
            "description": self.description,
        }


# --------------------------------------------------------------------------------------
# Pose and expression: the same for every identity kind.
# --------------------------------------------------------------------------------------
POSE: tuple[Attribute, ...] = (
    Attribute("yaw", "pose", -60.0, 60.0, 0.0, "deg",
              "head turn; positive = face turns toward the image's right"),
    Attribute("pitch", "pose", -40.0, 40.0, 0.0, "deg",
              "head nod; positive = face looks up"),
    Attribute("roll", "pose", -40.0, 40.0, 0.0, "deg",
              "head tilt; positive = clockwise in the image"),
)

#: Attributes whose sign flips when a face is mirrored left-right (the image's x axis):
#: a face at yaw/roll +t, mirrored, is the same person at -t; everything else is unchanged.
MIRROR_NEGATED: tuple[str, ...] = ("yaw", "roll")

EXPRESSION: tuple[Attribute, ...] = (
    Attribute("smile", "expression", -1.0, 1.0, 0.0, "",
              "mouth corners and cheeks: -1 corners down (sad), 0 neutral, 1 broad smile"),
    Attribute("mouth_open", "expression", 0.0, 1.0, 0.0, "",
              "jaw drop: 0 lips closed, 1 wide open with teeth and dark interior"),
    Attribute("eyes_open", "expression", 0.0, 1.0, 0.65, "",
              "eyelids: 0 closed, 0.65 relaxed, 1 wide open"),
    Attribute("brow_raise", "expression", -1.0, 1.0, 0.0, "",
              "eyebrows: -1 frown (low, inner ends down), 0 neutral, 1 raised"),
)


def _slider(name: str, description: str) -> Attribute:
    return Attribute(name, "identity", 0.0, 1.0, 0.5, "", description)


# SynthFaces' identity parameters.  Each one must change a 64 px render visibly at every
# pose in range: identity judges have to tell 50 held-out people apart from them.
SYNTHFACES_IDENTITY: tuple[Attribute, ...] = (
    _slider("head_width", "skull width: 0 narrow, 1 wide"),
    _slider("jaw_width", "lower face: 0 pointed chin (V shape), 1 square wide jaw"),
    _slider("skin_tone", "skin colour: 0 very light, 1 very dark"),
    _slider("hair_color", "0 black, brown, auburn, blond, 1 silver"),
    _slider("hair_length", "0 buzz cut, 0.5 ear length, 1 long past the shoulders"),
    _slider("hairline", "0 high / receding forehead, 1 low fringe"),
    _slider("eye_color", "iris colour: 0 dark brown, hazel, green, blue, 1 grey"),
    _slider("eye_size", "0 small eyes, 1 large eyes"),
    _slider("eye_spacing", "0 close-set, 1 wide-set"),
    _slider("nose_size", "nose length and protrusion: 0 small, 1 large"),
    _slider("nose_width", "0 narrow nose, 1 broad nose"),
    _slider("lip_fullness", "0 thin lips, 1 full lips (also a wider mouth)"),
    _slider("brow_thickness", "0 thin light brows, 1 thick dark brows"),
    _slider("beard", "0 clean-shaven, 0.5 stubble, 1 full beard"),
    _slider("ear_size", "0 small flat ears, 1 large protruding ears"),
)


@dataclass(frozen=True)
class AttributeSchema:
    """Names, ranges, defaults and order of one attribute-vector layout.

    Build one with :func:`synthfaces_schema`, :func:`learned_identity_schema` or
    :func:`face_recognition_schema`; never by hand-writing attribute names elsewhere.
    """

    identity_kind: str
    identity: tuple[Attribute, ...]
    pose: tuple[Attribute, ...] = POSE
    expression: tuple[Attribute, ...] = EXPRESSION
    version: str = SCHEMA_VERSION
    _index: dict = field(default=None, init=False, repr=False, compare=False)  # type: ignore

    def __post_init__(self) -> None:
        if self.identity_kind not in IDENTITY_KINDS:
            raise ValueError(
                f"unknown identity kind {self.identity_kind!r}; expected one of {IDENTITY_KINDS}"
            )
        names = [a.name for a in self.attributes]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"duplicate attribute names: {sorted(dupes)}")
        object.__setattr__(self, "_index", {n: i for i, n in enumerate(names)})

    # ---- layout ------------------------------------------------------------------------
    @property
    def attributes(self) -> tuple[Attribute, ...]:
        """All attributes in vector order: identity, pose, expression."""
        return self.identity + self.pose + self.expression

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.attributes]

    @property
    def dim(self) -> int:
        return len(self.identity) + len(self.pose) + len(self.expression)

    @property
    def identity_slice(self) -> slice:
        return slice(0, len(self.identity))

    @property
    def pose_slice(self) -> slice:
        start = len(self.identity)
        return slice(start, start + len(self.pose))

    @property
    def expression_slice(self) -> slice:
        start = len(self.identity) + len(self.pose)
        return slice(start, start + len(self.expression))

    def group_slice(self, group: str) -> slice:
        """The slice of the vector that holds ``group`` ("identity", "pose", "expression")."""
        if group not in GROUPS:
            raise ValueError(f"unknown group {group!r}; expected one of {GROUPS}")
        return {"identity": self.identity_slice, "pose": self.pose_slice,
                "expression": self.expression_slice}[group]

    def index(self, name: str) -> int:
        """Position of ``name`` in the vector (raises :class:`UnknownAttributeError`)."""
        try:
            return self._index[name]
        except KeyError:
            raise UnknownAttributeError(self._unknown_message(name)) from None

    def __getitem__(self, name: str) -> Attribute:
        return self.attributes[self.index(name)]

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def _unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(str(name), self.names, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        return (f"unknown attribute {name!r}{hint} "
                f"(schema {self.identity_kind!r} v{self.version} knows: {', '.join(self.names)})")

    # ---- values ------------------------------------------------------------------------
    def defaults(self) -> dict[str, float]:
        """Every attribute at its default, in physical units."""
        return {a.name: a.default for a in self.attributes}

    def validate(self, values: Mapping[str, float]) -> dict[str, float]:
        """Check names and ranges of a (partial) dict; return it with float values."""
        return {name: self[name].check(v) for name, v in values.items()}

    def to_tensor(
        self,
        values: Mapping[str, float] | Sequence[Mapping[str, float]],
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """Physical-unit dict(s) -> normalised vector(s).

        Missing attributes take their defaults.  One dict gives shape ``(dim,)``, a list of
        dicts gives ``(len, dim)``.
        """
        single = isinstance(values, Mapping)
        rows = [values] if single else list(values)
        out = torch.empty(len(rows), self.dim, dtype=torch.float64)
        for r, row in enumerate(rows):
            full = self.defaults()
            full.update(self.validate(row))
            for i, a in enumerate(self.attributes):
                out[r, i] = a.normalize(full[a.name])
        out = out.to(dtype=dtype, device=device)
        return out[0] if single else out

    def to_dict(self, vector: torch.Tensor) -> dict[str, float] | list[dict[str, float]]:
        """Normalised vector(s) -> physical-unit dict(s) (inverse of :meth:`to_tensor`)."""
        v = torch.as_tensor(vector).detach().to("cpu", torch.float64)
        if v.shape[-1] != self.dim:
            raise SchemaMismatchError(
                f"vector has {v.shape[-1]} entries but schema {self.identity_kind!r} "
                f"v{self.version} has {self.dim}"
            )
        phys = self.denormalize(v)
        rows = [
            {a.name: float(row[i]) for i, a in enumerate(self.attributes)}
            for row in phys.reshape(-1, self.dim)
        ]
        return rows[0] if v.dim() == 1 else rows

    def _bounds(self, like: torch.Tensor, group: str | None) -> tuple[torch.Tensor, torch.Tensor]:
        attrs = self.attributes if group is None else getattr(self, group)
        low = torch.tensor([a.low for a in attrs], dtype=like.dtype, device=like.device)
        high = torch.tensor([a.high for a in attrs], dtype=like.dtype, device=like.device)
        return low, high

    def denormalize(self, vector: torch.Tensor, group: str | None = None) -> torch.Tensor:
        """Normalised -> physical units, for the whole vector or one ``group`` block."""
        low, high = self._bounds(vector, group)
        return (vector + 1.0) * 0.5 * (high - low) + low

    def normalize(self, physical: torch.Tensor, group: str | None = None) -> torch.Tensor:
        """Physical units -> normalised, for the whole vector or one ``group`` block."""
        low, high = self._bounds(physical, group)
        return (physical - low) / (high - low) * 2.0 - 1.0

    def split(self, vector: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(..., dim)`` -> ``(identity, pose, expression)`` blocks."""
        return (vector[..., self.identity_slice], vector[..., self.pose_slice],
                vector[..., self.expression_slice])

    def join(self, identity: torch.Tensor, pose: torch.Tensor,
             expression: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`split`."""
        return torch.cat([identity, pose, expression], dim=-1)

    def with_identity(self, vector: torch.Tensor, identity: torch.Tensor) -> torch.Tensor:
        """The swap in one line: ``vector`` with its identity block replaced."""
        out = vector.clone()
        out[..., self.identity_slice] = identity
        return out

    # ---- serialisation -----------------------------------------------------------------
    def to_json(self) -> dict:
        """A JSON-able description, stored in every checkpoint's config."""
        return {
            "version": self.version,
            "identity_kind": self.identity_kind,
            "attributes": [a.to_json() for a in self.attributes],
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2)

    @classmethod
    def from_json(cls, data: Mapping | str) -> AttributeSchema:
        """Rebuild a schema from :meth:`to_json` output (refusing other versions)."""
        if isinstance(data, str):
            data = json.loads(data)
        if data.get("version") != SCHEMA_VERSION:
            raise SchemaMismatchError(
                f"attribute schema version {data.get('version')!r} is not supported by this "
                f"deepfake-lab (schema v{SCHEMA_VERSION}); re-create the checkpoint or use the "
                f"matching release"
            )
        groups: dict[str, list[Attribute]] = {g: [] for g in GROUPS}
        for a in data["attributes"]:
            groups[a["group"]].append(Attribute(**a))
        return cls(identity_kind=data["identity_kind"], identity=tuple(groups["identity"]),
                   pose=tuple(groups["pose"]), expression=tuple(groups["expression"]))

    def check_compatible(self, other: AttributeSchema) -> None:
        """Raise :class:`SchemaMismatchError` naming the first difference, if any."""
        if self.version != other.version:
            raise SchemaMismatchError(f"schema versions differ: {self.version} vs {other.version}")
        if self.identity_kind != other.identity_kind:
            raise SchemaMismatchError(
                f"identity kinds differ: {self.identity_kind!r} vs {other.identity_kind!r}")
        if self.names != other.names:
            diff = sorted(set(self.names) ^ set(other.names)) or "order"
            raise SchemaMismatchError(f"attribute layouts differ ({diff})")
        for a, b in zip(self.attributes, other.attributes, strict=True):
            if (a.low, a.high) != (b.low, b.high):
                raise SchemaMismatchError(
                    f"range of {a.name!r} differs: [{a.low}, {a.high}] vs [{b.low}, {b.high}]")

    def table(self) -> str:
        """A plain-text table of the schema (for notebooks and ``deepfake-lab schema``)."""
        lines = [f"attribute schema v{self.version}  identity kind: {self.identity_kind}  "
                 f"dim: {self.dim}",
                 f"{'#':>3}  {'group':<10} {'name':<15} {'range':<16} {'default':>7}  meaning"]
        for i, a in enumerate(self.attributes):
            rng = f"[{a.low:g}, {a.high:g}]{(' ' + a.unit) if a.unit else ''}"
            lines.append(f"{i:>3}  {a.group:<10} {a.name:<15} {rng:<16} {a.default:>7g}  "
                         f"{a.description}")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Factories: the only ways to obtain a schema.
# --------------------------------------------------------------------------------------
SYNTHFACES_SCHEMA = AttributeSchema(identity_kind="synthfaces", identity=SYNTHFACES_IDENTITY)


def synthfaces_schema() -> AttributeSchema:
    """Identity = SynthFaces' named parameters (face shape, colours, hair, eyes, ...)."""
    return SYNTHFACES_SCHEMA


def learned_identity_schema(people: Iterable[str]) -> AttributeSchema:
    """Identity = one weight per person of a closed set (one-hot selects, weights mix)."""
    people = list(people)
    if not people:
        raise ValueError("a learned-identity schema needs at least one person")
    identity = tuple(
        Attribute(f"person:{p}", "identity", 0.0, 1.0, 0.0, "",
                  f"weight of {p}'s identity (1 = this person)")
        for p in people
    )
    return AttributeSchema(identity_kind="learned", identity=identity)


def face_recognition_schema(dim: int = 128) -> AttributeSchema:
    """Identity = a face-recognition embedding of ``dim`` components in [-1, 1]."""
    identity = tuple(
        Attribute(f"embedding:{i:03d}", "identity", -1.0, 1.0, 0.0, "",
                  f"component {i} of a face-recognition embedding")
        for i in range(dim)
    )
    return AttributeSchema(identity_kind="face_recognition", identity=identity)
