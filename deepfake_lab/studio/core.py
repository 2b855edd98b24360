"""What the studio does, without Gradio: models, identities, one preview, reset, randomise.

The Gradio layer (:mod:`deepfake_lab.studio.ui`) only arranges components and forwards
their values here, so every behaviour of the app can be tested by calling these functions.

The sliders tab, in one paragraph
---------------------------------
Every slider comes from the attribute schema (:func:`slider_specs`): identity parameters,
pose and expression, with the schema's names, ranges, defaults and order.  The identity
pickers (a SynthFaces catalogue person or "random seed N", a second identity and a mix
slider) only *set* the identity sliders (:func:`identity_values`); the sliders are what the
preview reads.  One preview (:meth:`Studio.preview`) then depends on the model:

==================  ==============================================  =========================
model               output (labelled + watermarked)                 beside it
==================  ==============================================  =========================
cvae / cgan         ``generate``: ``model.generate(a)``, z = 0        ground truth ``render(a)``
                    ``swap``: ``model.swap(render(a), a, a_tgt)``   source, truth ``render(a_tgt)``
two-decoder         ``model.swap(render(a), to=person)``            source, truth (person's
                                                                    identity, same pose)
SynthFaces only     (no model)                                      ``render(a)``
==================  ==============================================  =========================

``a`` is the slider vector; ``a_tgt`` is ``a`` with the identity block of the "swap to"
identity.  Renders use the neutral scene and the model's own resolution, so the ground truth
is exactly what a perfect model would draw.  For display every image is brought to
``display_size`` (128 px by default; nearest neighbour, so each model pixel becomes a visible
block and blur is the model's, not the upscaler's); only then is the model output marked with
the visible "AI-generated" label and the invisible watermark (:func:`~deepfake_lab.provenance.
mark_image`), because marks made at 64 px would not survive upscaling and the watermark needs
at least 112 px.  The browser enlarges the 128 px images to the page with crisp pixels (the
app's CSS): sending 256 px instead cost ~12 ms per preview in marks and PNG encoding for
nothing the eye gains.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..attributes import SYNTHFACES_SCHEMA, Attribute, AttributeSchema, AttributeValueError
from ..checkpoints import CheckpointError, checkpoint_paths
from ..data.synthfaces import (
    Scene,
    catalogue_names,
    identity_vector,
    render,
    sample_identities,
    sample_pose_expression,
)
from ..device import pick_device
from ..images import to_uint8
from ..provenance import mark_image
from ..registry import LoadedModel, list_models, load_model, resolve

SCHEMA: AttributeSchema = SYNTHFACES_SCHEMA
"""The layout the studio's sliders are generated from (models must speak it)."""

ENV_MODELS = "DEEPFAKE_LAB_STUDIO_MODELS"
"""Comma-separated checkpoints or run directories to offer besides the bundled models."""

RENDERER = "synthfaces"
"""Model-picker value of the "no model" entry: SynthFaces renders only."""

RANDOM_IDENTITY = "random seed N"
"""Identity-picker entry that draws a random SynthFaces person from a seed."""

MODES = ("generate", "swap")
DISPLAY_SIZE = 128  # px sent to the browser, which enlarges them (CSS keeps pixels crisp)
UPSCALE_MODES = ("nearest", "bicubic")
RENDER_ONLY_SIZE = 128  # resolution of the "no model" renders
MODEL_CACHE = 4  # loaded models kept in memory (least recently used goes first)

TABLE_HEADERS = ("group", "attribute", "value", "unit", "normalised")

ARCHITECTURE_NOTES = {
    "two-decoder": (
        "One shared encoder, one decoder per person (the deepfakes / DeepFaceLab scheme). "
        "The shared code has to describe what both people have in common (pose, expression, "
        "light); a swap is person B's decoder painting the code of a frame of A. No attribute "
        "vector: the sliders pose the SynthFaces *source* face, and the model swaps it to one "
        "of the people it was trained on."),
    "cvae": (
        "Conditional VAE: encoder and decoder both receive the attribute vector, so the small "
        "latent only keeps what the attributes do not say (light, background, clothes). "
        "Generate decodes the sliders' vector with z = 0 (an average scene); a swap keeps the "
        "frame's latent and decodes it with the target's identity block."),
    "cgan": (
        "Conditional GAN: a generator G(z, attributes) trained against a discriminator that "
        "also sees the attributes (projection), warm-started from the CVAE. Generate is "
        "G(0, a); a swap inverts the frame to z with the encoder and regenerates it with the "
        "target's identity block."),
    RENDERER: (
        "No model: the SynthFaces renderer alone. Explore the attribute space and see the "
        "exact faces the models are trained and judged on."),
}


