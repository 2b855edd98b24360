"""The attribute-reader loss: it trains the CVAE's decoder (and the cGAN's generator, the
pair's decoders through their swaps), never the reader, reads a swap against the right
frames, and refuses the evaluation judge."""

from __future__ import annotations

import pytest
import torch
from tiny_models import TINY_CGAN, TINY_CVAE, TINY_TWO

from deepfake_lab.checkpoints import save_checkpoint
from deepfake_lab.data.synthfaces import SCHEMA
from deepfake_lab.eval.judges import BUNDLED_JUDGE, Judge, judge_config
from deepfake_lab.train import make_recipe
from deepfake_lab.train.cgan import CGANRecipe, CGANTraining
from deepfake_lab.train.cvae import CVAERecipe, CVAETraining
from deepfake_lab.train.reader import load_reader, read_loss, swap_read_loss
from deepfake_lab.train.trainer import Trainer
from deepfake_lab.train.two_decoder import TwoDecoderRecipe, TwoDecoderTraining


@pytest.fixture()
def reader_path(tmp_path):
    """A small judge-format network saved the way ``train_judge`` saves one (its batch-norm
    statistics filled from a few images, as training would)."""
    torch.manual_seed(3)
    net = Judge(width=8, features=16).train()
    with torch.no_grad():
        for _ in range(5):
            net(torch.rand(8, 3, 64, 64) * 2 - 1)
    path = tmp_path / "reader"
    save_checkpoint(path, net.state_dict(), judge_config(net, 0, {"seed": 3}))
    return path


def test_reader_loss_trains_the_decoder_not_the_reader(reader_path, tmp_path) -> None:
    recipe = CVAETraining(TINY_CVAE, CVAERecipe(batch=4, capacity_steps=10, w_read=1.0,
                                                reader=str(reader_path)))
    before = {k: v.clone() for k, v in recipe.reader.state_dict().items()}
    decoder = {k: v.clone() for k, v in recipe.model.decoder.state_dict().items()}
    t = Trainer(recipe, tmp_path / "run", steps=3, progress=False, sample_every=100,
                save_every=100)
    t.fit()
    assert all(torch.equal(before[k], v) for k, v in recipe.reader.state_dict().items())
    assert any(not torch.equal(decoder[k], v)
               for k, v in recipe.model.decoder.state_dict().items())
    logged = (tmp_path / "run" / "log.jsonl").read_text()
    assert '"read"' in logged
    # The run remembers which reader it used, so a resume with another file is refused.
    assert len(recipe.hp.reader_sha256) == 64
    other = tmp_path / "other"
    net = Judge(width=4, features=16)
    save_checkpoint(other, net.state_dict(), judge_config(net, 0, {"seed": 4}))
    again = CVAETraining(TINY_CVAE, CVAERecipe(batch=4, capacity_steps=10, w_read=1.0,
                                               reader=str(other)))
    with pytest.raises(ValueError, match="reader_sha256"):
        Trainer(again, tmp_path / "run", steps=6, progress=False).resume()


def test_reader_adds_to_the_loss(reader_path) -> None:
    """Same weights, same batch: the reader term is logged and adds to the loss."""
    batch = {"image": torch.rand(4, 3, 64, 64) * 2 - 1,
             "attributes": torch.randn(4, TINY_CVAE.attr_dim)}
    by_weight = []
    for w in (0.0, 1.0):
        recipe = CVAETraining(TINY_CVAE, CVAERecipe(batch=4, capacity_steps=10, w_read=w,
                                                    reader=str(reader_path)))
        recipe.device = torch.device("cpu")
        recipe.model.eval()  # z = mu: the two runs see the same output
        by_weight.append(recipe.training_step(batch, 0))  # same seed: same starting weights
    assert "read" not in by_weight[0] and by_weight[1]["read"] > 0
    assert by_weight[1]["loss"] > by_weight[0]["loss"]


def test_reader_refuses_the_evaluation_judge() -> None:
    with pytest.raises(ValueError, match="evaluation judge"):
        load_reader(BUNDLED_JUDGE)


def test_reader_needs_a_file_and_synthfaces(tmp_path) -> None:
    with pytest.raises(ValueError, match="needs a reader"):
        CVAETraining(TINY_CVAE, CVAERecipe(batch=4, w_read=0.5))
    with pytest.raises(ValueError, match="no reader"):
        CVAETraining(TINY_CVAE, CVAERecipe(batch=4, w_read=0.5, reader=str(tmp_path / "x")))
    with pytest.raises(ValueError, match="reads SynthFaces"):
        make_recipe("two-decoder", facesets=("woman", "man"), reader=str(tmp_path / "x"))
    with pytest.raises(ValueError, match="needs a reader"):
        make_recipe("cgan", w_read=1.0)


class FirstRow(torch.nn.Module):
    """A stand-in reader whose reading of an image is the first row of its red channel."""

    view = "face"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0, 0, :SCHEMA.dim]


def test_swap_is_read_against_the_source_pose_and_the_target_identity() -> None:
    torch.manual_seed(0)
    source, target = torch.rand(2, 4, 3, 32, 32).unbind(0)
    reader, ids = FirstRow(), SCHEMA.identity_slice
    right = source.clone()
    right[:, 0, 0, ids] = target[:, 0, 0, ids]      # the source's pose, the target's identity
    readings = reader(source), reader(target)
    assert swap_read_loss(reader, right, *readings) == 0
    assert swap_read_loss(reader, source, *readings) > 0    # still the source person
    assert swap_read_loss(reader, target, *readings) > 0    # the target's own pose


