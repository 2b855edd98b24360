"""Strategies: what a model does with each frame, one small class per idea.

Every strategy turns a batch of frames into a batch of generated faces
``(B, 3, S, S)`` in [-1, 1] at the model's size ``S``; the pipeline does the rest
(tracking, alignment, compositing, marks, encoding).  What goes in differs:

==================  =========  =============================================================
strategy            models     per frame
==================  =========  =============================================================
``swap``            two-dec.   ``decoder[to](encoder(crop))`` - the target person's decoder
                               paints the frame's face (pose, expression, light come along
                               through the shared encoder)
``conditional``     cvae,      ``z = E(crop, a_src)``, then ``D(z, a_tgt)`` with ``a_tgt`` =
                    cgan+E     the frame's pose and expression and the target's identity
                               block: the frame's latent (light, background) is kept
``reenact``         cvae,      ``G(z_fixed, a_tgt)``: pose and expression from the driving
                    cgan       frame, identity chosen, ``z`` held fixed over the clip (from
                               the first face frame, the prior mean, or a seeded sample) so
                               nothing but the attributes changes from frame to frame
``animate``         cvae,      ``G(z_fixed, a)`` with ``a`` from keyframes: no driving video
                    cgan       at all (:mod:`.keyframes`)
==================  =========  =============================================================

The source attributes ``a_src`` of a real frame are its estimated pose and expression
(:mod:`deepfake_lab.faces.estimate`) and an identity block that the frame cannot tell us;
it is the schema's default (the average person) unless ``source`` names one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence

import torch

from ..registry import LoadedModel
from .identity import check_person, default_identity, resolve_identity

STRATEGIES = ("swap", "conditional", "reenact", "animate")
Z_MODES = ("first", "prior", "random")
DEFAULT_STRATEGY = {"two-decoder": "swap", "cvae": "conditional", "cgan": "reenact"}


class Strategy(ABC):
    """Frames in, generated faces out (see the module docstring)."""

    name: str = "?"
    needs_crops: bool = True  # the aligned crop of each frame is an input
    needs_attributes: bool = True  # the frame's pose and expression are inputs

    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self.schema = model.schema

    @abstractmethod
    def __call__(self, crops: torch.Tensor | None,
                 attributes: Sequence[Mapping[str, float]]) -> torch.Tensor:
        """``crops`` ``(B, 3, S, S)`` in [-1, 1] (or ``None``) and one attribute dict per
        frame (schema names and units) -> faces ``(B, 3, S, S)`` in [-1, 1]."""

    def describe(self) -> str:
        """One line for reports: the strategy and its target."""
        return self.name

    def _vectors(self, attributes: Sequence[Mapping[str, float]],
                 identity: torch.Tensor) -> torch.Tensor:
        """Attribute dicts -> ``(B, dim)`` normalised vectors with ``identity`` put in."""
        names = set(self.schema.names)
        rows = [{k: v for k, v in a.items() if k in names} for a in attributes]
        a = self.schema.to_tensor(rows)
        return self.schema.with_identity(a, identity.to(a.dtype))


class Swap(Strategy):
    """Two-decoder swap: the target person's decoder paints every frame's face."""

    name = "swap"
    needs_attributes = False

    def __init__(self, model: LoadedModel, to: str) -> None:
        super().__init__(model)
        if model.architecture != "two-decoder":
            raise ValueError(f"strategy 'swap' needs a two-decoder model; {model.name} is a "
                             f"{model.architecture} (use 'conditional' or 'reenact')")
        self.to = check_person(model.people, to)

    def __call__(self, crops, attributes):
        return self.model.swap(crops, to=self.to)

    def describe(self) -> str:
        """One line for reports: the strategy and its target."""
        return f"swap to {self.to} (two-decoder)"


class ConditionalSwap(Strategy):
    """Keep the frame's latent, replace the identity block (CVAE, or cGAN with an encoder)."""

    name = "conditional"

    def __init__(self, model: LoadedModel, to: str | int, source: str | int | None = None
                 ) -> None:
        super().__init__(model)
        if model.architecture not in ("cvae", "cgan"):
            raise ValueError(f"strategy 'conditional' needs a cvae or cgan model; {model.name} "
                             f"is a {model.architecture} (use 'swap')")
        if model.architecture == "cgan" and model.model.encoder is None:
            raise ValueError(f"{model.name} has no encoder to invert frames; use 'reenact'")
        self.to = to
        self.target = resolve_identity(self.schema, to)
        self.source = (default_identity(self.schema) if source is None
                       else resolve_identity(self.schema, source))

    def __call__(self, crops, attributes):
        a_src = self._vectors(attributes, self.source)
        a_tgt = self.schema.with_identity(a_src, self.target)
        return self.model.swap(crops, a_src, a_tgt)

    def describe(self) -> str:
        """One line for reports: the strategy and its target."""
        return f"conditional swap to {self.to} ({self.model.architecture})"