class StudioError(ValueError):
    """A problem the user can fix (bad model path, unknown identity, value out of range)."""


# --------------------------------------------------------------------------------------
# Sliders, generated from the schema
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SliderSpec:
    """Everything a UI needs to draw one attribute slider."""

    name: str
    group: str
    low: float
    high: float
    default: float
    step: float
    label: str
    info: str


def slider_step(attribute: Attribute) -> float:
    """A round step giving at least ~50 positions: 1 degree for pose, 0.01 for the rest."""
    return 10.0 ** math.floor(math.log10((attribute.high - attribute.low) / 50))


def snap(value: float, step: float) -> float:
    """``value`` rounded to a multiple of ``step`` (what a slider can show)."""
    return round(round(value / step) * step, 6)


def slider_specs(schema: AttributeSchema = SCHEMA) -> list[SliderSpec]:
    """One spec per attribute, in vector order (identity, pose, expression)."""
    return [
        SliderSpec(a.name, a.group, a.low, a.high, a.default, slider_step(a),
                   f"{a.name} ({a.unit})" if a.unit else a.name, a.description)
        for a in schema.attributes
    ]


def values_to_dict(values: Sequence[float], schema: AttributeSchema = SCHEMA) -> dict[str, float]:
    """Slider values in vector order -> validated ``{name: physical value}``."""
    if len(values) != schema.dim:
        raise StudioError(f"expected {schema.dim} attribute values ({', '.join(schema.names)}), "
                          f"got {len(values)}")
    try:
        return schema.validate(dict(zip(schema.names, values, strict=True)))
    except (AttributeValueError, TypeError) as e:
        raise StudioError(str(e)) from None


def attribute_table(vector: torch.Tensor, schema: AttributeSchema = SCHEMA) -> list[list]:
    """Rows ``[group, name, physical value, unit, normalised value]`` of a ``(dim,)`` vector."""
    phys = schema.to_dict(vector)
    return [[a.group, a.name, round(phys[a.name], 3), a.unit, round(float(v), 3)]
            for a, v in zip(schema.attributes, vector.tolist(), strict=True)]


# --------------------------------------------------------------------------------------
# Identities: catalogue people, random people, and a mix of two
# --------------------------------------------------------------------------------------
def identity_choices() -> list[str]:
    """What the identity pickers offer: the SynthFaces catalogue and a seeded random person."""
    return [*catalogue_names(), RANDOM_IDENTITY]


def resolve_identity(choice: str, seed: float | int | None = 0) -> torch.Tensor:
    """A picker entry -> normalised identity block ``(n_identity,)``.

    ``choice`` is a catalogue name, :data:`RANDOM_IDENTITY` (then ``seed`` picks the person)
    or a string of digits (a seed).
    """
    text = str(choice).strip()
    if text == RANDOM_IDENTITY:
        if seed is None or not float(seed).is_integer() or seed < 0:
            raise StudioError(f"the seed of {RANDOM_IDENTITY!r} must be a whole number >= 0, "
                              f"got {seed!r}")
        return sample_identities(1, int(seed))[0]
    if text.isdigit():
        return sample_identities(1, int(text))[0]
    if text in catalogue_names():
        return identity_vector(text)
    raise StudioError(f"unknown identity {choice!r}: choose one of {', '.join(catalogue_names())}"
                      f", {RANDOM_IDENTITY!r} or a seed number")


def identity_values(choice_a: str, seed_a: float | int | None, choice_b: str,
                    seed_b: float | int | None, mix: float) -> list[float]:
    """The identity sliders' values for ``(1 - mix) * A + mix * B``, in schema order.

    The mix is linear in the normalised identity block (equivalently in slider units, since
    normalisation is affine); values are snapped to the sliders' steps.
    """
    if not 0.0 <= float(mix) <= 1.0:
        raise StudioError(f"mix must be in [0, 1], got {mix}")
    a = resolve_identity(choice_a, seed_a)
    block = a if float(mix) == 0.0 else torch.lerp(a, resolve_identity(choice_b, seed_b),
                                                   float(mix))
    phys = SCHEMA.denormalize(block, "identity").tolist()
    return [snap(v, slider_step(attr)) for v, attr in zip(phys, SCHEMA.identity, strict=True)]


