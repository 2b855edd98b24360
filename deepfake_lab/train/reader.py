"""An attribute reader as a training loss: "draw what you were asked, so that it reads back".

A decoder trained on pixels alone draws the *average* of small features: measured on the
bundled CVAE, its smiles came out at 0.58x the asked strength (judge slope; 0.95 on ground
truth), its eyes at 0.68x.  A smile moves a few dozen of 4,096 pixels, so L1 + DSSIM barely
notice it.  The cure used by face-swap papers (SimSwap's and FaceShifter's identity loss) is a
frozen network that reads the attribute back from the output::

    loss += w_read * judge_loss(R(x_hat), R(x))         # (B, dim) readings: identity,
                                                        # pose, expression

The output is compared with the reader's reading of the *real* image ``x``, not with the
attribute vector ``a``: a reader is itself imperfect (a short-trained one reads smiles at
about 0.8x their strength), and against ``a`` its shrinkage would ask the decoder to
exaggerate.  Reading against reading, the reader's own errors cancel.

A *swap* has no real image to be read against.  :func:`swap_read_loss` builds the reading it
should have from two real frames: the source frame's pose and expression, and the identity
read from another frame of the target person (the cGAN's batch and the two-decoder pair's
other person both have one)::

    want = [R(x_target_person)_identity | R(x_source)_pose,expression]
    loss += w_read * judge_loss(R(swap), want)          # swap_read_loss(R, swap, R(x_source),
                                                        #                R(x_target_person))

This trains the swap itself - the two-decoder recipe otherwise never sees one - the way
SimSwap's identity loss does, still without any ground-truth swap.

``judge_loss`` weighs each number by its group (``GROUP_WEIGHTS``, the judge's training
weights: identity 1, pose and expression 3).  The recipes' ``read_identity``
(``--read-identity``) sets the identity weight: a swap that must look like
its target more than it must follow the source's geometry asks for more.  Measured, it did
not help: weighted up on the pair, identity by the *judge* fell while the reader's loss fell
(the decoders learned this reader's taste); see the model card.  ``read_expression``
(``--read-expression``) sets the expression weight the same way, for a model whose smiles
lag behind the rest of what it draws; doubled or tripled on the cGAN, it changed the judged
expression no more than checkpoints differ (model card).

The reader ``R`` has the judge's architecture and is trained the same way (ground-truth
renders of the *training* people only) but with its own seed and its own, shorter schedule:
``python -m deepfake_lab.eval.judges --seed 1 --out runs/reader/reader_synthfaces``.  It is
**never the evaluation judge** - a model trained against its own examiner would learn the
examiner's quirks and its scores would mean nothing.  :func:`load_reader` refuses the bundled
judge, and face PSNR against the ground truth (no network involved) is the cross-check that
the drawn features are real.

A *mouth reader* is the same network looking only at the mouth, magnified
(``python -m deepfake_lab.eval.judges --view mouth --seed 2 --out runs/mouth/mouth_reader``;
see :class:`~deepfake_lab.eval.judges.Judge`).  Given as the reader, only its expression
numbers count: it asks for the mouth the frame shows and nothing else.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch

from ..checkpoints import CheckpointError, checkpoint_paths
from ..data.synthfaces import SCHEMA
from ..eval.judges import (
    BUNDLED_JUDGE,
    GROUP_WEIGHTS,
    Judge,
    judge_loss,
    load_judge,
    view_weights,
)


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a checkpoint's weights file (``.safetensors``), hex."""
    h = hashlib.sha256()
    with open(checkpoint_paths(path)[0], "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_reader(path: str | os.PathLike, device: str | torch.device = "cpu") -> Judge:
    """A frozen reader (judge-format checkpoint) in eval mode; refuses the evaluation judge."""
    weights = checkpoint_paths(path)[0]
    if not weights.exists():
        raise CheckpointError(f"no reader at {weights}: train one with 'python -m "
                              "deepfake_lab.eval.judges --seed 1 --out runs/reader/"
                              "reader_synthfaces'")
    if file_sha256(path) == file_sha256(BUNDLED_JUDGE):
        raise ValueError(f"{Path(path)} is the evaluation judge; a reader used as a training "
                         "loss must be a separately trained network (another seed)")
    net = load_judge(path, device=device)
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def reader_for(recipe: Any, facesets: bool = False) -> Judge | None:
    """The frozen reader a recipe's hyper-parameters ask for (``w_read``, ``reader``), or
    ``None`` when ``w_read`` is 0; records the file's SHA-256 in ``reader_sha256`` so that a
    resume with another reader is refused.  Refused when training on real ``facesets``."""
    if recipe.w_read <= 0:
        return None
    if facesets:
        raise ValueError("the attribute reader reads SynthFaces attributes; it cannot judge "
                         "real facesets (their identities are learned)")
    if not recipe.reader:
        raise ValueError("w_read > 0 needs a reader checkpoint (--reader PATH)")
    reader = load_reader(recipe.reader)
    recipe.reader_sha256 = file_sha256(recipe.reader)
    return reader


def read_loss(reader: Judge, x_hat: torch.Tensor, x: torch.Tensor,
              identity_weight: float = GROUP_WEIGHTS["identity"],
              expression_weight: float = GROUP_WEIGHTS["expression"]) -> torch.Tensor:
    """``judge_loss`` between the reader's readings of the output ``x_hat`` and of the real
    image ``x`` (both (B, 3, S, S)); ``identity_weight`` weighs each identity number,
    ``expression_weight`` each expression number (pose keeps its ``GROUP_WEIGHTS`` entry; the
    defaults are the weights the judge is trained with).  A mouth reader (``view="mouth"``)
    reads the expression numbers only: its identity and pose weigh 0.

    The reader stays in eval mode (fixed batch-norm statistics); gradients flow into
    ``x_hat`` only."""
    with torch.no_grad():
        target = reader(x.float())                      # (B, dim)
    return judge_loss(reader(x_hat.float()), target,
                      weights={"identity": identity_weight, "expression": expression_weight,
                               **view_weights(reader.view)})


def swap_read_loss(reader: Judge, swap: torch.Tensor, source_reading: torch.Tensor,
                   target_reading: torch.Tensor,
                   identity_weight: float = GROUP_WEIGHTS["identity"],
                   expression_weight: float = GROUP_WEIGHTS["expression"]) -> torch.Tensor:
    """``judge_loss`` between the reader's reading of a swap (B, 3, S, S) and the reading it
    should have: identity from ``target_reading`` (the reader's reading of another real frame
    of the person swapped to), pose and expression from ``source_reading`` (its reading of the
    frame that was swapped); both (B, dim), row i belonging to swap i.  The callers read each
    real frame once, without gradients, and pass the readings.  ``identity_weight`` and
    ``expression_weight`` as in :func:`read_loss`."""
    want = SCHEMA.with_identity(source_reading, target_reading[:, SCHEMA.identity_slice])
    return judge_loss(reader(swap.float()), want,
                      weights={"identity": identity_weight, "expression": expression_weight,
                               **view_weights(reader.view)})
