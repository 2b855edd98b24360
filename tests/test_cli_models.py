"""`deepfake-lab train / models / generate / eval` from the command line, and DDP."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from deepfake_lab.checkpoints import load_checkpoint
from deepfake_lab.cli import main


def test_train_cli_writes_and_resumes(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    args = ["train", "--arch", "two-decoder", "--steps", "2", "--batch", "2", "--out", str(out),
            "--no-progress", "--threads", "1"]
    assert main(args) == 0
    _, cfg = load_checkpoint(out / "model", kind="model")
    assert cfg["step"] == 2 and cfg["model"]["people"] == ["ada", "boris"]
    with pytest.raises(SystemExit):           # refuses to overwrite a run silently
        main(args)
    assert "--resume" in capsys.readouterr().err
    args[args.index("--steps") + 1] = "4"
    assert main([*args, "--resume"]) == 0
    assert "resumed" in capsys.readouterr().out
    _, cfg = load_checkpoint(out / "model", kind="model")
    assert cfg["step"] == 4


def test_continue_from_another_run_keeps_weights_and_step(tmp_path, capsys) -> None:
    """--continue-from: a new run starts from a model's weights and step, fresh optimiser."""
    from deepfake_lab.registry import load_model

    base = ["train", "--arch", "two-decoder", "--batch", "2", "--no-progress", "--threads", "1"]
    assert main([*base, "--steps", "3", "--out", str(tmp_path / "a")]) == 0
    first = load_model(tmp_path / "a").model.state_dict()
    with pytest.raises(SystemExit):  # already at the requested total
        main([*base, "--steps", "3", "--out", str(tmp_path / "b"),
              "--continue-from", str(tmp_path / "a")])
    assert "already at step 3" in capsys.readouterr().err
    assert main([*base, "--steps", "4", "--out", str(tmp_path / "c"),
                 "--continue-from", str(tmp_path / "a")]) == 0
    assert "at step 3" in capsys.readouterr().out
    _, cfg = load_checkpoint(tmp_path / "c" / "model", kind="model")
    assert cfg["step"] == 4
    # One step from the first run's weights: changed, but close (not a fresh model).
    after = load_model(tmp_path / "c").model.state_dict()
    fresh = load_model(tmp_path / "a").model.state_dict()  # same file as `first`
    drift = max((after[k] - first[k]).abs().max().item() for k in first)
    assert 0 < drift < 0.05 and all(torch.equal(first[k], fresh[k]) for k in first)
    # Another pair of people is another model: refused with the difference named.
    with pytest.raises(SystemExit):
        main([*base, "--steps", "5", "--out", str(tmp_path / "d"), "--people", "ada,dara",
              "--continue-from", str(tmp_path / "a")])
    assert "its model differs" in capsys.readouterr().err


def test_train_cli_rejects_bad_combinations(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--arch", "cvae", "--init-from", "x"])
    assert "--init-from is for --arch cgan" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--arch", "gan"])
    assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--arch", "cgan", "--read-identity", "3", "--out", "runs/never"])
    assert "needs --reader" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--arch", "cvae", "--code-critic", "0.1", "--out", "runs/never"])
    assert "--code-critic is for --arch two-decoder" in capsys.readouterr().err


def test_generate_from_a_run_is_labelled_and_watermarked(tmp_path, capsys) -> None:
    from deepfake_lab.provenance import verify_image

    run = tmp_path / "run"
    assert main(["train", "--arch", "cvae", "--steps", "1", "--batch", "2", "--out", str(run),
                 "--no-progress"]) == 0
    png = tmp_path / "g.png"
    assert main(["generate", "--model", str(run), "--identity", "boris", "--yaw", "20",
                 "--swap-to", "ada", "--sheet", "--size", "128", "-o", str(png)]) == 0
    report = verify_image(png)
    assert report["watermark"] and report["label"]
    assert report["metadata"]["ai_generated"] == "true"
    capsys.readouterr()
    assert main(["verify", str(png), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == report
    with pytest.raises(SystemExit):
        main(["verify", str(tmp_path / "nope.png")])
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["generate", "--model", str(run), "--yawn", "3"])
    assert "did you mean --yaw" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["generate", "--model", str(tmp_path / "missing")])
    assert "no model" in capsys.readouterr().err


@pytest.mark.parametrize("arch,extra,net,loss", [
    ("cvae", [], None, None),
    ("two-decoder", ["--code-critic", "0.1"], "critic", "critic"),
    ("cgan", ["--detail-critic", "0.5"], "detail", "loss_c")])
def test_ddp_two_cpu_processes(arch, extra, net, loss, tmp_path) -> None:
    """The same train command under torchrun: 2 gloo processes, rank 0 writes the run (the
    pair with its code critic and the cGAN with its detail critic: networks with their own
    optimiser steps, also wrapped; the cGAN calls its discriminators in both of its steps)."""
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "deepfake_lab.cli", "train", "--arch", arch, "--steps", "3", "--batch", "2",
           "--out", str(out), "--no-progress", "--device", "cpu", *extra]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _, cfg = load_checkpoint(out / "model", kind="model")
    assert cfg["step"] == 3
    state = json.loads((out / "state.json").read_text())
    assert state["world_size"] == 2
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 3
    if net:   # the critic's weights travel in the training state, not in the model
        tensors, _ = load_checkpoint(out / "state", kind="training-state")
        assert any(k.startswith(f"train.{net}.") for k in tensors) and loss in rows[-1]


def test_eval_prints_the_expression_error_of_each_attribute(capsys) -> None:
    """The text report splits the expression error by attribute, with its sign; the JSON
    report carries the same numbers."""
    assert main(["eval", "--model", "cvae-synthfaces-64", "--n", "16"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "by attribute" in x)
    for name in ("smile", "mouth_open", "eyes_open", "brow_raise"):
        assert name in line
    assert main(["eval", "--model", "cvae-synthfaces-64", "--n", "16", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    smile = report["expr_by_attribute"]["smile"]
    assert f"smile {smile['mae']} ({smile['bias']:+})" in line
