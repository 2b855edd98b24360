"""Where expressions show: the renderer's region map, the anchor that lets go there
(``--anchor-release``), the reconstruction that weighs it up (``--rec-focus``), and a cGAN
warm-started from a trained cGAN."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from test_cgan_anchor import anchored, tiny_cvae  # noqa: F401  (a fixture)
from test_training import make

from deepfake_lab.data.expression_region import expression_region
from deepfake_lab.eval.metrics import gaussian_blur
from deepfake_lab.train import make_recipe
from deepfake_lab.train.cgan import CGANRecipe, CGANTraining, focused_l1
from deepfake_lab.train.trainer import Trainer


def test_the_expression_region_is_the_mouth_and_eyes_not_the_background() -> None:
    r = expression_region(64, n=32)
    assert r.shape == (1, 1, 64, 64)
    assert r.min() >= 0 and r.max() == pytest.approx(1.0)
    m = r[0, 0]
    corners = torch.cat([m[:8, :8].flatten(), m[:8, -8:].flatten(), m[-4:, :4].flatten()])
    assert corners.max() < 0.05                    # background and shoulders: no expression
    assert m[44:54, 26:38].mean() > 0.3            # mouth (below the crop's centre)
    assert m[22:30, 18:46].mean() > 0.2            # eyes and brows
    assert torch.equal(expression_region(64, n=32), r)            # deterministic
    with pytest.raises(ValueError, match="at least 1"):
        expression_region(64, n=0)


def test_the_region_narrows_to_the_mouth() -> None:
    mouth = expression_region(64, n=32, attributes=("smile", "mouth_open"))[0, 0]
    assert mouth.max() == pytest.approx(1.0)
    assert mouth[44:54, 26:38].mean() > 0.3 and mouth[18:26, 18:46].max() < 0.2
    with pytest.raises(ValueError, match="not expression attributes: yaw"):
        expression_region(64, n=32, attributes=("smile", "yaw"))


def test_focused_l1_is_l1_moved_towards_the_heavy_pixels() -> None:
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(2, 3, 8, 8, generator=g), torch.rand(2, 3, 8, 8, generator=g)
    assert focused_l1(x, y, torch.ones(1, 1, 8, 8)) == pytest.approx(F.l1_loss(x, y).item())
    w = torch.ones(1, 1, 8, 8)
    w[..., :4] = 5.0                               # the left half counts 5 times
    x.requires_grad_(True)
    focused_l1(x, y, w).backward()
    left, right = x.grad[..., :4].abs(), x.grad[..., 4:].abs()
    assert torch.allclose(left, 5 * right.mean()) and torch.allclose(right, right.mean())


def test_the_anchor_lets_go_only_where_expressions_show(tiny_cvae: str) -> None:  # noqa: F811
    """Released fully everywhere, the anchor costs nothing; released where the region map
    says, it costs less than the even anchor, on the same generator and batch."""
    gan = anchored(tiny_cvae, anchor_release=1.0, lr_g=2e-3)
    batches = gan.batches(0, 0, 1)
    for i in range(3):                             # move G away from its anchor
        gan.training_step(next(batches), i)
    b = next(batches)
    x, a = b["image"], b["attributes"]
    z, a_fake = gan._latent(x, a), a.roll(1, 0)
    with torch.no_grad():
        s = gan.hp.anchor_blur
        even = F.l1_loss(gaussian_blur(gan.model.generator(z, a_fake), s),
                         gaussian_blur(gan.anchor(z, a_fake), s)).item()
    state = {k: v.clone() for k, v in gan.model.generator.state_dict().items()}
    released = gan.training_step(b, 3)["anchor"].item()
    assert 0 < released < 0.95 * even, (released, even)
    gan.model.generator.load_state_dict(state)
    gan.region = torch.ones_like(gan.region)       # every pixel shows expressions
    assert gan.training_step(b, 3)["anchor"].item() == 0.0


def test_a_cgan_warm_starts_from_a_trained_cgan_and_anchors_to_it(tmp_path: Path) -> None:
    src = make("cgan")
    Trainer(src, tmp_path / "gan", steps=2, progress=False, sample_every=100).fit()
    gan = CGANTraining(recipe=CGANRecipe(batch=4, init_from=str(tmp_path / "gan" / "model"),
                                         w_anchor=10.0))
    assert gan.cfg == src.cfg
    for net in (gan.model.generator, gan.anchor):
        mine = net.state_dict()
        assert all(torch.equal(mine[k], v) for k, v in src.model.generator.state_dict().items())
    theirs = src.model.encoder.state_dict()
    assert all(torch.equal(v, theirs[k]) for k, v in gan.model.encoder.state_dict().items())
    assert gan.training_step(next(gan.batches(0, 0, 1)), 0)["anchor"].item() == 0.0


def test_a_cgan_without_an_encoder_cannot_warm_start_another(tmp_path: Path) -> None:
    from tiny_models import TINY_CGAN

    from deepfake_lab.models import CGANConfig

    cfg = CGANConfig(**{**TINY_CGAN.to_dict(), "with_encoder": False})
    Trainer(CGANTraining(cfg, CGANRecipe(batch=4)), tmp_path / "gan", steps=1,
            progress=False, sample_every=100).fit()
    with pytest.raises(ValueError, match="CVAE or a cGAN with an encoder"):
        CGANTraining(recipe=CGANRecipe(batch=4, init_from=str(tmp_path / "gan" / "model")))


@pytest.mark.parametrize("kw, message", [
    ({"arch": "cgan", "anchor_release": 0.5}, "needs --anchor"),
    ({"arch": "cgan", "anchor": 1.0, "anchor_release": 1.5}, r"in \[0, 1\]"),
    ({"arch": "cvae", "rec_focus": 2.0}, "--rec-focus is for --arch cgan"),
    ({"arch": "cgan", "rec_focus": -1.0}, ">= 0"),
    ({"arch": "cgan", "anchor": 1.0, "focus_on": "smile"}, "needs one of them"),
])
def test_make_recipe_refuses_misplaced_focus_flags(kw: dict, message: str) -> None:
    arch = kw.pop("arch")
    with pytest.raises(ValueError, match=message):
        make_recipe(arch, **kw)


def test_the_cli_passes_the_focus_flags(tiny_cvae: str, tmp_path: Path) -> None:  # noqa: F811
    from deepfake_lab.checkpoints import load_checkpoint
    from deepfake_lab.cli import main

    out = tmp_path / "run"
    assert main(["train", "--arch", "cgan", "--init-from", tiny_cvae, "--anchor", "5",
                 "--anchor-release", "0.75", "--rec-focus", "3", "--focus-on", "smile",
                 "--steps", "2", "--batch", "2", "--out", str(out), "--no-progress"]) in (0, None)
    _, cfg = load_checkpoint(out / "model", kind="model")
    assert cfg["recipe"]["anchor_release"] == 0.75 and cfg["recipe"]["rec_focus"] == 3
    assert cfg["recipe"]["focus_on"] == "smile"


def test_a_blurred_focus_forgives_a_line_drawn_a_pixel_off() -> None:
    """Plain L1 prefers no crease to a crease 1 px off (which costs twice); compared blurred
    (``--rec-blur``), the crease 1 px off costs less than none."""
    from deepfake_lab.train.cgan import blurred_focus_l1

    truth = torch.zeros(1, 1, 32, 32)
    truth[..., 16, 8:24] = -1.0                    # a dark 1-px line
    off = truth.roll(1, dims=2)                    # the same line one row lower
    none = torch.zeros_like(truth)
    region = torch.ones(1, 1, 32, 32)
    assert F.l1_loss(off, truth) > F.l1_loss(none, truth)
    assert focused_l1(off, truth, 1 + 10 * region) > focused_l1(none, truth, 1 + 10 * region)
    assert blurred_focus_l1(off, truth, region, 10.0, 1.0) < \
        blurred_focus_l1(none, truth, region, 10.0, 1.0)
    # Without the extra weight it is plain L1; a perfect drawing costs nothing.
    assert blurred_focus_l1(off, truth, region, 0.0, 1.0) == pytest.approx(
        F.l1_loss(off, truth).item())
    assert blurred_focus_l1(truth, truth, region, 10.0, 1.0) == 0
    with pytest.raises(ValueError, match="needs --rec-focus"):
        make_recipe("cgan", rec_blur=1.0)
    with pytest.raises(ValueError, match=r"in \(0, 8\]"):
        make_recipe("cgan", rec_focus=2.0, rec_blur=0.0)
    assert make_recipe("cgan", rec_focus=2.0, rec_blur=1.0).hp.rec_blur == 1.0


def test_the_counterfactual_frame_redraws_one_named_expression_of_the_same_face() -> None:
    from deepfake_lab.data.synth_datasets import SynthFacesStream, synthfaces_population
    from deepfake_lab.data.synthfaces import SCHEMA

    people, train, _ = synthfaces_population()
    plain = next(SynthFacesStream(people, train, batch_size=6, seed=3).batches(0))
    both = next(SynthFacesStream(people, train, batch_size=6, seed=3,
                                 counterfactual=("smile", "brow_raise")).batches(0))
    assert torch.equal(plain["image"], both["image"])          # the stream is unchanged
    changed = (both["attributes_cf"] != both["attributes"])
    assert (changed.sum(1) <= 1).all() and changed.any()
    cols = set(changed.nonzero()[:, 1].tolist())
    assert cols <= {SCHEMA.index("smile"), SCHEMA.index("brow_raise")}
    same = ~changed.any(1)                                     # nothing redrawn: same render
    assert torch.allclose(both["image_cf"][same], both["image"][same])
    assert not torch.allclose(both["image_cf"][~same], both["image"][~same])
    again = next(SynthFacesStream(people, train, batch_size=6, seed=3,
                                  counterfactual=("smile", "brow_raise")).batches(0))
    assert torch.equal(again["image_cf"], both["image_cf"])    # deterministic, resumable


def test_the_counterfactual_loss_asks_for_the_renderers_change(tiny_cvae: str) -> None:  # noqa: F811
    from deepfake_lab.train.cgan import counterfactual_loss

    g = torch.Generator().manual_seed(0)
    x, x_cf, out = (torch.rand(2, 3, 16, 16, generator=g) for _ in range(3))
    assert counterfactual_loss(out, out - (x - x_cf), x, x_cf) == pytest.approx(0, abs=1e-6)
    assert counterfactual_loss(out, out, x, x_cf) == pytest.approx(1.0)   # no change drawn
    gan = anchored(tiny_cvae, w_cf=1.0, focus_on="smile", w_adv=0.0)
    before = {k: v.clone() for k, v in gan.model.generator.state_dict().items()}
    r = gan.training_step(next(gan.batches(0, 0, 1)), 0)
    assert r["g_cf"] > 0
    assert any(not torch.equal(before[k], v) for k, v in gan.model.generator.state_dict().items())
    with pytest.raises(ValueError, match="for --arch cgan"):
        make_recipe("cvae", counterfactual=1.0)
    with pytest.raises(ValueError, match=">= 0"):
        make_recipe("cgan", counterfactual=-1.0)
    assert make_recipe("cgan", counterfactual=2.0, focus_on="smile").hp.w_cf == 2.0
    with pytest.raises(ValueError, match="needs an encoder and w_rec"):
        CGANTraining(recipe=CGANRecipe(batch=4, init_from=tiny_cvae, w_cf=1.0, w_rec=0.0))


def test_the_frame_region_is_where_this_frame_changes() -> None:
    """``frame_region``: 0 where a frame and its counterfactual agree, 1 from a change of
    ``scale`` up, in between below it; one map per frame, the channels' largest change."""
    from deepfake_lab.train.cgan import frame_region

    x = torch.zeros(2, 3, 8, 8)
    x_cf = x.clone()
    x_cf[0, 1, 2, 3] = 0.5                      # frame 0: one pixel, one channel, a big change
    x_cf[1, :, 5, 5] = -0.05                    # frame 1: one pixel, half the scale
    m = frame_region(x, x_cf, scale=0.1)
    assert m.shape == (2, 1, 8, 8)
    assert m[0, 0, 2, 3] == 1 and m[1, 0, 5, 5] == pytest.approx(0.5)
    assert m.sum() == pytest.approx(1.5)


