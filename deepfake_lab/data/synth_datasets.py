"""Datasets over SynthFaces: identity splits, a map-style dataset, an endless stream, swap pairs.

Three rules keep evaluation honest:

* **Split by identity.**  A model is judged on people it never saw; :func:`split_identities`
  partitions a population so that no identity appears in two splits.
* **Everything is a function of a seed.**  Item ``i`` of a dataset is always the same image
  (its pose, expression and scene are drawn from ``(seed, i)``), so runs are reproducible
  and a DataLoader with any number of workers returns the same data.
* **Ground-truth swaps are for evaluation only.**  :func:`swap_pairs` renders the exact answer
  of a swap (target identity, source pose / expression / lighting / background).  Training
  code uses :class:`SynthFacesDataset` or :class:`SynthFacesStream`, as the real-data setting
  allows; the pairs exist to *score* swaps.

Every item / batch is a dict: ``image`` ``(3, S, S)`` in [-1, 1], ``attributes`` ``(dim,)``
normalised, ``identity`` (an integer index into the identity table).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch.utils.data import Dataset, IterableDataset

from .synthfaces import SCHEMA, Scene, render, sample_identities, sample_pose_expression


@dataclass(frozen=True)
class IdentitySplit:
    """Disjoint index sets into one identity table."""

    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor

    def __getitem__(self, name: str) -> torch.Tensor:
        if name not in ("train", "val", "test"):
            raise KeyError(f"unknown split {name!r}; use 'train', 'val' or 'test'")
        return getattr(self, name)


def split_identities(n_identities: int, *, n_test: int = 50, n_val: int = 0,
                     seed: int = 0) -> IdentitySplit:
    """Randomly partition ``range(n_identities)`` into train / val / test by identity."""
    if n_test < 0 or n_val < 0 or n_test + n_val >= n_identities:
        raise ValueError(f"cannot hold out {n_test} test + {n_val} val identities from "
                         f"{n_identities}: at least one must remain for training")
    perm = torch.randperm(n_identities, generator=torch.Generator().manual_seed(seed))
    test, val, train = perm[:n_test], perm[n_test:n_test + n_val], perm[n_test + n_val:]
    return IdentitySplit(train=train.sort().values, val=val.sort().values,
                         test=test.sort().values)


def _item_generator(seed: int, index: int) -> torch.Generator:
    # A distinct, reproducible stream per (seed, item); 2**31 - 1 is prime.
    return torch.Generator().manual_seed((int(seed) * 2_147_483_647 + int(index)) % (2**63))


def _check_scene(kind: str) -> str:
    if kind not in ("random", "neutral"):
        raise ValueError(f"scene must be 'random' or 'neutral', not {kind!r}")
    return kind


def draw_scene(kind: str, n: int, g: torch.Generator) -> Scene:
    """``n`` random scenes drawn from ``g``, or ``n`` neutral ones."""
    return Scene.sample(n, g) if _check_scene(kind) == "random" else Scene.neutral(n)


def _render_items(identities: torch.Tensor, rows: torch.Tensor, seeds: list[torch.Generator],
                  size: int, scene: str) -> dict[str, torch.Tensor]:
    """Draw pose/expression (and a scene) for each row from its generator; render in one go."""
    pe = torch.cat([sample_pose_expression(1, g) for g in seeds])
    scn = Scene.cat([draw_scene(scene, 1, g) for g in seeds])
    attrs = torch.cat([identities[rows], pe], dim=1)
    return {"image": render(attrs, size=size, scene=scn), "attributes": attrs,
            "identity": rows.long()}


class SynthFacesDataset(Dataset):
    """Map-style dataset: ``samples_per_identity`` random views of each chosen identity.

    Args:
        identities: identity table ``(N, n_identity)``, normalised (``sample_identities``).
        indices: which rows of the table to use (e.g. ``split.train``); default all.
        samples_per_identity: views per person; ``len = len(indices) * samples_per_identity``.
        size: image side in pixels.
        seed: item ``i`` is drawn from ``(seed, i)``.
        scene: ``"random"`` lighting/background per item, or ``"neutral"``.

    ``identity`` in each item is the row of the *table*, so labels agree across splits.
    A DataLoader fetches whole batches through :meth:`__getitems__` (one render call).
    """

    def __init__(self, identities: torch.Tensor, indices: torch.Tensor | None = None, *,
                 samples_per_identity: int = 100, size: int = 64, seed: int = 0,
                 scene: str = "random") -> None:
        if identities.dim() != 2 or identities.shape[1] != len(SCHEMA.identity):
            raise ValueError(f"identities must be (N, {len(SCHEMA.identity)}), got "
                             f"{tuple(identities.shape)}")
        self.identities = identities.float()
        self.indices = (torch.arange(len(identities)) if indices is None
                        else torch.as_tensor(indices).long())
        if len(self.indices) == 0:
            raise ValueError("SynthFacesDataset needs at least one identity")
        if samples_per_identity < 1:
            raise ValueError("samples_per_identity must be >= 1")
        self.samples_per_identity = int(samples_per_identity)
        self.size, self.seed, self.scene = int(size), int(seed), _check_scene(scene)

    def __len__(self) -> int:
        return len(self.indices) * self.samples_per_identity

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.__getitems__([i])[0]

    def __getitems__(self, items: list[int]) -> list[dict[str, torch.Tensor]]:
        n = len(self)
        for i in items:
            if not -n <= i < n:
                raise IndexError(f"index {i} out of range for a dataset of {n} items")
        items = [i % n for i in items]
        rows = self.indices[torch.tensor(items) // self.samples_per_identity]
        batch = _render_items(self.identities, rows,
                              [_item_generator(self.seed, i) for i in items],
                              self.size, self.scene)
        return [{k: v[j] for k, v in batch.items()} for j in range(len(items))]


def render_device_for(training: torch.device) -> torch.device | None:
    """Where a trainer on ``training`` renders its SynthFaces batches: on the GPU itself when
    training there (the CPU could not keep up), else ``None``: the CPU."""
    return training if training.type == "cuda" else None


class SynthFacesStream(IterableDataset):
    """An endless stream of rendered training batches (no epochs, no repeats).

    Each yielded dict holds a whole batch: ``image (B, 3, S, S)``, ``attributes (B, dim)``,
    ``identity (B,)``.  ``rank`` / ``world_size`` give each distributed process its own
    shard of the random stream (and DataLoader workers split it further).  ``device``
    renders the images there (a GPU trainer's own device); the random draws stay on the
    CPU, so the attributes of batch ``k`` do not depend on where it is rendered.
    """

    def __init__(self, identities: torch.Tensor, indices: torch.Tensor | None = None, *,
                 batch_size: int = 64, size: int = 64, seed: int = 0, scene: str = "random",
                 rank: int = 0, world_size: int = 1,
                 device: torch.device | str | None = None,
                 counterfactual: tuple[str, ...] = ()) -> None:
        self.identities = identities.float()
        self.indices = (torch.arange(len(identities)) if indices is None
                        else torch.as_tensor(indices).long())
        if len(self.indices) == 0:
            raise ValueError("SynthFacesStream needs at least one identity")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, world_size={world_size})")
        self.batch_size, self.size, self.seed = batch_size, size, seed
        self.scene = _check_scene(scene)
        self.rank, self.world_size = rank, world_size
        self.device = device
        # Expression attributes of which one per face is redrawn for ``image_cf``.
        self.counterfactual = tuple(SCHEMA.index(name) for name in counterfactual)

    def batches(self, start: int = 0) -> Iterator[dict[str, torch.Tensor]]:
        """Batches ``start, start+1, ...`` of this rank's shard (resumable by count)."""
        info = torch.utils.data.get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        shard, n_shards = self.rank * nw + wid, self.world_size * nw
        step = start
        while True:
            g = _item_generator(self.seed, step * n_shards + shard)
            pick = torch.randint(len(self.indices), (self.batch_size,), generator=g)
            rows = self.indices[pick]
            pe = sample_pose_expression(self.batch_size, g)
            scn = draw_scene(self.scene, self.batch_size, g)
            attrs = torch.cat([self.identities[rows], pe], dim=1)
            batch = {"image": render(attrs, size=self.size, scene=scn, device=self.device),
                     "attributes": attrs, "identity": rows}
            if self.counterfactual:   # the same faces and scenes, one expression redrawn
                face = torch.arange(self.batch_size)
                col = torch.tensor(self.counterfactual)[
                    torch.randint(len(self.counterfactual), (self.batch_size,), generator=g)]
                redrawn = torch.cat([self.identities[rows],
                                     sample_pose_expression(self.batch_size, g)], dim=1)
                cf = attrs.clone()
                cf[face, col] = redrawn[face, col]
                batch["attributes_cf"] = cf
                batch["image_cf"] = render(cf, size=self.size, scene=scn, device=self.device)
            yield batch
            step += 1

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        return self.batches()


def swap_pairs(identities: torch.Tensor, indices: torch.Tensor | None = None, *,
               batch_size: int = 32, size: int = 64, seed: int = 0, scene: str = "random",
               n_batches: int | None = None) -> Iterator[dict[str, torch.Tensor]]:
    """Swap problems with their exact answers, for evaluation.

    Each batch: ``source_image``, ``source_attributes``, ``source_identity`` (a person at some
    pose / expression / scene), ``target_identity`` (another person of the same pool),
    ``target_attributes`` (the source vector with the target's identity block) and
    ``target_image`` - the ground truth: the target person rendered with the source's pose,
    expression, lighting and background; ``scene`` is the shared :class:`Scene`.
    ``n_batches=None`` means endless.
    """
    idx = torch.arange(len(identities)) if indices is None else torch.as_tensor(indices).long()
    if len(idx) < 2:
        raise ValueError("swap pairs need at least two identities")
    _check_scene(scene)
    b = 0
    while n_batches is None or b < n_batches:
        g = _item_generator(seed, b)
        src = idx[torch.randint(len(idx), (batch_size,), generator=g)]
        # A different person: shift by 1..len-1 positions within the pool.
        pos = (idx[:, None] == src[None]).int().argmax(0)
        shift = torch.randint(1, len(idx), (batch_size,), generator=g)
        tgt = idx[(pos + shift) % len(idx)]
        pe = sample_pose_expression(batch_size, g)
        scn = draw_scene(scene, batch_size, g)
        src_attrs = torch.cat([identities[src], pe], dim=1)
        tgt_attrs = SCHEMA.with_identity(src_attrs, identities[tgt])
        images = render(torch.cat([src_attrs, tgt_attrs]), size=size,
                        scene=Scene.cat([scn, scn]))
        yield {
            "source_image": images[:batch_size], "source_attributes": src_attrs,
            "source_identity": src, "target_identity": tgt,
            "target_attributes": tgt_attrs, "target_image": images[batch_size:],
            "scene": scn,
        }
        b += 1


# The population every SynthFaces network (judges and models) learns from; 50 are held out.
POPULATION = 4050
POPULATION_SEED = 0
N_HELD_OUT = 50


def synthfaces_population() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(identities (N, 15), train_indices, held_out_indices)`` shared by judges and models.

    Everything trained on SynthFaces draws people from ``train_indices``; every quality figure
    is measured on the ``held_out_indices`` people, whom no network ever saw.
    """
    people = sample_identities(POPULATION, POPULATION_SEED)
    split = split_identities(POPULATION, n_test=N_HELD_OUT, seed=POPULATION_SEED)
    return people, split.train, split.test
