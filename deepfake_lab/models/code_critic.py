"""A code critic: who was this code encoded from?  (DeepFaceLab's "true face" power.)

The two-decoder model's weak spot is the swap itself.  Each decoder only ever reconstructs
its own person, so it only ever sees the codes the shared encoder gives *that* person's
frames.  If the encoder files the two people's codes in different regions - and nothing
stops it, identity is the easiest thing to encode - then ``decoder_B(encoder(x_A))`` is
asked to decode a code from a region it has never seen, and paints a blurry, uncertain face
that the identity judge often takes for a third person.

The critic is a small MLP that tries to tell from a code whose frame it came from; the
encoder is trained to leave it guessing (a cross-entropy towards the uniform guess, the
"domain confusion" loss).  With the two people's codes drawn from one distribution, every
code a swap produces is one the target's decoder has trained on, and identity has to come
from the decoder, where it belongs::

    codes c_k = encoder.code(warped_k)                          # (B, code_dim) per person k
    critic step:   CE(critic(c.detach()), k)                    # learn to tell people apart
    encoder loss:  + w_code * CE(critic(c), uniform)            # leave it at 1/P each

It assumes the two people show the same range of poses and expressions.  One distribution of
codes for both is also one distribution of poses: where one person's footage never turns
(the bundled real pair's man), the critic pulls pose out of the code and swaps follow the
source's head less (measured in the model card).

Only training uses it: it lives in the training state, not in the model's checkpoint.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class CodeCritic(nn.Module):
    """(B, code_dim) codes -> (B, people) logits: which person's frame each code encodes."""

    def __init__(self, code_dim: int, people: int, hidden: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(code_dim, hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(hidden, people))

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.net(code)


def confusion_loss(logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy between the critic's guesses (B, P) and the uniform guess: ``log P``
    when the critic cannot tell, more when it can."""
    return -F.log_softmax(logits.float(), dim=1).mean()
