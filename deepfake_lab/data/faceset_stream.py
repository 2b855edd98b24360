"""Training batches from real facesets: the real-data twin of ``SynthFacesStream``.

A faceset (``deepfake-lab extract``) is aligned crops + one record per face with the pose and
expression the estimator read from the *frame*.  To train on it we need, per face:

* the crop, resized to the model's size, as a float tensor in [-1, 1];
* its attribute vector in a **learned-identity schema** - one weight per person (here, per
  faceset), then pose and expression exactly as SynthFaces names them.

One subtlety: alignment rotates the frame so that the eyes are level, so the roll the model
sees in a crop is not the frame's roll.  :func:`pose_in_crop` applies the alignment's rotation
(``roll_crop = roll_frame + angle(matrix)``); yaw and pitch are unchanged by a rotation in the
image plane.  Whatever feeds a real-face model at inference (the video pipeline, the studio)
uses the same function.

Augmentation: a horizontal mirror with ``yaw -> -yaw`` and ``roll -> -roll`` (the schema's
conventions make a mirrored face a valid face with mirrored pose), which doubles the poses a
short clip shows.  Each faceset keeps its **last** ``held_out`` fraction of faces (in frame
order, one contiguous block, so neighbouring frames do not leak) out of training, for
evaluation.

    facesets = load_facesets(["woman", "man"])        # bundled names or folders
    schema   = learned_identity_schema(["woman", "man"])
    data     = FacesetTensors.build(facesets, size=64, schema=schema)
    for batch in FacesetStream(data.train(), batch_size=32, seed=0).batches():
        batch["image"]       # (32, 3, 64, 64) in [-1, 1]
        batch["attributes"]  # (32, schema.dim) normalised
        batch["identity"]    # (32,) index of the faceset
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..attributes import EXPRESSION, MIRROR_NEGATED, POSE, AttributeSchema
from .facesets import Faceset

HELD_OUT = 0.15  # fraction of each faceset (its last frames) kept out of training


def load_facesets(names: Sequence[str]) -> list[Faceset]:
    """Facesets by bundled sample name (``woman``, ``man``, ``carphone``) or by folder."""
    from ..samples import FACESETS, sample_faceset

    out = []
    for name in names:
        out.append(sample_faceset(name) if name in FACESETS and not Path(name).is_dir()
                   else Faceset(name))
    return out


def faceset_name(fs: Faceset) -> str:
    """The person's name a faceset stands for: its folder name."""
    return fs.path.name


def pose_in_crop(pose: dict[str, float], matrix: Sequence[Sequence[float]]) -> dict[str, float]:
    """Frame pose -> pose as seen in the aligned crop made by the 2x3 similarity ``matrix``.

    The alignment rotates the image plane by ``angle = atan2(m10, m00)`` (y points down, so a
    positive angle turns content clockwise, the schema's positive roll); yaw and pitch stay.
    """
    angle = math.degrees(math.atan2(matrix[1][0], matrix[0][0]))
    roll = (pose["roll"] + angle + 180.0) % 360.0 - 180.0
    return {**pose, "roll": roll}


