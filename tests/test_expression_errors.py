"""benchmarks/expression_errors.py: the expression error per attribute and per smile range."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from deepfake_lab.data.synthfaces import SCHEMA
from deepfake_lab.eval.judges import Judge

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "expression_errors.py"
spec = importlib.util.spec_from_file_location("expression_errors", SCRIPT)
expression_errors = importlib.util.module_from_spec(spec)
spec.loader.exec_module(expression_errors)


def _judge() -> Judge:
    torch.manual_seed(0)
    return Judge(width=8, features=32).eval()


def test_the_ground_truth_has_no_pixel_error_and_every_problem_is_counted() -> None:
    r = expression_errors.read_swaps(lambda b, ask: b["target_image"], _judge(), 40, seed=3)
    assert list(r["by_attribute"]) == ["smile", "mouth_open", "eyes_open", "brow_raise"]
    assert sum(v["n"] for v in r["smile_by_range"].values()) == 40
    assert r["frown_mouth_psnr"] is None                      # identical pixels
    copy = expression_errors.read_swaps(lambda b, ask: b["source_image"], _judge(), 40, seed=3)
    assert copy["frown_mouth_psnr"] < 40


def test_the_frown_gain_scales_only_negative_smiles() -> None:
    asked, true = [], []

    def record(b: dict, ask: torch.Tensor) -> torch.Tensor:
        asked.append(ask.clone())
        true.append(b["target_attributes"].clone())
        return b["target_image"]

    expression_errors.read_swaps(record, _judge(), 32, seed=3, frown_gain=2.0)
    ask, want = torch.cat(asked), torch.cat(true)
    s = SCHEMA.index("smile")
    neg = want[:, s] < 0
    assert neg.any() and (~neg).any()
    assert torch.allclose(ask[neg, s], 2 * want[neg, s])
    assert torch.equal(ask[~neg, s], want[~neg, s])
    others = [j for j in range(SCHEMA.dim) if j != s]
    assert torch.equal(ask[:, others], want[:, others])


def test_a_band_swap_takes_the_coarse_picture_from_one_and_the_detail_from_the_other() -> None:
    g = torch.Generator().manual_seed(0)
    a, b, c = (torch.rand(2, 3, 32, 32, generator=g) * 2 - 1 for _ in range(3))
    swap, blur = expression_errors.band_swap, expression_errors.blur_same
    assert swap(a, b, 2.0).shape == a.shape
    assert torch.allclose(swap(a, a, 2.0), a, atol=1e-5)
    # changing the coarse source changes only the coarse picture, and the reverse
    assert torch.allclose(swap(a, b, 2.0) - swap(c, b, 2.0), blur(a, 2.0) - blur(c, 2.0),
                          atol=1e-5)
    assert torch.allclose(swap(a, b, 2.0) - swap(a, c, 2.0),
                          (b - blur(b, 2.0)) - (c - blur(c, 2.0)), atol=1e-5)
    assert (blur(a, 2.0) - a).abs().mean() > 0.1          # the blur does remove detail