@dataclass(frozen=True)
class ControlState:
    """Values of every control that reset / randomise set (in the UI's order)."""

    identity_a: str
    seed_a: int
    identity_b: str
    seed_b: int
    mix: float
    values: list[float]  # every attribute, schema order

    def as_tuple(self) -> tuple:
        return (self.identity_a, self.seed_a, self.identity_b, self.seed_b, self.mix,
                *self.values)


def default_state() -> ControlState:
    """The reset state: first catalogue person, schema defaults for pose and expression."""
    names = catalogue_names()
    ident = identity_values(names[0], 0, names[1], 0, 0.0)
    rest = [a.default for a in SCHEMA.pose + SCHEMA.expression]
    return ControlState(names[0], 0, names[1], 0, 0.0, ident + rest)


def random_state(seed: int) -> ControlState:
    """A random SynthFaces person (``random seed N`` = ``seed``) with a random pose and
    expression drawn uniformly over the schema ranges, as in training."""
    ident = identity_values(RANDOM_IDENTITY, seed, catalogue_names()[1], 0, 0.0)
    pe = sample_pose_expression(1, torch.Generator().manual_seed(seed + 1))[0]
    attrs = SCHEMA.pose + SCHEMA.expression
    rest = [snap(float(a.denormalize(float(v))), slider_step(a))
            for a, v in zip(attrs, pe, strict=True)]
    return ControlState(RANDOM_IDENTITY, seed, catalogue_names()[1], 0, 0.0, ident + rest)


# --------------------------------------------------------------------------------------
# Models on offer
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelChoice:
    """One entry of the model picker."""

    value: str  # what load_model gets: a bundled name, a path, or RENDERER
    label: str
    architecture: str  # "two-decoder" | "cvae" | "cgan" | RENDERER | "?" (unreadable)


def env_models(environ: Mapping[str, str] | None = None) -> list[str]:
    """Checkpoint paths / run directories listed in ``$DEEPFAKE_LAB_STUDIO_MODELS``."""
    text = (os.environ if environ is None else environ).get(ENV_MODELS, "")
    return [os.path.expanduser(p.strip()) for p in text.split(",") if p.strip()]


def _describe_path(path: str) -> ModelChoice:
    """A picker entry for a checkpoint path, from its JSON config (weights stay on disk)."""
    try:
        _, stem = resolve(path)
        cfg = json.loads(checkpoint_paths(stem)[1].read_text())
        arch, size = cfg["architecture"], cfg["model"]["size"]
    except (CheckpointError, OSError, KeyError, ValueError):
        return ModelChoice(path, f"{path} (not a readable checkpoint)", "?")
    if isinstance(cfg.get("data"), dict):  # trained on real facesets
        return ModelChoice(path, f"{path} · {arch}, {size} px, real faces (Real faces tab)",
                           "real:" + arch)
    step = f", step {cfg['step']}" if cfg.get("step") is not None else ""
    return ModelChoice(path, f"{path} · {arch}, {size} px{step}", arch)


def model_choices(extra: Sequence[str] = (), environ: Mapping[str, str] | None = None,
                  ) -> list[ModelChoice]:
    """Bundled models, then ``$DEEPFAKE_LAB_STUDIO_MODELS``, then ``extra``, then "no model".

    The bundled weights may be absent (a fresh checkout): the picker then offers the
    environment's and ``extra`` checkpoints, and always the SynthFaces renderer alone.
    """
    rows = [ModelChoice(r["name"], f"{r['name']} · {r['architecture']}, {r['size']} px "
                                   f"(bundled)", r["architecture"]) for r in list_models()
            if not r["data"].startswith("facesets")]  # real-face models: their own tab
    seen = {r.value for r in rows}
    for path in [*env_models(environ), *extra]:
        if path not in seen:
            choice = _describe_path(path)
            if not choice.architecture.startswith("real:"):
                rows.append(choice)
            seen.add(path)
    rows.append(ModelChoice(RENDERER, "SynthFaces renderer only (no model)", RENDERER))
    return rows


@dataclass(frozen=True)
class ModelView:
    """How the sliders tab looks for one model: which controls matter and what they offer."""

    value: str
    architecture: str
    modes: tuple[str, ...]  # modes this model supports (conditional: generate and swap)
    targets: list[str]  # the "swap to" choices
    default_target: str | None
    card: str  # Markdown: what the model is and does

    def uses_source(self, mode: str) -> bool:
        """Does ``mode`` swap a source face (and so use the "swap to" control)?"""
        return uses_source(self.architecture, mode)


