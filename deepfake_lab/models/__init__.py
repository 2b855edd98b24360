"""The three architectures of the article, one file each, and their shared blocks."""

from .cgan import CGAN, CGANConfig
from .cvae import CVAE, CVAEConfig
from .two_decoder import TwoDecoder, TwoDecoderConfig

__all__ = ["CGAN", "CGANConfig", "CVAE", "CVAEConfig", "TwoDecoder", "TwoDecoderConfig"]
