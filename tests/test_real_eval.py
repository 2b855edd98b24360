"""The real-swap judge: the copy baseline scores 0 % identity change and no pose error, and
an oracle that returns the *target* person's own frames is recognised as that person."""

from __future__ import annotations

import pytest
import torch

from deepfake_lab.attributes import learned_identity_schema
from deepfake_lab.data.faceset_stream import FacesetTensors, load_facesets
from deepfake_lab.eval.real_eval import evaluate_real_swaps, real_data_for


@pytest.fixture(scope="module")
def data() -> FacesetTensors:
    full = FacesetTensors.build(load_facesets(["woman", "man"]), 64,
                                learned_identity_schema(["woman", "man"]))
    keep = ~full.held_out.clone()
    for k in range(2):  # 6 held-out frames per person keep the test fast
        idx = ((full.identity == k) & full.held_out).nonzero()[:, 0]
        keep[idx[:6]] = True
    return full.subset(keep)


def test_copy_changes_nobody(data: FacesetTensors) -> None:
    r = evaluate_real_swaps(lambda x, a, to: x, data, per_person=6)
    assert r["n_swaps"] == 12 and r["found"] == 100.0
    assert r["id_closer"] == 0.0 and r["pose_mae_deg"] == 0.0 and r["expr_mae"] == 0.0
    assert set(r["by_direction"]) == {"woman->man", "man->woman"}
    for d in r["by_direction"].values():
        assert d["n_scored"] == 6 and set(d["pose_bias_deg"].values()) == {0.0}


def test_the_target_persons_own_face_counts_as_a_swap(data: FacesetTensors) -> None:
    test = data.test()

    def oracle(x: torch.Tensor, a: torch.Tensor, to: int) -> torch.Tensor:
        return test.person(to).images[: len(x)]

    r = evaluate_real_swaps(oracle, data, per_person=6)
    assert r["id_closer"] == 100.0
    # Another person's frame keeps neither pose nor expression exactly: errors show.
    assert r["pose_mae_deg"] > 0.5 and r["expr_mae"] > 0.01
    # The per-direction, per-axis errors average back to the overall figure (equal counts).
    per_axis = [v for d in r["by_direction"].values() for v in d["pose_mae_deg"].values()]
    assert abs(sum(per_axis) / len(per_axis) - r["pose_mae_deg"]) < 0.02
    for d in r["by_direction"].values():  # a bias never exceeds the error it comes from
        assert all(abs(d["pose_bias_deg"][k]) <= d["pose_mae_deg"][k] + 0.01
                   for k in d["pose_mae_deg"])


def test_a_synthfaces_model_is_refused() -> None:
    from types import SimpleNamespace

    with pytest.raises(ValueError, match="not trained on real facesets"):
        real_data_for(SimpleNamespace(name="x", config={"data": "synthfaces"}))