def uses_source(architecture: str, mode: str) -> bool:
    """A two-decoder model always swaps a source face; conditional models in "swap" mode."""
    return architecture == "two-decoder" or (architecture in ("cvae", "cgan") and mode == "swap")


# --------------------------------------------------------------------------------------
# The preview
# --------------------------------------------------------------------------------------
@dataclass
class Preview:
    """One preview: display-size uint8 images, the attribute table and where time went."""

    source: np.ndarray | None  # the SynthFaces face being swapped (unmarked render)
    output: np.ndarray | None  # the model's output, labelled and watermarked
    truth: np.ndarray | None  # the SynthFaces ground truth (unmarked render)
    table: list[list]  # attribute_table of the vector the output should match
    timings_ms: dict[str, float] = field(default_factory=dict)
    device: str = "cpu"
    notes: list[str] = field(default_factory=list)
    model_id: str | None = None  # the name in the output's watermark (None: no model)

    @property
    def latency_ms(self) -> float:
        return self.timings_ms.get("total", 0.0)

    def info(self) -> str:
        """One Markdown line: latency, device and where the time went."""
        t = self.timings_ms
        parts = [f"{k} {t[k]:.1f} ms" for k in ("render", "model", "display", "marks") if k in t]
        text = f"**{self.latency_ms:.1f} ms** on `{self.device}` ({', '.join(parts)})"
        return "  \n".join([text, *self.notes])


def preview_args(model: str, values: Mapping[str, float] | None = None, *, mode: str = "generate",
                 target: str | None = None, target_seed: int = 0) -> list:
    """The positional inputs of the app's ``preview`` endpoint, for API clients.

    ``values`` are physical units; missing attributes take the schema defaults (and identity
    sliders the reset person's values).  Order: model, mode, target, target seed, then every
    attribute in schema order.
    """
    full = dict(zip(SCHEMA.names, default_state().values, strict=True))
    full.update(values or {})
    return [model, mode, target or catalogue_names()[1], target_seed,
            *(full[n] for n in SCHEMA.names)]


