"""SynthFaces: procedural faces with exact labels, rendered in batches with plain torch.

Why a renderer?  Real face data never gives the *ground truth of a swap*: nobody can film
person B making exactly person A's head turn and smile under the same light.  SynthFaces
can: it draws identity B with A's pose, expression, lighting and background, so every swap
a model makes can be scored against the right answer.

How it draws (a tiny ray caster, one batch of faces at a time)
--------------------------------------------------------------
1. A head is a handful of **ellipsoids** in *head space* (skull, jaw, nose, two ears, a hair
   shell, long hair) plus neck and shoulders in *camera space*.  The head is rotated by
   yaw / pitch / roll about a pivot and looked at by an orthographic camera on the +z axis.
2. For an ellipsoid with centre ``C`` and matrix ``M`` (``(q-C)^T M (q-C) = 1``), the depth of
   the visible surface under pixel ``(x, y)`` solves a quadratic in ``z`` whose coefficients
   are polynomials of degree <= 2 in ``x`` and ``y``.  So *one matmul* of per-face
   coefficients ``(B, rows, 6)`` with the monomials ``[1, x, y, x^2, xy, y^2]`` ``(6, P)``
   gives every primitive's depth terms at every pixel.  The nearest valid hit wins
   (self-occlusion for free: the nose hides a cheek at yaw 60 degrees).
3. The winning surface point is mapped back to head space ``(X, Y, Z)``.  Eyes, brows,
   mouth, beard and hairline are *painted* as soft 2D shapes in head-space ``(|X|, Y)`` on
   the front of the face, so they turn, foreshorten and hide with the head.  ``|X|`` makes
   every face left/right symmetric: a face at yaw ``t`` is the mirror image of yaw ``-t``.
4. Normals come from the depth map's gradient; Lambert + Blinn-Phong shading under a light
   that stays fixed in camera space (a nuisance factor, like the background gradient).
5. Fine texture - skin pores, hair strands, iris spokes, lashes, specular highlights - keeps
   blur measurable.  Silhouettes are anti-aliased from the quadratic's discriminant.

Everything is element-wise torch on ``(B, P)`` tensors: no Python loop over pixels or faces,
the same arguments and seed give bit-identical pixels, and a batch equals its faces rendered
one by one.

Shapes: ``B`` faces, ``S`` image size, ``P = S*S`` pixels.  Images leave as float tensors in
``[-1, 1]``, ``(B, 3, S, S)``, RGB (the library's convention).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import lru_cache

import torch

from ..attributes import SYNTHFACES_SCHEMA, AttributeSchema

SCHEMA: AttributeSchema = SYNTHFACES_SCHEMA
MAX_SIZE = 1024  # one face at 1024 px peaks at ~1.2 GB of intermediate tensors

FRAME = 0.72  # half-width of the image, in head units (the head is ~1.2 units tall)
PIVOT = (0.0, -0.05, 0.0)  # the head rotates about this point (head space == camera space)

# Index of each identity parameter, taken from the schema (never written twice).
_ID = {a.name: i for i, a in enumerate(SCHEMA.identity)}
_POSE = [a.name for a in SCHEMA.pose]
_EXPR = [a.name for a in SCHEMA.expression]

# Colour palettes walked by a slider in [0, 1] (piecewise linear).
SKIN_PALETTE = ((0.98, 0.86, 0.77), (0.94, 0.74, 0.60), (0.80, 0.57, 0.41),
                (0.56, 0.37, 0.25), (0.32, 0.20, 0.14))
HAIR_PALETTE = ((0.07, 0.06, 0.06), (0.30, 0.18, 0.10), (0.58, 0.25, 0.10),
                (0.85, 0.68, 0.38), (0.86, 0.86, 0.84))
EYE_PALETTE = ((0.22, 0.11, 0.05), (0.55, 0.36, 0.10), (0.16, 0.58, 0.26),
               (0.14, 0.42, 0.95), (0.66, 0.72, 0.80))

# Surfaces of the depth test: the front of each ellipsoid, plus the inner (back) surface of
# the two hair ellipsoids, so that a hair shell cut open at the face still shows hair behind.
CRANIUM, JAW, NOSE, EAR_R, EAR_L, SHELL, LONG, NECK, BODY = range(9)  # front surfaces
SHELL_BACK, LONG_BACK = 9, 10  # inner surfaces of the two hair ellipsoids
_ATTACHED = (True,) * 7 + (False, False)  # ellipsoids that turn with the head
_N_ELL = 9


# --------------------------------------------------------------------------------------
# Scene: the nuisance factors that the attribute vector does not carry.
# --------------------------------------------------------------------------------------
@dataclass
class Scene:
    """Lighting, background and clothing for a batch of faces (one row per face)."""

    light_dir: torch.Tensor  # (B, 3) camera-space unit vector toward the light
    ambient: torch.Tensor  # (B,)   share of light that reaches every surface
    light_color: torch.Tensor  # (B, 3)
    bg_top: torch.Tensor  # (B, 3) background gradient colours
    bg_bottom: torch.Tensor  # (B, 3)
    bg_angle: torch.Tensor  # (B,)   gradient direction in radians (0 = vertical)
    clothes: torch.Tensor  # (B, 3)

    def __len__(self) -> int:
        return self.ambient.shape[0]

    def __getitem__(self, idx) -> Scene:
        return Scene(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})

    def to(self, device: torch.device | str) -> Scene:
        return Scene(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    @staticmethod
    def cat(scenes: list[Scene]) -> Scene:
        return Scene(**{f.name: torch.cat([getattr(s, f.name) for s in scenes])
                        for f in fields(Scene)})

    @classmethod
    def neutral(cls, n: int = 1) -> Scene:
        """Frontal light and a left/right symmetric background (app default, tests)."""
        el = math.radians(25.0)
        return cls(
            light_dir=torch.tensor([[0.0, math.sin(el), math.cos(el)]]).repeat(n, 1),
            ambient=torch.full((n,), 0.45),
            light_color=torch.ones(n, 3),
            bg_top=torch.tensor([[0.62, 0.68, 0.74]]).repeat(n, 1),
            bg_bottom=torch.tensor([[0.30, 0.33, 0.38]]).repeat(n, 1),
            bg_angle=torch.zeros(n),
            clothes=torch.tensor([[0.22, 0.25, 0.32]]).repeat(n, 1),
        )

    @classmethod
    def sample(cls, n: int, seed: int | torch.Generator = 0) -> Scene:
        """Random lighting (azimuth +-60 deg, elevation -10..50 deg) and backgrounds."""
        g = _generator(seed)
        u = lambda *shape: torch.rand(*shape, generator=g)  # noqa: E731
        az = (u(n) * 2 - 1) * math.radians(60)
        el = math.radians(-10) + u(n) * math.radians(60)
        light = torch.stack([torch.sin(az) * torch.cos(el), torch.sin(el),
                             torch.cos(az) * torch.cos(el)], dim=1)
        tint = 1.0 + (u(n, 1) * 2 - 1) * torch.tensor([[0.08, 0.0, -0.08]])
        base = u(n, 3)
        return cls(
            light_dir=light,
            ambient=0.32 + 0.28 * u(n),
            light_color=tint,
            bg_top=(0.25 + 0.7 * base) * (0.7 + 0.3 * u(n, 1)),
            bg_bottom=(0.1 + 0.6 * u(n, 3)) * (0.5 + 0.5 * base),
            bg_angle=(u(n) * 2 - 1) * math.pi,
            clothes=0.1 + 0.75 * u(n, 3),
        )


def _generator(seed: int | torch.Generator) -> torch.Generator:
    if isinstance(seed, torch.Generator):
        return seed
    return torch.Generator().manual_seed(int(seed))


# --------------------------------------------------------------------------------------
# Identities: random ones, and a named catalogue for the app and the notebooks.
# --------------------------------------------------------------------------------------
CATALOGUE: dict[str, dict[str, float]] = {
    "ada": dict(head_width=0.35, jaw_width=0.3, skin_tone=0.15, hair_color=0.5, hair_length=0.95,
                hairline=0.55, eye_color=0.55, eye_size=0.7, eye_spacing=0.5, nose_size=0.25,
                nose_width=0.3, lip_fullness=0.6, brow_thickness=0.3, beard=0.0, ear_size=0.3),
    "boris": dict(head_width=0.85, jaw_width=0.95, skin_tone=0.1, hair_color=0.25,
                  hair_length=0.2, hairline=0.35, eye_color=0.8, eye_size=0.3, eye_spacing=0.45,
                  nose_size=0.8, nose_width=0.7, lip_fullness=0.3, brow_thickness=0.95,
                  beard=0.95, ear_size=0.6),
    "chen": dict(head_width=0.5, jaw_width=0.5, skin_tone=0.3, hair_color=0.0, hair_length=0.5,
                 hairline=0.95, eye_color=0.0, eye_size=0.35, eye_spacing=0.6, nose_size=0.3,
                 nose_width=0.45, lip_fullness=0.45, brow_thickness=0.6, beard=0.0,
                 ear_size=0.45),
    "dara": dict(head_width=0.45, jaw_width=0.45, skin_tone=0.8, hair_color=0.05,
                 hair_length=0.8, hairline=0.4, eye_color=0.1, eye_size=0.75, eye_spacing=0.55,
                 nose_size=0.45, nose_width=0.85, lip_fullness=0.95, brow_thickness=0.55,
                 beard=0.0, ear_size=0.35),
    "emeka": dict(head_width=0.7, jaw_width=0.8, skin_tone=1.0, hair_color=0.0, hair_length=0.0,
                  hairline=0.3, eye_color=0.15, eye_size=0.5, eye_spacing=0.4, nose_size=0.55,
                  nose_width=0.9, lip_fullness=0.8, brow_thickness=0.7, beard=0.25,
                  ear_size=0.95),
    "freya": dict(head_width=0.3, jaw_width=0.05, skin_tone=0.0, hair_color=0.8,
                  hair_length=1.0, hairline=0.1, eye_color=0.75, eye_size=0.85,
                  eye_spacing=0.7, nose_size=0.35, nose_width=0.2, lip_fullness=0.5,
                  brow_thickness=0.15, beard=0.0, ear_size=0.2),
    "gus": dict(head_width=0.65, jaw_width=0.6, skin_tone=0.45, hair_color=1.0, hair_length=0.3,
                hairline=0.0, eye_color=0.35, eye_size=0.4, eye_spacing=0.3, nose_size=1.0,
                nose_width=0.6, lip_fullness=0.2, brow_thickness=0.85, beard=0.5, ear_size=1.0),
    "hana": dict(head_width=0.4, jaw_width=0.35, skin_tone=0.25, hair_color=0.1, hair_length=0.55,
                 hairline=1.0, eye_color=0.05, eye_size=0.95, eye_spacing=0.35, nose_size=0.1,
                 nose_width=0.25, lip_fullness=0.7, brow_thickness=0.4, beard=0.0, ear_size=0.25),
}


def catalogue_names() -> list[str]:
    """Names of the catalogue identities, in a stable order."""
    return list(CATALOGUE)


def catalogue_identity(name: str) -> torch.Tensor:
    """The normalised identity block ``(n_identity,)`` of a catalogue person."""
    if name not in CATALOGUE:
        raise KeyError(f"unknown SynthFaces identity {name!r}; choose one of "
                       f"{', '.join(CATALOGUE)} or use an integer seed")
    full = SCHEMA.to_tensor(CATALOGUE[name])
    return full[SCHEMA.identity_slice]


def sample_identities(n: int, seed: int | torch.Generator = 0) -> torch.Tensor:
    """``n`` random people as normalised identity blocks ``(n, n_identity)``.

    Each slider is uniform on its range, except that half of the people are clean-shaven
    (beards are a strong cue; a world where everyone has a little stubble looks odd).
    """
    g = _generator(seed)
    ident = torch.rand(n, len(SCHEMA.identity), generator=g)
    shaven = torch.rand(n, generator=g) < 0.5
    ident[:, _ID["beard"]] = torch.where(shaven, 0.0, ident[:, _ID["beard"]])
    return SCHEMA.normalize(ident, "identity")


def sample_pose_expression(n: int, seed: int | torch.Generator = 0) -> torch.Tensor:
    """``n`` random (pose | expression) blocks, normalised, uniform over the schema ranges."""
    g = _generator(seed)
    k = len(SCHEMA.pose) + len(SCHEMA.expression)
    return torch.rand(n, k, generator=g) * 2 - 1


def sample_attributes(n: int, seed: int | torch.Generator = 0,
                      identities: torch.Tensor | None = None) -> torch.Tensor:
    """Full normalised attribute vectors ``(n, dim)``; identities random unless given."""
    g = _generator(seed)
    ident = sample_identities(n, g) if identities is None else identities
    return torch.cat([ident, sample_pose_expression(n, g)], dim=1)


def identity_vector(identity: str | int | Mapping[str, float] | torch.Tensor) -> torch.Tensor:
    """Resolve a catalogue name, an integer seed, a dict of sliders or a tensor to a block."""
    if isinstance(identity, torch.Tensor):
        if identity.shape != (len(SCHEMA.identity),):
            raise ValueError(f"identity tensor must have shape ({len(SCHEMA.identity)},)")
        return identity.float()
    if isinstance(identity, bool):
        raise TypeError("identity must be a name, a seed, a dict or a tensor")
    if isinstance(identity, int):
        return sample_identities(1, identity)[0]
    if isinstance(identity, str):
        if identity.isdigit():
            return sample_identities(1, int(identity))[0]
        return catalogue_identity(identity)
    if isinstance(identity, Mapping):
        unknown = [k for k in identity if k in SCHEMA and SCHEMA[k].group != "identity"]
        if unknown:
            raise ValueError(f"not identity parameters: {unknown}")
        return SCHEMA.to_tensor(dict(identity))[SCHEMA.identity_slice]
    raise TypeError(f"cannot make an identity from {type(identity).__name__}")


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------
def render(
    attributes: torch.Tensor,
    *,
    size: int = 64,
    scene: Scene | str | None = "random",
    seed: int = 0,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Render faces from normalised attribute vectors.

    Args:
        attributes: ``(B, dim)`` or ``(dim,)`` vectors in the SynthFaces schema, in [-1, 1]
            (values outside are clamped, so slightly out-of-range model outputs render).
        size: output side in pixels (64 / 128 / 256 are the project sizes).
        scene: a :class:`Scene` with ``B`` rows, ``"neutral"``, or ``"random"`` (drawn from
            ``seed``).  The scene is what the attributes do not say.
        seed: seeds the random scene.
        device: where to render (and return) the images.  ``None`` renders on the CPU and
            returns on ``attributes``' device.  Training on a GPU renders there: the same
            arithmetic, ~100x the images per second of one CPU core, equal to the CPU
            render up to float rounding.

    Returns:
        ``(B, 3, size, size)`` float32 in [-1, 1] (or ``(3, size, size)`` for one vector).
    """
    attributes = torch.as_tensor(attributes, dtype=torch.float32)
    single = attributes.dim() == 1
    attrs = attributes[None] if single else attributes
    if attrs.dim() != 2 or attrs.shape[1] != SCHEMA.dim:
        raise ValueError(f"attributes must have shape (B, {SCHEMA.dim}) for the SynthFaces "
                         f"schema, got {tuple(attributes.shape)}")
    if not torch.isfinite(attrs).all():
        raise ValueError("attributes contain NaN or infinite values")
    if not 16 <= int(size) <= MAX_SIZE:
        raise ValueError(f"size must be between 16 and {MAX_SIZE} pixels, got {size}")
    n = attrs.shape[0]
    if isinstance(scene, Scene):
        if len(scene) != n:
            raise ValueError(f"scene has {len(scene)} rows but there are {n} faces")
        scn = scene
    elif scene == "neutral" or scene is None:
        scn = Scene.neutral(n)
    elif scene == "random":
        scn = Scene.sample(n, seed)
    else:
        raise ValueError(f"scene must be a Scene, 'neutral' or 'random', not {scene!r}")
    dev = torch.device(device) if device is not None else torch.device("cpu")
    phys = SCHEMA.denormalize(attrs.clamp(-1, 1).cpu()).to(dev)
    scn = scn.to(dev)
    # Chunks of ~256k pixels keep the working set in cache and memory bounded (on a GPU,
    # 16M pixels keep it busy).  Inside ``with dev`` every constant tensor the renderer
    # makes (palettes, pivots, the identity matrix) is created on the rendering device.
    # That context routes every torch call through a Python-level mode (~1,000 calls per
    # render), so the CPU, already the default device, goes without it.
    chunk = max(1, (1 << (18 if dev.type == "cpu" else 24)) // (size * size))
    on_device = contextlib.nullcontext() if dev.type == "cpu" else dev
    with torch.no_grad(), on_device:
        out = torch.cat([_render_chunk(phys[i:i + chunk], scn[i:i + chunk], int(size))
                         for i in range(0, n, chunk)])
    out = out if device is not None else out.to(attributes.device)
    return out[0] if single else out


def render_one(
    identity: str | int | Mapping[str, float] | torch.Tensor = "ada",
    *,
    size: int = 128,
    scene: Scene | str | None = "neutral",
    seed: int = 0,
    **attributes: float,
) -> torch.Tensor:
    """One face from an identity (name / seed / sliders) and pose/expression keywords.

    >>> img = render_one("boris", yaw=30, smile=0.8)   # (3, 128, 128) in [-1, 1]
    """
    ident = identity_vector(identity)
    vec = SCHEMA.to_tensor(attributes)  # validates names and ranges
    vec = SCHEMA.with_identity(vec, ident)
    for name in attributes:  # explicit identity sliders override the chosen person
        if SCHEMA[name].group == "identity":
            vec[SCHEMA.index(name)] = SCHEMA[name].normalize(float(attributes[name]))
    return render(vec, size=size, scene=scene, seed=seed)


@lru_cache(maxsize=8)
def _pixel_basis(size: int, device: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pixel centres (x, y) in head units, y up, and the monomials ``(6, P)``, on ``device``."""
    c = (torch.arange(size, dtype=torch.float64, device=device) + 0.5) / size * 2 - 1
    x = (c * FRAME).repeat(size)  # column coordinate, row-major
    y = (-c * FRAME).repeat_interleave(size)  # row 0 is the top of the image
    basis = torch.stack([torch.ones_like(x), x, y, x * x, x * y, y * y]).float()
    return x.float(), y.float(), basis


def _palette(colours: tuple, t: torch.Tensor) -> torch.Tensor:
    """Walk a palette with ``t`` in [0, 1]: ``(B,)`` -> ``(B, 3)``."""
    pal = torch.tensor(colours)
    pos = t.clamp(0, 1) * (len(colours) - 1)
    i0 = pos.floor().long().clamp(max=len(colours) - 2)
    w = (pos - i0)[:, None]
    return pal[i0] * (1 - w) + pal[i0 + 1] * w


def _rotation(yaw: torch.Tensor, pitch: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """Head -> camera rotation ``R = Rz(roll) Rx(pitch) Ry(yaw)``, ``(B, 3, 3)``.

    Conventions (see the schema): +yaw turns the nose to the image's right, +pitch up,
    +roll clockwise in the image.
    """
    o, z = torch.ones_like(yaw), torch.zeros_like(yaw)
    cy, sy, cp, sp, cr, sr = (yaw.cos(), yaw.sin(), pitch.cos(), pitch.sin(),
                              roll.cos(), roll.sin())
    ry = torch.stack([cy, z, sy, z, o, z, -sy, z, cy], 1).view(-1, 3, 3)
    rx = torch.stack([o, z, z, z, cp, sp, z, -sp, cp], 1).view(-1, 3, 3)
    rz = torch.stack([cr, sr, z, -sr, cr, z, z, z, o], 1).view(-1, 3, 3)
    return rz @ rx @ ry


def _octave(freq: float, pw: float) -> float:
    """Amplitude for a texture of angular frequency ``freq`` (rad per head unit) at pixel
    size ``pw``: 0 when its period is under 2 pixels (it would alias), 1 from 4 pixels."""
    period_px = 2 * math.pi / (freq * pw)
    return min(max((period_px - 2.0) / 2.0, 0.0), 1.0)


def _ramp(d: torch.Tensor, w: float) -> torch.Tensor:
    """Soft step: 0 for ``d <= -w/2``, 1 for ``d >= w/2`` (one pixel of anti-aliasing)."""
    return (d * (1.0 / w) + 0.5).clamp_(0.0, 1.0)


def ellipsoid_depth_coefficients(C: torch.Tensor,
                                 M: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel depth of ellipsoids under an orthographic camera, as polynomial coefficients.

    An ellipsoid is ``{q : (q - C)^T M (q - C) = 1}`` (``M`` symmetric positive definite).
    Along the viewing ray through pixel ``(x, y)`` write ``w = z - C_z``; then

        m33 w^2 + 2 w beta + gamma = 0,
        beta  = m13 (x - C_x) + m23 (y - C_y)                      (linear in x, y)
        gamma = m11 (x - C_x)^2 + 2 m12 (x - C_x)(y - C_y) + m22 (y - C_y)^2 - 1

    so ``w = (-beta +- sqrt(disc)) / m33`` with ``disc = beta^2 - m33 gamma``, a quadratic
    in ``x, y``.  The ray hits the ellipsoid iff ``disc > 0``; ``+`` is the surface facing
    the camera (at +z).  Returns the coefficients of ``disc`` and ``beta`` on the monomials
    ``[1, x, y, x^2, xy, y^2]``: ``(..., 6)`` each, for ``C (..., 3)`` and ``M (..., 3, 3)``.
    A matmul with the monomials of every pixel then evaluates all of them at once.
    """
    m11, m12, m13 = M[..., 0, 0], M[..., 0, 1], M[..., 0, 2]
    m22, m23, m33 = M[..., 1, 1], M[..., 1, 2], M[..., 2, 2]
    cx, cy = C[..., 0], C[..., 1]
    b0, bx, by = -(m13 * cx + m23 * cy), m13, m23  # beta = b0 + bx x + by y
    g0 = m11 * cx * cx + 2 * m12 * cx * cy + m22 * cy * cy - 1  # gamma's coefficients
    gx, gy = -2 * (m11 * cx + m12 * cy), -2 * (m12 * cx + m22 * cy)
    disc = torch.stack([b0 * b0 - m33 * g0, 2 * b0 * bx - m33 * gx, 2 * b0 * by - m33 * gy,
                        bx * bx - m33 * m11, 2 * bx * by - 2 * m33 * m12,
                        by * by - m33 * m22], -1)
    zero = torch.zeros_like(b0)
    beta = torch.stack([b0, bx, by, zero, zero, zero], -1)
    return disc, beta


def _render_chunk(phys: torch.Tensor, scene: Scene, size: int) -> torch.Tensor:
    """Render ``B`` faces from physical-unit attributes ``(B, dim)``."""
    B = phys.shape[0]
    P = size * size
    pw = 2.0 * FRAME / size  # one pixel, in head units
    x, y, basis = _pixel_basis(size, str(phys.device))

    idp = phys[:, SCHEMA.identity_slice]
    p = {name: idp[:, i] for name, i in _ID.items()}  # (B,) each, sliders in [0, 1]
    pose = phys[:, SCHEMA.pose_slice]
    ex = {name: phys[:, SCHEMA.expression_slice][:, i] for i, name in enumerate(_EXPR)}
    yaw, pitch, roll = (torch.deg2rad(pose[:, _POSE.index(k)]) for k in ("yaw", "pitch", "roll"))
    smile, mouth_open = ex["smile"], ex["mouth_open"]
    eyes_open, brow_raise = ex["eyes_open"], ex["brow_raise"]

    # ---- 1. geometry: identity sliders -> ellipsoids (head units) ----------------------
    rx = 0.38 + 0.10 * p["head_width"]  # skull half-width
    jaw_rx = torch.minimum(0.20 + 0.16 * p["jaw_width"], rx - 0.02)
    jaw_drop = 0.075 * mouth_open
    hair_len = p["hair_length"]
    shell = 0.022 + 0.045 * hair_len  # hair volume
    long_bottom = 0.10 - 1.05 * hair_len  # lowest point of long hair
    long_top = torch.full_like(rx, 0.42)
    ear_s = 0.6 + 0.8 * p["ear_size"]
    ear_x = 0.97 * rx + 0.005 + 0.03 * p["ear_size"]  # big ears also stick out more
    nose_h = 0.075 + 0.07 * p["nose_size"]
    nose_d = 0.035 + 0.085 * p["nose_size"]
    nose_w = 0.032 + 0.055 * p["nose_width"]
    nose_y = torch.full_like(rx, -0.11)
    neck_rx = 0.18 + 0.07 * p["jaw_width"]
    zeros, ones = torch.zeros_like(rx), torch.ones_like(rx)

    def vec3(a, b, c):
        return torch.stack([a * ones, b * ones, c * ones], dim=1)

    centres = torch.stack([
        vec3(0.0, 0.10, 0.0),  # skull
        vec3(0.0, -0.17 - jaw_drop, 0.03),  # jaw
        vec3(0.0, nose_y - 0.015, 0.395 + 0.3 * nose_d),  # nose
        vec3(ear_x, -0.03, -0.03),  # right ear (image right at yaw 0)
        vec3(-ear_x, -0.03, -0.03),  # left ear
        vec3(0.0, 0.115, -0.012),  # hair shell
        vec3(0.0, (long_top + long_bottom) / 2, -0.10),  # long hair
        vec3(0.0, -0.66, -0.09),  # neck (camera space)
        vec3(0.0, -1.08, -0.2),  # shoulders (camera space)
    ], dim=1)  # (B, 9, 3)
    radii = torch.stack([
        vec3(rx, 0.50, 0.47),
        vec3(jaw_rx, 0.36 + 0.5 * jaw_drop, 0.40),
        vec3(nose_w, nose_h, nose_d),
        vec3(0.02 + 0.02 * ear_s, 0.085 * ear_s, 0.055 * ear_s),
        vec3(0.02 + 0.02 * ear_s, 0.085 * ear_s, 0.055 * ear_s),
        vec3(rx + shell, 0.50 + shell, 0.47 + shell),
        vec3(rx + shell + 0.045, (long_top - long_bottom) / 2 + 0.1, 0.37 + 0.5 * shell),
        vec3(neck_rx, 0.42, 0.17),
        vec3(0.75 * ones, 0.42, 0.30),
    ], dim=1)

    # ---- 2. pose: place ellipsoids in camera space ------------------------------------
    R = _rotation(yaw, pitch, roll)  # (B, 3, 3) head -> camera
    eye3 = torch.eye(3).expand(B, 3, 3)
    attached = torch.tensor(_ATTACHED)[None, :, None, None]
    Rk = torch.where(attached, R[:, None], eye3[:, None])  # (B, 9, 3, 3)
    pv = torch.tensor(PIVOT)
    C = torch.einsum("bkij,bkj->bki", Rk, centres - pv) + pv  # centres, camera space
    M = Rk @ torch.diag_embed(radii.pow(-2)) @ Rk.transpose(-1, -2)  # quadric matrices

    # ---- 3. depth of every ellipsoid at every pixel, via one matmul -------------------
    disc_c, beta_c = ellipsoid_depth_coefficients(C, M)  # (B, 9, 6) each
    m33, cz = M[..., 2, 2], C[..., 2]
    # Head-space coordinates are linear in (x, y) plus a z term: p = R^T (q - pv) + pv.
    Rt_pv = torch.einsum("bji,j->bi", R, pv)
    lin_c = torch.stack([pv[None] - Rt_pv, R[:, 0, :], R[:, 1, :],
                         zeros[:, None].expand(B, 3), zeros[:, None].expand(B, 3),
                         zeros[:, None].expand(B, 3)], -1)  # (B, 3, 6)
    coef = torch.cat([disc_c, beta_c, lin_c], dim=1)  # (B, 21, 6)
    polys = coef @ basis  # (B, 21, P)
    disc, beta = polys[:, :_N_ELL], polys[:, _N_ELL:2 * _N_ELL]
    lin = polys[:, 2 * _N_ELL:]  # (B, 3, P)
    rzc = R[:, 2, :, None]  # (B, 3, 1): head-space direction of camera z

    # Visible (front) surface of every ellipsoid; the hair ones also need their inner
    # (back) surface, seen where the hair shell is cut open at the face.
    inv33 = (1.0 / m33)[..., None]  # (B, 9, 1)
    root = disc.clamp(min=0).sqrt_()
    z_front = (root - beta).mul_(inv33).add_(cz[..., None])  # (B, 9, P)
    z_back = (-root[:, SHELL:LONG + 1] - beta[:, SHELL:LONG + 1]).mul_(inv33[:, SHELL:LONG + 1])
    z_back.add_(cz[:, SHELL:LONG + 1, None])  # (B, 2, P)
    inside = disc > 0  # (B, 9, P)

    # Skull and jaw blend smoothly (polynomial smooth-max of the depths, width k) instead
    # of meeting in a sharp seam: smax = max + k/4 * h^2, h = max(k - |a - b|, 0) / k.
    both = inside[:, CRANIUM] & inside[:, JAW]
    k = 0.12
    gap = (z_front[:, CRANIUM] - z_front[:, JAW]).abs_()
    h = (1 - gap * (1 / k)).clamp_(min=0)
    zs = torch.maximum(z_front[:, CRANIUM], z_front[:, JAW]) + (0.25 * k) * h * h
    z_front[:, CRANIUM] = torch.where(both, zs, z_front[:, CRANIUM])
    z_front[:, JAW] = torch.where(both, zs, z_front[:, JAW])

    # Hair is an ellipsoid cut open: keep hits above the hairline (shell) or above the
    # hair's length and behind the face (long hair).  Order: shell, long, shell', long'.
    hz = torch.stack([z_front[:, SHELL], z_front[:, LONG], z_back[:, 0], z_back[:, 1]], 1)
    hY = lin[:, None, 1] + rzc[:, None, 1] * hz  # (B, 4, P)
    hZ = lin[:, None, 2] + rzc[:, None, 2] * hz
    eye_y = 0.02
    front = (0.50 - 0.20 * p["hairline"])[:, None]  # forehead hairline: never hides the brows
    side, back = eye_y + 0.07, -0.26
    sY, sZ = hY[:, 0::2], hZ[:, 0::2]
    t = (sZ / 0.47).clamp(-1, 1)
    hairline_y = torch.where(t > 0, side + (front[:, None] - side) * t * t,
                             side + (back - side) * (-t))
    shell_ok = (sY > hairline_y) & (sY < 0.75) & inside[:, SHELL, None]  # (B, 2, P)
    lY, lZ = hY[:, 1::2], hZ[:, 1::2]
    long_ok = (lY > long_bottom[:, None, None]) & (lZ < 0.12) & (lY < 0.55) & inside[:, LONG, None]
    # Hair is tucked behind the ears: a window around each ear (ears sit at the sides, so
    # (Y, Z) alone locates them) keeps ear_size visible under any hair length.
    wy, wz = (0.085 * ear_s + 0.035)[:, None, None], (0.055 * ear_s + 0.035)[:, None, None]
    behind_ear = ((hY + 0.03) / wy) ** 2 + ((hZ + 0.03) / wz) ** 2 > 1  # (B, 4, P)
    shell_ok &= behind_ear[:, 0::2]
    long_ok &= behind_ear[:, 1::2]

    # Depth test: the nearest valid surface wins.
    far = -1e3
    zf = z_front.masked_fill(~inside, far)
    zf[:, SHELL].masked_fill_(~shell_ok[:, 0], far)
    zf[:, LONG].masked_fill_(~long_ok[:, 0], far)
    zb = z_back.masked_fill_(~torch.stack([shell_ok[:, 1], long_ok[:, 1]], 1), far)
    zbest_f, hit_f = zf.max(dim=1)
    zbest_b, hit_b = zb.max(dim=1)
    take_back = zbest_b > zbest_f
    zbest = torch.where(take_back, zbest_b, zbest_f)  # (B, P)
    hit = torch.where(take_back, hit_b + SHELL_BACK, hit_f)  # (B, P) surface id
    anything = zbest > far / 2
    zbest = torch.where(anything, zbest, -1.2)

    # Anti-aliased coverage: distance to a silhouette ~ disc * r^3 / 2 (exact for spheres).
    r_eff = radii[..., :2].mean(-1)  # (B, 9)
    edge = disc * (r_eff.pow(3) / (2 * pw))[..., None]  # (B, 9, P), in pixels
    edge[:, SHELL].masked_fill_(~(shell_ok[:, 0] | shell_ok[:, 1]), 0)
    edge[:, LONG].masked_fill_(~(long_ok[:, 0] | long_ok[:, 1]), 0)
    cov = edge.amax(dim=1).clamp_(0, 1)  # (B, P)

    # Head-space coordinates of the visible surface.
    X = lin[:, 0] + rzc[:, 0] * zbest
    Y = lin[:, 1] + rzc[:, 1] * zbest
    Z = lin[:, 2] + rzc[:, 2] * zbest
    ax = X.abs()  # left/right symmetric painting

    # ---- 4. normals from the depth map, shading terms ---------------------------------
    zi = zbest.view(B, 1, size, size)
    zp = torch.nn.functional.pad(zi, (1, 1, 1, 1), mode="replicate")
    dzdx = (zp[..., 1:-1, 2:] - zp[..., 1:-1, :-2]) * (0.5 / pw)
    dzdy = (zp[..., :-2, 1:-1] - zp[..., 2:, 1:-1]) * (0.5 / pw)  # rows grow downward
    dzdx, dzdy = dzdx.clamp_(-4, 4).view(B, P), dzdy.clamp_(-4, 4).view(B, P)
    inv = torch.rsqrt(dzdx * dzdx + dzdy * dzdy + 1)
    L = scene.light_dir
    lam = ((-dzdx * L[:, 0:1] - dzdy * L[:, 1:2] + L[:, 2:3]) * inv).clamp_(min=0)
    h = torch.nn.functional.normalize(L + torch.tensor([0.0, 0.0, 1.0]), dim=1)
    spec = ((-dzdx * h[:, 0:1] - dzdy * h[:, 1:2] + h[:, 2:3]) * inv).clamp_(min=0)
    for _ in range(4):
        spec = spec * spec  # ^16

    # ---- 5. albedo: materials, then features painted in head space --------------------
    col1 = lambda c: c[:, :, None]  # (B, 3) -> (B, 3, 1)  # noqa: E731
    c1 = lambda v: v[:, None]  # (B,) -> (B, 1)  # noqa: E731
    skin = _palette(SKIN_PALETTE, p["skin_tone"])
    hair_c = _palette(HAIR_PALETTE, p["hair_color"])
    iris_c = _palette(EYE_PALETTE, p["eye_color"])
    lip_c = skin * 0.6 + torch.tensor([0.24, 0.02, 0.05])
    shine = torch.full((B, P), 0.10)  # specular strength map

    col = col1(skin).expand(B, 3, P).clone()
    # Fine texture in two octaves, each faded out where it would alias at this size.
    a_lo, a_hi = _octave(80, pw), _octave(320, pw)
    pores = (a_lo * torch.sin(ax * 45 + Y * 30) * torch.sin(Y * 40 - ax * 16 + Z * 26)
             + a_hi * torch.sin(ax * 210 + Y * 130) * torch.sin(Y * 190 - ax * 70 + Z * 120))
    col *= (1 + 0.05 * pores)[:, None]

    is_hair = (hit == SHELL) | (hit == LONG) | (hit >= SHELL_BACK)
    theta = torch.atan2(ax, Z) + 0.2 * torch.sin(Y * 14 + ax * 6)  # strands flow downward
    strands = (_octave(90, pw) * torch.sin(theta * 40)
               + _octave(250, pw) * 0.7 * torch.sin(theta * 110))
    hair_tex = col1(hair_c) * (0.80 + 0.2 * strands + 0.12 * pores)[:, None]
    col = torch.where(is_hair[:, None], hair_tex, col)
    shine = torch.where(is_hair, 0.35, shine)
    col = torch.where((hit == BODY)[:, None], col1(scene.clothes) * (1 + 0.04 * pores)[:, None],
                      col)

    face = (((hit == CRANIUM) | (hit == JAW)) & (Z > 0.05)).float()  # paintable front

    # Ears: a dark concha on the outer side.
    ear = ((hit == EAR_R) | (hit == EAR_L)).float()
    ecx = c1(ear_x)
    concha = ((Y + 0.03) / (0.05 * c1(ear_s))) ** 2 + ((Z + 0.02) / (0.03 * c1(ear_s))) ** 2
    col *= (1 - 0.35 * ear * (concha < 1).float() * (ax > ecx).float())[:, None]

    # Cheeks: rosy and raised by a smile.
    sm_pos = c1(smile.clamp(min=0))
    cheek = ((ax - 0.21) ** 2 + (Y + 0.14 - 0.035 * sm_pos) ** 2) / 0.012
    cheek_a = (1 - cheek).clamp_(min=0) * (0.10 + 0.30 * sm_pos) * face
    col.lerp_(torch.tensor([0.85, 0.35, 0.35])[None, :, None], cheek_a[:, None])

    # Beard: below the nose and along the jaw, strands, not on the lips.
    beard = c1(p["beard"])
    mouth_y = -0.335 - 0.4 * c1(jaw_drop)
    beard_top = c1(nose_y - nose_h) + 0.02 + 0.35 * ax
    beard_region = _ramp(beard_top - Y, 0.06) * _ramp(Y - (-0.70 - c1(jaw_drop)), 0.02)
    wave = ax + 0.04 * torch.sin(Y * 60)
    beard_tex = (0.75 + 0.15 * _octave(80, pw) * torch.sin(wave * 80)
                 + 0.1 * _octave(200, pw) * torch.sin(wave * 200))
    beard_a = face * beard_region * ((beard - 0.1) * 1.3).clamp(0, 1) * beard_tex

    # Mouth: lips, the opening (dark interior, teeth), smile curve.
    mw = c1(0.085 + 0.045 * p["lip_fullness"] + 0.035 * smile.clamp(min=0)
            - 0.012 * smile.clamp(max=0))
    u = ax / mw
    v = (Y - mouth_y) / mw
    shape = (1 - u * u).clamp_(min=0)
    s = shape.sqrt()
    vc = 0.95 * c1(smile) * u * u  # lip line: corners up for a smile, down when sad
    gap_up = 0.12 * c1(mouth_open) * s
    gap_lo = 0.75 * c1(mouth_open) * s
    lip_up = (0.09 + 0.33 * c1(p["lip_fullness"])) * s
    lip_lo = (0.11 + 0.45 * c1(p["lip_fullness"])) * s
    top_in, bot_in = vc + gap_up, vc - gap_lo
    span = _ramp((1 - u) * mw, pw) * face  # the mouth's horizontal extent
    lips_a = _ramp(torch.minimum(top_in + lip_up - v, v - (bot_in - lip_lo)) * mw, pw) * span
    inner_a = _ramp(torch.minimum(top_in - v, v - bot_in) * mw, pw) * span
    teeth_a = inner_a * _ramp((v - (top_in - 0.3)) * mw, pw) * (u < 0.8).float()
    seam_a = _ramp(0.011 - (v - vc).abs() * mw, pw) * lips_a  # closed-lip line
    col.lerp_(col1(hair_c * 0.9), (beard_a * (1 - lips_a))[:, None])
    col.lerp_(col1(lip_c), lips_a[:, None])
    col.lerp_(torch.tensor([0.25, 0.05, 0.06])[None, :, None], inner_a[:, None])
    col.lerp_(torch.tensor([0.93, 0.91, 0.85])[None, :, None], teeth_a[:, None])
    col.lerp_(torch.tensor([0.25, 0.08, 0.08])[None, :, None], seam_a[:, None])
    shine = shine + 0.25 * lips_a
    # Smile lines from the nose wings to the mouth corners deepen with a smile; a sad mouth
    # gets lines from its corners down toward the chin instead.
    fold_t = ((c1(nose_y) - 0.03 - Y) / (c1(nose_y) - 0.03 - mouth_y)).clamp(0, 1)
    fold_x = c1(nose_w) + 0.03 + (mw * 1.05 - c1(nose_w) - 0.03) * fold_t
    fold = _ramp(0.016 - (ax - fold_x).abs(), pw) * (fold_t > 0).float() * (fold_t < 1).float()
    sad = c1((-smile).clamp(min=0))
    corner_y = mouth_y + 0.95 * c1(smile) * mw  # height of the mouth corners (u = 1)
    drop = ((corner_y - Y) / 0.13).clamp(0, 1)
    marionette = (_ramp(0.016 - (ax - mw * (1.0 - 0.15 * drop)).abs(), pw)
                  * (drop > 0).float() * (drop < 1).float())
    col *= (1 - face * (fold * (0.08 + 0.45 * sm_pos) + marionette * 0.45 * sad))[:, None]

    # Nose: nostrils under the tip, a little shadow around the base.
    nose_cz = 0.395 + 1.3 * c1(nose_d)
    nos = ((ax - 0.5 * c1(nose_w)) ** 2 + (Y - c1(nose_y - 0.7 * nose_h)) ** 2
           + (Z - (nose_cz - 0.75 * c1(nose_d))) ** 2) / (0.016 + 0.018 * c1(p["nose_width"])) ** 2
    on_nose = (hit == NOSE).float()
    col *= (1 - 0.75 * (face + on_nose).clamp(max=1) * (1 - nos).clamp(0, 1))[:, None]
    # Nose wings: dark creases beside the nostrils, as far apart as the nose is wide.
    wing = (((ax - 0.95 * c1(nose_w)) / 0.016) ** 2
            + ((Y - c1(nose_y - 0.55 * nose_h)) / 0.035) ** 2)
    col *= (1 - 0.4 * face * (1 - wing).clamp(0, 1))[:, None]

    # Eyes: almond opening between two lids, sclera, iris with spokes, pupil, lashes.
    ew = c1(0.072 + 0.045 * p["eye_size"])
    exc = c1(0.135 + 0.085 * p["eye_spacing"])
    eo = c1(eyes_open)
    eu = (ax - exc) / ew
    ev = (Y - eye_y) / ew
    eshape = (1 - eu * eu).clamp_(min=0)
    lid_up = (0.04 + 0.78 * eo) * eshape
    lid_lo = -(0.08 + 0.34 * eo) * eshape
    open_a = _ramp(torch.minimum(lid_up - ev, ev - lid_lo) * ew, pw)
    open_a = open_a * _ramp((1 - eu.abs()) * ew, pw) * face
    socket = ((1 - (eu * 0.8) ** 2 - ((ev - 0.35) / 1.3) ** 2) * 3).clamp_(0, 1) * face
    col *= (1 - 0.12 * socket)[:, None]  # eye-socket shade (reads even when eyes are shut)
    col.lerp_(torch.tensor([0.94, 0.93, 0.90])[None, :, None], open_a[:, None])
    d = (eu * eu + ev * ev).sqrt()
    spokes = 0.8 + 0.2 * torch.sin(torch.atan2(ev, eu) * 14)
    iris_a = _ramp((0.6 - d) * ew, pw) * open_a
    iris_rgb = col1(iris_c) * (spokes * (0.6 + 0.4 * (0.6 - d).clamp(0, 0.6) / 0.6))[:, None]
    col = torch.lerp(col, iris_rgb, iris_a[:, None])
    pupil_a = _ramp((0.2 - d) * ew, pw) * open_a
    col.lerp_(torch.tensor([0.03, 0.03, 0.03])[None, :, None], pupil_a[:, None])
    lash_a = _ramp(0.016 + 0.008 * (1 - eo) - (ev - lid_up).abs() * ew, pw)
    lash_a = lash_a * (eu.abs() < 1.08).float() * face
    col.lerp_(torch.tensor([0.06, 0.04, 0.04])[None, :, None], lash_a[:, None])
    glint = (((eu + 0.2) ** 2 + (ev - 0.2) ** 2) < 0.02).float() * open_a

    # Brows: thickness, colour, height and tilt (frown: low, inner ends down).
    br = c1(brow_raise)
    bw = ew * 1.35
    bu = (ax - exc) / bw
    brow_y = eye_y + 0.13 + 0.075 * br
    frown = (-br).clamp(min=0)
    line = brow_y + (0.02 + 0.02 * br.clamp(min=0)) * (1 - bu * bu) + 0.045 * frown * bu
    thick = (0.012 + 0.035 * c1(p["brow_thickness"])) * (1 - 0.45 * bu * bu)
    brow_a = _ramp(thick - (Y - line).abs(), pw) * _ramp((1 - bu.abs()) * bw, pw) * face
    brow_a = brow_a * (0.55 + 0.45 * c1(p["brow_thickness"]))
    col.lerp_(col1(hair_c * 0.55 + 0.03), brow_a[:, None])
    # Forehead wrinkles when raised, a vertical crease when frowning.
    wr = (Y > brow_y + 0.06).float() * (Y < brow_y + 0.2).float() * (ax < 0.2).float()
    lines = _ramp(torch.sin(Y * 70) - 0.5, 0.5)  # ~3 lines, 4 px apart at 64 px
    col *= (1 - face * wr * br.clamp(min=0) * 0.4 * lines)[:, None]
    crease = _ramp(0.018 - ax, pw) * (Y > eye_y).float() * (Y < brow_y + 0.05).float()
    col *= (1 - face * crease * frown * 0.5)[:, None]

    # ---- 6. light it, add glints, composite over the background ----------------------
    amb = c1(scene.ambient)
    shade = (amb + (1 - amb) * lam)[:, None] * col1(scene.light_color)
    rgb = col * shade + (shine * spec)[:, None] * col1(scene.light_color)
    rgb = torch.lerp(rgb, torch.ones(1, 3, 1), glint[:, None])

    ca, sa = torch.cos(scene.bg_angle)[:, None], torch.sin(scene.bg_angle)[:, None]
    tbg = ((x * sa + y * ca) / (2 * FRAME) + 0.5).clamp(0, 1)
    bg = torch.lerp(col1(scene.bg_bottom), col1(scene.bg_top), tbg[:, None])
    bg = bg * (1 - 0.25 * (x * x + y * y) / (FRAME * FRAME))[None, None]
    img = torch.lerp(bg, rgb, cov[:, None]).clamp_(0, 1)
    return (img * 2 - 1).view(B, 3, size, size)


# --------------------------------------------------------------------------------------
# A contact sheet: identities x (poses and expressions), for the README and notebooks.
# --------------------------------------------------------------------------------------
GRID_VIEWS: dict[str, dict[str, float]] = {
    "neutral": {},
    "yaw -45": {"yaw": -45},
    "yaw +45": {"yaw": 45},
    "pitch +30": {"pitch": 30},
    "pitch -30": {"pitch": -30},
    "roll +30": {"roll": 30},
    "smile": {"smile": 1},
    "sad": {"smile": -1},
    "mouth open": {"mouth_open": 1, "smile": 0.4},
    "eyes shut": {"eyes_open": 0},
    "eyes wide": {"eyes_open": 1},
    "brows up": {"brow_raise": 1},
    "frown": {"brow_raise": -1},
}


def render_grid(identities: list[str | int] | None = None,
                views: Mapping[str, Mapping[str, float]] | None = None, *,
                size: int = 64, scene: str = "neutral", seed: int = 0) -> torch.Tensor:
    """Render every identity under every view: ``(len(identities) * len(views), 3, S, S)``.

    Rows are identities (catalogue names or integer seeds), columns are views (dicts of
    pose / expression attributes).  Defaults: the whole catalogue and :data:`GRID_VIEWS`.
    """
    identities = catalogue_names() if identities is None else list(identities)
    views = GRID_VIEWS if views is None else views
    rows = []
    for ident in identities:
        block = identity_vector(ident)
        for view in views.values():
            rows.append(SCHEMA.with_identity(SCHEMA.to_tensor(dict(view)), block))
    vecs = torch.stack(rows)
    scn = Scene.neutral(len(vecs)) if scene == "neutral" else Scene.sample(len(vecs), seed)
    return render(vecs, size=size, scene=scn)
