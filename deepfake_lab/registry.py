"""Bundled models and loading any model checkpoint by name or path.

The wheel ships small trained models in ``deepfake_lab/weights/`` (their training commands
and measured quality are in ``weights/MODEL_CARD.md``).  ``load_model("cvae-synthfaces-64")``
loads a bundled one; ``load_model("runs/cvae/model")`` loads what ``deepfake-lab train``
wrote.  Either way you get a :class:`LoadedModel` with one ``swap`` method whatever the
architecture:

* two-decoder: ``decoder[target](encoder(x))`` - the target is a person the model knows;
* cvae: keep the frame's latent, decode with the target attribute vector;
* cgan: invert the frame to ``z`` (encoder), generate with the target attribute vector.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from .attributes import AttributeSchema
from .checkpoints import CheckpointError, checkpoint_paths, load_checkpoint
from .models import CGAN, CVAE, CGANConfig, CVAEConfig, TwoDecoder, TwoDecoderConfig

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

# Bundled model name -> file stem in WEIGHTS_DIR.
BUNDLED = {
    "two-decoder-ada-boris-64": "two_decoder_ada_boris_64",
    "cvae-synthfaces-64": "cvae_synthfaces_64",
    "cgan-synthfaces-64": "cgan_synthfaces_64",
    "two-decoder-woman-man-64": "two_decoder_woman_man_64",   # real faces (bundled samples)
    "cvae-real-64": "cvae_real_64",                           # woman, man, carphone
}
ARCHITECTURES = ("two-decoder", "cvae", "cgan")


@dataclass
class LoadedModel:
    """A model ready for inference (eval mode) with its checkpoint config."""

    name: str
    architecture: str
    model: nn.Module
    config: dict
    path: Path

    @property
    def size(self) -> int:
        return int(self.config["model"]["size"])

    @property
    def schema(self) -> AttributeSchema:
        return AttributeSchema.from_json(self.config["schema"])

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def people(self) -> tuple[str, ...]:
        """The people a two-decoder model can swap to (empty for conditional models)."""
        return tuple(self.config["model"].get("people", ()))

    @torch.no_grad()
    def swap(self, x: torch.Tensor, a_src: torch.Tensor | None = None,
             a_tgt: torch.Tensor | None = None, to: str | int | None = None) -> torch.Tensor:
        """Swap the faces ``x`` (B, 3, S, S).

        Conditional models need the source attributes ``a_src`` and the target vector
        ``a_tgt`` (source pose/expression, target identity); the two-decoder model needs the
        target person ``to``.
        """
        x = x.to(self.device)
        if self.architecture == "two-decoder":
            if to is None:
                raise ValueError(f"a two-decoder model needs to=one of {list(self.people)}")
            return self.model.swap(x, to)
        if a_src is None or a_tgt is None:
            raise ValueError(f"a {self.architecture} model needs a_src and a_tgt")
        return self.model.swap(x, a_src.to(self.device), a_tgt.to(self.device))

    @torch.no_grad()
    def generate(self, a: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """Faces from attribute vectors ``a`` (B, dim) alone; ``z`` defaults to zeros
        (the prior's mean: an average scene)."""
        if self.architecture == "two-decoder":
            raise ValueError("a two-decoder model cannot generate from attributes; use swap")
        a = a.to(self.device)
        zdim = self.model.cfg.latent if self.architecture == "cvae" else self.model.cfg.z_dim
        z = torch.zeros(len(a), zdim, device=self.device) if z is None else z.to(self.device)
        if self.architecture == "cvae":
            return self.model.decode(z, a)
        return self.model.generator(z, a)


def resolve(name_or_path: str | os.PathLike) -> tuple[str, Path]:
    """``(name, checkpoint stem)`` for a bundled name or a checkpoint path / run directory."""
    s = str(name_or_path)
    if s in BUNDLED:
        return s, WEIGHTS_DIR / BUNDLED[s]
    p = Path(s)
    if p.is_dir():
        p = p / "model"
    if checkpoint_paths(p)[1].exists() or p.suffix in (".pt", ".pth", ".ckpt", ".bin"):
        return p.stem if p.name != "model" else p.parent.name, p
    raise CheckpointError(f"no model {s!r}: not a bundled model ({', '.join(BUNDLED)}) and no "
                          f"checkpoint at {p}")


def build_model(config: dict) -> nn.Module:
    """An untrained model of the architecture and sizes in ``config``."""
    arch = config.get("architecture")
    if arch == "cvae":
        return CVAE(CVAEConfig.from_dict(config["model"]))
    if arch == "cgan":
        return CGAN(CGANConfig.from_dict(config["model"]))
    if arch == "two-decoder":
        return TwoDecoder(TwoDecoderConfig.from_dict(config["model"]))
    raise CheckpointError(f"unknown architecture {arch!r} (known: {', '.join(ARCHITECTURES)})")


def load_model(name_or_path: str | os.PathLike, device: str | torch.device = "cpu",
               schema: AttributeSchema | None = None) -> LoadedModel:
    """Load a bundled model or a checkpoint; ``schema`` (if given) must match the model's."""
    name, stem = resolve(name_or_path)
    tensors, cfg = load_checkpoint(stem, kind="model", schema=schema, device=device)
    model = build_model(cfg).to(device)
    state = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shape mismatches
        raise CheckpointError(f"{stem} does not fit a {cfg['architecture']} of these sizes: "
                              f"{str(e).splitlines()[-1].strip()}") from None
    # Inference checkpoints of a cGAN leave the discriminator out on purpose.
    missing = [k for k in missing if not k.startswith("discriminator.")]
    if missing or unexpected:
        raise CheckpointError(f"{stem} does not fit a {cfg['architecture']} of these sizes: "
                              f"missing {missing[:5]}, unexpected {unexpected[:5]}")
    return LoadedModel(name, cfg["architecture"], model.eval(), cfg, stem)


def list_models() -> list[dict]:
    """The bundled models: name, architecture, size, parameters, MB, step, description."""
    rows = []
    for name, stem in BUNDLED.items():
        st, js = checkpoint_paths(WEIGHTS_DIR / stem)
        if not js.exists():
            continue
        cfg = json.loads(js.read_text())
        rows.append({"name": name, "architecture": cfg["architecture"],
                     "size": cfg["model"]["size"], "step": cfg.get("step"),
                     "people": cfg["model"].get("people"),
                     "data": _data_label(cfg.get("data")),
                     "megabytes": round(st.stat().st_size / 1e6, 2),
                     "description": cfg.get("description", "")})
    return rows


def _data_label(data) -> str:
    """``"synthfaces"`` or ``"facesets:woman,man"``: what a model was trained on."""
    if isinstance(data, dict) and data.get("kind") == "facesets":
        return "facesets:" + ",".join(data.get("facesets", []))
    return str(data or "synthfaces")
