"""The cGAN generator's weight average (``--ema``): what it computes, what a run exports,
and that it resumes exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn as nn
from test_training import weights
from tiny_models import TINY_CGAN

from deepfake_lab.checkpoints import load_checkpoint
from deepfake_lab.train import make_recipe
from deepfake_lab.train.cgan import CGANRecipe, CGANTraining
from deepfake_lab.train.ema import WeightEMA
from deepfake_lab.train.trainer import Trainer


def test_the_average_copies_first_then_warms_up_to_its_decay() -> None:
    """Update 0 copies the live weights; update n uses min(decay, n / (n + 10)); the result
    is exactly d * ema + (1 - d) * live."""
    live = nn.Linear(3, 2)
    ema = WeightEMA(live, decay=0.9)
    with torch.no_grad():
        live.weight.add_(1.0)
    ema.update(live)                                            # d = 0: a copy
    assert torch.equal(ema.net.weight, live.weight) and int(ema.updates) == 1
    assert ema.current_decay() == pytest.approx(1 / 11)
    for _ in range(199):
        ema.update(live)
    assert ema.current_decay() == 0.9                           # 200 / 210 > 0.9
    before = ema.net.weight.clone()
    with torch.no_grad():
        live.weight.add_(2.0)
    ema.update(live)
    torch.testing.assert_close(ema.net.weight, 0.9 * before + 0.1 * live.weight)
    assert not any(p.requires_grad for p in ema.parameters())


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5])
def test_a_decay_outside_the_open_interval_is_refused(decay: float) -> None:
    with pytest.raises(ValueError, match=r"in \(0, 1\)"):
        WeightEMA(nn.Linear(1, 1), decay)


def gan(ema: float) -> CGANTraining:
    return CGANTraining(TINY_CGAN, CGANRecipe(batch=4, ema=ema, lr_g=1e-2))


def test_the_run_exports_the_average_and_trains_the_live_generator(tmp_path: Path) -> None:
    """Same start, same batches: the live generator takes the same steps with or without the
    average (it only watches); the saved model holds the average, which lags the live one;
    the live generator and the average travel in the training state."""
    runs = {}
    for decay in (0.0, 0.5):
        r = gan(decay)
        Trainer(r, tmp_path / str(decay), steps=4, progress=False, save_every=100,
                sample_every=100).fit()
        runs[decay] = r
    plain, averaged = runs[0.0], runs[0.5]
    assert plain.ema is None and plain.training_nets() == {}
    live = averaged.model.generator.state_dict()
    assert all(torch.equal(v, plain.model.generator.state_dict()[k]) for k, v in live.items())
    model, cfg = load_checkpoint(tmp_path / "0.5" / "model", kind="model")
    assert cfg["recipe"]["ema"] == 0.5
    avg = averaged.ema.net.state_dict()
    assert all(torch.equal(model[f"generator.{k}"], v) for k, v in avg.items())
    assert any(not torch.equal(avg[k], live[k]) for k in avg)    # it lags
    state, _ = load_checkpoint(tmp_path / "0.5" / "state", kind="training-state")
    assert any(k.startswith("train.ema.net.") for k in state) and "train.ema.updates" in state
    assert all(torch.equal(state[f"model.generator.{k}"], v) for k, v in live.items())


def test_an_averaged_run_resumes_exactly(tmp_path: Path) -> None:
    """2 + 2 steps == 4 steps, the average and its update count included."""
    one = gan(0.5)
    Trainer(one, tmp_path / "one", steps=4, progress=False, save_every=100,
            sample_every=100).fit()
    Trainer(gan(0.5), tmp_path / "two", steps=2, progress=False, save_every=100,
            sample_every=100).fit()
    second = gan(0.5)
    t = Trainer(second, tmp_path / "two", steps=4, progress=False, save_every=100,
                sample_every=100)
    assert t.resume() and t.step == 2
    t.fit()
    a, b = weights(one), weights(second)
    assert a.keys() == b.keys() and "ema.updates" in a and int(a["ema.updates"]) == 4
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_needs_the_same_average(tmp_path: Path) -> None:
    Trainer(gan(0.5), tmp_path / "run", steps=2, progress=False, sample_every=100,
            save_every=100).fit()
    with pytest.raises(ValueError, match="ema"):
        Trainer(gan(0.0), tmp_path / "run", steps=4, progress=False).resume()


@pytest.mark.parametrize("kw, message", [
    ({"arch": "cvae", "ema": 0.99}, "--ema is for --arch cgan"),
    ({"arch": "cgan", "ema": 1.0}, r"decay in \(0, 1\)"),
    ({"arch": "cgan", "ema": -0.1}, r"decay in \(0, 1\)"),
])
def test_make_recipe_refuses_misplaced_ema_flags(kw: dict, message: str) -> None:
    arch = kw.pop("arch")
    with pytest.raises(ValueError, match=message):
        make_recipe(arch, **kw)
