"""Datasets over SynthFaces: identity splits, map-style items, the stream, swap pairs."""

import pytest
import torch
from torch.utils.data import DataLoader

from deepfake_lab.data import synthfaces as sf
from deepfake_lab.data.synth_datasets import (
    SynthFacesDataset,
    SynthFacesStream,
    split_identities,
    swap_pairs,
)

POP = sf.sample_identities(40, seed=3)


def test_splits_are_disjoint_and_cover_everyone():
    """No identity appears in two splits; together they are the whole population."""
    s = split_identities(40, n_test=10, n_val=5, seed=1)
    tr, va, te = set(s.train.tolist()), set(s.val.tolist()), set(s.test.tolist())
    assert not (tr & va or tr & te or va & te)
    assert tr | va | te == set(range(40))
    assert (len(te), len(va), len(tr)) == (10, 5, 25)
    assert torch.equal(split_identities(40, n_test=10, n_val=5, seed=1).test, s.test)


def test_split_refuses_impossible_holdout():
    with pytest.raises(ValueError, match="at least one must remain"):
        split_identities(10, n_test=10)


def test_dataset_items_are_labelled_and_reproducible():
    """Item i is always the same image; its identity block is the table row it names."""
    ds = SynthFacesDataset(POP, torch.tensor([4, 7]), samples_per_identity=3, size=32, seed=5)
    assert len(ds) == 6
    a, b = ds[4], ds[4]
    assert a["image"].shape == (3, 32, 32) and a["attributes"].shape == (sf.SCHEMA.dim,)
    assert torch.equal(a["image"], b["image"])
    assert int(a["identity"]) == 7  # items 3..5 belong to the second identity
    assert torch.equal(a["attributes"][sf.SCHEMA.identity_slice], POP[7])
    assert not torch.equal(ds[3]["image"], ds[4]["image"])  # other pose/expression/scene


def test_dataloader_batches_equal_single_items():
    """The batched fetch path (__getitems__) returns exactly the single-item results."""
    ds = SynthFacesDataset(POP, samples_per_identity=2, size=32, seed=0)
    batch = next(iter(DataLoader(ds, batch_size=4, shuffle=False)))
    assert batch["image"].shape == (4, 3, 32, 32)
    for i in range(4):
        assert torch.allclose(batch["image"][i], ds[i]["image"], atol=1e-6)
        assert int(batch["identity"][i]) == int(ds[i]["identity"])


def test_stream_is_endless_deterministic_and_sharded():
    """Same seed -> same batches; two ranks see different data from the same identities."""
    idx = torch.tensor([1, 2, 3])
    s0 = SynthFacesStream(POP, idx, batch_size=4, size=32, seed=9, rank=0, world_size=2)
    s1 = SynthFacesStream(POP, idx, batch_size=4, size=32, seed=9, rank=1, world_size=2)
    a, b = next(iter(s0)), next(iter(s0))
    assert torch.equal(a["image"], b["image"])
    c = next(iter(s1))
    assert not torch.equal(a["image"], c["image"])
    assert set(a["identity"].tolist()) <= {1, 2, 3}
    it = s0.batches(start=2)  # resume by batch count
    third = next(it)
    it0 = s0.batches()
    next(it0), next(it0)
    assert torch.equal(next(it0)["image"], third["image"])


def test_swap_pair_ground_truth_is_a_direct_render():
    """The ground-truth swap equals rendering the target identity with the source's pose,
    expression and scene; source and target are different people."""
    batch = next(swap_pairs(POP, torch.arange(10), batch_size=6, size=48, seed=2))
    assert (batch["source_identity"] != batch["target_identity"]).all()
    tgt = batch["target_attributes"]
    S = sf.SCHEMA
    assert torch.equal(tgt[:, S.identity_slice], POP[batch["target_identity"]])
    assert torch.equal(tgt[:, S.pose_slice], batch["source_attributes"][:, S.pose_slice])
    assert torch.equal(tgt[:, S.expression_slice],
                       batch["source_attributes"][:, S.expression_slice])
    direct = sf.render(tgt, size=48, scene=batch["scene"])
    assert torch.allclose(direct, batch["target_image"], atol=1e-6)
    src = sf.render(batch["source_attributes"], size=48, scene=batch["scene"])
    assert torch.allclose(src, batch["source_image"], atol=1e-6)
    assert (batch["target_image"] - batch["source_image"]).abs().mean() > 0.02


def test_unknown_scene_kind_is_refused_early():
    """A typo in the scene kind fails at construction, not as silently neutral scenes."""
    with pytest.raises(ValueError, match="'random' or 'neutral'"):
        SynthFacesDataset(POP, scene="sunny")
    with pytest.raises(ValueError, match="'random' or 'neutral'"):
        SynthFacesStream(POP, scene="sunny")
    with pytest.raises(ValueError, match="'random' or 'neutral'"):
        next(swap_pairs(POP, scene="sunny"))
