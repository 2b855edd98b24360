"""Training the conditional GAN: two optimisers, two steps, spelled out.

Each training step plays one round of the game on a batch of real faces ``x`` with their
attributes ``a``.  The generator is asked for *swaps*: the batch's pose and expression with
another person's identity, ``a_fake``, from the latent ``z`` of the frame (through the
inversion encoder when the model has one) or from the prior::

    1. discriminator step (generator frozen):
         fake  = G(z, a_fake).detach()
         loss_D = relu(1 - D(x, a)) + relu(1 + D(fake, a_fake))     hinge loss
                  + w_aux * |D_aux(x) - a|                          learn to read attributes
    2. generator step (only G's optimiser steps):
         fake  = G(z, a_fake)
         loss_G = -D(fake, a_fake)                                  fool the critic
                  + w_aux * |D_aux(fake) - a_fake|                  show the asked attributes
                  + w_rec * L1(G(z, a), x)                          (with an encoder) stay the frame
                  (+ w_read * |R(fake) - [R(x_next)_id | R(x)_pose,expr]|)  optional: a frozen
                                                                    attribute reader, see reader.py
                  (+ w_anchor * L1(blur(fake), blur(T(z, a_fake))))  optional: the anchor, below
                  (+ w_detail * -C(fake))                           optional: the detail critic
                  (+ w_cf * g_cf)                                   optional: the counterfactual

Real and fake go through D in *one* call (concatenated), which is both faster and what DDP
expects (one forward per backward).

Warm start: ``init_from`` a trained CVAE copies its decoder into G and its encoder into E
(frozen).  The CVAE decoder already is a generator from the prior N(0, I); the adversarial game
then only has to add what the pixel loss averaged away.  On two CPU cores this is the
difference between minutes and hours; ``init_from=None`` trains from scratch.

The anchor (``w_anchor``, ``--anchor``).  Warm-started, the game first trades the CVAE's
correct but blurry swaps for sharp ones of the wrong person: nothing in the generator's loss
ties a *swap* to its target but the discriminator's opinion, and a fresh discriminator's
first opinion is "real faces have fine texture".  Identity lives mostly in the face's
geometry (eye spacing, nose size), which the CVAE already draws right at low resolution.  The
anchor keeps a frozen copy ``T`` of the generator as it was warm-started (the CVAE's decoder)
and asks that the swap, blurred by a Gaussian of ``anchor_blur`` px, stay the CVAE's swap::

    anchor = L1(blur(G(z, a_fake)), blur(T(z, a_fake)))          # (B, 3, S', S') each

The coarse picture - above all whom it shows - stays near the CVAE's; the game is left the
fine detail the pixel loss averaged away, which is what the sharpness ratio measures.
(DeepFaceLab adds its GAN the same way: late, to a trained autoencoder, beside the pixel loss
that keeps the content.)  A Gaussian rather than block averages, because a pattern that
averages to zero over each block would cost a block-average anchor nothing.  Neither keeps
the *kind* of texture right: in the first few hundred steps the generator paints a 4-px
herringbone over hair and face whatever the anchor, until the discriminator learns that real
hair is not a grid.  What the anchor bought, measured, is in the model card.

The detail critic (``w_detail``, ``--detail-critic``).  Measured by swapping frequency bands
between outputs and answers, the anchored cGAN's coarse picture is right and its finest
detail - that grid - misleads the identity judge
(:mod:`~deepfake_lab.models.detail_critic` has the measurements).  A second, small
discriminator ``C`` judges only patches of the finest detail next to the coarse picture
under them, with its own optimiser and its own hinge loss in step 1::

    loss_C = mean(relu(1 - C(x))) + mean(relu(1 + C(fake)))          # (B, 1, S'/2, S'/2) each

and the generator is asked to fool it in step 2 (``-w_detail * mean(C(fake))``).  It lives in
the training state (``training_nets``), like the anchor.

Where expressions show (``anchor_release``, ``rec_focus``).  An expression moves few pixels:
a sad mouth is two 1-px lines beside its corners.  The CVAE draws it about half as deep as
asked (its pixel loss hardly notices), and an even anchor asks the cGAN to keep it that way:
measured, the judge reads both models' frowns (smile < -0.5) 0.35 too happy, and the smile
is half their excess expression error.  These two knobs test whether the anchor is what keeps
the frown out; in the runs measured so far it was not enough to let go (model card).
:func:`~deepfake_lab.data.expression_region.expression_region` maps, from the renderer, the
pixels the expression attributes move (``region``, (S, S) in [0, 1]; ``focus_on`` narrows it
to some of them, e.g. the mouth's); there the anchor lets go and the reconstruction of the
frame counts more (DeepFaceLab's eyes-and-mouth priority)::

    anchor = mean((1 - anchor_release * region) * |blur(G(z, a_fake)) - blur(T(z, a_fake))|)
    g_rec  = focused_l1(G(z, a), x, 1 + rec_focus * region)

``init_from`` may also be a trained cGAN (with its encoder): the run then starts from its
generator and anchors to it, so the game redraws only what the anchor lets go of.

Three more ways at the frown, all measured not to draw it (model card).  ``rec_blur`` compares
the ``rec_focus`` part blurred, so that a crease drawn 1 px off costs less than none
(:func:`blurred_focus_l1`).  ``w_cf`` (``--counterfactual``) renders each frame again with
one ``focus_on`` expression redrawn (``x_cf``, ``a_cf``) and asks the generator's change to be
the renderer's (:func:`counterfactual_loss`)::

    g_cf = |(G(z, a) - G(z, a_cf)) - (x - x_cf)|.mean() / |x - x_cf|.mean()

``frame_focus`` (``--frame-focus``) weighs the reconstruction up on the very pixels where
each frame differs from its counterfactual render (:func:`frame_region`: a frown's creases in
this face and pose, not the mouth's neighbourhood over all faces)::

    g_rec = focused_l1(G(z, a), x, 1 + frame_focus * frame_region(x, x_cf))

A continued run need not restart the game against fresh critics: ``w_adv = 0``
(``--adversarial 0``) leaves them out (a polish by anchor, reconstruction and reader), and
``d_warmup`` trains only them for its first steps.

The weight average (``ema``, ``--ema``).  With a decay, a :class:`~.ema.WeightEMA` of the
generator follows the live one after every generator step, and the model a run saves - the
``model`` checkpoint, its snapshots and the preview - generates with the *average*.  The game
itself is unchanged: the live generator, in the training state, plays it as before.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..checkpoints import load_checkpoint
from ..data.expression_region import expression_names, expression_region
from ..data.synth_datasets import SynthFacesStream, swap_pairs, synthfaces_population
from ..data.synthfaces import SCHEMA
from ..eval.judges import GROUP_WEIGHTS
from ..eval.metrics import crop_like, gaussian_blur
from ..models.cgan import CGAN, CGANConfig
from ..models.cvae import CVAEConfig
from ..models.detail_critic import DetailCritic
from .ema import WeightEMA
from .reader import reader_for, swap_read_loss
from .trainer import Recipe


@dataclass
class CGANRecipe:
    """Hyper-parameters of cGAN training (saved in the checkpoint)."""

    batch: int = 64
    lr_g: float = 1e-4
    lr_d: float = 2e-4
    w_aux: float = 2.0
    w_rec: float = 5.0
    clip: float = 1.0
    init_from: str | None = None   # a CVAE checkpoint to warm-start G and E from
    seed: int = 0
    w_read: float = 0.0            # weight of the frozen attribute reader's swap loss
    reader: str | None = None      # the reader checkpoint (see :mod:`.reader`), if w_read > 0
    # weights of each identity / expression number in that loss (pose: GROUP_WEIGHTS["pose"])
    read_identity: float = GROUP_WEIGHTS["identity"]
    read_expression: float = GROUP_WEIGHTS["expression"]
    reader_sha256: str | None = None  # filled in from ``reader``: resumes need the same file
    w_anchor: float = 0.0          # weight of the low-frequency anchor to the CVAE's swap
    anchor_blur: float = 1.0       # the anchor compares the swaps blurred by this sigma (px)
    w_detail: float = 0.0          # weight of the detail critic's adversarial term (0: none)
    ema: float = 0.0               # decay of the generator's weight average (0: none)
    w_adv: float = 1.0             # weight of the game (D's and C's terms); 0: no critics
    d_warmup: int = 0              # the first steps train only the critics (G stands still)
    anchor_release: float = 0.0    # 0..1: how far the anchor lets go where expressions show
    rec_focus: float = 0.0         # extra weight of the reconstruction where expressions show
    focus_on: str = ""             # those expressions (comma-separated names; "": all four)
    rec_blur: float = 0.0          # > 0: that extra weight compares images blurred by this (px)
    w_cf: float = 0.0              # weight of the counterfactual: G's change = the renderer's
    frame_focus: float = 0.0       # extra weight of the reconstruction where *this frame's*
                                   # focus expressions show (from its counterfactual render)


def _warm_start(tensors: dict[str, torch.Tensor], init: dict
                ) -> tuple[CGANConfig, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """``(config, G's weights, E's weights)`` from a CVAE (its decoder becomes G, its encoder
    E) or from a cGAN with an encoder (its own G and E: a trained cGAN continued with a new
    anchor, which is then that generator)."""
    arch = init.get("architecture")
    if arch == "cvae":
        vcfg = CVAEConfig.from_dict(init["model"])
        cfg = CGANConfig(attr_dim=vcfg.attr_dim, size=vcfg.size, z_dim=vcfg.latent,
                         gen_widths=vcfg.dec_widths, disc_widths=vcfg.enc_widths,
                         with_encoder=True, enc_hidden=vcfg.hidden)
        g_prefix, e_prefix = "decoder.", "encoder."
    elif arch == "cgan" and init["model"].get("with_encoder"):
        cfg = CGANConfig.from_dict(init["model"])
        g_prefix, e_prefix = "generator.net.", "encoder."
    else:
        raise ValueError(f"init_from must be a CVAE or a cGAN with an encoder, got {arch!r}")

    def part(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix):]: v.float() for k, v in tensors.items() if k.startswith(prefix)}
    return cfg, part(g_prefix), part(e_prefix)


def focused_l1(x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """L1 of (B, C, S, S) images with each pixel weighed by ``weight`` (1 or B, 1, S, S), scaled by
    the weights' mean: the same total as plain L1, moved towards the heavy pixels."""
    return ((x - y).abs() * weight).mean() / weight.mean()


