"""benchmarks/network_interpolation.py: blending the bundled cGAN with the CVAE it started from."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from deepfake_lab.data.synthfaces import SCHEMA
from deepfake_lab.registry import load_model

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "network_interpolation.py"
spec = importlib.util.spec_from_file_location("network_interpolation", SCRIPT)
network_interpolation = importlib.util.module_from_spec(spec)
spec.loader.exec_module(network_interpolation)
blend = network_interpolation.blend


@pytest.fixture(scope="module")
def pair():
    return load_model("cgan-synthfaces-64"), load_model("cvae-synthfaces-64")


def _swap(model, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(4, 3, 64, 64, generator=g) * 2 - 1
    a = torch.rand(4, SCHEMA.dim, generator=g)
    return model.swap(x, a, a.roll(1, dims=0))


def test_ends_are_the_two_models(pair):
    cgan, cvae = pair
    assert torch.allclose(_swap(blend(cgan, cvae, 0.0)), _swap(cgan), atol=1e-6)
    assert torch.allclose(_swap(blend(cgan, cvae, 1.0)), _swap(cvae), atol=1e-5)
    half = _swap(blend(cgan, cvae, 0.5))
    assert not torch.allclose(half, _swap(cgan), atol=1e-3)
    assert not torch.allclose(half, _swap(cvae), atol=1e-3)


def test_scopes_split_the_generator(pair):
    cgan, cvae = pair
    fine = blend(cgan, cvae, 1.0, "fine").model.state_dict()
    coarse = blend(cgan, cvae, 1.0, "coarse").model.state_dict()
    ref_g, ref_v = cgan.model.state_dict(), cvae.model.state_dict()
    last = "generator.net.to_rgb.weight"
    first = "generator.net.fc.weight"
    assert torch.equal(fine[last], ref_v["decoder.to_rgb.weight"])
    assert torch.equal(fine[first], ref_g[first])
    assert torch.equal(coarse[first], ref_v["decoder.fc.weight"])
    assert torch.equal(coarse[last], ref_g[last])


def test_refuses_a_foreign_partner_and_bad_t(pair):
    cgan, cvae = pair
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        blend(cgan, cvae, 1.5)
    with pytest.raises(ValueError, match="not warm-started"):
        blend(cgan, load_model("two-decoder-woman-man-64"), 0.5)
