"""The Trainer and the three training recipes: overfitting, exact resume, NaN guard."""

from __future__ import annotations

import pytest
import torch
from tiny_models import TINY_CGAN, TINY_CVAE, TINY_TWO

from deepfake_lab.checkpoints import load_checkpoint
from deepfake_lab.train.cgan import CGANRecipe, CGANTraining
from deepfake_lab.train.cvae import CVAERecipe, CVAETraining
from deepfake_lab.train.trainer import Trainer, TrainingDiverged
from deepfake_lab.train.two_decoder import TwoDecoderRecipe, TwoDecoderTraining


def make(arch: str, seed: int = 0):
    if arch == "cvae":
        return CVAETraining(TINY_CVAE, CVAERecipe(batch=4, capacity_steps=10, seed=seed))
    if arch in ("cgan", "cgan+detail"):
        w_detail = 0.5 if arch == "cgan+detail" else 0.0
        return CGANTraining(TINY_CGAN, CGANRecipe(batch=4, seed=seed, w_detail=w_detail))
    w_code = 0.1 if arch == "two-decoder+critic" else 0.0
    return TwoDecoderTraining(TINY_TWO, TwoDecoderRecipe(batch=3, seed=seed, w_code=w_code))


def weights(recipe) -> dict[str, torch.Tensor]:
    """The model's weights and those of its training-only networks (the critics)."""
    nets = {"model": recipe.model, **recipe.training_nets()}
    return {f"{n}.{k}": v.clone() for n, m in nets.items() for k, v in m.state_dict().items()}


@pytest.mark.parametrize("arch", ["cvae", "cgan", "cgan+detail", "two-decoder",
                                  "two-decoder+critic"])
def test_resume_is_exact(arch: str, tmp_path) -> None:
    """K steps, stop, resume, K more == 2K steps in one run (bit-identical weights on CPU)."""
    one = make(arch)
    Trainer(one, tmp_path / "one", steps=6, progress=False, sample_every=100,
            save_every=100).fit()
    first = make(arch)
    Trainer(first, tmp_path / "two", steps=3, progress=False, sample_every=100,
            save_every=100).fit()
    second = make(arch, seed=0)
    t = Trainer(second, tmp_path / "two", steps=6, progress=False, sample_every=100,
                save_every=100)
    assert t.resume() and t.step == 3
    t.fit()
    a, b = weights(one), weights(second)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{arch}: {k} differs after resume"
    # The run directory holds everything the docs promise.
    for name in ("model.safetensors", "model.json", "state.safetensors", "state.json",
                 "log.jsonl"):
        assert (tmp_path / "two" / name).exists()
    assert list((tmp_path / "two" / "samples").glob("step_*.png"))
    _, cfg = load_checkpoint(tmp_path / "two" / "model", kind="model")
    assert cfg["step"] == 6 and cfg["architecture"] == arch.split("+")[0]


def test_keep_every_keeps_the_model_of_those_steps(tmp_path) -> None:
    """``keep_every`` leaves ``snapshots/STEP`` beside the overwritten ``model``: the weights
    of exactly that step (the 4-step snapshot equals a separate 4-step run's model)."""
    Trainer(make("cvae"), tmp_path / "long", steps=5, progress=False, sample_every=100,
            save_every=100, keep_every=2).fit()
    kept = sorted(p.name for p in (tmp_path / "long" / "snapshots").glob("*.json"))
    assert kept == ["2.json", "4.json"]
    Trainer(make("cvae"), tmp_path / "short", steps=4, progress=False, sample_every=100,
            save_every=100).fit()
    snap, cfg = load_checkpoint(tmp_path / "long" / "snapshots" / "4", kind="model")
    ref, _ = load_checkpoint(tmp_path / "short" / "model", kind="model")
    assert cfg["step"] == 4 and snap.keys() == ref.keys()
    assert all(torch.equal(snap[k], ref[k]) for k in ref)
    _, last = load_checkpoint(tmp_path / "long" / "model", kind="model")
    assert last["step"] == 5


@pytest.mark.parametrize("kw", [{"save_every": 0}, {"sample_every": -5}, {"log_every": 0},
                                {"keep_every": -1}])
def test_nonsense_intervals_are_refused_before_training(kw: dict, tmp_path) -> None:
    """A zero interval would divide by zero at the first step; refuse it with its name."""
    name = next(iter(kw)).replace("_", "-")
    with pytest.raises(ValueError, match=name):
        Trainer(make("cvae"), tmp_path, steps=2, progress=False, **kw)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("arch,key", [("cvae", "l1"), ("two-decoder", "l1"), ("cgan", "loss_d")])
