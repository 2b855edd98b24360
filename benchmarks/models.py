"""Speed of the three architectures on this machine: inference latency and training throughput.

    python benchmarks/models.py --json            # 2 CPU threads, as on CI / a free HF Space

* ``latency_ms``: forward pass of the generating network at batch 1 (p50 and p90 over
  ``--repeats`` runs after warm-up) at 64 and 128 px - the CVAE and two-decoder swap (encoder +
  decoder), the cGAN generator, and the cGAN swap (inversion encoder + generator).  Latency
  does not depend on the weights, so 128 px uses the same architectures untrained.
* ``train_images_per_s``: images per second of each training recipe at 64 px (data rendering
  included), median over ``--train-steps`` steps after warm-up.

Run it alone: other processes on the same cores distort every figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from deepfake_lab.data.synthfaces import SCHEMA
from deepfake_lab.models import CGAN, CVAE, CGANConfig, CVAEConfig, TwoDecoder, TwoDecoderConfig
from deepfake_lab.train import make_recipe


def _times(fn, repeats: int, warmup: int = 5) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


@torch.no_grad()
def latency(size: int, repeats: int) -> dict:
    torch.manual_seed(0)
    x, a = torch.rand(1, 3, size, size) * 2 - 1, torch.zeros(1, SCHEMA.dim)
    cvae = CVAE(CVAEConfig(size=size)).eval()
    gan = CGAN(CGANConfig(size=size)).eval()
    two = TwoDecoder(TwoDecoderConfig(size=size)).eval()
    z = gan.sample_z(1)
    cases = {
        "cvae_swap": lambda: cvae.swap(x, a, a),
        "cvae_decoder": lambda: cvae.decode(torch.zeros(1, cvae.cfg.latent), a),
        "cgan_generator": lambda: gan.generator(z, a),
        "cgan_swap": lambda: gan.swap(x, a, a),
        "two_decoder_swap": lambda: two.swap(x, 1),
    }
    out = {}
    for name, fn in cases.items():
        t = sorted(_times(fn, repeats))
        out[name] = {"p50": round(statistics.median(t), 2),
                     "p90": round(t[int(0.9 * (len(t) - 1))], 2)}
    return out


def train_throughput(arch: str, steps: int) -> float:
    recipe = make_recipe(arch)
    data = recipe.batches(0, 0, 1)
    for m in recipe.nets.values():
        m.train()
    rates = []
    for step in range(steps + 2):
        t0 = time.perf_counter()
        batch = next(data)
        recipe.training_step(batch, step)
        n = sum(len(v) for k, v in batch.items() if k.startswith("image"))
        if step >= 2:
            rates.append(n / (time.perf_counter() - t0))
    return round(statistics.median(rates), 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--train-steps", type=int, default=8)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    result = {
        "threads": args.threads,
        "torch": torch.__version__,
        "latency_ms": {f"{s}px": latency(s, args.repeats) for s in (64, 128)},
        "train_images_per_s": {a: train_throughput(a, args.train_steps)
                               for a in ("two-decoder", "cvae", "cgan")},
    }
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
