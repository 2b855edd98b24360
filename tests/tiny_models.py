"""Tiny model configs for the training tests: a few thousand parameters, one step in
milliseconds on a CPU, the same code paths as the bundled sizes."""

from __future__ import annotations

from deepfake_lab.models import CGANConfig, CVAEConfig, TwoDecoderConfig

TINY_CVAE = CVAEConfig(latent=4, enc_widths=(8, 8, 16, 16), dec_widths=(16, 16, 8, 8, 8),
                       hidden=16)
TINY_CGAN = CGANConfig(z_dim=4, gen_widths=(16, 16, 8, 8, 8), disc_widths=(8, 8, 16, 16),
                       disc_hidden=16)
TINY_TWO = TwoDecoderConfig(people=("ada", "boris"), code_dim=16, enc_widths=(8, 8, 16, 16),
                            dec_widths=(16, 16, 8, 8, 8))
