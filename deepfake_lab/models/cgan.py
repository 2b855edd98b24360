"""Architecture 3: the conditional GAN.

An autoencoder is trained to *average*: when many sharp answers fit, the pixel loss is
smallest at their blurry mean.  A GAN replaces the pixel loss with a critic.  The generator
``G(z, a)`` makes a face with attributes ``a`` from noise ``z``; the discriminator
``D(x, a)`` says whether ``x`` is a real render *with those attributes*::

    G:  [z | a] (B, z+dim) --ConditionalDecoder (FiLM)--> x_fake (B, 3, S, S)
    D:  x (B,3,S,S) --SN Down x4/5--> phi (B, F) --> logit = w.phi + <V a, phi>   (projection)
                                                 \\-> a_hat (B, dim)              (auxiliary)

* **Projection** (Miyato & Koyama 2018): the conditional part of the logit is the inner
  product of an embedding of ``a`` with the image features, so "right face, wrong
  attributes" is judged fake.
* **Spectral norm** on every layer of D keeps it 1-Lipschitz-ish, which is what keeps
  training from blowing up on two CPU cores with a large learning rate.
* **Auxiliary regressor** ``a_hat`` (AC-GAN style, trained on real renders only) gives the
  generator a direct gradient towards the attributes it was asked for.

For video the identity is chosen, pose and expression come from each driving frame and ``z``
is held fixed over the clip.  To keep a frame's own lighting and background, an optional
encoder ``E(x, a) -> z`` inverts real frames (IcGAN-style); the bundled model borrows the
CVAE's encoder for this.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

from .blocks import ConditionalDecoder, ConvEncoder, act, encoder_widths_for, widths_for
from .cvae import CVAEConfig, CVAEEncoder

SN = nn.utils.parametrizations.spectral_norm


@dataclass(frozen=True)
class CGANConfig:
    """Sizes of a :class:`CGAN` (saved in its checkpoint)."""

    attr_dim: int = 22
    size: int = 64
    z_dim: int = 16
    gen_widths: tuple[int, ...] = (192, 128, 96, 64, 32)    # same as the CVAE decoder
    disc_widths: tuple[int, ...] = (32, 64, 128, 192)
    disc_hidden: int = 256
    with_encoder: bool = True                                # E(x, a) -> z for inversion
    enc_hidden: int = 256                                    # E's MLP width (= the CVAE's)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> CGANConfig:
        d = dict(d)
        for k in ("gen_widths", "disc_widths"):
            d[k] = tuple(d[k])
        return cls(**d)

    def encoder_config(self) -> CVAEConfig:
        """The CVAE sizes whose encoder serves as ``E`` (latent = ``z_dim``)."""
        return CVAEConfig(attr_dim=self.attr_dim, size=self.size, latent=self.z_dim,
                          enc_widths=self.disc_widths, dec_widths=self.gen_widths,
                          hidden=self.enc_hidden)


class Generator(nn.Module):
    """``G(z, a) -> image``: (B, z), (B, dim) -> (B, 3, S, S)."""

    def __init__(self, cfg: CGANConfig) -> None:
        super().__init__()
        self.net = ConditionalDecoder(cfg.z_dim + cfg.attr_dim, widths_for(cfg.size,
                                                                            cfg.gen_widths))

    def forward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, a], dim=1))


class Discriminator(nn.Module):
    """``D(x, a) -> (logit (B,), a_hat (B, dim))`` with spectral norm and a projection head."""

    def __init__(self, cfg: CGANConfig) -> None:
        super().__init__()
        self.convs = ConvEncoder(cfg.size, encoder_widths_for(cfg.size, cfg.disc_widths),
                                 spectral=True)
        self.fc = nn.Sequential(SN(nn.Linear(self.convs.out_dim, cfg.disc_hidden)), act())
        self.out = SN(nn.Linear(cfg.disc_hidden, 1))                  # unconditional part
        self.embed = SN(nn.Linear(cfg.attr_dim, cfg.disc_hidden, bias=False))   # V a
        self.aux = nn.Linear(cfg.disc_hidden, cfg.attr_dim)           # attribute regressor

    def forward(self, x: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        phi = self.fc(self.convs(x))                                  # (B, F)
        logit = self.out(phi).squeeze(1) + (self.embed(a) * phi).sum(1)   # (B,)
        return logit, self.aux(phi)


class CGAN(nn.Module):
    """Generator, discriminator and the optional inversion encoder, saved together."""

    def __init__(self, cfg: CGANConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or CGANConfig()
        self.generator = Generator(cfg)
        self.discriminator = Discriminator(cfg)
        self.encoder = CVAEEncoder(cfg.encoder_config()) if cfg.with_encoder else None

    def sample_z(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` latent codes from the prior N(0, I)."""
        z = torch.randn(n, self.cfg.z_dim, generator=generator)
        return z.to(next(self.parameters()).device)

    @torch.no_grad()
    def invert(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """``E(x, a) -> z`` (the posterior mean); needs ``with_encoder``."""
        if self.encoder is None:
            raise ValueError("this cGAN has no encoder; sample z with sample_z() instead")
        return self.encoder(x, a)[0]

    @torch.no_grad()
    def swap(self, x: torch.Tensor, a_src: torch.Tensor, a_tgt: torch.Tensor) -> torch.Tensor:
        """Reenact: keep the frame's ``z`` (inverted), generate with the target attributes."""
        return self.generator(self.invert(x, a_src), a_tgt)