@pytest.mark.parametrize("arch", ["cgan", "two-decoder"])
def test_swap_reader_trains_the_generator_not_the_reader(arch, reader_path, tmp_path) -> None:
    def make(w: float):
        if arch == "cgan":
            return CGANTraining(TINY_CGAN, CGANRecipe(batch=4, w_read=w,
                                                      reader=str(reader_path)))
        return TwoDecoderTraining(TINY_TWO, TwoDecoderRecipe(batch=3, w_read=w,
                                                             reader=str(reader_path)))

    def part(r):  # what the reader's term trains
        return r.model.generator if arch == "cgan" else r.model.decoders

    recipe = make(1.0)
    trained = part(recipe)
    before = {k: v.clone() for k, v in recipe.reader.state_dict().items()}
    weights = {k: v.clone() for k, v in trained.state_dict().items()}
    Trainer(recipe, tmp_path / "run", steps=2, progress=False, sample_every=100,
            save_every=100).fit()
    assert all(torch.equal(before[k], v) for k, v in recipe.reader.state_dict().items())
    assert any(not torch.equal(weights[k], v) for k, v in trained.state_dict().items())
    assert '"read"' in (tmp_path / "run" / "log.jsonl").read_text()
    assert len(recipe.hp.reader_sha256) == 64
    # The reader's term reaches the weights: from the same start, one step on the same batch
    # with and without it ends in different weights.
    after = []
    for w in (0.0, 1.0):
        r = make(w)
        r.device = torch.device("cpu")
        batch = next(r.batches(0, 0, 1))
        r.training_step(batch, 0)
        after.append(dict(part(r).state_dict()))
    assert any(not torch.equal(after[0][k], after[1][k]) for k in after[0])
    # The CLI's recipe takes the reader too, with the documented default weight.
    assert make_recipe(arch, reader=str(reader_path)).hp.w_read == 0.2


def test_identity_weight_scales_only_the_identity_part_of_the_swap_loss(reader_path) -> None:
    """``read_identity`` weighs the identity numbers: a swap wrong only in identity costs in
    proportion to it, one wrong only in pose does not change with it."""
    torch.manual_seed(1)
    source, target = torch.rand(2, 4, 3, 32, 32).unbind(0)
    reader, ids, pose = FirstRow(), SCHEMA.identity_slice, SCHEMA.pose_slice
    readings = reader(source), reader(target)
    wrong_identity = source.clone()                 # the source's pose and the source person
    wrong_pose = source.clone()
    wrong_pose[:, 0, 0, ids] = target[:, 0, 0, ids]
    wrong_pose[:, 0, 0, pose] += 0.5                # the target person, the wrong pose
    for w in (0.0, 1.0, 4.0):
        loss = swap_read_loss(reader, wrong_identity, *readings, identity_weight=w)
        assert loss == pytest.approx(w * swap_read_loss(reader, wrong_identity, *readings).item())
        assert swap_read_loss(reader, wrong_pose, *readings, identity_weight=w) == \
            swap_read_loss(reader, wrong_pose, *readings)
    # The default is the judge's own weighting, and the CLI's recipe carries the knob.
    assert swap_read_loss(reader, wrong_identity, *readings) > 0
    assert make_recipe("cgan", reader=str(reader_path), read_identity=3.0).hp.read_identity == 3
    assert make_recipe("two-decoder", reader=str(reader_path)).hp.read_identity == 1
    with pytest.raises(ValueError, match="needs --reader"):
        make_recipe("cvae", read_identity=3.0)


def test_expression_weight_scales_only_the_expression_part_of_the_swap_loss(reader_path) -> None:
    """``read_expression`` weighs the expression numbers the same way: a swap wrong only in
    expression costs in proportion to it (3 is the default), one wrong only in pose does not
    change with it."""
    torch.manual_seed(2)
    source, target = torch.rand(2, 4, 3, 32, 32).unbind(0)
    reader, ids = FirstRow(), SCHEMA.identity_slice
    readings = reader(source), reader(target)
    right_person = source.clone()
    right_person[:, 0, 0, ids] = target[:, 0, 0, ids]
    wrong_expr, wrong_pose = right_person.clone(), right_person.clone()
    wrong_expr[:, 0, 0, SCHEMA.group_slice("expression")] += 0.5
    wrong_pose[:, 0, 0, SCHEMA.pose_slice] += 0.5
    default = swap_read_loss(reader, wrong_expr, *readings).item()
    assert default > 0
    for w in (0.0, 3.0, 9.0):
        loss = swap_read_loss(reader, wrong_expr, *readings, expression_weight=w)
        assert loss == pytest.approx(w / 3 * default)
        assert swap_read_loss(reader, wrong_pose, *readings, expression_weight=w) == \
            swap_read_loss(reader, wrong_pose, *readings)
    # read_loss (the CVAE's) takes it too; the CLI's recipes carry it, refused without a reader.
    assert read_loss(reader, wrong_expr, right_person, expression_weight=0.0) == 0
    assert read_loss(reader, wrong_expr, right_person) > 0
    assert make_recipe("cgan", reader=str(reader_path), read_expression=6.0).hp.read_expression == 6
    assert make_recipe("cvae", reader=str(reader_path)).hp.read_expression == 3
    with pytest.raises(ValueError, match="needs --reader"):
        make_recipe("cgan", read_expression=6.0)
    with pytest.raises(ValueError, match=">= 0"):
        make_recipe("cgan", reader=str(reader_path), read_expression=-1.0)