def test_overfits_a_fixed_batch(arch: str, key: str, tmp_path) -> None:
    """On one repeated batch the loss must fall by a clear factor: reconstruction for the
    autoencoders; for the cGAN the discriminator's, which learns to tell that batch from
    the generator's fakes."""
    r = make(arch)
    fixed = next(r.batches(0, 0, 1))
    r.batches = lambda start, rank, world: iter([fixed] * 1000)
    hist = Trainer(r, tmp_path, steps=120, log_every=10, progress=False, sample_every=1000,
                   save_every=1000).fit()
    assert hist[-1][key] < 0.5 * hist[0][key], (hist[0], hist[-1])


def test_nan_guard_stops_before_saving(tmp_path) -> None:
    r = make("cvae")
    Trainer(r, tmp_path, steps=2, progress=False).fit()
    before = (tmp_path / "model.safetensors").read_bytes()
    step = r.training_step

    def poisoned(batch, i):
        out = step(batch, i)
        return {**out, "loss": torch.tensor(float("nan"))}

    r.training_step = poisoned
    t = Trainer(r, tmp_path, steps=4, progress=False, save_every=1)
    t.resume()
    with pytest.raises(TrainingDiverged, match="diverged at step 3"):
        t.fit()
    assert (tmp_path / "model.safetensors").read_bytes() == before


def test_cgan_warm_starts_from_a_cvae_of_any_hidden_width(tmp_path) -> None:
    """G and E take the CVAE's decoder and encoder, whatever the encoder's MLP width."""
    cvae = make("cvae")  # TINY_CVAE: hidden=16, not the default 256
    Trainer(cvae, tmp_path / "cvae", steps=1, progress=False).fit()
    gan = CGANTraining(recipe=CGANRecipe(batch=4, init_from=str(tmp_path / "cvae" / "model")))
    assert gan.cfg.enc_hidden == TINY_CVAE.hidden
    for k, v in cvae.model.encoder.state_dict().items():
        assert torch.equal(gan.model.encoder.state_dict()[k], v), k
    for k, v in cvae.model.decoder.state_dict().items():
        assert torch.equal(gan.model.generator.net.state_dict()[k], v), k
    # the run directory and a bundled model name are accepted as well as the file stem
    by_dir = CGANTraining(recipe=CGANRecipe(batch=4, init_from=str(tmp_path / "cvae")))
    assert by_dir.cfg == gan.cfg
    assert CGANTraining(recipe=CGANRecipe(init_from="cvae-synthfaces-64")).cfg.with_encoder


def test_resume_refuses_other_hyperparameters(tmp_path) -> None:
    """An exact resume needs the run's own settings; a different batch is named, not used."""
    Trainer(make("cvae"), tmp_path, steps=1, progress=False).fit()
    other = CVAETraining(TINY_CVAE, CVAERecipe(batch=8, capacity_steps=10))
    with pytest.raises(ValueError, match=r"batch=4 \(asked: 8\).*--continue-from"):
        Trainer(other, tmp_path, steps=2, progress=False).resume()
    assert Trainer(make("cvae"), tmp_path, steps=2, progress=False).resume()


def test_resumed_cgan_keeps_its_warm_start_provenance(tmp_path) -> None:
    """``init_from`` is recorded once, when the run starts; resuming without it keeps it."""
    Trainer(make("cvae"), tmp_path / "cvae", steps=1, progress=False).fit()
    init = str(tmp_path / "cvae" / "model")
    gan = CGANTraining(recipe=CGANRecipe(batch=4, init_from=init))
    Trainer(gan, tmp_path / "gan", steps=1, progress=False).fit()
    again = CGANTraining(gan.cfg, CGANRecipe(batch=4))
    t = Trainer(again, tmp_path / "gan", steps=2, progress=False)
    assert t.resume() and again.hp.init_from == init
    t.fit()
    _, cfg = load_checkpoint(tmp_path / "gan" / "model", kind="model")
    assert cfg["step"] == 2 and cfg["recipe"]["init_from"] == init


def test_a_second_process_cannot_train_the_same_run(tmp_path) -> None:
    """While a live process holds the run's lock, fit() refuses and leaves the lock alone;
    a lock left by a process that is gone is taken over, and released after training."""
    import subprocess
    import sys

    from deepfake_lab.train.trainer import LOCK_NAME

    run = tmp_path / "run"
    run.mkdir()
    lock = run / LOCK_NAME
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock.write_text(str(other.pid))
        t = Trainer(make("cvae"), run, steps=2, progress=False, sample_every=100,
                    save_every=100)
        with pytest.raises(RuntimeError, match=f"process {other.pid}"):
            t.fit()
        assert lock.read_text() == str(other.pid) and t.step == 0
        assert not (run / "model.safetensors").exists()
    finally:
        other.kill()
        other.wait()
    t.fit()  # its process is gone now: the stale lock is taken over
    assert t.step == 2 and not lock.exists()
