"""benchmarks/expression_entanglement.py: each model's change against the renderer's when one
expression attribute is redrawn."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "expression_entanglement.py"
spec = importlib.util.spec_from_file_location("expression_entanglement", SCRIPT)
expression_entanglement = importlib.util.module_from_spec(spec)
spec.loader.exec_module(expression_entanglement)


def test_the_renderers_change_stays_where_the_attribute_shows() -> None:
    rows = expression_entanglement.entanglement(["cvae-synthfaces-64"], "smile", n=24, seed=3,
                                                batch=12)
    truth, cvae = rows
    assert truth["model"] == "renderer" and truth["cf_loss"] == 0
    assert truth["change"] > 0 and truth["outside"] < 0.1
    # a redrawn smile is a few pixels that change a lot, not a faint change everywhere
    assert truth["peak"] > 0.2 and 1 <= truth["pixels"] < 0.02 * 64 * 64
    assert cvae["model"] == "cvae-synthfaces-64"
    assert cvae["change"] > 0 and 0 <= cvae["outside"] <= 1 and cvae["cf_loss"] > 0
    assert 0 < cvae["peak"] <= 2 and cvae["pixels"] >= 0
    with pytest.raises(ValueError):
        expression_entanglement.entanglement([], "yaw", n=4, batch=4)
