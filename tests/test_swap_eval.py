"""The swap benchmark: an oracle scores like ground truth, copying the source does not."""

from __future__ import annotations

import pytest
import torch

from deepfake_lab.eval.judges import Judge, judge_loss
from deepfake_lab.eval.swap_eval import (
    conditional_problems,
    evaluate_swaps,
    pair_problems,
    trusted,
)
from deepfake_lab.train.two_decoder import person_identities

KEYS = {"id_retrieval", "pose_mae_deg", "expr_mae", "psnr", "psnr_face", "ssim",
        "sharpness_ratio", "kid", "ground_truth", "n_swaps"}


def _judge() -> Judge:
    torch.manual_seed(0)
    return Judge(width=8, features=32).eval()


def test_oracle_equals_ground_truth_and_copy_is_worse() -> None:
    judge = _judge()
    gallery, problems = conditional_problems(40, seed=3, batch=20)
    oracle = evaluate_swaps(lambda b: b["target_image"], problems, gallery, judge, 40)
    assert KEYS <= oracle.keys() and oracle["n_swaps"] == 40
    assert oracle["psnr"] == 100 and oracle["ssim"] == 1 and oracle["sharpness_ratio"] == 1
    for k in ("id_retrieval", "pose_mae_deg", "expr_mae", "expr_by_attribute"):
        assert oracle[k] == oracle["ground_truth"][k]
    by = oracle["expr_by_attribute"]
    assert list(by) == ["smile", "mouth_open", "eyes_open", "brow_raise"]
    assert sum(v["mae"] for v in by.values()) / 4 == pytest.approx(oracle["expr_mae"], abs=1e-3)
    assert all(abs(v["bias"]) <= v["mae"] for v in by.values())
    gallery, problems = conditional_problems(40, seed=3, batch=20)
    copy = evaluate_swaps(lambda b: b["source_image"], problems, gallery, judge, 40)
    assert copy["psnr"] < 30 and copy["ssim"] < 0.95
    assert copy["ground_truth"] == oracle["ground_truth"]      # same problems, same judge


def test_pair_problems_swap_between_the_two_people() -> None:
    ids = person_identities(("ada", "boris"))
    gallery, problems = pair_problems(ids, 16, batch=8)
    assert len(gallery) == 50 and torch.equal(gallery[:2], ids)
    b = next(problems)
    assert set(b["to"].tolist()) <= {0, 1}
    assert torch.equal(b["target_attributes"][:, :15], ids[b["to"]])


def test_judge_loss_weights_pose_and_expression_up() -> None:
    target = torch.zeros(1, 22)
    off_identity, off_pose = target.clone(), target.clone()
    off_identity[0, 0] = 0.5
    off_pose[0, 15] = 0.5
    assert judge_loss(off_pose, target) > judge_loss(off_identity, target)


def test_trust_bars() -> None:
    good = {"ground_truth": {"id_retrieval": 99.0, "pose_mae_deg": 1.5, "expr_mae": 0.04}}
    assert trusted(good)
    bad = {"ground_truth": {**good["ground_truth"], "expr_mae": 0.06}}
    assert not trusted(bad)


def test_train_judge_saves_resumes_and_loads(tmp_path) -> None:
    from deepfake_lab.checkpoints import load_checkpoint
    from deepfake_lab.eval.judges import load_judge, train_judge

    out = tmp_path / "judge"
    train_judge(out, steps=2, batch=4, save_every=1, progress=False)
    train_judge(out, steps=3, batch=4, save_every=1, progress=False)     # resumes at 2
    _, cfg = load_checkpoint(out, kind="judge")
    assert cfg["step"] == 3
    judge = load_judge(out)
    assert judge(torch.zeros(2, 3, 128, 128)).shape == (2, 22)        # any size -> 64 px
    assert not judge.training


def test_train_judge_time_budget_ends_with_a_checkpoint(tmp_path) -> None:
    """``max_minutes``: the run ends (and saves) when the budget is spent, far before
    ``steps``; the budget is recorded in the checkpoint's recipe."""
    from deepfake_lab.checkpoints import load_checkpoint
    from deepfake_lab.eval.judges import train_judge

    out = tmp_path / "judge"
    train_judge(out, steps=1000, batch=4, save_every=500, progress=False, max_minutes=1e-6)
    _, cfg = load_checkpoint(out, kind="judge")
    assert cfg["step"] == 1 and cfg["recipe"]["max_minutes"] == 1e-6


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_judge_on_the_gpu_scores_like_one_on_the_cpu() -> None:  # skipped in CI
    """A trainer's SwapEval holds the judge on the training device; problems stay on the CPU."""
    scores = []
    for device in ("cpu", "cuda"):
        gallery, problems = conditional_problems(40, seed=3, batch=20)
        scores.append(evaluate_swaps(lambda b: b["source_image"], problems, gallery,
                                     _judge().to(device), 40))
    assert scores[0]["id_retrieval"] == scores[1]["id_retrieval"]
    assert abs(scores[0]["pose_mae_deg"] - scores[1]["pose_mae_deg"]) < 0.05
