"""Checkpoints: safetensors for tensors, JSON for everything else. Never pickles.

A checkpoint named ``NAME`` is two files side by side::

    NAME.safetensors   every tensor (weights; for training state also optimiser moments, RNG)
    NAME.json          the config: format, kind, architecture and sizes, the attribute schema
                       (names, ranges, version, identity kind), the training recipe, the step

``torch.load`` unpickles arbitrary Python objects, so a checkpoint from a stranger can run
code on your machine.  safetensors holds only raw tensors and a JSON header, and this module
refuses anything that looks like a pickle (``.pt``, ``.pth``, ``.ckpt``, ``.bin``, zip or
pickle magic bytes) with a clear message.

Writes are atomic: each file is written beside its target and moved into place with
``os.replace``, the JSON last, so a crash mid-save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .attributes import AttributeSchema

FORMAT = "deepfake-lab-checkpoint/1"
PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".pkl", ".pickle", ".tar")


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, a pickle, or does not fit what is asked of it."""


def checkpoint_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """``(NAME.safetensors, NAME.json)`` for ``NAME``, ``NAME.safetensors`` or ``NAME.json``."""
    p = Path(path)
    if p.suffix in (".safetensors", ".json"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".safetensors"), p.with_name(p.name + ".json")


def _atomic_write(target: Path, write) -> None:
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_checkpoint(path: str | os.PathLike, tensors: Mapping[str, torch.Tensor],
                    config: Mapping[str, Any]) -> Path:
    """Write ``tensors`` and ``config`` atomically; returns the ``.safetensors`` path."""
    st, js = checkpoint_paths(path)
    st.parent.mkdir(parents=True, exist_ok=True)
    flat = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    _atomic_write(st, lambda t: save_file(flat, str(t)))
    cfg = {"format": FORMAT, **config}
    text = json.dumps(cfg, indent=2, sort_keys=False)
    _atomic_write(js, lambda t: t.write_text(text + "\n"))
    return st


def _refuse_pickle(p: Path) -> None:
    if p.suffix.lower() in PICKLE_SUFFIXES:
        raise CheckpointError(
            f"{p} looks like a pickled PyTorch checkpoint; deepfake-lab never unpickles files "
            "(they can run arbitrary code). Convert it with safetensors.torch.save_file on a "
            "machine you trust.")
    if p.exists():
        with open(p, "rb") as f:
            head = f.read(9)
        # A safetensors file opens with its JSON header's length (8 bytes, little-endian)
        # and then the header's "{": recognised first, since that length's low byte may be
        # 0x80, a pickle's first byte.
        n = int.from_bytes(head[:8], "little")
        if head[8:9] == b"{" and 8 + n <= p.stat().st_size:
            return
        if head[:2] == b"PK" or head[:1] == b"\x80":
            raise CheckpointError(
                f"{p} is a zip/pickle file, not safetensors; deepfake-lab never unpickles files")


def load_checkpoint(path: str | os.PathLike, *, kind: str | None = None,
                    schema: AttributeSchema | None = None,
                    device: str | torch.device = "cpu") -> tuple[dict[str, torch.Tensor], dict]:
    """Read ``(tensors, config)``, checking format, ``kind`` and schema compatibility.

    Raises :class:`CheckpointError` (missing, pickle, corrupt, wrong kind) or
    :class:`~deepfake_lab.attributes.SchemaMismatchError` (attributes do not match ``schema``).
    """
    _refuse_pickle(Path(path))
    st, js = checkpoint_paths(path)
    for f in (st, js):
        if not f.exists():
            raise CheckpointError(f"checkpoint file {f} does not exist")
    try:
        config = json.loads(js.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{js} is not valid JSON: {e}") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{js} is not a deepfake-lab checkpoint config "
                              f"(expected format {FORMAT!r})")
    if kind is not None and config.get("kind") != kind:
        raise CheckpointError(f"{st} holds a {config.get('kind')!r} checkpoint, not {kind!r}")
    if schema is not None and "schema" in config:
        schema.check_compatible(AttributeSchema.from_json(config["schema"]))
    _refuse_pickle(st)
    try:
        tensors = load_file(str(st), device=str(device))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{st} is not a readable safetensors file: {e}") from None
    return tensors, config


# --- optimiser and RNG state as flat tensors + JSON (for exact resume) ---------------------

def flatten_state(prefix: str, state: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Move every tensor of a nested ``state_dict`` into ``tensors``; return the JSON skeleton.

    Tensors are replaced by ``{"__tensor__": key}``; dict keys become strings (ints are
    marked so they come back as ints).
    """
    if isinstance(state, torch.Tensor):
        tensors[prefix] = state
        return {"__tensor__": prefix}
    if isinstance(state, Mapping):
        return {"__dict__": [[k, flatten_state(f"{prefix}.{k}", v, tensors)]
                             for k, v in state.items()]}
    if isinstance(state, (list, tuple)):
        return [flatten_state(f"{prefix}.{i}", v, tensors) for i, v in enumerate(state)]
    return state


def unflatten_state(skeleton: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    """Inverse of :func:`flatten_state`."""
    if isinstance(skeleton, dict) and "__tensor__" in skeleton:
        return tensors[skeleton["__tensor__"]]
    if isinstance(skeleton, dict) and "__dict__" in skeleton:
        return {k: unflatten_state(v, tensors) for k, v in skeleton["__dict__"]}
    if isinstance(skeleton, list):
        return [unflatten_state(v, tensors) for v in skeleton]
    return skeleton
