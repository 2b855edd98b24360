"""Video pipeline speed on the bundled 640x360 clip: ms per frame per stage and end-to-end fps.

    python benchmarks/video.py --json                       # the README's figures
    python benchmarks/video.py --model two-decoder-ada-boris-64 --to boris

For each model (default: the three bundled 64 px models) it runs, on
``deepfake_lab/samples/clips/woman.mp4`` (640x360, 96 frames, 23.98 fps):

* ``decode`` - the threaded reader alone (ffmpeg -> uint8 frames), ms per frame;
* ``encode`` - the writer alone (frames -> ffmpeg libx264, CRF 20, veryfast), ms per frame;
* the whole pipeline (:func:`deepfake_lab.video.swap_video`: decode, track, align, generate,
  compose, mark, encode; decode and encode overlapped in threads) - ``fps`` is frames over
  the wall time of the call, start-up and the final flush included; ``thread_ms`` is the
  time per frame each stage took on the thread that runs it (track and align on the main
  thread, generate, compose and mark on the generate thread; ``decode`` there is time spent
  *waiting* for a decoded frame, ``encode`` handing frames to the writer, ``wait`` the main
  thread blocked on the generate thread), and ``thread_cpu_ms`` the same in CPU time;
* ``stages_ms`` / ``stages_cpu_ms`` - the seven stages side by side: decode and encode
  measured alone, the others from the pipeline run; ``cpu_ms_per_frame`` - all CPU time of
  the run (every thread and both ffmpeg processes) per frame: the wall time of a frame on one
  idle core, and what other busy processes on the machine cannot inflate;
* ``flicker`` of the swap with and without smoothing (:mod:`deepfake_lab.video.flicker`,
  same face regions from unsmoothed landmarks): below 1 = the swap moves less than the
  face did, lower is steadier.

Speed does not depend on the weights, only on the architecture and size.  When a bundled
model's weights are absent, an untrained model of the same architecture and size is used
and the output says so (``weights``).  ``--threads`` sets torch's threads (default 1, as
``deepfake-lab swap`` does: the other core decodes and encodes).  Run it alone: other busy
processes distort the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deepfake_lab.faces.backend import FaceBackend
    from deepfake_lab.registry import LoadedModel

ROOT = Path(__file__).resolve().parents[1]
BAR_FPS, GOAL_FPS = 15.0, 30.0
DEFAULT_TARGET = {"two-decoder": "boris", "cvae": "boris", "cgan": "boris"}


def get_model(name: str, tmp: Path) -> tuple:
    """``(LoadedModel, weights description)``: the bundled model, or an untrained twin."""
    import torch

    from deepfake_lab.attributes import SYNTHFACES_SCHEMA as SCHEMA
    from deepfake_lab.checkpoints import CheckpointError, save_checkpoint
    from deepfake_lab.models import (
        CGAN,
        CVAE,
        CGANConfig,
        CVAEConfig,
        TwoDecoder,
        TwoDecoderConfig,
    )
    from deepfake_lab.registry import BUNDLED, load_model

    try:
        return load_model(name), "trained (bundled)"
    except CheckpointError:
        if name not in BUNDLED:
            raise
    torch.manual_seed(0)
    if name.startswith("two-decoder"):
        cfg = TwoDecoderConfig(people=("ada", "boris"), size=64)
        net, arch = TwoDecoder(cfg), "two-decoder"
    elif name.startswith("cvae"):
        cfg, arch = CVAEConfig(size=64), "cvae"
        net = CVAE(cfg)
    else:
        cfg, arch = CGANConfig(size=64), "cgan"
        net = CGAN(cfg)
    save_checkpoint(tmp / name / "model", net.state_dict(),
                    {"kind": "model", "architecture": arch, "model": cfg.to_dict(),
                     "schema": SCHEMA.to_json()})
    model = load_model(tmp / name)
    model.name = name
    return model, "untrained (bundled weights absent; same architecture and size)"


class CpuTimer:
    """Wall time and CPU time (this process, all threads, plus finished child processes such
    as ffmpeg) of a block, in ms; CPU time is what other busy processes do not inflate."""

    def __enter__(self) -> CpuTimer:
        self.t, self.p, self.c = time.perf_counter(), time.process_time(), _children()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = (time.perf_counter() - self.t) * 1000
        self.cpu = (time.process_time() - self.p + _children() - self.c) * 1000


def _children() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def time_decode(clip: Path) -> tuple[dict, list]:
    """Wall and CPU ms per frame of the threaded reader alone, and the frames."""
    from deepfake_lab.video import FrameReader, plan

    with CpuTimer() as t, FrameReader(plan(clip)) as reader:
        frames = [f for _, f in reader]
    n = len(frames)
    return {"wall": round(t.wall / n, 2), "cpu": round(t.cpu / n, 2)}, frames


def time_encode(frames: list, fps: float, out: Path) -> dict:
    """Wall and CPU ms per frame of the writer alone (queue + ffmpeg libx264, complete file)."""
    from deepfake_lab.video import VideoWriter

    h, w = frames[0].shape[:2]
    with CpuTimer() as t:
        with VideoWriter(out, w, h, fps) as writer:
            for f in frames:
                writer.write(f)
    n = len(frames)
    return {"wall": round(t.wall / n, 2), "cpu": round(t.cpu / n, 2)}


def flicker_with_and_without_smoothing(clip: Path, model: LoadedModel, to: str,
                                       backend: FaceBackend, tmp: Path) -> dict:
    """Flicker of the swap with and without smoothing, on the same face regions."""
    from deepfake_lab.faces.media import iter_video
    from deepfake_lab.video import FaceTracker, RenderOptions, face_region, swap_video
    from deepfake_lab.video.flicker import measure_flicker as flick

    raw = FaceTracker(backend, smooth=False, attributes=False)
    regions = []
    for i, f in iter_video(clip):
        face = raw(f, i / 23.98)
        regions.append(None if face is None else face_region(face.landmarks, f.shape))
    out = {}
    for smooth in (False, True):
        ins, outs = [], []

        def keep(i, before, after, face, ins=ins, outs=outs) -> None:
            """Collect each frame before and after the swap."""
            ins.append(before)
            outs.append(after.copy())

        swap_video(clip, tmp / "flicker.mp4", model, to=to,
                   options=RenderOptions(progress=False, smooth=smooth, label=False,
                                         watermark=False), backend=backend, on_frame=keep)
        f = flick(ins, outs, regions[:len(ins)])
        out["smoothed" if smooth else "unsmoothed"] = round(f.ratio, 3)
    return out


def bench(name: str, clip: Path, args: argparse.Namespace, backend: FaceBackend,
          tmp: Path) -> dict:
    """One model's row: its fps, per-stage times and (optionally) flicker."""
    from deepfake_lab.video import RenderOptions, swap_video

    model, weights = get_model(name, tmp)
    to = args.to or DEFAULT_TARGET[model.architecture]
    opts = RenderOptions(progress=False, batch=args.batch)
    swap_video(clip, tmp / "warm.mp4", model, to=to, options=RenderOptions(
        progress=False, max_seconds=0.5), backend=backend)          # warm-up (first calls)
    best, best_cpu = None, None
    for _ in range(args.repeats):
        with CpuTimer() as t:
            report = swap_video(clip, tmp / "out.mp4", model, to=to, options=opts,
                                backend=backend)
        if best is None or report.seconds < best.seconds:
            best, best_cpu = report, t.cpu / report.frames
    row = {"model": name, "weights": weights, "architecture": model.architecture,
           "strategy": best.strategy, "frames": best.frames,
           "fps": round(best.render_fps, 1), "bar_ok": best.render_fps >= BAR_FPS,
           "goal_ok": best.render_fps >= GOAL_FPS,
           "cpu_ms_per_frame": round(best_cpu, 2),
           "thread_ms": best.stage_ms, "thread_cpu_ms": best.stage_cpu_ms,
           "tracking": best.tracking}
    if args.flicker:
        row["flicker"] = flicker_with_and_without_smoothing(clip, model, to, backend, tmp)
    return row