def blurred_focus_l1(x: torch.Tensor, y: torch.Tensor, region: torch.Tensor, k: float,
                     sigma: float) -> torch.Tensor:
    """:func:`focused_l1` with weight ``1 + k * region`` (region (1, 1, S, S)), except that the
    extra ``k * region`` part compares ``x`` and ``y`` (B, C, S, S) blurred by a Gaussian of
    ``sigma`` px.  Plain L1 asks a thin line to be drawn exactly where it is or not at all
    (drawn 1 px off it costs twice); blurred, a line near its place costs less than none."""
    bx, by = gaussian_blur(x, sigma), gaussian_blur(y, sigma)              # (B, C, S', S')
    r = crop_like(region, bx)                                              # (1, 1, S', S')
    extra = ((bx - by).abs() * r).mean() * r.numel() / region.numel()      # over S x S
    return ((x - y).abs().mean() + k * extra) / (1 + k * region.mean())


def frame_region(x: torch.Tensor, x_cf: torch.Tensor, scale: float = 0.1) -> torch.Tensor:
    """``(B, 1, S, S)`` in [0, 1]: where frames ``x`` (B, C, S, S) and their counterfactuals
    ``x_cf`` (the same faces with one expression redrawn) differ, 1 from a change of ``scale``
    up.  Unlike :func:`~deepfake_lab.data.expression_region.expression_region`, a prior over
    all faces, this is the very pixels of each frame: a frown's two creases, not the mouth's
    neighbourhood."""
    return ((x - x_cf).abs().amax(1, keepdim=True) / scale).clamp(max=1)


