"""scripts/average_checkpoints.py: the mean of one run's checkpoints, and nothing else."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from deepfake_lab.checkpoints import CheckpointError, load_checkpoint, save_checkpoint

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "average_checkpoints.py"
spec = importlib.util.spec_from_file_location("average_checkpoints", SCRIPT)
average_checkpoints = importlib.util.module_from_spec(spec)
spec.loader.exec_module(average_checkpoints)


def _save(path: Path, step: int, w: torch.Tensor, lr: float = 1e-4) -> str:
    cfg = {"kind": "model", "architecture": "cvae", "recipe": {"lr": lr}, "step": step}
    save_checkpoint(path, {"w": w, "n": torch.tensor([7])}, cfg)
    return str(path)


def test_average_is_the_elementwise_mean_and_records_its_inputs(tmp_path):
    g = torch.Generator().manual_seed(0)
    ws = [torch.randn(4, 3, generator=g) for _ in range(3)]
    paths = [_save(tmp_path / f"s{i}", 100 * (i + 1), w) for i, w in enumerate(ws)]
    tensors, cfg = average_checkpoints.average(paths)
    torch.testing.assert_close(tensors["w"], torch.stack(ws).mean(0))
    assert tensors["n"].dtype == torch.int64 and tensors["n"].item() == 7
    assert cfg["step"] == 300 and cfg["averaged_from"] == ["s0@100", "s1@200", "s2@300"]
    out = save_checkpoint(tmp_path / "avg", tensors, cfg)
    back, back_cfg = load_checkpoint(out, kind="model")
    torch.testing.assert_close(back["w"], tensors["w"])
    assert back_cfg["architecture"] == "cvae"


def test_checkpoints_of_different_runs_are_refused(tmp_path):
    a = _save(tmp_path / "a", 100, torch.zeros(2))
    b = _save(tmp_path / "b", 200, torch.ones(2), lr=5e-4)        # another recipe
    with pytest.raises(CheckpointError, match="not the same model"):
        average_checkpoints.average([a, b])
    with pytest.raises(ValueError, match="at least two"):
        average_checkpoints.average([a])


def _save_two(path: Path, step: int, coarse: torch.Tensor, fine: torch.Tensor) -> str:
    cfg = {"kind": "model", "architecture": "cgan", "recipe": {}, "step": step}
    save_checkpoint(path, {"g.coarse.w": coarse, "g.fine.w": fine}, cfg)
    return str(path)


def test_only_averages_the_named_tensors_and_takes_the_rest_from_one_input(tmp_path):
    """``--only g.coarse``: the coarse tensor is the mean, the fine one and the config are the
    middle input's (or ``rest_from``'s), and the output says so."""
    g = torch.Generator().manual_seed(1)
    cs, fs = ([torch.randn(3, generator=g) for _ in range(3)] for _ in range(2))
    paths = [_save_two(tmp_path / f"s{i}", 100 * (i + 1), c, f)
             for i, (c, f) in enumerate(zip(cs, fs, strict=True))]
    tensors, cfg = average_checkpoints.average(paths, only=["g.coarse"])
    torch.testing.assert_close(tensors["g.coarse.w"], torch.stack(cs).mean(0))
    assert torch.equal(tensors["g.fine.w"], fs[1])
    assert cfg["step"] == 200 and cfg["rest_from"] == "s1@200"
    assert cfg["averaged_only"] == ["g.coarse"]
    tensors, cfg = average_checkpoints.average(paths, only=["g.coarse"], rest_from=paths[2])
    assert torch.equal(tensors["g.fine.w"], fs[2]) and cfg["step"] == 300
    with pytest.raises(ValueError, match="names no tensor"):
        average_checkpoints.average(paths, only=["g.middle"])
    with pytest.raises(ValueError, match="one of the inputs"):
        average_checkpoints.average(paths, only=["g.coarse"], rest_from=str(tmp_path / "x"))
    with pytest.raises(ValueError, match="give --only too"):
        average_checkpoints.average(paths, rest_from=paths[0])
