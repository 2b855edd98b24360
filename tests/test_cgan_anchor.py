"""The cGAN's low-frequency anchor to the CVAE it is warm-started from (``--anchor``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from test_training import make, weights

from deepfake_lab.eval.metrics import gaussian_blur
from deepfake_lab.train import make_recipe
from deepfake_lab.train.cgan import CGANRecipe, CGANTraining
from deepfake_lab.train.trainer import Trainer


@pytest.fixture(scope="module")
def tiny_cvae(tmp_path_factory) -> str:
    """A tiny CVAE checkpoint to warm-start (and anchor) the cGAN from."""
    out = tmp_path_factory.mktemp("cvae")
    Trainer(make("cvae"), out, steps=1, progress=False).fit()
    return str(out / "model")


def anchored(init: str, w: float = 10.0, **kw) -> CGANTraining:
    return CGANTraining(recipe=CGANRecipe(batch=4, init_from=init, w_anchor=w, **kw))


def drift(gan: CGANTraining, batch: dict) -> float:
    """How far the generator's swaps of ``batch`` are from the anchor's, blurred."""
    x, a = batch["image"], batch["attributes"]
    a_fake = a.flip(0)
    z = gan._latent(x, a)
    with torch.no_grad():
        s = gan.hp.anchor_blur
        return F.l1_loss(gaussian_blur(gan.model.generator(z, a_fake), s),
                         gaussian_blur(gan.anchor(z, a_fake), s)).item()


def test_the_anchor_is_the_warm_start_frozen(tiny_cvae: str) -> None:
    """T is the CVAE's decoder: the first step's anchor loss is exactly 0; training moves G,
    never T, and the anchor loss then measures the gap."""
    gan = anchored(tiny_cvae)
    before = {k: v.clone() for k, v in gan.anchor.state_dict().items()}
    assert all(not p.requires_grad for p in gan.anchor.parameters())
    batches = gan.batches(0, 0, 1)
    assert gan.training_step(next(batches), 0)["anchor"].item() == 0.0
    later = [gan.training_step(next(batches), i)["anchor"].item() for i in (1, 2)]
    assert all(v > 0 for v in later)
    assert all(torch.equal(gan.anchor.state_dict()[k], v) for k, v in before.items())
    g = gan.model.generator.net.state_dict()
    assert any(not torch.equal(g[k[4:]], v) for k, v in before.items())


def test_the_anchor_holds_the_swaps_near_the_cvae(tiny_cvae: str) -> None:
    """Same start, same batches: with a heavy anchor the swaps drift less from the CVAE's."""
    def train(w: float) -> float:
        gan = anchored(tiny_cvae, w=w, lr_g=2e-3)
        batches = gan.batches(0, 0, 1)
        for i in range(8):
            gan.training_step(next(batches), i)
        return drift(gan, next(anchored(tiny_cvae).batches(100, 0, 1)))

    free, held = train(1e-9), train(300.0)
    assert held < 0.6 * free, (held, free)


def test_an_anchored_run_resumes_exactly(tiny_cvae: str, tmp_path: Path) -> None:
    """The anchor is saved in the training state: 2+2 steps == 4 steps, anchor included."""
    one = anchored(tiny_cvae)
    Trainer(one, tmp_path / "one", steps=4, progress=False, save_every=100,
            sample_every=100).fit()
    Trainer(anchored(tiny_cvae), tmp_path / "two", steps=2, progress=False, save_every=100,
            sample_every=100).fit()
    second = anchored(tiny_cvae)
    t = Trainer(second, tmp_path / "two", steps=4, progress=False, save_every=100,
                sample_every=100)
    assert t.resume() and t.step == 2
    t.fit()
    a, b = weights(one), weights(second)
    assert a.keys() == b.keys() and any(k.startswith("anchor.") for k in a)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_anchor_needs_the_cvae_it_anchors_to() -> None:
    with pytest.raises(ValueError, match="--init-from"):
        CGANTraining(recipe=CGANRecipe(batch=4, w_anchor=1.0))


@pytest.mark.parametrize("kw, message", [
    ({"arch": "cvae", "anchor": 1.0}, "--anchor is for --arch cgan"),
    ({"arch": "cgan", "anchor_blur": 2}, "needs --anchor"),
    ({"arch": "cgan", "anchor": 1.0, "anchor_blur": 0}, "sigma in px"),
])
def test_make_recipe_refuses_misplaced_anchor_flags(kw: dict, message: str) -> None:
    arch = kw.pop("arch")
    with pytest.raises(ValueError, match=message):
        make_recipe(arch, **kw)


def test_the_cli_trains_an_anchored_cgan(tiny_cvae: str, tmp_path: Path) -> None:
    """``--anchor W --anchor-blur SIGMA`` reach the recipe; the anchor travels in the training
    state, not in the model a user loads."""
    from deepfake_lab.checkpoints import load_checkpoint
    from deepfake_lab.cli import main

    out = tmp_path / "run"
    assert main(["train", "--arch", "cgan", "--init-from", tiny_cvae, "--anchor", "5",
                 "--anchor-blur", "1.5", "--steps", "2", "--batch", "2", "--out", str(out),
                 "--no-progress"]) in (0, None)
    model, cfg = load_checkpoint(out / "model", kind="model")
    assert cfg["recipe"]["w_anchor"] == 5 and cfg["recipe"]["anchor_blur"] == 1.5
    assert not any(k.startswith("anchor") for k in model)
    state, _ = load_checkpoint(out / "state", kind="training-state")
    assert any(k.startswith("train.anchor.") for k in state)