def counterfactual_loss(out: torch.Tensor, out_cf: torch.Tensor, x: torch.Tensor,
                        x_cf: torch.Tensor) -> torch.Tensor:
    """How far the generator's change between two outputs (B, C, S, S) is from the renderer's
    change between the two frames they should be, relative to the size of that change::

        |(out - out_cf) - (x - x_cf)|.mean() / |x - x_cf|.mean()      # 1: no change drawn

    Whatever both outputs get wrong alike (the hair, the background) cancels; what is left is
    the expression's own pixels."""
    want = x - x_cf
    return ((out - out_cf) - want).abs().mean() / want.abs().mean().clamp(min=1e-6)


class CGANTraining(Recipe):
    """Recipe for :class:`~deepfake_lab.models.cgan.CGAN` on SynthFaces."""

    arch = "cgan"

    def __init__(self, cfg: CGANConfig | None = None, recipe: CGANRecipe | None = None) -> None:
        self.hp = recipe or CGANRecipe()
        torch.manual_seed(self.hp.seed)
        init = None
        if self.hp.init_from:
            from ..registry import resolve  # a bundled name, a checkpoint or a run directory

            tensors, init = load_checkpoint(resolve(self.hp.init_from)[1], kind="model",
                                            schema=SCHEMA)
            cfg, generator, encoder = _warm_start(tensors, init)
        self.cfg = cfg or CGANConfig(attr_dim=SCHEMA.dim)
        self.model = CGAN(self.cfg)
        if init is not None:
            self.model.generator.net.load_state_dict(generator)
            self.model.encoder.load_state_dict(encoder)
        if self.model.encoder is not None:
            self.model.encoder.requires_grad_(False).eval()
        self.anchor: nn.Module | None = None
        if self.hp.w_anchor > 0:
            if init is None:
                raise ValueError("the anchor is the CVAE the generator is warm-started from: "
                                 "give --init-from (also when resuming)")
            # T: the generator as warm-started, frozen (saved in the training state).
            self.anchor = copy.deepcopy(self.model.generator).requires_grad_(False).eval()
        if self.hp.w_adv < 0 or self.hp.d_warmup < 0 or (self.hp.d_warmup and not self.hp.w_adv):
            raise ValueError("w_adv must be >= 0 and d_warmup >= 0 (and 0 without critics), got "
                             f"{self.hp.w_adv} and {self.hp.d_warmup}")
        self.nets = {"G": self.model.generator, "D": self.model.discriminator}
        self.optimizers = {
            "G": torch.optim.Adam(self.model.generator.parameters(), self.hp.lr_g, (0.5, 0.999)),
            "D": torch.optim.Adam(self.model.discriminator.parameters(), self.hp.lr_d,
                                  (0.5, 0.999))}
        self.detail: DetailCritic | None = None
        if self.hp.w_detail > 0:
            # C: a patch critic of the finest detail (saved in the training state).
            self.detail = DetailCritic()
            self.nets["C"] = self.detail
            self.optimizers["C"] = torch.optim.Adam(self.detail.parameters(), self.hp.lr_d,
                                                    (0.5, 0.999))
        self.ema: WeightEMA | None = None
        if self.hp.ema > 0:
            # the exported generator: an average of the live one (saved in the training state)
            self.ema = WeightEMA(self.model.generator, self.hp.ema)
        # Where expressions show (1) and where they do not (0): the anchor lets go there by
        # ``anchor_release`` and the reconstruction counts ``1 + rec_focus`` times (S, S).
        self.region: torch.Tensor | None = None
        if ((self.hp.w_cf or self.hp.frame_focus)
                and not (self.model.encoder is not None and self.hp.w_rec > 0)):
            raise ValueError("w_cf and frame_focus weigh reconstructions: each needs an "
                             "encoder and w_rec > 0")
        if self.hp.frame_focus < 0 or (self.hp.frame_focus and self.hp.rec_focus):
            raise ValueError("frame_focus must be >= 0 and replaces rec_focus's map (give one), "
                             f"got {self.hp.frame_focus} and {self.hp.rec_focus}")
        # The expressions ``focus_on`` names (all four when empty), checked.
        self.focus_names = expression_names(tuple(n.strip() for n in self.hp.focus_on.split(",")
                                                  if n.strip()))
        if self.hp.anchor_release or self.hp.rec_focus:
            if (not 0 <= self.hp.anchor_release <= 1 or self.hp.rec_focus < 0
                    or (self.hp.rec_blur and not self.hp.rec_focus)):
                raise ValueError("anchor_release must be in [0, 1], rec_focus >= 0 and rec_blur "
                                 f"needs rec_focus, got {self.hp.anchor_release}, "
                                 f"{self.hp.rec_focus} and {self.hp.rec_blur}")
            self.region = expression_region(self.cfg.size, attributes=self.focus_names)
        self.generators = {"z": torch.Generator().manual_seed(self.hp.seed + 1)}
        self.people, self.train_idx, self.test_idx = synthfaces_population()
        self.reader = reader_for(self.hp)

    def training_nets(self) -> dict[str, nn.Module]:
        nets = {"anchor": self.anchor, "detail": self.detail, "ema": self.ema}
        return {k: v for k, v in nets.items() if v is not None}

    def batches(self, start: int, rank: int, world_size: int) -> Iterator[dict]:
        stream = SynthFacesStream(self.people, self.train_idx, batch_size=self.hp.batch,
                                  size=self.cfg.size, seed=self.hp.seed, rank=rank,
                                  world_size=world_size, device=self.render_device,
                                  counterfactual=self.focus_names
                                  if self.hp.w_cf or self.hp.frame_focus else ())
        return stream.batches(start)

    def _latent(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        if self.model.encoder is not None:
            with torch.no_grad():
                return self.model.encoder(x, a)[0]
        return torch.randn(len(x), self.cfg.z_dim, generator=self.generators["z"]).to(x)

    def training_step(self, batch: dict, step: int) -> dict[str, torch.Tensor]:
        x = batch["image"].to(self.device)                                  # (B, 3, S, S)
        a = batch["attributes"].to(self.device)                             # (B, dim)
        n = len(x)
        # Ask for swaps: each face's pose and expression, the next face's identity.
        a_fake = SCHEMA.with_identity(a, a[:, SCHEMA.identity_slice].roll(1, dims=0))
        z = self._latent(x, a)                                              # (B, z)
        G, D, opt_g = self.nets["G"], self.nets["D"], self.optimizers["G"]

        # ---- 1. discriminator step (none when w_adv is 0) --------------------------------
        extra = {}
        if self.hp.w_adv > 0:
            extra = self._critic_steps(x, a, z, a_fake)
        if step < self.hp.d_warmup:   # the critics learn the generator before it moves
            return extra

        # ---- 2. generator step ---------------------------------------------------------
        use_rec = self.model.encoder is not None and self.hp.w_rec > 0
        with self.autocast():
            if use_rec and self.hp.w_cf:   # ... and the frame with one expression redrawn
                a_cf = batch["attributes_cf"].to(self.device)
                out = G(torch.cat([z, z, z]), torch.cat([a_fake, a, a_cf])).float()
                fake, rec, rec_cf = out.split(n)
            elif use_rec:   # one G call for the swap and the reconstruction
                out = G(torch.cat([z, z]), torch.cat([a_fake, a])).float()
                fake, rec = out.split(n)
            else:
                fake, rec = G(z, a_fake).float(), None
            loss_g = torch.zeros((), device=x.device)
            if self.hp.w_adv > 0:   # fool the critic, and show it the asked attributes
                logit, a_hat = D(fake, a_fake)
                g_adv = -logit.float().mean()
                g_aux = F.smooth_l1_loss(a_hat.float(), a_fake, beta=0.05)
                loss_g = self.hp.w_adv * (g_adv + self.hp.w_aux * g_aux)
                extra["g_aux"] = g_aux.detach()
            if rec is None:
                g_rec = torch.zeros((), device=x.device)
            elif self.hp.frame_focus:   # the pixels where this frame's expression shows
                g_rec = focused_l1(rec, x, 1 + self.hp.frame_focus * frame_region(
                    x, batch["image_cf"].to(self.device)))
            elif self.hp.rec_blur:    # ... compared blurred there: a line 1 px off counts
                g_rec = blurred_focus_l1(rec, x, self.region.to(x.device), self.hp.rec_focus,
                                         self.hp.rec_blur)
            elif self.hp.rec_focus:   # the pixels where expressions show count 1 + K times
                g_rec = focused_l1(rec, x, 1 + self.hp.rec_focus * self.region.to(x.device))
            else:
                g_rec = F.l1_loss(rec, x)
            loss_g = loss_g + self.hp.w_rec * g_rec
            if rec is not None and self.hp.w_cf:   # draw the change the renderer draws
                g_cf = counterfactual_loss(rec, rec_cf, x, batch["image_cf"].to(self.device))
                loss_g = loss_g + self.hp.w_cf * g_cf
                extra["g_cf"] = g_cf.detach()
            if self.detail is not None and self.hp.w_adv > 0:   # fool the detail critic too
                g_detail = -self.nets["C"](fake).float().mean()
                loss_g = loss_g + self.hp.w_adv * self.hp.w_detail * g_detail
                extra["g_detail"] = g_detail.detach()
            if self.reader is not None:   # the swap of row i shows the person of row i - 1
                with torch.no_grad():
                    r = self.reader(x)                                      # (B, dim)
                read = swap_read_loss(self.reader, fake, r, r.roll(1, dims=0),
                                      self.hp.read_identity, self.hp.read_expression)
                loss_g = loss_g + self.hp.w_read * read
                extra["read"] = read.detach()
            if self.anchor is not None:   # the swap's low frequencies stay the CVAE's swap
                s = self.hp.anchor_blur
                with torch.no_grad():
                    want = gaussian_blur(self.anchor(z, a_fake).float(), s)   # (B, 3, S', S')
                if self.hp.anchor_release:   # weaker where expressions show
                    keep = 1 - self.hp.anchor_release * self.region.to(x.device)
                    keep = crop_like(keep, want)                        # (1, 1, S', S')
                    anchor = ((gaussian_blur(fake, s) - want).abs() * keep).mean()
                else:
                    anchor = F.l1_loss(gaussian_blur(fake, s), want)
                loss_g = loss_g + self.hp.w_anchor * anchor
                extra["anchor"] = anchor.detach()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        torch.nn.utils.clip_grad_norm_(self.model.generator.parameters(), self.hp.clip)
        opt_g.step()
        if self.ema is not None:   # the average follows the live generator
            self.ema.update(self.model.generator)
        return {"loss_g": loss_g.detach(), "g_rec": g_rec.detach(), **extra}

    def _critic_steps(self, x: torch.Tensor, a: torch.Tensor, z: torch.Tensor,
                      a_fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """Step 1: the discriminator (and the detail critic) learn from real ``x`` (B, 3, S, S)
        with ``a`` and the generator's swaps ``G(z, a_fake)``, the generator frozen."""
        n = len(x)
        G, D, opt_d = self.nets["G"], self.nets["D"], self.optimizers["D"]
        with torch.no_grad(), self.autocast():
            fake = G(z, a_fake).float()
        with self.autocast():
            logits, a_hat = D(torch.cat([x, fake]), torch.cat([a, a_fake]))
            d_real, d_fake = logits.float().split(n)
            d_adv = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
            d_aux = F.smooth_l1_loss(a_hat[:n].float(), a, beta=0.05)
            loss_d = d_adv + self.hp.w_aux * d_aux
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        torch.nn.utils.clip_grad_norm_(self.model.discriminator.parameters(), self.hp.clip)
        opt_d.step()
        extra = {"loss_d": loss_d.detach(), "d_real": d_real.detach().mean(),
                 "d_fake": d_fake.detach().mean()}
        if self.detail is not None:   # the detail critic's own step, on the same images
            with self.autocast():
                c_real, c_fake = self.nets["C"](torch.cat([x, fake])).float().split(n)
                loss_c = F.relu(1 - c_real).mean() + F.relu(1 + c_fake).mean()
            opt_c = self.optimizers["C"]
            opt_c.zero_grad(set_to_none=True)
            loss_c.backward()
            torch.nn.utils.clip_grad_norm_(self.detail.parameters(), self.hp.clip)
            opt_c.step()
            extra["loss_c"] = loss_c.detach()
        return extra

    @torch.no_grad()
    def preview(self) -> tuple[torch.Tensor, int]:
        """Rows: held-out sources, swaps (inverted z), prior samples, ground-truth swaps."""
        b = next(swap_pairs(self.people, self.test_idx, batch_size=8, size=self.cfg.size,
                            seed=1234, n_batches=1))
        live = self.model.generator.eval()
        G = self.ema.net if self.ema is not None else live   # what the saved model generates with
        x, a_s, a_t = (b[k].to(self.device) for k in ("source_image", "source_attributes",
                                                      "target_attributes"))
        z_prior = torch.randn(8, self.cfg.z_dim, generator=torch.Generator().manual_seed(0))
        z_prior = z_prior.to(self.device)
        if self.model.encoder is not None:
            swap = G(self.model.invert(x, a_s), a_t)
        else:
            swap = G(z_prior, a_t)
        sample = G(z_prior, a_t)
        live.train()
        return torch.cat([x, swap, sample, b["target_image"].to(self.device)]).cpu(), 8

    def config(self) -> dict:
        return {"kind": "model", "architecture": "cgan", "model": self.cfg.to_dict(),
                "schema": SCHEMA.to_json(), "data": "synthfaces", "recipe": asdict(self.hp),
                "discriminator_included": False}

    def inference_state(self) -> dict[str, torch.Tensor]:
        """Generator and encoder only: the discriminator is not needed to generate.  With
        ``ema`` the generator's weights are the average's (the live ones are in the state)."""
        state = {k: v for k, v in self.model.state_dict().items()
                 if not k.startswith("discriminator.")}
        if self.ema is not None:
            state.update({f"generator.{k}": v for k, v in self.ema.net.state_dict().items()})
        return state
