"""Shared test helpers."""

from __future__ import annotations

from pathlib import Path

import torch

from deepfake_lab.attributes import SYNTHFACES_SCHEMA as SCHEMA
from deepfake_lab.checkpoints import save_checkpoint
from deepfake_lab.data.synthfaces import identity_vector
from deepfake_lab.models import CGAN, CVAE, CGANConfig, CVAEConfig, TwoDecoder, TwoDecoderConfig


def save_untrained_models(root: Path, cgan: bool = False) -> None:
    """Untrained 64 px SynthFaces checkpoints in ``root/cvae``, ``root/pair`` (two-decoder,
    ada and boris) and, with ``cgan``, ``root/cgan`` - as ``deepfake-lab train`` writes them
    (speed and wiring tests do not depend on the weights)."""
    torch.manual_seed(0)
    cfg = CVAEConfig(size=64)
    save_checkpoint(root / "cvae" / "model", CVAE(cfg).state_dict(),
                    {"kind": "model", "architecture": "cvae", "model": cfg.to_dict(),
                     "schema": SCHEMA.to_json()})
    pair = TwoDecoderConfig(people=("ada", "boris"))
    people = torch.stack([identity_vector(p) for p in pair.people]).tolist()
    save_checkpoint(root / "pair" / "model", TwoDecoder(pair).state_dict(),
                    {"kind": "model", "architecture": "two-decoder", "model": pair.to_dict(),
                     "schema": SCHEMA.to_json(), "people_identities": people})
    if cgan:
        gcfg = CGANConfig(size=64)
        tensors = {k: v for k, v in CGAN(gcfg).state_dict().items()
                   if not k.startswith("discriminator.")}
        save_checkpoint(root / "cgan" / "model", tensors,
                        {"kind": "model", "architecture": "cgan", "model": gcfg.to_dict(),
                         "schema": SCHEMA.to_json()})
