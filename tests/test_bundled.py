"""The bundled weights: they load, fit their registry entries, stay within the size budget,
and clear a loose floor on a small evaluation (the README's figures come from the full
benchmarks; these only catch a broken or swapped file)."""

from __future__ import annotations

import json

import pytest
import torch

from deepfake_lab.checkpoints import checkpoint_paths
from deepfake_lab.eval.judges import BUNDLED_JUDGE, load_judge
from deepfake_lab.registry import BUNDLED, WEIGHTS_DIR, list_models, load_model

ROWS = list_models()
PRESENT = [r["name"] for r in ROWS]
SYNTH = [r["name"] for r in ROWS if r["data"] == "synthfaces"]
REAL = [r["name"] for r in ROWS if r["data"].startswith("facesets:")]
# ID retrieval floors at 64 swaps; measured at 512: CVAE 97 %, cGAN 90 % on the validation seed
# (83 % at these 64; 65 % before its anchor), pair 99 % (100 %; 72 % before its code critic)
ID_FLOOR = {"cvae-synthfaces-64": 80, "cgan-synthfaces-64": 65, "two-decoder-ada-boris-64": 80}
# expression ceilings at 64 swaps; measured at 512: CVAE 0.093 (0.140 before its reader polish),
# cGAN 0.103 on the validation seed (0.115 at these 64; 0.142 before its anchor)
EXPR_CEILING = {"cvae-synthfaces-64": 0.12, "cgan-synthfaces-64": 0.15}
# the GAN is there to be sharp: sharpness ratio 0.84 on the validation seed (0.86 at these 64;
# the CVAE's is 0.20)
SHARPNESS_FLOOR = {"cgan-synthfaces-64": 0.6}


def test_weights_are_shipped_within_budget() -> None:
    assert PRESENT, "no bundled model weights in deepfake_lab/weights"
    sizes = {p.name: p.stat().st_size for p in WEIGHTS_DIR.glob("*.safetensors")}
    assert all(s <= 10e6 for s in sizes.values()), sizes  # each file <= 10 MB
    assert sum(sizes.values()) <= 40e6, sizes             # all of them <= 40 MB
    card = (WEIGHTS_DIR / "MODEL_CARD.md").read_text()
    for name in PRESENT:
        assert name in card, f"{name} has no entry in weights/MODEL_CARD.md"


@pytest.mark.parametrize("name", PRESENT)
def test_bundled_model_loads_and_fits_its_entry(name: str) -> None:
    m = load_model(name)
    cfg = json.loads(checkpoint_paths(WEIGHTS_DIR / BUNDLED[name])[1].read_text())
    assert m.architecture == cfg["architecture"] and cfg.get("description")
    assert cfg.get("step", 0) > 0 and cfg.get("dtype") == "float16"
    assert all(torch.isfinite(p).all() for p in m.model.parameters())


@pytest.mark.parametrize("name", SYNTH)
def test_bundled_synthfaces_model_beats_the_mean_face(name: str) -> None:
    """On 64 held-out swaps: a face-region PSNR above the blurry 'mean face' baseline's."""
    from deepfake_lab.eval.swap_eval import evaluate_baseline, evaluate_model

    if not checkpoint_paths(BUNDLED_JUDGE)[1].exists():
        pytest.fail("the bundled judge is missing (deepfake_lab/weights/judge_synthfaces)")
    judge = load_judge()
    model = load_model(name)
    r = evaluate_model(model, judge, n=64, batch=32)
    mean = evaluate_baseline("mean", judge, n=64, batch=32,
                             two_decoder=model if model.architecture == "two-decoder" else None)
    assert r["psnr_face"] > mean["psnr_face"], (r, mean)
    # identity: the judge's nearest gallery person is the target far more often than for
    # the mean face (chance is 2 % among 50 people), and not far below what the bundled
    # file measured at 512 swaps (a floor some 20 points under it, for 64-swap noise)
    assert r["id_retrieval"] >= mean["id_retrieval"] + 10, (r, mean)
    assert r["id_retrieval"] >= ID_FLOOR.get(name, 0), (name, r)
    assert r["expr_mae"] <= EXPR_CEILING.get(name, 1.0), (name, r)
    assert r["sharpness_ratio"] >= SHARPNESS_FLOOR.get(name, 0.0), (name, r)


def test_bundled_judge_is_trusted_on_ground_truth() -> None:
    """The judge's verdicts count only if it reads the ground-truth swaps themselves right:
    ID retrieval >= 98 %, pose MAE <= 2 deg, expression MAE <= 0.05 (512 swaps in the README;
    64 here, so expression gets 0.01 of sampling slack)."""
    from deepfake_lab.eval.swap_eval import evaluate_baseline

    gt = evaluate_baseline("copy", load_judge(), n=64, batch=32)["ground_truth"]
    assert gt["id_retrieval"] >= 98 and gt["pose_mae_deg"] <= 2, gt
    assert gt["expr_mae"] <= 0.06, gt


@pytest.mark.parametrize("name", REAL)
def test_bundled_real_model_draws_faces(name: str) -> None:
    """On a few held-out frames: the face detector finds a face in most outputs."""
    from deepfake_lab.eval.real_eval import evaluate_real_swaps, real_data_for

    model = load_model(name)
    data = real_data_for(model)
    keep = ~data.held_out.clone()
    for k in range(len(data.people)):  # 4 held-out frames per person keep the test fast
        idx = ((data.identity == k) & data.held_out).nonzero()[:, 0]
        keep[idx[:4]] = True
    data = data.subset(keep)
    schema = model.schema

    def swap(x, a, to):
        if model.architecture == "two-decoder":
            return model.swap(x, to=to)
        onehot = torch.nn.functional.one_hot(torch.full((len(x),), to),
                                             len(data.people)).float()
        return model.swap(x, a, schema.with_identity(a, schema.normalize(onehot, "identity")))

    r = evaluate_real_swaps(swap, data, per_person=4)
    assert r["found"] >= 50.0, r
