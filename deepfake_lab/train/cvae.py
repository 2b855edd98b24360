"""Training the conditional VAE: reconstruction + a KL term with a *capacity* schedule.

The loss for a batch of faces ``x`` with their attribute vectors ``a``::

    x_hat, mu, logvar = CVAE(x, a)                  # encode with a, decode with a
    recon = L1(x_hat, x) + w_ssim * DSSIM(x_hat, x)
    kl    = KL(q(z | x, a) || N(0, I))              # nats per face, averaged over the batch
    loss  = recon + gamma * | kl - C(step) |        # C: 0 -> capacity nats
          (+ w_read * |R(x_hat) - R(x)|)            # optional: a frozen attribute reader

Why a capacity ``C`` instead of a fixed small beta?  With a weak KL the encoder learns to copy
identity and pose into ``z`` long before the decoder learns to read the attribute vector, the
decoder then ignores ``a`` and swaps do nothing (measured: see ``shared`` pitfalls in the
README).  Holding the KL near ``C = 0`` at first closes the latent: the *only* way to
reconstruct is through ``a``, so the decoder learns to draw the face the attributes describe.
``C`` then grows (Burgess et al. 2018, "Understanding disentangling in beta-VAE") and the
latent fills with what the attributes cannot say - lighting, background, clothes.  With
``gamma = 0`` you get the plain (beta = 0) conditional autoencoder and its failure.

The optional reader term (:mod:`deepfake_lab.train.reader`) fixes what pixels under-weight:
subtle features such as a smile, which a pixel loss lets the decoder draw at about half
strength.  It is a polish for a trained model (``--continue-from`` the bundled CVAE with
``--reader ... --w-read 0.2``), not needed to learn the swap itself.

Data: an endless stream of random SynthFaces people (the training split of the shared
population), random pose, expression and scene.  Ground-truth swaps are never used here.
Or real faces: facesets from ``deepfake-lab extract`` with the pose and expression the
estimator read, and a *learned* identity block (one weight per faceset); the model then
moves real faces with the same sliders.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F

from ..attributes import learned_identity_schema
from ..data.faceset_stream import (
    HELD_OUT,
    FacesetStream,
    FacesetTensors,
    faceset_name,
    load_facesets,
)
from ..data.synth_datasets import SynthFacesStream, swap_pairs, synthfaces_population
from ..data.synthfaces import SCHEMA
from ..eval.judges import GROUP_WEIGHTS
from ..eval.metrics import dssim_loss
from ..models.cvae import CVAE, CVAEConfig, kl_divergence
from .reader import read_loss, reader_for
from .trainer import Recipe


@dataclass
class CVAERecipe:
    """Hyper-parameters of CVAE training (saved in the checkpoint)."""

    batch: int = 64
    lr: float = 5e-4
    w_ssim: float = 0.5
    gamma: float = 0.02            # weight per nat of |KL - C|, against per-pixel L1
    capacity: float = 24.0         # nats the latent may finally carry
    capacity_steps: int = 2500     # steps to open it from 0 to ``capacity``
    clip: float = 1.0              # gradient-norm clip: one bad batch cannot wreck the model
    seed: int = 0
    w_read: float = 0.0            # weight of the attribute reader's loss (0: pixels only)
    reader: str | None = None      # the reader checkpoint (see :mod:`.reader`), if w_read > 0
    # weights of each identity / expression number in that loss (pose: GROUP_WEIGHTS["pose"])
    read_identity: float = GROUP_WEIGHTS["identity"]
    read_expression: float = GROUP_WEIGHTS["expression"]
    reader_sha256: str | None = None  # filled in from ``reader``: resumes need the same file


class CVAETraining(Recipe):
    """Recipe for :class:`~deepfake_lab.models.cvae.CVAE` on SynthFaces."""

    arch = "cvae"

    def __init__(self, cfg: CVAEConfig | None = None, recipe: CVAERecipe | None = None,
                 facesets: tuple[str, ...] = ()) -> None:
        self.hp = recipe or CVAERecipe()
        self.real, self.schema = None, SCHEMA
        if facesets:  # real faces: one learned identity weight per faceset
            sets = load_facesets(facesets)
            self.schema = learned_identity_schema(faceset_name(f) for f in sets)
            size = cfg.size if cfg else CVAEConfig().size
            self.real = FacesetTensors.build(sets, size, self.schema)
        self.cfg = replace(cfg or CVAEConfig(), attr_dim=self.schema.dim)
        torch.manual_seed(self.hp.seed)
        self.model = CVAE(self.cfg)
        self.nets = {"cvae": self.model}
        self.optimizers = {"adam": torch.optim.Adam(self.model.parameters(), self.hp.lr,
                                                    betas=(0.5, 0.999))}
        self.generators = {}
        if self.real is None:
            self.people, self.train_idx, self.test_idx = synthfaces_population()
        self.reader = reader_for(self.hp, facesets=self.real is not None)

    def batches(self, start: int, rank: int, world_size: int) -> Iterator[dict]:
        if self.real is not None:
            return FacesetStream(self.real.train(), batch_size=self.hp.batch,
                                 seed=self.hp.seed, rank=rank,
                                 world_size=world_size).batches(start)
        stream = SynthFacesStream(self.people, self.train_idx, batch_size=self.hp.batch,
                                  size=self.cfg.size, seed=self.hp.seed, rank=rank,
                                  world_size=world_size, device=self.render_device)
        return stream.batches(start)

    def capacity_at(self, step: int) -> float:
        """The KL target ``C`` in nats: a linear ramp from 0 to ``capacity``."""
        return self.hp.capacity * min(1.0, step / max(1, self.hp.capacity_steps))

    def training_step(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        x = batch["image"].to(self.device)                    # (B, 3, S, S)
        a = batch["attributes"].to(self.device)               # (B, dim)
        with self.autocast():
            x_hat, mu, logvar = self.nets["cvae"](x, a)
            x_hat = x_hat.float()
            l1 = F.l1_loss(x_hat, x)
            dssim = dssim_loss(x_hat, x)
            kl = kl_divergence(mu.float(), logvar.float()).mean()
            cap = self.capacity_at(step)
            loss = l1 + self.hp.w_ssim * dssim + self.hp.gamma * (kl - cap).abs()
            extra = {}
            if self.reader is not None:
                read = read_loss(self.reader, x_hat, x, self.hp.read_identity,
                                 self.hp.read_expression)
                loss = loss + self.hp.w_read * read
                extra["read"] = read.detach()
        opt = self.optimizers["adam"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.hp.clip)
        opt.step()
        return {"loss": loss.detach(), "l1": l1.detach(), "dssim": dssim.detach(),
                "kl": kl.detach(), "capacity": torch.tensor(cap), **extra}

    @torch.no_grad()
    def preview(self) -> tuple[torch.Tensor, int]:
        """Rows: held-out sources, reconstructions, swaps, and the ground-truth swaps
        (SynthFaces only: real faces have no ground truth) - 8 columns."""
        if self.real is not None:
            held = self.real.test()
            pick = torch.linspace(0, len(held) - 1, 8).long()
            x, a_s = held.images[pick], held.attributes[pick]
            n = len(self.real.people)
            to = F.one_hot((held.identity[pick] + 1) % n, n).float()   # the next person
            a_t = self.schema.with_identity(a_s, self.schema.normalize(to, "identity"))
            gt = None
        else:
            b = next(swap_pairs(self.people, self.test_idx, batch_size=8, size=self.cfg.size,
                                seed=1234, n_batches=1))
            x, a_s, a_t = b["source_image"], b["source_attributes"], b["target_attributes"]
            gt = b["target_image"]
        self.model.eval()
        x, a_s, a_t = x.to(self.device), a_s.to(self.device), a_t.to(self.device)
        rows = [x, self.model.swap(x, a_s, a_s), self.model.swap(x, a_s, a_t)]
        self.model.train()
        if gt is not None:
            rows.append(gt.to(self.device))
        return torch.cat(rows).cpu(), 8

    def config(self) -> dict:
        data = ("synthfaces" if self.real is None else
                {"kind": "facesets", "facesets": list(self.real.people), "held_out": HELD_OUT})
        return {"kind": "model", "architecture": "cvae", "model": self.cfg.to_dict(),
                "schema": self.schema.to_json(), "data": data, "recipe": asdict(self.hp)}
