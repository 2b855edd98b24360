"""What watching costs: training images/s with and without the dashboard, same run length.

    python benchmarks/dashboard.py --json             # CVAE, 64 px, batch 16, 100 steps, x3

Three ways to run the same recipe for the same number of steps, with the same Trainer settings
(log and preview every ``--refresh`` steps, the default 25; checkpoints and sample grids as
the studio's Train tab writes them), interleaved ``--repeats`` times in rotating order:

* ``bare`` - no callbacks;
* ``notebook`` - what a notebook attaches: FLOP counting (once, at the start), the swap
  evaluator, and the ipywidgets :class:`~deepfake_lab.train.live.LivePanel` (status line,
  preview grid, throttled learning curves), undisplayed;
* ``studio`` - a Train-tab job: FLOP counting, the swap evaluator and the thread-safe
  recorder, plus a second thread doing what the tab's stream does on every change (the
  status, the throttled curves, the labelled and watermarked preview PNG).

Two measures per run, each over the whole ``fit`` (callbacks, previews, checkpoints, and for
``studio`` the stream's thread included):

* ``images_per_s`` - the Trainer's own wall-clock figure;
* ``cpu_ms_per_image`` - CPU time of the whole process (every thread) per image.  On a
  machine shared with other jobs the wall clock swings by tens of percent from run to run
  while the CPU time a run needs barely moves, so this is the figure that can resolve a few
  percent; with one torch thread (the default here) no thread spins while waiting.

* ``accounted_pct`` (dashboards only) - the time the dashboard spent, measured where it is
  spent (:class:`Accounting`), as a share of the rest of the run: a cross-check that the
  load of other processes cannot blur.

The report gives each setup's medians and their ratios to ``bare``.

The swap evaluator runs every 500 steps (``EVAL_EVERY``), so a run of ``--steps`` < 500 does
not evaluate (the one a studio job adds at its last step is left out here too); one
evaluation of 64 swaps is timed separately and reported as the share of 500 steps at the
measured speed.  Without a bundled judge the evaluation is timed with an untrained judge of
the same network (same cost).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import torch

from deepfake_lab.eval.judges import Judge
from deepfake_lab.studio.training_job import (
    JobSettings,
    TrainingJob,
    job_callbacks,
    job_trainer_args,
    make_job_recipe,
    marked_preview,
    png_bytes,
)
from deepfake_lab.train.callbacks import EVAL_EVERY, EVAL_N, REFRESH_EVERY, SwapEval
from deepfake_lab.train.live import LivePanel
from deepfake_lab.train.trainer import Trainer

SETUPS = ("bare", "notebook", "studio")


def judge_for_timing() -> tuple[Judge, str]:
    """The bundled judge, or an untrained one of the same network."""
    from deepfake_lab.checkpoints import CheckpointError
    from deepfake_lab.eval.judges import load_judge
    try:
        return load_judge(), "bundled"
    except (CheckpointError, OSError):
        torch.manual_seed(0)
        return Judge().eval(), "untrained stand-in (same network, same cost)"


class Accounting:
    """Time the dashboard itself spends, measured where it is spent: inside the Trainer's
    callback events, in the probe grids computed for callbacks only (a bare run computes one
    per sample grid), and the CPU time of the studio's stream thread."""

    def __init__(self, trainer: Trainer) -> None:
        self.callbacks_s = self.previews_s = self.stream_cpu_s = 0.0
        emit, preview = trainer.emit, trainer.recipe.preview

        def timed_emit(*args):
            t0 = time.perf_counter()
            try:
                return emit(*args)
            finally:
                self.callbacks_s += time.perf_counter() - t0

        def timed_preview():
            t0 = time.perf_counter()
            try:
                return preview()
            finally:
                step = trainer.step
                if step % trainer.sample_every and step != trainer.steps:
                    self.previews_s += time.perf_counter() - t0

        trainer.emit, trainer.recipe.preview = timed_emit, timed_preview

    def share_pct(self, elapsed_s: float) -> float:
        """The dashboard's time as a percentage of the run's time without it."""
        spent = self.callbacks_s + self.previews_s
        return 100 * (spent + self.stream_cpu_s) / max(elapsed_s - spent, 1e-9)


def run_once(setup: str, settings: JobSettings, refresh: int, judge: Judge,
             root: Path) -> dict:
    """One training run of ``setup``; returns its images/s, CPU time per image and, with a
    dashboard, the time it accounted for."""
    run_dir = Path(tempfile.mkdtemp(dir=root, prefix=f"{setup}-"))
    args = job_trainer_args(settings.steps, refresh)
    recipe = make_job_recipe(settings)
    extra: dict = {}
    cpu0 = time.process_time()
    if setup == "bare":
        trainer = Trainer(recipe, run_dir, device="cpu", **args)
        trainer.fit()
    elif setup == "notebook":
        panel = LivePanel(show=False)
        callbacks = [*job_callbacks(EVAL_EVERY, judge, eval_at_end=False), panel]
        trainer = Trainer(recipe, run_dir, device="cpu", callbacks=callbacks, **args)
        books = Accounting(trainer)
        trainer.fit()
        extra = {"curve_draws": panel.draws, "previews": panel.previews}
    else:
        job = TrainingJob("bench", settings, run_dir, max_seconds=3600)
        job.callbacks = job_callbacks(EVAL_EVERY, judge, eval_at_end=False)
        trainer = job.trainer = Trainer(recipe, run_dir, device="cpu",
                                        callbacks=[*job.callbacks, job.recorder], **args)
        books = Accounting(trainer)
        job.thread = threading.Thread(target=trainer.fit)
        job.thread.start()
        views, marked, curves = 0, set(), None
        stream0 = time.thread_time()
        for v in job.watch():  # the tab's stream, without HTTP: what it encodes, this does
            views += 1
            if v.preview is not None and v.preview_step not in marked:
                png_bytes(marked_preview(v.preview, run_dir.name))
                marked.add(v.preview_step)
            if v.curves is not None and v.curves is not curves:
                curves = v.curves
                png_bytes(curves)
        books.stream_cpu_s = time.thread_time() - stream0
        job.thread.join()
        extra = {"views": views, "previews_marked": len(marked)}
    cpu = time.process_time() - cpu0
    last = trainer.history[-1]
    images = last["images_per_s"] * last["elapsed_s"]
    if setup != "bare":
        extra["accounted_pct"] = books.share_pct(last["elapsed_s"])
    return {"images_per_s": last["images_per_s"], "cpu_ms_per_image": 1000 * cpu / images,
            **extra}