def test_frame_focus_weighs_up_each_frames_own_expression_pixels(tiny_cvae: str  # noqa: F811
                                                                 ) -> None:
    """With ``frame_focus`` the stream renders each frame's counterfactual, and the
    reconstruction loss is :func:`focused_l1` with weight ``1 + K * frame_region``."""
    from deepfake_lab.train.cgan import frame_region

    gan = anchored(tiny_cvae, frame_focus=50.0, focus_on="smile", w_adv=0.0)
    batch = next(gan.batches(0, 0, 1))
    assert "image_cf" in batch and batch["image_cf"].shape == batch["image"].shape
    x, a = batch["image"], batch["attributes"]
    with torch.no_grad():
        rec = gan.model.generator(gan._latent(x, a), a)
        want = focused_l1(rec, x, 1 + 50.0 * frame_region(x, batch["image_cf"]))
    r = gan.training_step(batch, 0)
    assert r["g_rec"] == pytest.approx(want.item(), rel=1e-4)
    assert r["g_rec"] != pytest.approx(F.l1_loss(rec, x).item(), rel=1e-3)


@pytest.mark.parametrize("kw, message", [
    ({"arch": "cvae", "frame_focus": 2.0}, "--frame-focus is for --arch cgan"),
    ({"arch": "cgan", "frame_focus": -1.0}, ">= 0"),
    ({"arch": "cgan", "frame_focus": 2.0, "rec_focus": 2.0}, "give one of them"),
])
def test_make_recipe_refuses_misplaced_frame_focus(kw: dict, message: str) -> None:
    arch = kw.pop("arch")
    with pytest.raises(ValueError, match=message):
        make_recipe(arch, **kw)
    assert make_recipe("cgan", frame_focus=2.0, focus_on="smile").hp.frame_focus == 2.0


def test_the_cli_passes_frame_focus(tiny_cvae: str, tmp_path: Path) -> None:  # noqa: F811
    from deepfake_lab.checkpoints import load_checkpoint
    from deepfake_lab.cli import main

    out = tmp_path / "run"
    assert main(["train", "--arch", "cgan", "--init-from", tiny_cvae, "--frame-focus", "3",
                 "--focus-on", "smile", "--adversarial", "0", "--steps", "2", "--batch", "2",
                 "--out", str(out), "--no-progress"]) in (0, None)
    _, cfg = load_checkpoint(out / "model", kind="model")
    assert cfg["recipe"]["frame_focus"] == 3 and cfg["recipe"]["focus_on"] == "smile"
