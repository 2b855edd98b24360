"""Architecture 2: the conditional (variational) autoencoder.

The article's idea: give the attribute vector ``a = [identity | pose | expression]`` to both
halves of an autoencoder.  Because the decoder is *told* who, how turned and how smiling the
face is, the encoder has no reason to spend its small latent ``z`` on those - ``z`` keeps
what the attributes do not say (lighting, background, clothes).  A swap is then: encode a
frame of person A with A's attributes, decode with B's identity block::

    z        = E(x_A, a_A)                         # (B, latent)  "everything but the attributes"
    x_A->B   = D(z, a_A with identity of B)        # (B, 3, S, S)

    encoder:  x (B,3,S,S) --Down x4/5--> (B, C*16) --cat a--> MLP --> mu, logvar (B, latent)
    decoder:  [z | a] (B, latent+dim) --> ConditionalDecoder (FiLM on [z | a] everywhere)

"The encoder has no reason" only holds with a real bottleneck: with a roomy latent and a weak
KL term the encoder happily copies identity and pose into ``z`` and the decoder learns to
ignore ``a`` - reconstructions look great, swaps do nothing.  ``beta = 0`` (no KL) is the
plain deterministic conditional autoencoder that shows this failure; the training recipe in
:mod:`deepfake_lab.train.cvae` controls the KL *capacity* instead (Burgess et al. 2018).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

from .blocks import ConditionalDecoder, ConvEncoder, act, encoder_widths_for, widths_for


@dataclass(frozen=True)
class CVAEConfig:
    """Sizes of a :class:`CVAE` (saved in its checkpoint)."""

    attr_dim: int = 22
    size: int = 64
    latent: int = 16
    enc_widths: tuple[int, ...] = (32, 64, 128, 192)       # 64 -> 32 -> 16 -> 8 -> 4 px
    dec_widths: tuple[int, ...] = (192, 128, 96, 64, 32)   # 4 -> 8 -> 16 -> 32 -> 64 px
    hidden: int = 256

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> CVAEConfig:
        d = dict(d)
        for k in ("enc_widths", "dec_widths"):
            d[k] = tuple(d[k])
        return cls(**d)


class CVAEEncoder(nn.Module):
    """``(x, a) -> (mu, logvar)``: the image through convs, the attributes joined at 4x4."""

    def __init__(self, cfg: CVAEConfig) -> None:
        super().__init__()
        self.convs = ConvEncoder(cfg.size, encoder_widths_for(cfg.size, cfg.enc_widths))
        self.mlp = nn.Sequential(nn.Linear(self.convs.out_dim + cfg.attr_dim, cfg.hidden), act(),
                                 nn.Linear(cfg.hidden, 2 * cfg.latent))

    def forward(self, x: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.cat([self.convs(x), a], dim=1)       # (B, C*16 + dim)
        mu, logvar = self.mlp(h).chunk(2, dim=1)       # (B, latent) each
        return mu, logvar.clamp(-12, 6)


class CVAE(nn.Module):
    """Conditional VAE: ``forward(x, a_enc, a_dec) -> (x_hat, mu, logvar)``.

    ``a_dec`` defaults to ``a_enc`` (reconstruction); pass another identity block to swap.
    In training mode ``z`` is sampled (reparameterisation), in eval mode ``z = mu``.
    """

    def __init__(self, cfg: CVAEConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or CVAEConfig()
        self.encoder = CVAEEncoder(cfg)
        self.decoder = ConditionalDecoder(cfg.latent + cfg.attr_dim,
                                          widths_for(cfg.size, cfg.dec_widths))

    def encode(self, x: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, S, S), (B, dim) -> mu, logvar (B, latent)."""
        return self.encoder(x, a)

    def decode(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """(B, latent), (B, dim) -> image (B, 3, S, S)."""
        return self.decoder(torch.cat([z, a], dim=1))

    def forward(self, x: torch.Tensor, a_enc: torch.Tensor, a_dec: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x, a_enc)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        return self.decode(z, a_enc if a_dec is None else a_dec), mu, logvar

    @torch.no_grad()
    def swap(self, x: torch.Tensor, a_src: torch.Tensor, a_tgt: torch.Tensor) -> torch.Tensor:
        """Keep the frame's latent, decode with the target attributes (eval, ``z = mu``)."""
        mu, _ = self.encode(x, a_src)
        return self.decode(mu, a_tgt)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) in nats, summed over latent dims: (B, latent) -> (B,)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=1)
