"""The mouth reader (a judge that sees only the mouth, magnified, and reads only the
expression) and the cGAN's knobs for its critics: ``w_adv`` (``--adversarial``; 0 leaves
them out) and ``d_warmup`` (``--d-warmup``; the critics learn before the generator moves)."""

from __future__ import annotations

import pytest
import torch
from test_cgan_anchor import tiny_cvae  # noqa: F401  (a fixture)
from test_reader import FirstRow

from deepfake_lab.checkpoints import save_checkpoint
from deepfake_lab.data.synthfaces import SCHEMA
from deepfake_lab.eval.judges import (
    MOUTH_BOX,
    Judge,
    judge_config,
    judge_loss,
    load_judge,
    train_judge,
    view_weights,
)
from deepfake_lab.train import make_recipe
from deepfake_lab.train.cgan import CGANRecipe, CGANTraining
from deepfake_lab.train.reader import swap_read_loss


def test_the_mouth_reader_sees_only_the_mouth() -> None:
    torch.manual_seed(0)
    net = Judge(width=4, features=16, view="mouth").eval()
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    outside = x.clone()
    outside[..., :MOUTH_BOX[0].start, :] = 0.3                 # eyes, brows, forehead
    outside[..., :, :MOUTH_BOX[1].start] = -0.7                # the left edge
    inside = x.clone()
    inside[..., 50, 30] += 1.0                                 # one pixel beside the mouth
    with torch.no_grad():
        assert torch.equal(net(x), net(outside))
        assert not torch.equal(net(x), net(inside))
        assert net(x).shape == (2, SCHEMA.dim)
    with pytest.raises(ValueError, match="view must be one of"):
        Judge(view="eyes")


def test_a_mouth_reader_trains_on_the_expression_alone_and_saves_its_view(tmp_path) -> None:
    torch.manual_seed(0)
    net = Judge(width=4, features=16, view="mouth")
    a = torch.rand(3, SCHEMA.dim) * 2 - 1
    judge_loss(net(torch.rand(3, 3, 64, 64)), a, weights=view_weights("mouth")).backward()
    grad = net.head.weight.grad                                 # (dim, features)
    assert grad[SCHEMA.identity_slice].abs().max() == 0
    assert grad[SCHEMA.pose_slice].abs().max() == 0
    assert grad[SCHEMA.group_slice("expression")].abs().max() > 0
    out = tmp_path / "mouth"
    train_judge(out, steps=2, batch=4, save_every=1, progress=False, view="mouth")
    assert load_judge(out).view == "mouth"
    with pytest.raises(ValueError, match="is a 'mouth' judge"):
        train_judge(tmp_path / "again", steps=1, batch=4, progress=False, init_from=out)


def test_a_mouth_reader_asks_for_the_expression_only() -> None:
    """As the reader of a swap, a mouth reader weighs identity and pose 0, whatever the
    recipe's identity weight: a swap wrong in identity or pose costs nothing, one wrong in
    expression costs what it costs a face reader."""
    torch.manual_seed(1)
    source, target = torch.rand(2, 4, 3, 32, 32).unbind(0)
    face = FirstRow()
    mouth = FirstRow()
    mouth.view = "mouth"
    readings = face(source), face(target)
    wrong_person = source.clone()                               # the source's own identity
    wrong_expr = source.clone()
    wrong_expr[:, 0, 0, SCHEMA.identity_slice] = target[:, 0, 0, SCHEMA.identity_slice]
    wrong_expr[:, 0, 0, SCHEMA.group_slice("expression")] += 0.5
    assert swap_read_loss(face, wrong_person, *readings) > 0
    assert swap_read_loss(mouth, wrong_person, *readings, identity_weight=5.0) == 0
    assert swap_read_loss(mouth, wrong_expr, *readings) == pytest.approx(
        swap_read_loss(face, wrong_expr, *readings).item())


def _state(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in net.state_dict().items()}


def _moved(before: dict[str, torch.Tensor], net: torch.nn.Module) -> bool:
    return any(not torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_without_the_game_the_critics_stand_still(tiny_cvae: str) -> None:  # noqa: F811
    gan = CGANTraining(recipe=CGANRecipe(batch=4, init_from=tiny_cvae, w_anchor=10.0,
                                         w_adv=0.0, w_detail=1.0))
    d, c, g = _state(gan.model.discriminator), _state(gan.detail), _state(gan.model.generator)
    batches = gan.batches(0, 0, 1)
    losses = [gan.training_step(next(batches), i) for i in range(2)]
    assert not _moved(d, gan.model.discriminator) and not _moved(c, gan.detail)
    assert _moved(g, gan.model.generator)
    assert all("loss_d" not in r and "g_detail" not in r and "anchor" in r for r in losses)


def test_during_the_warmup_only_the_critics_learn(tiny_cvae: str) -> None:  # noqa: F811
    gan = CGANTraining(recipe=CGANRecipe(batch=4, init_from=tiny_cvae, w_anchor=10.0,
                                         d_warmup=2, w_detail=1.0))
    d, c, g = _state(gan.model.discriminator), _state(gan.detail), _state(gan.model.generator)
    batches = gan.batches(0, 0, 1)
    warm = [gan.training_step(next(batches), i) for i in range(2)]
    assert _moved(d, gan.model.discriminator) and _moved(c, gan.detail)
    assert not _moved(g, gan.model.generator)
    assert all(set(r) == {"loss_d", "d_real", "d_fake", "loss_c"} for r in warm)
    after = gan.training_step(next(batches), 2)                 # the game starts
    assert _moved(g, gan.model.generator) and "loss_g" in after and "g_aux" in after


@pytest.mark.parametrize(("kw", "match"), [
    ({"arch": "cvae", "adversarial": 0.0}, "for --arch cgan"),
    ({"arch": "cgan", "adversarial": -1.0}, ">= 0"),
    ({"arch": "cgan", "d_warmup": -5}, ">= 0"),
    ({"arch": "cgan", "adversarial": 0.0, "d_warmup": 10}, "there are none"),
])
def test_the_critic_knobs_are_checked(kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make_recipe(**kw)


def test_the_critic_knobs_reach_the_recipe_and_the_direct_construction_is_guarded() -> None:
    hp = make_recipe("cgan", adversarial=0.5, d_warmup=20).hp
    assert (hp.w_adv, hp.d_warmup) == (0.5, 20)
    assert make_recipe("cgan").hp.w_adv == 1.0                  # the game, as bundled
    with pytest.raises(ValueError, match="w_adv must be >= 0"):
        CGANTraining(recipe=CGANRecipe(batch=4, w_adv=0.0, d_warmup=3))


def test_a_saved_judge_without_a_view_is_a_face_judge(tmp_path) -> None:
    """Judges saved before views existed load as face judges."""
    net = Judge(width=4, features=16)
    cfg = judge_config(net, 0, {})
    del cfg["view"]
    save_checkpoint(tmp_path / "old", net.state_dict(), cfg)
    assert load_judge(tmp_path / "old").view == "face"
