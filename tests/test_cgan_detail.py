"""The cGAN's finest detail: the detail critic (``--detail-critic``, a patch critic of the
high band beside the low band under it)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from tiny_models import TINY_CGAN

from deepfake_lab.checkpoints import load_checkpoint
from deepfake_lab.data.synthfaces import Scene, render, sample_pose_expression
from deepfake_lab.models.detail_critic import DetailCritic
from deepfake_lab.train import make_recipe
from deepfake_lab.train.cgan import CGANRecipe, CGANTraining
from deepfake_lab.train.trainer import Trainer


def faces(n: int, seed: int) -> torch.Tensor:
    from deepfake_lab.data.synth_datasets import synthfaces_population

    g = torch.Generator().manual_seed(seed)
    people, train, _ = synthfaces_population()
    who = people[train[torch.randint(len(train), (n,), generator=g)]]
    a = torch.cat([who, sample_pose_expression(n, g)], 1)
    return render(a, size=64, scene=Scene.sample(n, g))


def grid(like: torch.Tensor, amplitude: float = 0.1) -> torch.Tensor:
    """The 2-px checkerboard a pixel-shuffle generator paints: +-amplitude."""
    i = torch.arange(like.shape[-1])
    return amplitude * (1 - 2 * ((i[:, None] + i[None]) % 2)).to(like)


def test_bands_split_an_image_into_coarse_and_fine() -> None:
    """``low + high`` is the (cropped) image; a flat image has no fine detail; a 2-px grid is
    all fine detail (a 1-px Gaussian keeps 0.7 % of it)."""
    c = DetailCritic()
    x = faces(4, seed=0)
    low, high = c.bands(x)
    assert low.shape == high.shape == (4, 3, 58, 58)
    assert torch.allclose(low + high, x[..., 3:61, 3:61], atol=1e-6)
    flat_low, flat_high = c.bands(torch.full((1, 3, 64, 64), 0.3))
    assert flat_high.abs().max() < 1e-6 and torch.allclose(flat_low, torch.tensor(0.3))
    g = grid(x)
    g_low, g_high = c.bands(g.expand(1, 3, 64, 64))
    assert g_low.abs().max() < 0.01 * 0.1 and g_high.abs().mean() > 0.099
    assert c(x).shape == (4, 1, 29, 29)


def test_the_critic_learns_to_tell_a_grid_from_real_detail() -> None:
    """Trained alone for a few dozen steps on renders against the same renders with a faint
    grid on top, it scores new renders above new gridded ones (the kind of grid the
    anchored cGAN paints over skin and hair)."""
    torch.manual_seed(0)
    c = DetailCritic(width=16)
    opt = torch.optim.Adam(c.parameters(), 2e-3, betas=(0.5, 0.999))
    for step in range(40):
        x = faces(8, seed=step)
        real, fake = c(torch.cat([x, x + grid(x, 0.05)])).split(8)
        loss = F.relu(1 - real).mean() + F.relu(1 + fake).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    x = faces(16, seed=1000)
    with torch.no_grad():
        real, fake = c(torch.cat([x, x + grid(x, 0.05)])).split(16)
    assert real.mean() - fake.mean() > 0.5, (real.mean(), fake.mean())
    assert (real.mean((1, 2, 3)) > fake.mean((1, 2, 3))).all()


def gan(w_detail: float) -> CGANTraining:
    return CGANTraining(TINY_CGAN, CGANRecipe(batch=4, w_detail=w_detail, lr_g=1e-2))


def test_the_critic_steps_itself_and_its_term_trains_the_generator() -> None:
    """One start, one batch: the critic's own step changes it; the generator's step depends
    on ``w_detail`` (nothing else differs); without the critic there is none to save."""
    assert gan(0.0).detail is None and gan(0.0).training_nets() == {}
    after = {}
    for w in (0.5, 5.0):
        r = gan(w)
        assert set(r.training_nets()) == {"detail"}
        c0 = {k: v.clone() for k, v in r.detail.state_dict().items()}
        out = r.training_step(next(r.batches(0, 0, 1)), 0)
        assert {"loss_c", "g_detail"} <= out.keys() and 0 < out["loss_c"] < 4
        assert any(not torch.equal(c0[k], v) for k, v in r.detail.state_dict().items())
        after[w] = r
    d1, d2 = (after[w].model.discriminator.state_dict() for w in (0.5, 5.0))
    assert all(torch.equal(d1[k], d2[k]) for k in d1)            # D's step: the same
    g1, g2 = (after[w].model.generator.state_dict() for w in (0.5, 5.0))
    assert any(not torch.equal(g1[k], g2[k]) for k in g1)         # G's step: the critic's term


def test_resume_needs_the_detail_critic_settings(tmp_path: Path) -> None:
    Trainer(gan(0.0), tmp_path / "run", steps=2, progress=False, sample_every=100,
            save_every=100).fit()
    with pytest.raises(ValueError, match="w_detail"):
        Trainer(gan(0.5), tmp_path / "run", steps=4, progress=False).resume()


@pytest.mark.parametrize("kw, message", [
    ({"arch": "cvae", "detail_critic": 1.0}, "--detail-critic is for --arch cgan"),
    ({"arch": "two-decoder", "detail_critic": 1.0}, "--detail-critic is for --arch cgan"),
    ({"arch": "cgan", "detail_critic": -1.0}, "--detail-critic is a weight, >= 0"),
])
def test_make_recipe_refuses_misplaced_detail_flags(kw: dict, message: str) -> None:
    arch = kw.pop("arch")
    with pytest.raises(ValueError, match=message):
        make_recipe(arch, **kw)


def test_the_cli_trains_the_detail_critic_into_the_training_state(tmp_path: Path) -> None:
    """``--detail-critic W`` reaches the recipe; the critic travels in
    the training state, not in the model a user loads."""
    from deepfake_lab.cli import main

    out = tmp_path / "run"
    assert main(["train", "--arch", "cgan", "--detail-critic", "0.5",
                 "--steps", "2", "--batch", "2", "--out", str(out), "--no-progress",
                 "--threads", "1"]) == 0
    model, cfg = load_checkpoint(out / "model", kind="model")
    assert cfg["recipe"]["w_detail"] == 0.5
    assert not any(k.startswith("detail") for k in model)
    state, _ = load_checkpoint(out / "state", kind="training-state")
    assert any(k.startswith("train.detail.") for k in state)
