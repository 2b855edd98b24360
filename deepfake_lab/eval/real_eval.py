"""Judging swaps of *real* faces, where no ground truth exists.

SynthFaces can render the exact answer of a swap; real footage cannot.  For a model trained
on real facesets (``deepfake-lab train --data woman,man``) we measure, on each faceset's
**held-out** final frames (never trained on), what can be measured without an answer, with
the same face pipeline that reads real video (dlib, models from wheels):

==================  ======================================================================
``id_closer``       % of swaps whose 128-d dlib identity embedding lies closer to the
                    *target* person's mean embedding than to the *source* person's (means
                    over each person's training crops)
``pose_mae_deg``    mean |pose(output) - pose(source)| over yaw, pitch, roll: does the swap
                    keep the driving frame's head pose?  (landmarks + solvePnP on both)
``expr_mae``        the same for smile, mouth_open, eyes_open, brow_raise (schema units)
``found``           % of outputs in which the detector found a face at all
``by_direction``    per "source -> target": pose MAE per axis and its *signed* mean (a
                    bias: the output turned consistently one way), expression MAE, count
==================  ======================================================================

The per-direction view tells a model that cannot reach a pose (the target person's footage
never shows it: the error is a bias of one sign) from one that is merely imprecise.

Sources and outputs go through the same path (upscaled to ``analysis_size`` with bicubic
filtering, detected, 68 landmarks, embedding), so any bias of the estimator on small, soft
crops affects both sides.  The ``copy`` baseline (output = source) shows the floor: 0 %
``id_closer`` by construction and the estimator's own pose noise (0 when nothing changes).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..attributes import EXPRESSION, POSE
from ..data.faceset_stream import FacesetTensors, load_facesets
from ..faces.backend import FaceBackend, get_backend
from ..faces.estimate import estimate_attributes
from ..images import to_uint8

ANALYSIS_SIZE = 256  # px: dlib's HOG detector needs faces of ~80 px and more


def analyse(images: torch.Tensor, backend: FaceBackend, size: int = ANALYSIS_SIZE
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Faces ``(N, 3, S, S)`` in [-1, 1] -> ``(found (N,), embeddings (N, 128),
    attributes (N, 7) pose | expression in physical units)``; NaN rows where no face."""
    big = F.interpolate(images.float(), size=(size, size), mode="bicubic",
                        align_corners=False).clamp(-1, 1)            # (N, 3, size, size)
    names = [a.name for a in POSE + EXPRESSION]
    n = len(big)
    found = np.zeros(n, bool)
    emb = np.full((n, backend.embedding_dim), np.nan, np.float32)
    attrs = np.full((n, len(names)), np.nan, np.float32)
    for i in range(n):
        img = to_uint8(big[i])                                         # (size, size, 3)
        boxes = backend.detect(img)
        if not boxes:
            continue
        lm = backend.landmarks(img, boxes[0])
        found[i] = True
        emb[i] = backend.embedding(img, lm)
        a = estimate_attributes(lm, (size, size))
        attrs[i] = [a[k] for k in names]
    return found, emb, attrs


def _person_means(data: FacesetTensors, backend: FaceBackend, per_person: int
                  ) -> np.ndarray:
    """Mean embedding of each person over (up to) ``per_person`` of their training crops."""
    train = data.train()
    means = []
    for k in range(len(data.people)):
        faces = train.person(k).images
        pick = torch.linspace(0, len(faces) - 1, min(per_person, len(faces))).long()
        found, emb, _ = analyse(faces[pick], backend)
        if not found.any():
            raise RuntimeError(f"no face found in {data.people[k]}'s training crops")
        means.append(emb[found].mean(0))
    return np.stack(means)


SwapFn = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]