class Studio:
    """The studio's state: the device, the models on offer and a small cache of loaded ones.

    Args:
        extra_models: checkpoint paths / run directories to offer besides the bundled ones
            and ``$DEEPFAKE_LAB_STUDIO_MODELS``.
        device: ``"cuda"``, ``"cpu"`` ... (default: :func:`~deepfake_lab.device.pick_device`).
        display_size: side of the displayed images in pixels (>= 112 for the watermark).
        upscale: ``"nearest"`` (default: model pixels stay visible) or ``"bicubic"``.
        half: bf16 (or fp16 where bf16 is missing) autocast for inference on CUDA; default
            on for CUDA.  The CPU always runs float32 (CPU half precision is slower here).
    """

    def __init__(self, extra_models: Sequence[str] = (), device: str | None = None,
                 display_size: int = DISPLAY_SIZE, upscale: str = "nearest",
                 half: bool | None = None) -> None:
        if upscale not in UPSCALE_MODES:
            raise StudioError(f"upscale must be one of {UPSCALE_MODES}, got {upscale!r}")
        if not 112 <= int(display_size) <= 1024:
            raise StudioError(f"display_size must be in [112, 1024] (the watermark needs "
                              f">= 112 px), got {display_size}")
        self.extra_models = [str(p) for p in extra_models]
        self.device = pick_device(device)
        self.display_size = int(display_size)
        self.upscale = upscale
        self.half = self.device.type == "cuda" if half is None else bool(half)
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()

    # ---- models ------------------------------------------------------------------------
    def choices(self) -> list[ModelChoice]:
        """The model picker's entries (re-read on every call: new runs appear)."""
        return model_choices(self.extra_models)

    def default_model(self) -> str:
        """The first real model on offer, else the renderer."""
        return self.choices()[0].value

    def load(self, value: str, synthfaces_only: bool = True) -> LoadedModel | None:
        """The loaded model for a picker value (cached), ``None`` for :data:`RENDERER`.

        The sliders tab needs models that speak the SynthFaces schema; the video tabs take
        any model (``synthfaces_only=False``), real-face ones included.
        """
        value = str(value or "").strip()
        if value == RENDERER:
            return None
        if not value:
            raise StudioError("no model chosen")
        with self._lock:
            if value in self._models:
                self._models.move_to_end(value)
                model = self._models[value]
            else:
                try:
                    model = load_model(value, device=self.device)
                except (CheckpointError, AttributeValueError, OSError) as e:
                    raise StudioError(f"cannot open the model: {e}") from None
            if synthfaces_only:
                try:
                    SCHEMA.check_compatible(model.schema)
                except AttributeValueError as e:
                    raise StudioError(f"model {value!r} does not speak the SynthFaces "
                                      f"attribute schema that the studio's sliders use ({e}); "
                                      "real-face models live in the Real faces tab") from None
            self._models[value] = model
            while len(self._models) > MODEL_CACHE:
                self._models.popitem(last=False)
            return model

    @staticmethod
    def _targets(model: LoadedModel) -> tuple[tuple[str, ...], list[str], str]:
        """``(modes, "swap to" choices, default target)`` of a loaded model."""
        if model.architecture == "two-decoder":
            return (), list(model.people), model.people[-1]
        return MODES, identity_choices(), catalogue_names()[1]

    def view(self, value: str) -> ModelView:
        """What the sliders tab offers for the model ``value`` (loads it)."""
        model = self.load(value)
        if model is None:
            card = f"**SynthFaces renderer** (no model)\n\n{ARCHITECTURE_NOTES[RENDERER]}"
            return ModelView(RENDERER, RENDERER, (), [], None, card)
        modes, targets, default = self._targets(model)
        params = sum(p.numel() for p in model.model.parameters()) / 1e6
        step = model.config.get("step")
        people = f" · people: {', '.join(model.people)}" if model.people else ""
        card = (f"**{model.name}** · {model.architecture} · {model.size} px · "
                f"{params:.2f} M parameters"
                f"{f' · step {step}' if step is not None else ''}{people}  \n"
                f"`{model.path}` · running on `{self.device}`\n\n"
                f"{ARCHITECTURE_NOTES.get(model.architecture, '')}")
        return ModelView(value, model.architecture, modes, targets, default, card)

    # ---- one preview -------------------------------------------------------------------
    @contextlib.contextmanager
    def _inference(self) -> Iterator[None]:
        """no_grad, plus bf16/fp16 autocast on CUDA when ``half`` is on."""
        with torch.no_grad():
            if self.half and self.device.type == "cuda":
                dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
                with torch.autocast("cuda", dtype=dtype):
                    yield
            else:
                yield

    def _display(self, images: torch.Tensor) -> np.ndarray:
        """``(B, 3, S, S)`` in [-1, 1] -> uint8 ``(B, D, D, 3)`` at the display size."""
        x = images.detach().float().cpu()
        if x.shape[-1] != self.display_size:
            kw = {"align_corners": False} if self.upscale == "bicubic" else {}
            x = F.interpolate(x, size=(self.display_size, self.display_size),
                              mode=self.upscale, **kw).clamp(-1, 1)
        return to_uint8(x)

    def preview(self, model: str, mode: str, target: str | None, target_seed: float | int | None,
                values: Sequence[float]) -> Preview:
        """Render the sliders' face through ``model`` (see the module docstring).

        ``values`` are every attribute's physical value in schema order (the sliders).
        Raises :class:`StudioError` with a readable message for anything the user can fix.
        """
        t0 = time.perf_counter()
        phys = values_to_dict(values)
        a = SCHEMA.to_tensor(phys)[None]  # (1, dim) normalised
        loaded = self.load(model)
        notes: list[str] = []
        times: dict[str, float] = {}

        def clock(key: str, since: float) -> float:
            now = time.perf_counter()
            times[key] = times.get(key, 0.0) + (now - since) * 1000
            return now

        if loaded is None:  # SynthFaces renderer only
            t = time.perf_counter()
            truth = render(a, size=RENDER_ONLY_SIZE, scene=Scene.neutral(1))
            t = clock("render", t)
            shown = self._display(truth)
            clock("display", t)
            times["total"] = (time.perf_counter() - t0) * 1000
            return Preview(None, None, shown[0], attribute_table(a[0]), times,
                           str(self.device), ["SynthFaces renderer only: no model output."])

        size = loaded.size
        if mode not in MODES:
            raise StudioError(f"mode must be one of {MODES}, got {mode!r}")
        swapping = uses_source(loaded.architecture, mode)
        if loaded.architecture == "two-decoder" and target not in loaded.people:
            # Happens for a moment when the picker switches models; say so, don't fail.
            notes.append(f"'{target}' is not a swap target of this model; showing "
                         f"'{loaded.people[-1]}'.")
            target = loaded.people[-1]

        # 1. What the output should match (a_tgt) and, for swaps, the source face.
        if loaded.architecture == "two-decoder":
            known = loaded.config.get("people_identities")
            k = loaded.people.index(target)
            a_tgt = (SCHEMA.with_identity(a, torch.tensor(known[k])[None]) if known else None)
        elif mode == "swap":
            a_tgt = SCHEMA.with_identity(a, resolve_identity(target, target_seed)[None])
        else:
            a_tgt = a
        t = time.perf_counter()
        wanted = [a] if swapping else []
        wanted += [a_tgt] if a_tgt is not None else []
        renders = render(torch.cat(wanted), size=size, scene=Scene.neutral(len(wanted)))
        source = renders[:1] if swapping else None
        truth = renders[-1:] if a_tgt is not None else None
        t = clock("render", t)

        # 2. The model.
        with self._inference():
            if loaded.architecture == "two-decoder":
                out = loaded.swap(source, to=target)
            elif mode == "swap":
                out = loaded.swap(source, a, a_tgt)
            else:
                out = loaded.generate(a)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        t = clock("model", t)

        # 3. Display size, then the provenance marks on the model output only.
        shown = self._display(torch.cat([out.float().cpu(), *(x for x in (source, truth)
                                                            if x is not None)]))
        t = clock("display", t)
        output = mark_image(np.ascontiguousarray(shown[0]), loaded.name)
        clock("marks", t)
        rest = list(shown[1:])
        src_img = rest.pop(0) if source is not None else None
        truth_img = rest.pop(0) if truth is not None else None
        if a_tgt is None:
            notes.append("This checkpoint does not record its people's identities: "
                         "no ground truth.")
        factor = self.display_size / size
        notes.append(f"{size} px model output shown at {self.display_size} px "
                     f"({self.upscale} upscaling, x{factor:g}); the output carries a visible "
                     f"label and an invisible watermark.")
        times["total"] = (time.perf_counter() - t0) * 1000
        table = attribute_table((a_tgt if a_tgt is not None else a)[0])
        return Preview(src_img, output, truth_img, table, times, str(self.device), notes,
                       loaded.name)


