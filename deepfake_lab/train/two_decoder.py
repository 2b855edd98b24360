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
           + w_code * CE(critic(codes), uniform)        # the code critic (models/code_critic.py)
           (+ w_read * sum_k |R(swap_k) - [R(x_other)_id | R(x_k)_pose,expr]|)   optional,
                                                   SynthFaces only: see train/reader.py

The code critic (DeepFaceLab's "true face" power; ``--code-critic 0.1``, off by default) learns,
in its own step, to tell from the encoder's code whose frame it was; the encoder is asked to
leave it guessing.  Then the codes of A's frames are codes B's decoder has trained on, and the
swap is no longer B's decoder guessing at a code it never saw.  On the SynthFaces pair it
raised identity retrieval from 71 % to 92 % in 600 CPU steps.  It is off by default because it
also asks both people for one distribution of *poses*: on the real pair, whose man never turns
his head, it made the pose error worse (8.2° against 6.7°; the model card has both runs).

Data: either SynthFaces renders of the two people at random poses, expressions and scenes,
or - the classic deepfake - two real facesets made by ``deepfake-lab extract`` (their last
frames held out; faces mirrored at random).  No attribute vector is used.
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
from ..data.synth_datasets import SynthFacesStream
from ..data.synthfaces import SCHEMA, Scene, identity_vector, render, sample_pose_expression
from ..eval.judges import GROUP_WEIGHTS
from ..eval.metrics import dssim_loss
from ..models.code_critic import CodeCritic, confusion_loss
from ..models.two_decoder import TwoDecoder, TwoDecoderConfig
from .augment import random_warp_pair
from .reader import reader_for, swap_read_loss
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
    w_code: float = 0.0            # weight of the code critic's confusion loss (0: no critic)
    lr_critic: float = 2e-4
    w_read: float = 0.0            # weight of the frozen attribute reader's swap loss
    reader: str | None = None      # the reader checkpoint (see :mod:`.reader`), if w_read > 0
    # weights of each identity / expression number in that loss (pose: GROUP_WEIGHTS["pose"])
    read_identity: float = GROUP_WEIGHTS["identity"]
    read_expression: float = GROUP_WEIGHTS["expression"]
    reader_sha256: str | None = None  # filled in from ``reader``: resumes need the same file


class TwoDecoderTraining(Recipe):
    """Recipe for :class:`~deepfake_lab.models.two_decoder.TwoDecoder` on two SynthFaces people.

    ``people`` are catalogue names (``deepfake-lab render --identities`` lists them) or
    population seeds as strings of digits; with ``facesets=True`` they are faceset folders or
    bundled sample facesets (``woman``, ``man``, ``carphone``) instead.
    """

    arch = "two-decoder"

    def __init__(self, cfg: TwoDecoderConfig | None = None,
                 recipe: TwoDecoderRecipe | None = None, facesets: bool = False) -> None:
        self.cfg, self.hp = cfg or TwoDecoderConfig(people=("ada", "boris")), recipe or \
            TwoDecoderRecipe()
        torch.manual_seed(self.hp.seed)
        self.real = None
        if facesets:  # real faces: the people are facesets, named after their folders
            sets = load_facesets(self.cfg.people)
            names = tuple(faceset_name(f) for f in sets)
            self.cfg = replace(self.cfg, people=names)
            self.real = FacesetTensors.build(sets, self.cfg.size, learned_identity_schema(names))
        self.model = TwoDecoder(self.cfg)
        self.nets = {"model": self.model}
        self.optimizers = {"adam": torch.optim.Adam(self.model.parameters(), self.hp.lr,
                                                    betas=(0.5, 0.999))}
        self.critic = None
        if self.hp.w_code > 0:
            self.critic = CodeCritic(self.cfg.code_dim, len(self.cfg.people))
            self.nets["critic"] = self.critic
            self.optimizers["critic"] = torch.optim.Adam(self.critic.parameters(),
                                                         self.hp.lr_critic, betas=(0.5, 0.999))
        self.generators = {"warp": torch.Generator().manual_seed(self.hp.seed + 1)}
        if self.real is None:
            self.identities = person_identities(self.cfg.people)      # (P, n_identity)
        self.reader = reader_for(self.hp, facesets=self.real is not None)

    def training_nets(self) -> dict[str, torch.nn.Module]:
        return {} if self.critic is None else {"critic": self.critic}

    def batches(self, start: int, rank: int, world_size: int) -> Iterator[dict]:
        if self.real is not None:
            train = self.real.train()
            streams = [FacesetStream(train.person(k), batch_size=self.hp.batch,
                                     seed=self.hp.seed * 1000 + k, rank=rank,
                                     world_size=world_size).batches(start)
                       for k in range(len(self.cfg.people))]
        else:
            streams = [SynthFacesStream(self.identities, [k], batch_size=self.hp.batch,
                                        size=self.cfg.size, seed=self.hp.seed * 1000 + k,
                                        rank=rank, world_size=world_size,
                                        device=self.render_device).batches(start)
                       for k in range(len(self.cfg.people))]
        for parts in zip(*streams, strict=False):  # endless streams
            yield {f"image_{k}": p["image"] for k, p in enumerate(parts)}

    def training_step(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        g = self.generators["warp"]
        # Warp where the model trains (the random numbers come from ``g`` on the CPU).
        pairs = [random_warp_pair(batch[f"image_{k}"].to(self.device), g,
                                  warp_scale=self.hp.warp_scale)
                 for k in range(len(self.cfg.people))]
        warped, targets = [w for w, _ in pairs], [t for _, t in pairs]
        extra = {}
        with self.autocast():
            recs, codes = self.nets["model"](*warped, return_codes=True)  # (B,3,S,S), (B,code)
            recs = [r.float() for r in recs]
            l1 = sum(F.l1_loss(r, t) for r, t in zip(recs, targets, strict=True))
            dssim = sum(dssim_loss(r, t) for r, t in zip(recs, targets, strict=True))
            loss = l1 + self.hp.w_ssim * dssim
        if self.critic is not None:
            extra["critic"], confusion = self._critic_step(codes)
            loss = loss + self.hp.w_code * confusion
            extra["confusion"] = confusion.detach()
        if self.reader is not None:
            # Also draw each person's (unwarped) frames as the next person, and ask the
            # reader to see that person with the frame's pose and expression.
            # (Not ``model.swap``: that is an inference helper, without gradients.)
            n, enc, decs = len(targets), self.model.encoder, self.model.decoders
            with torch.no_grad():
                r = [self.reader(t) for t in targets]                      # (B, dim) each
            with self.autocast():
                read = sum(swap_read_loss(self.reader, decs[(k + 1) % n](enc(targets[k])),
                                          r[k], r[(k + 1) % n], self.hp.read_identity,
                                          self.hp.read_expression)
                           for k in range(n))
            loss = loss + self.hp.w_read * read
            extra["read"] = read.detach()
        opt = self.optimizers["adam"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.hp.clip)
        opt.step()
        return {"loss": loss.detach(), "l1": l1.detach(), "dssim": dssim.detach(), **extra}

    def _critic_step(self, codes: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The code critic's optimiser step on each person's codes (B, code_dim), then the
        encoder's side of the game: ``(critic loss, confusion loss)``, both ln P when the
        critic cannot tell the people apart."""
        code = torch.cat(codes).float()                                  # (P*B, code_dim)
        who = torch.cat([torch.full((len(c),), k, device=code.device)
                         for k, c in enumerate(codes)])
        critic_loss = F.cross_entropy(self.nets["critic"](code.detach()), who)
        opt = self.optimizers["critic"]
        opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        opt.step()
        # Leave the updated critic guessing.  Its weights are held fixed here (detached
        # copies), so this term trains the encoder only.
        fixed = {k: v.detach() for k, v in self.critic.named_parameters()}
        confusion = confusion_loss(torch.func.functional_call(self.critic, fixed, (code,)))
        return critic_loss.detach(), confusion

    @torch.no_grad()
    def preview(self) -> tuple[torch.Tensor, int]:
        """Per person k: sources, swaps to the other person, and (SynthFaces) the ground
        truth; real facesets have no ground truth, so their sources are held-out frames."""
        rows = []
        self.model.eval()
        for k in range(2):
            other = 1 - k
            if self.real is not None:
                held = self.real.test().person(k).images
                src = held[torch.linspace(0, len(held) - 1, 8).long()]
                rows += [src, self.model.swap(src.to(self.device), other).cpu()]
            else:
                src, gt = probe_pair(self.identities[k], self.identities[other], 8,
                                     self.cfg.size)
                rows += [src, self.model.swap(src.to(self.device), other).cpu(), gt]
        self.model.train()
        return torch.cat(rows), 8

    def config(self) -> dict:
        cfg = {"kind": "model", "architecture": "two-decoder", "model": self.cfg.to_dict(),
               "recipe": asdict(self.hp)}
        if self.real is not None:
            return {**cfg, "schema": self.real.schema.to_json(),
                    "data": {"kind": "facesets", "facesets": list(self.cfg.people),
                             "held_out": HELD_OUT}}
        return {**cfg, "schema": SCHEMA.to_json(), "data": "synthfaces",
                "people_identities": self.identities.tolist()}


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
