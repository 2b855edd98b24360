"""The sharp-versus-faithful frontier between the bundled cGAN and the CVAE it started from.

    python benchmarks/network_interpolation.py --n 512 --seed 7

The bundled cGAN was warm-started from the bundled CVAE (its generator *is* the CVAE's
decoder, trained further as a GAN; its inversion encoder is the CVAE's encoder, frozen), so
the two share every tensor name and shape and their weights can be blended::

    W(t) = (1 - t) * W_cGAN + t * W_CVAE            t = 0: the cGAN, t = 1: the CVAE

ESRGAN (Wang et al. 2018, "network interpolation") turns exactly this knob between a
PSNR-trained and a GAN-trained super-resolution network to trade fidelity for sharpness
without retraining.  Here it asks a question of the bundled models: is there a blend with the
CVAE's identity and expression *and* the cGAN's sharpness?  Each row is a full
``deepfake-lab eval`` of the blended model (same judge, same held-out problems).  Choose a
blend on a validation seed (``--seed 8``), never on the reporting seed 7.

``--scope fine`` blends only the last two up-sampling blocks and the RGB layer (the finest
detail), ``--scope coarse`` only the layers before them; ``all`` (default) blends everything.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import torch

from deepfake_lab.eval.judges import load_judge
from deepfake_lab.eval.swap_eval import evaluate_model
from deepfake_lab.registry import LoadedModel, load_model

KEYS = ("id_retrieval", "pose_mae_deg", "expr_mae", "psnr_face", "sharpness_ratio", "kid")


def blend(cgan: LoadedModel, cvae: LoadedModel, t: float, scope: str = "all") -> LoadedModel:
    """The cGAN with its weights moved a fraction ``t`` of the way to the CVAE's."""
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"t must lie in [0, 1], got {t}")
    mine, theirs = cgan.model.state_dict(), cvae.model.state_dict()
    n_ups = len(cgan.model.generator.net.ups)      # the finest detail: the last two and RGB
    fine = (f"generator.net.ups.{n_ups - 2}.", f"generator.net.ups.{n_ups - 1}.",
            "generator.net.to_rgb.")
    out = {}
    for k, w in mine.items():
        if k.startswith("discriminator."):   # not bundled, not used by a swap
            continue
        partner = k.replace("generator.net.", "decoder.")
        if partner not in theirs or theirs[partner].shape != w.shape:
            raise ValueError(f"{k}: the CVAE has no tensor of this shape - the cGAN was not "
                             "warm-started from this CVAE")
        if scope == "all":
            use = True
        elif k.startswith("generator."):
            use = k.startswith(fine) == (scope == "fine")
        else:           # the encoder: the CVAE's own, frozen, so equal in both anyway
            use = False
        out[k] = torch.lerp(w, theirs[partner], t) if use else w.clone()
    model = type(cgan.model)(cgan.model.cfg)
    missing, _ = model.load_state_dict(out, strict=False)
    if any(not m.startswith("discriminator.") for m in missing):
        raise ValueError(f"blend left tensors unset: {missing}")
    return dataclasses.replace(cgan, model=model.eval(), name=f"{cgan.name} t={t:g}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cgan", default="cgan-synthfaces-64")
    ap.add_argument("--cvae", default="cvae-synthfaces-64")
    ap.add_argument("--t", type=float, nargs="+", default=[0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 1.0])
    ap.add_argument("--scope", choices=("all", "fine", "coarse"), default="all")
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    judge, cgan, cvae = load_judge(), load_model(args.cgan), load_model(args.cvae)
    rows, t0 = [], time.perf_counter()
    for t in args.t:
        r = evaluate_model(blend(cgan, cvae, t, args.scope), judge, n=args.n, seed=args.seed)
        rows.append({"t": t, **{k: r[k] for k in KEYS}})
    if args.json:
        print(json.dumps({"scope": args.scope, "seed": args.seed, "n": args.n, "rows": rows,
                          "seconds": round(time.perf_counter() - t0)}))
        return
    print(f"scope {args.scope}, seed {args.seed}, {args.n} swaps")
    print("| t | " + " | ".join(KEYS) + " |\n|---|" + "---|" * len(KEYS))
    for r in rows:
        print(f"| {r['t']:g} | " + " | ".join(f"{r[k]:g}" for k in KEYS) + " |")


if __name__ == "__main__":
    main()
