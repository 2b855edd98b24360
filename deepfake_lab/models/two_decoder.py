"""Architecture 1: one shared encoder, one decoder per person (deepfakes / DeepFaceLab "DF").

The original 2017 recipe.  Faces of person A and person B go through the *same* encoder into
a small code; each person has their own decoder that learns to paint that person from the
code::

    encoder:   x (B,3,S,S) --Down x4/5--> (B, C*16) --dense--> code (B, code_dim)
               --dense--> (B, C0, 4, 4)                      (DFL's "inter" block)
    decoder_k: (B, C0, 4, 4) --Up x4/5--> (B, 3, S, S)        one per person k

Because the encoder is shared, the code has to describe *what both people have in common*:
pose, expression, lighting.  A swap is the encoder of a frame of A decoded by B's decoder::

    x_A->B = decoder_B(encoder(x_A))

No attribute vector anywhere: that is both its charm (no labels needed, only two facesets)
and its limit - every new person needs a new decoder and hours of training.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from itertools import pairwise

import torch
import torch.nn as nn
import torch.nn.functional as F

from .blocks import ConvEncoder, Up, encoder_widths_for, widths_for


@dataclass(frozen=True)
class TwoDecoderConfig:
    """Sizes and people of a :class:`TwoDecoder` (saved in its checkpoint)."""

    people: tuple[str, ...] = ("a", "b")
    size: int = 64
    code_dim: int = 128
    enc_widths: tuple[int, ...] = (32, 64, 128, 192)        # 64 -> 32 -> 16 -> 8 -> 4 px
    dec_widths: tuple[int, ...] = (128, 128, 96, 64, 32)    # 4 -> 8 -> 16 -> 32 -> 64 px

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TwoDecoderConfig:
        d = dict(d)
        for k in ("people", "enc_widths", "dec_widths"):
            d[k] = tuple(d[k])
        return cls(**d)


class SharedEncoder(nn.Module):
    """(B, 3, S, S) -> (B, C0, 4, 4) through a ``code_dim`` bottleneck."""

    def __init__(self, cfg: TwoDecoderConfig) -> None:
        super().__init__()
        self.convs = ConvEncoder(cfg.size, encoder_widths_for(cfg.size, cfg.enc_widths))
        self.c0 = widths_for(cfg.size, cfg.dec_widths)[0]
        self.to_code = nn.Linear(self.convs.out_dim, cfg.code_dim)
        self.from_code = nn.Linear(cfg.code_dim, self.c0 * 16)

    def code(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> the bottleneck code (B, code_dim)."""
        return self.to_code(self.convs(x))

    def inflate(self, code: torch.Tensor) -> torch.Tensor:
        """(B, code_dim) -> (B, C0, 4, 4), what the decoders start from."""
        return F.leaky_relu(self.from_code(code), 0.2).view(len(code), self.c0, 4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inflate(self.code(x))


class PersonDecoder(nn.Module):
    """(B, C0, 4, 4) -> (B, 3, S, S): Up blocks and a tanh RGB layer, for one person."""

    def __init__(self, widths: tuple[int, ...]) -> None:
        super().__init__()
        self.ups = nn.Sequential(*(Up(a, b) for a, b in pairwise(widths)))
        self.to_rgb = nn.Sequential(nn.Conv2d(widths[-1], 3, 3, padding=1), nn.Tanh())

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.to_rgb(self.ups(h))


class TwoDecoder(nn.Module):
    """Shared encoder + ``len(people)`` decoders (two in the classic setting).

    ``forward(*batches)`` takes one batch per person, in ``cfg.people`` order, and returns
    each reconstructed by its own decoder (one call touches every parameter, which is what
    distributed training wants).  :meth:`swap` decodes with another person's decoder.
    """

    def __init__(self, cfg: TwoDecoderConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or TwoDecoderConfig()
        if len(cfg.people) < 2 or len(set(cfg.people)) != len(cfg.people):
            raise ValueError(f"need at least two distinct people, got {cfg.people}")
        self.encoder = SharedEncoder(cfg)
        widths = widths_for(cfg.size, cfg.dec_widths)
        self.decoders = nn.ModuleList(PersonDecoder(widths) for _ in cfg.people)

    def person_index(self, person: str | int) -> int:
        """Index of a person by name or index, with a clear error."""
        if isinstance(person, int) and 0 <= person < len(self.cfg.people):
            return person
        if person in self.cfg.people:
            return self.cfg.people.index(person)
        raise ValueError(f"this model knows {list(self.cfg.people)}, not {person!r}")

    def forward(self, *batches: torch.Tensor, return_codes: bool = False
                ) -> list[torch.Tensor] | tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Each batch reconstructed by its own person's decoder; with ``return_codes`` also
        each batch's bottleneck codes (B, code_dim), for a code critic."""
        if len(batches) != len(self.decoders):
            raise ValueError(f"expected {len(self.decoders)} batches, got {len(batches)}")
        codes = [self.encoder.code(x) for x in batches]
        recs = [dec(self.encoder.inflate(c)) for dec, c in zip(self.decoders, codes, strict=True)]
        return (recs, codes) if return_codes else recs

    @torch.no_grad()
    def swap(self, x: torch.Tensor, to: str | int) -> torch.Tensor:
        """Any face through the shared encoder, painted by ``to``'s decoder."""
        return self.decoders[self.person_index(to)](self.encoder(x))