@dataclass
class FacesetTensors:
    """All faces of some facesets in memory: ``images (N, 3, S, S)``, ``attributes (N, dim)``,
    ``identity (N,)`` and ``held_out (N,)`` (True for the evaluation block)."""

    images: torch.Tensor
    attributes: torch.Tensor
    identity: torch.Tensor
    held_out: torch.Tensor
    schema: AttributeSchema
    people: tuple[str, ...]

    @classmethod
    def build(cls, facesets: Sequence[Faceset], size: int, schema: AttributeSchema,
              held_out: float = HELD_OUT) -> FacesetTensors:
        """Read, resize and label every crop (a few hundred 128 px JPEGs: ~1 s)."""
        n_people = len(schema.identity)
        if n_people != len(facesets):
            raise ValueError(f"the schema names {n_people} people but {len(facesets)} "
                             "facesets were given")
        images, attrs, who, hold = [], [], [], []
        names = [a.name for a in POSE + EXPRESSION]
        for k, fs in enumerate(facesets):
            if len(fs) == 0:
                raise ValueError(f"faceset {fs.path} holds no faces")
            cut = len(fs) - max(1, round(held_out * len(fs))) if held_out > 0 else len(fs)
            for i, rec in enumerate(fs.records):
                crop = torch.from_numpy(np.array(fs.image(i))).permute(2, 0, 1)  # (3, H, W) uint8
                images.append(crop)
                values = {**pose_in_crop(rec["pose"], rec["matrix"]), **rec["expression"]}
                attrs.append([values[n] for n in names])
                who.append(k)
                hold.append(i >= cut)
        x = torch.stack(images).float().div_(127.5).sub_(1.0)           # (N, 3, 128, 128)
        if x.shape[-1] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                              align_corners=False).clamp_(-1, 1)       # (N, 3, S, S)
        identity = torch.tensor(who)
        physical = torch.tensor(attrs, dtype=torch.float32)             # (N, 7) pose | expr
        onehot = F.one_hot(identity, len(facesets)).float()             # (N, P) weights 0/1
        ident_norm = schema.normalize(onehot, "identity")
        rest = torch.cat([schema.normalize(physical[:, :len(POSE)], "pose"),
                          schema.normalize(physical[:, len(POSE):], "expression")], 1)
        vectors = torch.cat([ident_norm, rest], 1).clamp_(-1, 1)        # (N, dim)
        return cls(x, vectors, identity, torch.tensor(hold), schema,
                   tuple(faceset_name(fs) for fs in facesets))

    def subset(self, mask: torch.Tensor) -> FacesetTensors:
        return FacesetTensors(self.images[mask], self.attributes[mask], self.identity[mask],
                              self.held_out[mask], self.schema, self.people)

    def train(self) -> FacesetTensors:
        """The faces training may use."""
        return self.subset(~self.held_out)

    def test(self) -> FacesetTensors:
        """The held-out block of every faceset (for evaluation only)."""
        return self.subset(self.held_out)

    def person(self, k: int) -> FacesetTensors:
        """The faces of person ``k`` only."""
        return self.subset(self.identity == k)

    def __len__(self) -> int:
        return len(self.images)


def mirror(images: torch.Tensor, attributes: torch.Tensor, schema: AttributeSchema
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mirror faces left-right: the image flips, the schema's ``MIRROR_NEGATED`` attributes
    (yaw and roll) change sign."""
    a = attributes.clone()
    for name in MIRROR_NEGATED:
        i = schema.index(name)
        lo, hi = schema[name].low, schema[name].high
        # Normalised value of -physical is -normalised when the range is symmetric.
        if not math.isclose(lo, -hi):
            raise ValueError(f"mirroring needs a symmetric range for {name}")
        a[:, i] = -a[:, i]
    return images.flip(-1), a


class FacesetStream:
    """An endless, seeded, rank-sharded stream of batches drawn from :class:`FacesetTensors`.

    Batch ``t`` of rank ``r`` is a pure function of ``(seed, t, r)``: resuming at ``start``
    continues exactly.  ``mirror_p`` is the probability that a face is mirrored.
    """

    def __init__(self, data: FacesetTensors, *, batch_size: int = 32, seed: int = 0,
                 mirror_p: float = 0.5, rank: int = 0, world_size: int = 1) -> None:
        if len(data) == 0:
            raise ValueError("FacesetStream needs at least one face")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
        self.data, self.batch_size, self.seed = data, batch_size, seed
        self.mirror_p, self.rank, self.world_size = mirror_p, rank, world_size

    def batches(self, start: int = 0) -> Iterator[dict[str, torch.Tensor]]:
        """Batches ``start, start+1, ...`` of this rank's shard."""
        step = start
        d = self.data
        while True:
            g = torch.Generator().manual_seed(
                (self.seed * 2_147_483_647 + step * self.world_size + self.rank) % 2**63)
            pick = torch.randint(len(d), (self.batch_size,), generator=g)
            flip = torch.rand(self.batch_size, generator=g) < self.mirror_p
            x, a = d.images[pick].clone(), d.attributes[pick].clone()
            if flip.any():
                x[flip], a[flip] = mirror(x[flip], a[flip], d.schema)
            yield {"image": x, "attributes": a, "identity": d.identity[pick]}
            step += 1

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        return self.batches()
