"""Judging swaps against their exact ground truth.

SynthFaces can render what a perfect swap looks like: the target person with the source's
pose, expression, lighting and background.  So for every swap problem we have the model's
output *and* the answer, and measure:

=================  =========================================================================
``id_retrieval``   % of outputs whose judged identity is nearest to the *target* person in a
                   gallery of 50 people (the held-out people; for a two-decoder model, its
                   two people plus 48 held-out ones).  Gallery entry = mean judged identity
                   over 4 renders of that person.
``pose_mae_deg``   mean |judged pose - source pose| in degrees (yaw, pitch, roll averaged)
``expr_mae``       mean |judged expression - source expression| in schema units
``expr_by_attribute`` the same per expression attribute (``mae``), with the signed mean
                   (``bias``: > 0 reads too much, e.g. a frown drawn too happy)
``psnr``           dB against the ground truth, whole image; ``psnr_face`` inside the face
``ssim``           structural similarity against the ground truth
``sharpness_ratio`` Laplacian variance of outputs / of ground truths (blur < 1)
``kid``            KID between judge features of outputs and of ground truths
=================  =========================================================================

``ground_truth`` holds the judge's own scores on the ground-truth images: the floor any model
can reach, and the proof that the judge can be trusted (ID >= 98 %, pose <= 2 deg,
expression <= 0.05).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from tqdm.auto import tqdm

from ..data.synth_datasets import swap_pairs, synthfaces_population
from ..data.synthfaces import SCHEMA, Scene, render, sample_pose_expression
from .judges import Judge
from .metrics import face_mask, kid, laplacian_variance, psnr, ssim

SwapFn = Callable[[dict], torch.Tensor]
TRUST = {"id_retrieval": 98.0, "pose_mae_deg": 2.0, "expr_mae": 0.05}


@torch.no_grad()
def judge_gallery(judge: Judge, identities: torch.Tensor, views: int = 4, size: int = 64,
                  seed: int = 99) -> torch.Tensor:
    """(P, n_identity) identities -> (P, n_identity) mean judged identity over ``views``."""
    g = torch.Generator().manual_seed(seed)
    p = len(identities)
    who = torch.arange(p).repeat(views)
    attrs = torch.cat([identities[who], sample_pose_expression(len(who), g)], 1)
    images = render(attrs, size=size, scene=Scene.sample(len(who), g))
    pred = torch.cat([_judged(judge, b) for b in images.split(128)])[:, SCHEMA.identity_slice]
    return pred.view(views, p, -1).mean(0)


def conditional_problems(n: int, size: int = 64, seed: int = 7, batch: int = 32
                         ) -> tuple[torch.Tensor, Iterator[dict]]:
    """``(gallery identities, batches)``: held-out people swapped among themselves."""
    people, _, test = synthfaces_population()
    pos = {int(i): k for k, i in enumerate(test)}

    def gen() -> Iterator[dict]:
        for b in swap_pairs(people, test, batch_size=batch, size=size, seed=seed,
                            n_batches=-(-n // batch)):
            b["target_index"] = torch.tensor([pos[int(i)] for i in b["target_identity"]])
            yield b
    return people[test], gen()


def pair_problems(identities: torch.Tensor, n: int, size: int = 64, seed: int = 7,
                  batch: int = 32, gallery_size: int = 50) -> tuple[torch.Tensor, Iterator[dict]]:
    """Swaps between the people of a two-decoder model (rows 0..P-1 of the gallery, which
    is padded with held-out people to ``gallery_size``); ``to`` holds the target index."""
    people, _, test = synthfaces_population()
    gallery = torch.cat([identities, people[test][: gallery_size - len(identities)]])
    p = len(identities)

    def gen() -> Iterator[dict]:
        g = torch.Generator().manual_seed(seed)
        for _ in range(-(-n // batch)):
            src = torch.randint(p, (batch,), generator=g)
            tgt = (src + torch.randint(1, p, (batch,), generator=g)) % p
            pe = sample_pose_expression(batch, g)
            scn = Scene.sample(batch, g)
            a_s = torch.cat([identities[src], pe], 1)
            a_t = SCHEMA.with_identity(a_s, identities[tgt])
            images = render(torch.cat([a_s, a_t]), size=size, scene=Scene.cat([scn, scn]))
            yield {"source_image": images[:batch], "source_attributes": a_s,
                   "target_attributes": a_t, "target_image": images[batch:],
                   "target_index": tgt, "to": tgt}
    return gallery, gen()


def _judged(judge: Judge, images: torch.Tensor, features: bool = False) -> torch.Tensor:
    """Run the judge on its own device (a trainer's GPU, say); results come back on the CPU,
    where the problems and the gallery live."""
    dev = next(judge.parameters()).device
    x = images.to(dev)
    return (judge.features(x) if features else judge(x)).cpu()


def _judge_scores(judge: Judge, images: torch.Tensor, batch: dict, gallery: torch.Tensor
                  ) -> dict[str, torch.Tensor]:
    pred = _judged(judge, images)
    ident = pred[:, SCHEMA.identity_slice]
    hit = torch.cdist(ident, gallery).argmin(1) == batch["target_index"]
    signed = SCHEMA.denormalize(pred) - SCHEMA.denormalize(batch["target_attributes"])
    err = signed.abs()
    return {"hit": hit.float(), "pose": err[:, SCHEMA.pose_slice].mean(1),
            "expr": err[:, SCHEMA.expression_slice].mean(1),
            "expr_signed": signed[:, SCHEMA.expression_slice],                # (B, n_expr)
            "feat": _judged(judge, images, features=True)}


def expression_errors(signed: torch.Tensor) -> dict[str, dict[str, float]]:
    """``{attribute: {"mae", "bias"}}`` from signed expression errors (n, n_expression), in
    the schema's order of the expression attributes."""
    return {a.name: {"mae": round(signed[:, j].abs().mean().item(), 4),
                     "bias": round(signed[:, j].mean().item(), 4)}
            for j, a in enumerate(SCHEMA.expression)}


@torch.no_grad()
def evaluate_swaps(swap: SwapFn, problems: Iterator[dict], gallery_identities: torch.Tensor,
                   judge: Judge, n: int, progress: bool = False) -> dict:
    """Run ``swap(batch) -> images`` on ``n`` problems and score it (see module docstring)."""
    gallery = judge_gallery(judge, gallery_identities)
    acc: dict[str, list[torch.Tensor]] = {}
    gt_acc: dict[str, list[torch.Tensor]] = {}
    done = 0
    bar = tqdm(total=n, desc="eval", disable=not progress)
    for b in problems:
        out = swap(b).float().cpu().clamp(-1, 1)
        gt = b["target_image"]
        size = gt.shape[-1]
        for store, images in ((acc, out), (gt_acc, gt)):
            for k, v in _judge_scores(judge, images, b, gallery).items():
                store.setdefault(k, []).append(v)
        acc.setdefault("psnr", []).append(psnr(out, gt))
        acc.setdefault("psnr_face", []).append(psnr(out, gt, face_mask(size)))
        acc.setdefault("ssim", []).append(ssim(out, gt))
        acc.setdefault("lap_out", []).append(laplacian_variance(out))
        acc.setdefault("lap_gt", []).append(laplacian_variance(gt))
        done += len(out)
        bar.update(len(out))
        if done >= n:
            break
    bar.close()
    cat = {k: torch.cat(v)[:n] for k, v in acc.items()}
    gcat = {k: torch.cat(v)[:n] for k, v in gt_acc.items()}
    half = len(gcat["feat"]) // 2

    def block(c: dict) -> dict:
        return {"id_retrieval": round(100 * c["hit"].mean().item(), 2),
                "pose_mae_deg": round(c["pose"].mean().item(), 3),
                "expr_mae": round(c["expr"].mean().item(), 4),
                "expr_by_attribute": expression_errors(c["expr_signed"])}

    subset = min(200, half)
    return {
        **block(cat),
        "psnr": round(cat["psnr"].mean().item(), 3),
        "psnr_face": round(cat["psnr_face"].mean().item(), 3),
        "ssim": round(cat["ssim"].mean().item(), 4),
        "sharpness_ratio": round((cat["lap_out"].mean() / cat["lap_gt"].mean()).item(), 4),
        "kid": round(kid(cat["feat"], gcat["feat"], subset_size=subset)[0], 5),
        "n_swaps": len(cat["hit"]),
        "ground_truth": {**block(gcat),
                         "kid": round(kid(gcat["feat"][:half], gcat["feat"][half:],
                                          subset_size=subset)[0], 5)},
    }


def trusted(report: dict) -> bool:
    """Whether the judge's ground-truth scores clear the bars that make it trustworthy."""
    gt = report["ground_truth"]
    return (gt["id_retrieval"] >= TRUST["id_retrieval"]
            and gt["pose_mae_deg"] <= TRUST["pose_mae_deg"]
            and gt["expr_mae"] <= TRUST["expr_mae"])


def _problems_for(model, n: int, seed: int, batch: int):
    if model is None or model.architecture != "two-decoder":
        return conditional_problems(n, size=64 if model is None else model.size, seed=seed,
                                    batch=batch)
    ids = torch.tensor(model.config["people_identities"])
    return pair_problems(ids, n, size=model.size, seed=seed, batch=batch)


def evaluate_model(model, judge: Judge | None = None, n: int = 512, seed: int = 7,
                   batch: int = 32, progress: bool = False) -> dict:
    """Score a :class:`~deepfake_lab.registry.LoadedModel` on ``n`` held-out swaps."""
    from .judges import load_judge
    judge = judge or load_judge()
    gallery, problems = _problems_for(model, n, seed, batch)
    if model.architecture == "two-decoder":
        def swap(b: dict) -> torch.Tensor:
            out = torch.empty_like(b["source_image"])
            for k in b["to"].unique().tolist():
                sel = b["to"] == k
                out[sel] = model.swap(b["source_image"][sel], to=k).cpu()
            return out
    else:
        def swap(b: dict) -> torch.Tensor:
            return model.swap(b["source_image"], b["source_attributes"],
                              b["target_attributes"])
    report = evaluate_swaps(swap, problems, gallery, judge, n, progress)
    return {"model": model.name, "architecture": model.architecture, **report}


def evaluate_baseline(kind: str, judge: Judge | None = None, n: int = 512, seed: int = 7,
                      batch: int = 32, two_decoder=None) -> dict:
    """Baselines on the same problems: ``"copy"`` returns the source unchanged, ``"mean"``
    returns the mean ground-truth face of the evaluation set (a blurry average person)."""
    from .judges import load_judge
    judge = judge or load_judge()
    if kind not in ("copy", "mean"):
        raise ValueError(f"unknown baseline {kind!r}: use 'copy' or 'mean'")
    gallery, problems = _problems_for(two_decoder, n, seed, batch)
    if kind == "copy":
        swap = lambda b: b["source_image"]
    else:
        _, again = _problems_for(two_decoder, n, seed, batch)
        mean = torch.cat([b["target_image"] for b in again])[:n].mean(0, keepdim=True)
        swap = lambda b: mean.expand_as(b["source_image"])
    return {"model": f"baseline:{kind}", **evaluate_swaps(swap, problems, gallery, judge, n)}
