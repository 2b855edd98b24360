"""Training the two-decoder autoencoder, DeepFaceLab style.

Each step takes a batch of person A and a batch of person B and reconstructs each with its
own decoder through the shared encoder.  The input is *randomly warped* and the target is
not (``random_warp_pair``): a decoder that only copied pixels could not undo the warp, so the
network must learn what a face of that person looks like - which is exactly what makes
``decoder_B(encoder(face_A))`` produce B with A's pose and expression::

    warped_A, target_A = random_warp_pair(x_A)          # same framing, elastic warp on input
    warped_B, target_B = random_warp_pair(x_B)
    rec_A, rec_B = model(warped_A, warped_B)            # each through its own decoder
    loss = sum_k  L1(rec_k, target_k) + w_ssim * DSSIM(rec_k, target_k)

Data: SynthFaces renders of the two people at random poses, expressions and scenes - the
same thing a user gets by extracting faces from two videos.  No attribute vector is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from ..data.synth_datasets import SynthFacesStream
from ..data.synthfaces import SCHEMA, Scene, identity_vector, render, sample_pose_expression
from ..eval.metrics import dssim_loss
from ..models.two_decoder import TwoDecoder, TwoDecoderConfig
from .augment import random_warp_pair
from .trainer import Recipe


@dataclass
class TwoDecoderRecipe:
    """Hyper-parameters of two-decoder training (saved in the checkpoint)."""

    batch: int = 32                # per person
    lr: float = 5e-4
    w_ssim: float = 1.0
    warp_scale: float = 0.04
    clip: float = 1.0
    seed: int = 0


class TwoDecoderTraining(Recipe):
    """Recipe for :class:`~deepfake_lab.models.two_decoder.TwoDecoder` on two SynthFaces people.

    ``people`` are catalogue names (``deepfake-lab render --identities`` lists them) or
    population seeds as strings of digits.
    """

    arch = "two-decoder"

    def __init__(self, cfg: TwoDecoderConfig | None = None,
                 recipe: TwoDecoderRecipe | None = None) -> None:
        self.cfg, self.hp = cfg or TwoDecoderConfig(people=("ada", "boris")), recipe or \
            TwoDecoderRecipe()
        torch.manual_seed(self.hp.seed)
        self.model = TwoDecoder(self.cfg)
        self.nets = {"model": self.model}
        self.optimizers = {"adam": torch.optim.Adam(self.model.parameters(), self.hp.lr,
                                                    betas=(0.5, 0.999))}
        self.generators = {"warp": torch.Generator().manual_seed(self.hp.seed + 1)}
        self.identities = person_identities(self.cfg.people)          # (P, n_identity)

    def batches(self, start: int, rank: int, world_size: int) -> Iterator[dict]:
        streams = [SynthFacesStream(self.identities, [k], batch_size=self.hp.batch,
                                    size=self.cfg.size, seed=self.hp.seed * 1000 + k, rank=rank,
                                    world_size=world_size).batches(start)
                   for k in range(len(self.cfg.people))]
        for parts in zip(*streams, strict=False):  # endless streams
            yield {f"image_{k}": p["image"] for k, p in enumerate(parts)}

    def training_step(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        g = self.generators["warp"]
        pairs = [random_warp_pair(batch[f"image_{k}"], g, warp_scale=self.hp.warp_scale)
                 for k in range(len(self.cfg.people))]
        warped = [w.to(self.device) for w, _ in pairs]
        targets = [t.to(self.device) for _, t in pairs]
        with self.autocast():
            recs = [r.float() for r in self.nets["model"](*warped)]
            l1 = sum(F.l1_loss(r, t) for r, t in zip(recs, targets, strict=True))
            dssim = sum(dssim_loss(r, t) for r, t in zip(recs, targets, strict=True))
            loss = l1 + self.hp.w_ssim * dssim
        opt = self.optimizers["adam"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.hp.clip)
        opt.step()
        return {"loss": loss.detach(), "l1": l1.detach(), "dssim": dssim.detach()}

    @torch.no_grad()
    def preview(self) -> tuple[torch.Tensor, int]:
        """Per person k: sources, swaps to the other person, ground truth (8 columns)."""
        rows = []
        for k in range(2):
            other = 1 - k
            src, gt = probe_pair(self.identities[k], self.identities[other], 8, self.cfg.size)
            self.model.eval()
            swap = self.model.swap(src.to(self.device), other).cpu()
            self.model.train()
            rows += [src, swap, gt]
        return torch.cat(rows), 8

    def config(self) -> dict:
        return {"kind": "model", "architecture": "two-decoder", "model": self.cfg.to_dict(),
                "schema": SCHEMA.to_json(), "data": "synthfaces",
                "people_identities": self.identities.tolist(), "recipe": asdict(self.hp)}


def person_identities(people: tuple[str, ...]) -> torch.Tensor:
    """Normalised identity blocks ``(P, n_identity)`` for catalogue names or digit seeds."""
    return torch.stack([identity_vector(int(p) if p.isdigit() else p) for p in people])


def probe_pair(source: torch.Tensor, target: torch.Tensor, n: int, size: int,
               seed: int = 1234) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` renders of ``source`` and the ground-truth swaps to ``target`` (same scenes)."""
    g = torch.Generator().manual_seed(seed)
    pe = sample_pose_expression(n, g)
    scn = Scene.sample(n, g)
    a_src = torch.cat([source.expand(n, -1), pe], 1)
    a_tgt = SCHEMA.with_identity(a_src, target.expand(n, -1))
    images = render(torch.cat([a_src, a_tgt]), size=size, scene=Scene.cat([scn, scn]))
    return images[:n], images[n:]