def gpu_decorator():
    """``spaces.GPU`` when the ``spaces`` package (Hugging Face ZeroGPU) is importable, else
    the identity: wrap the function that does GPU work with what this returns."""
    try:
        import spaces  # type: ignore[import-not-found]
    except ImportError:
        return lambda fn: fn
    return spaces.GPU


def notebooks(root: Path | None = None) -> list[tuple[str, str]]:
    """``(title, repo-relative path)`` of every ``notebooks/*.ipynb`` of a source checkout
    (none in an installed wheel); the title is the notebook's first heading."""
    root = Path(__file__).resolve().parents[2] if root is None else root
    rows = []
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        title = path.stem
        with contextlib.suppress(OSError, ValueError, KeyError, IndexError):
            first = json.loads(path.read_text())["cells"][0]["source"]
            line = (first if isinstance(first, str) else "".join(first)).splitlines()[0]
            title = line.lstrip("# ").strip() or title
        rows.append((title, path.relative_to(root).as_posix()))
    return rows


def about_markdown(root: Path | None = None) -> str:
    """The About tab: the architectures, the notebooks, responsible use."""
    arch = "\n".join(f"- **{name}** - {ARCHITECTURE_NOTES[name]}"
                     for name in ("two-decoder", "cvae", "cgan"))
    nbs = notebooks(root)
    nb_text = ("\n".join(f"- [{title}]({rel})" for title, rel in nbs) if nbs else
               "- (the notebooks live in the `notebooks/` folder of the source repository)")
    return f"""\
## The three architectures

{arch}

Every conditional model speaks one attribute vector, `[ identity | pose | expression ]`,
defined once in `deepfake_lab/attributes.py`; the sliders of this app are generated from it.
Ground truth comes from **SynthFaces**, a procedural renderer that can draw any identity with
exactly the pose and expression of another, so every swap has an exact right answer.

## Notebooks

Step by step, in Jupyter (paths relative to the repository root):

{nb_text}

## Responsible use

This lab exists to teach how face swapping works and how to measure it. Only process faces
of people who have given their consent. Every image a model generates in this app carries a
visible **AI-generated** label and an invisible watermark naming the model
(`deepfake-lab verify FILE` reads both); SynthFaces renders are procedural drawings, not
model output, and are shown unmarked as the reference.
"""