def main() -> None:
    """Run the benchmark; print a summary or one JSON object."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", default=str(ROOT / "deepfake_lab/samples/clips/woman.mp4"))
    ap.add_argument("--model", action="append", default=None,
                    help="model name or path (repeatable; default: the three bundled ones)")
    ap.add_argument("--to", default=None, help="target identity (default boris)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--batch", type=int, default=8, help="frames per generator call")
    ap.add_argument("--repeats", type=int, default=2, help="runs per model; the best counts")
    ap.add_argument("--no-flicker", dest="flicker", action="store_false",
                    help="skip the flicker measurement")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()

    import torch

    from deepfake_lab.faces import get_backend
    from deepfake_lab.video import plan

    torch.set_num_threads(args.threads)
    clip = Path(args.clip)
    names = args.model or ["cvae-synthfaces-64", "two-decoder-ada-boris-64",
                           "cgan-synthfaces-64"]
    backend = get_backend()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        decode_ms, frames = time_decode(clip)
        src = plan(clip)
        encode_ms = time_encode(frames, src.fps, tmp / "encode.mp4")
        rows = [bench(n, clip, args, backend, tmp) for n in names]
    for r in rows:  # decode and encode alone; the rest as the main thread spent it
        for key, src_key, kind in (("stages_ms", "thread_ms", "wall"),
                                   ("stages_cpu_ms", "thread_cpu_ms", "cpu")):
            m = r[src_key]
            r[key] = {"decode": decode_ms[kind], "track": m["track"], "align": m["align"],
                      "generate": m["generate"], "compose": m["compose"], "mark": m["mark"],
                      "encode": encode_ms[kind]}
    result = {
        "clip": str(clip.relative_to(ROOT)) if clip.is_relative_to(ROOT) else str(clip),
        "size": f"{src.width}x{src.height}", "frames": len(frames), "clip_fps": src.fps,
        "torch_threads": args.threads, "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2), "python": platform.python_version(),
        "torch": torch.__version__, "bar_fps": BAR_FPS, "goal_fps": GOAL_FPS,
        "models": rows,
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['clip']} ({result['size']}, {result['frames']} frames), torch threads "
          f"{args.threads}, {result['cpu_count']} CPUs, load {result['load_average_1min']}")
    for r in rows:
        s = r["stages_ms"]
        print(f"  {r['model']:26s} {r['fps']:5.1f} fps  ({r['strategy']}; {r['weights']})")
        print("    ms/frame wall: " + "  ".join(f"{k} {v:.1f}" for k, v in s.items()))
        c = r["stages_cpu_ms"]
        print("    ms/frame CPU:  " + "  ".join(f"{k} {v:.1f}" for k, v in c.items())
              + f"   (all threads + ffmpeg: {r['cpu_ms_per_frame']:.1f})")
        if "flicker" in r:
            print(f"    flicker: {r['flicker']['unsmoothed']} unsmoothed -> "
                  f"{r['flicker']['smoothed']} smoothed")


if __name__ == "__main__":
    main()
