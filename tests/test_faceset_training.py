"""Training on real facesets: labels in the learned-identity schema, crop-space roll, mirror
augmentation, held-out frames, and the two-decoder / CVAE recipes on the bundled samples."""

from __future__ import annotations

import math

import pytest
import torch
from tiny_models import TINY_CVAE

from deepfake_lab.attributes import learned_identity_schema
from deepfake_lab.data.faceset_stream import (
    FacesetStream,
    FacesetTensors,
    faceset_name,
    load_facesets,
    mirror,
    pose_in_crop,
)
from deepfake_lab.faces.align import transform_points
from deepfake_lab.faces.estimate import estimate_pose
from deepfake_lab.models import TwoDecoderConfig
from deepfake_lab.registry import load_model
from deepfake_lab.train.cvae import CVAERecipe, CVAETraining
from deepfake_lab.train.trainer import Trainer
from deepfake_lab.train.two_decoder import TwoDecoderRecipe, TwoDecoderTraining


@pytest.fixture(scope="module")
def pair() -> FacesetTensors:
    sets = load_facesets(["woman", "man"])
    return FacesetTensors.build(sets, 32, learned_identity_schema(map(faceset_name, sets)))


def test_labels_follow_the_schema(pair: FacesetTensors) -> None:
    s = pair.schema
    assert pair.people == ("woman", "man")
    assert pair.images.shape[1:] == (3, 32, 32)
    assert pair.images.min() >= -1 and pair.images.max() <= 1
    assert pair.attributes.shape == (len(pair), s.dim)
    # Identity block: one-hot of the faceset, in normalised units (1 -> +1, 0 -> -1).
    ident = s.denormalize(pair.attributes, None)[:, s.identity_slice]
    assert torch.equal(ident.argmax(1), pair.identity)
    assert torch.allclose(ident.sum(1), torch.ones(len(pair)))
    # Pose and expression are the records' values (roll in crop space), in range.
    fs = load_facesets(["woman"])[0]
    phys = s.to_dict(pair.attributes[0])
    rec = fs.records[0]
    assert phys["yaw"] == pytest.approx(rec["pose"]["yaw"], abs=1e-3)
    assert phys["smile"] == pytest.approx(rec["expression"]["smile"], abs=1e-3)


def test_pose_in_crop_matches_the_estimator_on_the_crop() -> None:
    """The alignment's rotation moves roll: crop roll == re-estimated roll on the crop."""
    fs = load_facesets(["woman"])[0]
    errs = []
    for rec in fs.records[::20]:
        lm = transform_points(torch.tensor(rec["landmarks"]).numpy(),
                              torch.tensor(rec["matrix"]).numpy())
        truth = estimate_pose(lm, (fs.size, fs.size)).roll
        errs.append(abs(pose_in_crop(rec["pose"], rec["matrix"])["roll"] - truth))
        # The frame's own roll is off by the alignment angle (several degrees on some).
    assert max(errs) < 1.5, errs


def test_held_out_block_is_the_last_frames(pair: FacesetTensors) -> None:
    for k in range(2):
        held = pair.held_out[pair.identity == k]
        n = len(held)
        assert 0 < held.sum() < n // 4
        assert held[-1] and not held[0]
        first = int(held.nonzero()[0])
        assert held[first:].all()  # one contiguous block at the end
    assert len(pair.train()) + len(pair.test()) == len(pair)


def test_mirror_negates_yaw_and_roll(pair: FacesetTensors) -> None:
    s = pair.schema
    x, a = pair.images[:4], pair.attributes[:4]
    mx, ma = mirror(x, a, s)
    assert torch.equal(mx, x.flip(-1))
    before, after = s.denormalize(a), s.denormalize(ma)
    for name in ("yaw", "roll"):
        i = s.index(name)
        assert torch.allclose(after[:, i], -before[:, i], atol=1e-4)
    for name in ("pitch", "smile"):
        i = s.index(name)
        assert torch.equal(after[:, i], before[:, i])


def test_stream_is_seeded_and_resumable(pair: FacesetTensors) -> None:
    a = FacesetStream(pair.train(), batch_size=6, seed=3).batches()
    b = FacesetStream(pair.train(), batch_size=6, seed=3).batches(2)
    next(a), next(a)
    x, y = next(a), next(b)
    assert torch.equal(x["image"], y["image"]) and torch.equal(x["attributes"], y["attributes"])
    r0 = next(FacesetStream(pair.train(), batch_size=6, seed=3, rank=0, world_size=2).batches())
    r1 = next(FacesetStream(pair.train(), batch_size=6, seed=3, rank=1, world_size=2).batches())
    assert not torch.equal(r0["image"], r1["image"])  # each rank its own shard


def test_held_out_faces_never_reach_training(pair: FacesetTensors) -> None:
    train = pair.train()
    stream = FacesetStream(train, batch_size=64, seed=0, mirror_p=0.0).batches()
    held = pair.test().images.flatten(1)
    for _ in range(3):
        seen = next(stream)["image"].flatten(1)
        assert torch.cdist(seen, held).min() > 1e-3


def test_two_decoder_trains_on_two_facesets(tmp_path) -> None:
    cfg = TwoDecoderConfig(people=("woman", "man"), code_dim=16, enc_widths=(8, 8, 16, 16),
                           dec_widths=(16, 16, 8, 8, 8))
    recipe = TwoDecoderTraining(cfg, TwoDecoderRecipe(batch=4), facesets=True)
    hist = Trainer(recipe, tmp_path / "run", steps=30, log_every=5, progress=False,
                   sample_every=30, save_every=30).fit()
    assert hist[-1]["loss"] < hist[0]["loss"]
    m = load_model(tmp_path / "run")
    assert m.people == ("woman", "man") and m.config["data"]["kind"] == "facesets"
    assert m.schema.identity_kind == "learned"
    out = m.swap(recipe.real.test().images[:2], to=1)
    assert out.shape == (2, 3, 64, 64) and torch.isfinite(out).all()


def test_cvae_learns_one_identity_per_faceset(tmp_path) -> None:
    recipe = CVAETraining(TINY_CVAE, CVAERecipe(batch=4, capacity_steps=10),
                          facesets=("woman", "man", "carphone"))
    assert recipe.schema.names[:3] == ["person:woman", "person:man", "person:carphone"]
    assert recipe.cfg.attr_dim == recipe.schema.dim == 10
    hist = Trainer(recipe, tmp_path / "run", steps=20, log_every=5, progress=False,
                   sample_every=20, save_every=20).fit()
    assert all(math.isfinite(h["loss"]) for h in hist)
    m = load_model(tmp_path / "run", schema=recipe.schema)
    held = recipe.real.test()
    a_t = m.schema.with_identity(held.attributes[:2], held.attributes[-2:, :3])
    assert m.swap(held.images[:2], held.attributes[:2], a_t).shape == (2, 3, 64, 64)
    with pytest.raises(Exception, match="person:carphone"):  # the difference is named
        load_model(tmp_path / "run", schema=learned_identity_schema(["woman", "man"]))


def test_cli_refuses_a_cgan_on_facesets_and_a_three_way_two_decoder(capsys) -> None:
    from deepfake_lab.cli import main

    with pytest.raises(SystemExit):
        main(["train", "--arch", "cgan", "--data", "woman,man"])
    assert "synthfaces only" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--arch", "two-decoder", "--data", "woman,man,carphone"])
    assert "exactly two facesets" in capsys.readouterr().err