def time_eval(settings: JobSettings, judge: Judge, root: Path) -> float:
    """Seconds for one evaluation of ``EVAL_N`` swaps of a freshly built model."""
    recipe = make_job_recipe(settings)
    trainer = Trainer(recipe, Path(tempfile.mkdtemp(dir=root, prefix="eval-")), steps=1,
                      progress=False, device="cpu")
    evaluator = SwapEval(n=EVAL_N, judge=judge)
    evaluator.evaluate(trainer)  # warm-up (imports, gallery code paths)
    t0 = time.perf_counter()
    evaluator.evaluate(trainer)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", default="cvae", choices=("cvae", "cgan", "two-decoder"))
    p.add_argument("--size", default="64", choices=("64", "128", "tiny"))
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--refresh", type=int, default=REFRESH_EVERY,
                   help=f"steps between updates (default {REFRESH_EVERY}, the dashboards')")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    settings = JobSettings(a.arch, a.size, a.steps, a.batch)
    judge, judge_kind = judge_for_timing()
    results: dict[str, list[dict]] = {s: [] for s in SETUPS}
    with tempfile.TemporaryDirectory(prefix="dashboard-bench-") as tmp:
        root = Path(tmp)
        for setup in SETUPS:  # warm-up: imports (ipywidgets, PIL fonts ...), first renders
            run_once(setup, JobSettings(a.arch, a.size, min(a.steps, 10), a.batch),
                     min(a.refresh, 5), judge, root)
        for r in range(a.repeats):
            order = SETUPS[r % 3:] + SETUPS[:r % 3]  # rotate: no setup always runs first
            for setup in order:
                results[setup].append(run_once(setup, settings, a.refresh, judge, root))
                if not a.json:
                    last = results[setup][-1]
                    print(f"repeat {r + 1} {setup:9s} {last['images_per_s']:.2f} images/s "
                          f"{last['cpu_ms_per_image']:.1f} CPU ms/image", flush=True)
        eval_s = time_eval(settings, judge, root)
    median = {s: statistics.median(x["images_per_s"] for x in results[s]) for s in SETUPS}
    cpu = {s: statistics.median(x["cpu_ms_per_image"] for x in results[s]) for s in SETUPS}
    step_s = a.batch / median["bare"]
    report = {
        "setup": {"arch": a.arch, "size": a.size, "batch": a.batch, "steps": a.steps,
                  "refresh_every": a.refresh, "repeats": a.repeats, "threads": a.threads,
                  "device": "cpu"},
        "images_per_s_median": {s: round(v, 3) for s, v in median.items()},
        "images_per_s_ratio_to_bare": {s: round(median[s] / median["bare"], 4)
                                       for s in SETUPS[1:]},
        "cpu_ms_per_image_median": {s: round(v, 2) for s, v in cpu.items()},
        "cpu_overhead_pct": {s: round(100 * (cpu[s] / cpu["bare"] - 1), 2) for s in SETUPS[1:]},
        "accounted_pct_median": {s: round(statistics.median(x["accounted_pct"]
                                                            for x in results[s]), 2)
                                 for s in SETUPS[1:]},
        "runs": {s: [{k: round(v, 3) if isinstance(v, float) else v for k, v in x.items()}
                     for x in results[s]] for s in SETUPS},
        "eval": {"every_steps": EVAL_EVERY, "n_swaps": EVAL_N, "seconds": round(eval_s, 2),
                 "judge": judge_kind,
                 "share_of_interval_pct": round(100 * eval_s / (EVAL_EVERY * step_s), 2)},
    }
    if a.json:
        print(json.dumps(report, indent=2))
        return
    for s in SETUPS[1:]:
        print(f"{s}: {median[s]:.2f} images/s vs bare {median['bare']:.2f} "
              f"(x{report['images_per_s_ratio_to_bare'][s]}); CPU per image "
              f"{cpu[s]:.1f} ms vs {cpu['bare']:.1f} ms ({report['cpu_overhead_pct'][s]:+.2f} %);"
              f" accounted {report['accounted_pct_median'][s]:.2f} %")
    print(f"one evaluation of {EVAL_N} swaps: {eval_s:.1f} s = "
          f"{report['eval']['share_of_interval_pct']} % of {EVAL_EVERY} steps")


if __name__ == "__main__":
    main()