@torch.no_grad()
def evaluate_real_swaps(swap: SwapFn, data: FacesetTensors, *, per_person: int = 40,
                        backend: FaceBackend | None = None, progress: bool = False) -> dict:
    """Score ``swap(images, attributes, target_index) -> images`` on the held-out frames:
    every person's held-out faces go to the next person (``(k + 1) % P``)."""
    backend = backend or get_backend("dlib", detect_size=ANALYSIS_SIZE)
    means = _person_means(data, backend, per_person)                   # (P, 128)
    test = data.test()
    hits, pose_err, expr_err, found_all = [], [], [], []
    by_direction: dict[str, dict] = {}
    axes = [a.name for a in POSE]
    people = range(len(data.people))
    for k in tqdm(people, desc="real swaps", disable=not progress):
        src = test.person(k)
        to = (k + 1) % len(data.people)
        out = swap(src.images, src.attributes, to).float().cpu()
        f_src, _, a_src = analyse(src.images, backend)
        f_out, e_out, a_out = analyse(out, backend)
        ok = f_src & f_out
        found_all.append(f_out)
        d = np.linalg.norm(e_out[ok][:, None] - means[None], axis=2)   # (n, P)
        hits.append(d[:, to] < d[:, k])
        diff = a_out[ok] - a_src[ok]                                    # (n, 7) signed
        err = np.abs(diff)
        pose_err.append(err[:, :len(POSE)].mean(1))
        expr_err.append(err[:, len(POSE):].mean(1))
        if ok.any():
            by_direction[f"{data.people[k]}->{data.people[to]}"] = {
                "n_scored": int(ok.sum()),
                "pose_mae_deg": dict(zip(axes, np.round(err[:, :len(POSE)].mean(0), 2).tolist(),
                                         strict=True)),
                "pose_bias_deg": dict(zip(axes, np.round(diff[:, :len(POSE)].mean(0),
                                                         2).tolist(), strict=True)),
                "expr_mae": round(float(err[:, len(POSE):].mean()), 4)}
    hits_, pose_, expr_ = (np.concatenate(v) for v in (hits, pose_err, expr_err))
    return {"id_closer": round(100 * float(hits_.mean()), 2) if len(hits_) else 0.0,
            "pose_mae_deg": round(float(pose_.mean()), 3) if len(pose_) else float("nan"),
            "expr_mae": round(float(expr_.mean()), 4) if len(expr_) else float("nan"),
            "found": round(100 * float(np.concatenate(found_all).mean()), 2),
            "n_swaps": int(sum(len(test.person(k)) for k in people)),
            "n_scored": int(len(hits_)), "people": list(data.people),
            "by_direction": by_direction}


def real_data_for(model) -> FacesetTensors:
    """The facesets a real-face model was trained on, at its size, with its schema."""
    data = model.config.get("data")
    if not isinstance(data, dict) or data.get("kind") != "facesets":
        raise ValueError(f"{model.name} was not trained on real facesets (data: {data!r})")
    return FacesetTensors.build(load_facesets(data["facesets"]), model.size, model.schema,
                                held_out=float(data.get("held_out", 0.15)))


def evaluate_real_model(model, per_person: int = 40, progress: bool = False) -> dict:
    """:func:`evaluate_real_swaps` for a :class:`~deepfake_lab.registry.LoadedModel`."""
    data = real_data_for(model)
    schema = model.schema

    def swap(x: torch.Tensor, a: torch.Tensor, to: int) -> torch.Tensor:
        if model.architecture == "two-decoder":
            return model.swap(x, to=to)
        onehot = F.one_hot(torch.full((len(x),), to), len(data.people)).float()
        return model.swap(x, a, schema.with_identity(a, schema.normalize(onehot, "identity")))

    return {"model": model.name, **evaluate_real_swaps(swap, data, per_person=per_person,
                                                       progress=progress)}


def evaluate_real_copy(data: FacesetTensors, per_person: int = 40) -> dict:
    """The ``copy`` baseline: the output is the source frame itself."""
    return {"model": "baseline:copy",
            **evaluate_real_swaps(lambda x, a, to: x, data, per_person=per_person)}
