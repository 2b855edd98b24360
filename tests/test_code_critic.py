"""The two-decoder model's code critic: it learns in its own step, its confusion term trains
the encoder only, and its state travels with the run's training state."""

from __future__ import annotations

import json
import math

import pytest
import torch
from tiny_models import TINY_TWO

from deepfake_lab.models.code_critic import CodeCritic, confusion_loss
from deepfake_lab.train.trainer import Trainer
from deepfake_lab.train.two_decoder import TwoDecoderRecipe, TwoDecoderTraining


def pair(w_code: float) -> TwoDecoderTraining:
    r = TwoDecoderTraining(TINY_TWO, TwoDecoderRecipe(batch=3, w_code=w_code))
    r.device = torch.device("cpu")
    return r


def test_confusion_is_log_p_when_the_critic_cannot_tell() -> None:
    assert confusion_loss(torch.zeros(5, 2)).item() == pytest.approx(math.log(2))
    assert confusion_loss(torch.zeros(5, 3)).item() == pytest.approx(math.log(3))
    sure = torch.tensor([[6.0, -6.0]] * 5)                  # certain of person 0
    assert confusion_loss(sure).item() > 3
    assert CodeCritic(16, 2)(torch.randn(7, 16)).shape == (7, 2)


def test_critic_step_trains_the_critic_and_confusion_trains_the_encoder() -> None:
    """From one start and one batch: the critic's own step changes it by the same amount
    whatever ``w_code`` is (the confusion term does not train it), while the encoder ends
    elsewhere with a larger ``w_code``; without a critic there is none to save."""
    assert pair(0.0).critic is None and pair(0.0).training_nets() == {}
    batch = next(pair(0.1).batches(0, 0, 1))
    after = {}
    for w in (0.1, 10.0):
        r = pair(w)                               # same seed: same starting weights
        critic0 = {k: v.clone() for k, v in r.critic.state_dict().items()}
        out = r.training_step(batch, 0)
        assert {"critic", "confusion"} <= out.keys()
        assert 0 < out["critic"] < 5 and out["confusion"] >= math.log(2) - 1e-4
        assert any(not torch.equal(critic0[k], v) for k, v in r.critic.state_dict().items())
        after[w] = r
    c1, c2 = (after[w].critic.state_dict() for w in (0.1, 10.0))
    assert all(torch.equal(c1[k], c2[k]) for k in c1)
    e1, e2 = (after[w].model.encoder.state_dict() for w in (0.1, 10.0))
    assert any(not torch.equal(e1[k], e2[k]) for k in e1)


def test_resume_needs_the_critic_state(tmp_path) -> None:
    """A run saved without a critic cannot be resumed with one: the settings differ (and a
    run from before the critic existed is told the same, in words)."""
    Trainer(pair(0.0), tmp_path / "run", steps=2, progress=False, sample_every=100,
            save_every=100).fit()
    with pytest.raises(ValueError, match="w_code"):
        Trainer(pair(0.1), tmp_path / "run", steps=4, progress=False).resume()
    state = tmp_path / "run" / "state.json"
    cfg = json.loads(state.read_text())
    del cfg["model_config"]["recipe"]["w_code"]            # as an older run saved it
    state.write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="without a critic"):
        Trainer(pair(0.1), tmp_path / "run", steps=4, progress=False).resume()


def test_cli_trains_the_critic_into_the_training_state(tmp_path) -> None:
    from deepfake_lab.checkpoints import load_checkpoint
    from deepfake_lab.cli import main

    out = tmp_path / "run"
    assert main(["train", "--arch", "two-decoder", "--steps", "2", "--batch", "2",
                 "--code-critic", "0.3", "--out", str(out), "--no-progress",
                 "--threads", "1"]) == 0
    state, cfg = load_checkpoint(out / "state", kind="training-state")
    assert cfg["model_config"]["recipe"]["w_code"] == 0.3
    assert any(k.startswith("train.critic.") for k in state)
    model, _ = load_checkpoint(out / "model", kind="model")     # inference: no critic
    assert not any("critic" in k for k in model)