class _FixedZ(Strategy):
    """Shared by reenact and animate: one latent ``z`` for the whole clip."""

    def __init__(self, model: LoadedModel, z: str = "prior", seed: int = 0) -> None:
        super().__init__(model)
        if model.architecture not in ("cvae", "cgan"):
            raise ValueError(f"strategy {self.name!r} needs a conditional model (cvae or "
                             f"cgan); {model.name} is a {model.architecture}")
        if z not in Z_MODES:
            raise ValueError(f"z must be one of {', '.join(Z_MODES)}, got {z!r}")
        self.z_mode, self.seed = z, seed
        net = model.model
        self.z_dim = net.cfg.latent if model.architecture == "cvae" else net.cfg.z_dim
        self.z: torch.Tensor | None = None
        if z == "prior":
            self.z = torch.zeros(1, self.z_dim)
        elif z == "random":
            self.z = torch.randn(1, self.z_dim, generator=torch.Generator().manual_seed(seed))

    def _invert(self, crop: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """The latent of one frame (the encoder's mean)."""
        net, dev = self.model.model, self.model.device
        with torch.no_grad():
            if self.model.architecture == "cvae":
                return net.encode(crop.to(dev), a.to(dev))[0].cpu()
            return net.invert(crop.to(dev), a.to(dev)).cpu()

    def _generate(self, a: torch.Tensor) -> torch.Tensor:
        return self.model.generate(a, self.z.expand(len(a), -1))


class Reenact(_FixedZ):
    """Driving frame's pose and expression, chosen identity, ``z`` fixed over the clip."""

    name = "reenact"

    def __init__(self, model: LoadedModel, to: str | int, z: str = "first", seed: int = 0,
                 source: str | int | None = None) -> None:
        has_encoder = model.architecture == "cvae" or (
            model.architecture == "cgan" and model.model.encoder is not None)
        if z == "first" and not has_encoder:
            z = "prior"  # nothing to invert the first frame with
        super().__init__(model, z=z, seed=seed)
        self.to = to
        self.target = resolve_identity(self.schema, to)
        self.source = (default_identity(self.schema) if source is None
                       else resolve_identity(self.schema, source))

    @property
    def needs_crops(self) -> bool:
        """Crops are needed only until the first face frame has been inverted to ``z``."""
        return self.z is None

    def __call__(self, crops, attributes):
        if self.z is None:  # z = "first": the first face frame's latent, kept for the clip
            a_src = self._vectors(attributes[:1], self.source)
            self.z = self._invert(crops[:1], a_src)
        return self._generate(self._vectors(attributes, self.target))

    def describe(self) -> str:
        """One line for reports: the strategy and its target."""
        return f"reenact {self.to} ({self.model.architecture}, z={self.z_mode})"


class Animate(_FixedZ):
    """Attribute keyframes -> frames: no driving video."""

    name = "animate"
    needs_crops = False
    needs_attributes = False

    def __init__(self, model: LoadedModel, identity: str | int, z: str = "prior",
                 seed: int = 0) -> None:
        if z == "first":
            raise ValueError("animate has no driving frame to take z from; use z='prior' or "
                             "'random'")
        super().__init__(model, z=z, seed=seed)
        self.identity = identity
        self.target = resolve_identity(self.schema, identity)

    def __call__(self, crops, attributes):
        return self._generate(self._vectors(attributes, self.target))

    def describe(self) -> str:
        """One line for reports: the strategy and its target."""
        return f"animate {self.identity} ({self.model.architecture}, z={self.z_mode})"


def make_strategy(model: LoadedModel, name: str = "auto", *, to: str | int | None = None,
                  source: str | int | None = None, z: str = "first", seed: int = 0
                  ) -> Strategy:
    """The per-frame strategy ``name`` (``auto``: the model's natural one) for a swap."""
    if name == "auto":
        name = DEFAULT_STRATEGY[model.architecture]
    if name not in ("swap", "conditional", "reenact"):
        raise ValueError(f"unknown strategy {name!r}; choose auto, swap, conditional or "
                         "reenact (animate has its own command)")
    if to is None:
        who = f"one of {', '.join(model.people)}" if model.people else "an identity"
        raise ValueError(f"choose who to swap to: --to {who}")
    if name == "swap":
        return Swap(model, to)
    if name == "conditional":
        return ConditionalSwap(model, to, source=source)
    return Reenact(model, to, z=z, seed=seed, source=source)
