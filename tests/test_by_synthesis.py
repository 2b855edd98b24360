"""Reading an expression back by synthesis recovers the truth, and sees a weakened one."""

from __future__ import annotations

import torch

from deepfake_lab.data.synthfaces import SCHEMA, Scene, render, sample_attributes
from deepfake_lab.eval.by_synthesis import read_by_synthesis

SMILE = SCHEMA.index("smile")


def test_ground_truth_reads_back_its_own_smile() -> None:
    g = torch.Generator().manual_seed(0)
    a = sample_attributes(6, g)
    scene = Scene.sample(6, g)
    images = render(a, size=64, scene=scene)
    grid = torch.linspace(-1, 1, 21)
    read = read_by_synthesis(images, a, scene, SMILE, grid)
    assert (read - a[:, SMILE]).abs().max() <= 0.1 + 1e-6   # one grid step at most


def test_a_weaker_smile_reads_weaker() -> None:
    """Faces drawn at half the asked smile read about half: the slope the benchmark reports."""
    g = torch.Generator().manual_seed(1)
    a = sample_attributes(6, g)
    a[:, SMILE] = torch.tensor([-1.0, -0.8, -0.6, 0.6, 0.8, 1.0])
    drawn = a.clone()
    drawn[:, SMILE] *= 0.5
    scene = Scene.sample(6, g)
    images = render(drawn, size=64, scene=scene)
    read = read_by_synthesis(images, a, scene, SMILE, torch.linspace(-1, 1, 21))
    assert torch.allclose(read, drawn[:, SMILE], atol=0.1 + 1e-6), (read, drawn[:, SMILE])
