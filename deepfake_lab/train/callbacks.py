"""Watching training while it runs: the Trainer's callbacks, and the ones the project ships.

The :class:`~deepfake_lab.train.trainer.Trainer` calls every callback it was given at fixed
points of its loop.  A callback implements the events it cares about (all are optional)::

    on_start(trainer)                  before the first step of fit()
    on_step(trainer)                   after every step
    on_log(trainer, row)               every log_every steps: the row written to log.jsonl
                                       (step, mean losses, images_per_s, elapsed_s and,
                                       when the FLOPs are known, gflop_per_s)
    on_preview(trainer, images, ncol)  every preview_every steps: the recipe's probe grid
                                       (sources, reconstructions, swaps, ground truth)
    on_eval(trainer, metrics)          emitted by SwapEval: swap metrics on held-out people
    on_save(trainer, out_dir)          after each checkpoint
    on_end(trainer, reason)            "done", "stopped" (Trainer.stop) or "error"

One mechanism serves every front end: the CLI adds :class:`SwapEval` and :class:`CSVLogger`,
the notebooks' :class:`~deepfake_lab.train.live.LivePanel` draws the curves and the preview in
place, and the studio's Train tab reads a :class:`Recorder` from its web handlers.  Callbacks
run in the training thread, between steps: what they cost is training time, so the ones here
keep to bookkeeping, and the expensive things (a preview, an evaluation) happen every few
hundred images, not every step (``benchmarks/dashboard.py`` measures the slowdown).
"""

from __future__ import annotations

import copy
import csv
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..images import labelled_sheet, make_grid, to_uint8

if TYPE_CHECKING:
    from .trainer import Recipe, Trainer

REFRESH_EVERY = 25
"""Default steps between two dashboard updates (a log row and a preview grid)."""
EVAL_EVERY = 500
"""Default steps between two swap evaluations."""
EVAL_N = 64
"""Default number of held-out swaps per evaluation (the CLI's ``eval`` uses 512)."""


class Callback:
    """Base class: every event is a no-op; override the ones you need."""

    def on_start(self, trainer: Trainer) -> None:
        """Before the first step of :meth:`Trainer.fit`."""

    def on_step(self, trainer: Trainer) -> None:
        """After every step (``trainer.step`` counts the steps done)."""

    def on_log(self, trainer: Trainer, row: dict[str, float]) -> None:
        """Every ``log_every`` steps, with the row written to ``log.jsonl``."""

    def on_preview(self, trainer: Trainer, images: torch.Tensor, ncol: int) -> None:
        """Every ``preview_every`` steps: the probe grid ``(N, 3, S, S)`` in [-1, 1], CPU."""

    def on_eval(self, trainer: Trainer, metrics: dict[str, Any]) -> None:
        """Swap metrics on held-out people (emitted by :class:`SwapEval`)."""

    def on_save(self, trainer: Trainer, out_dir: Path) -> None:
        """After a checkpoint was written to ``out_dir``."""

    def on_end(self, trainer: Trainer, reason: str) -> None:
        """``fit`` ends: ``"done"``, ``"stopped"`` or ``"error"``."""


class TimeLimit(Callback):
    """Stop training cleanly after ``minutes`` of wall time (a checkpoint that resumes
    exactly is written, as for :meth:`Trainer.stop`): for a run that must fit a time slot,
    e.g. a rented GPU, whatever its speed turns out to be."""

    def __init__(self, minutes: float) -> None:
        if not minutes > 0:
            raise ValueError(f"the time limit must be > 0 minutes, got {minutes}")
        self.seconds = 60.0 * minutes
        self.t0 = time.perf_counter()
        self.note: str | None = None

    def on_start(self, trainer: Trainer) -> None:
        self.t0 = time.perf_counter()

    def on_step(self, trainer: Trainer) -> None:
        if self.note is None and time.perf_counter() - self.t0 >= self.seconds:
            self.note = (f"stopped at step {trainer.step}: the {self.seconds / 60:g}-minute "
                         "limit was reached")
            trainer.stop()


# --------------------------------------------------------------------------------------
# Logs on disk
# --------------------------------------------------------------------------------------
class CSVLogger(Callback):
    """``log.csv`` beside ``log.jsonl``: the same rows, for spreadsheets.

    The columns are those of the first row (or of the file's header when a resumed run
    appends to it); keys that appear later are left out, missing ones left empty.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else None
        self._columns: list[str] | None = None

    def on_log(self, trainer: Trainer, row: dict[str, float]) -> None:
        if not trainer.is_main:
            return
        path = self.path or trainer.out / "log.csv"
        new = not path.exists() or path.stat().st_size == 0
        if self._columns is None:
            if new:
                self._columns = list(row)
            else:
                with open(path, newline="") as f:
                    self._columns = next(csv.reader(f), list(row))
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, self._columns, restval="", extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow(row)


def read_log(run_dir: str | Path, name: str = "log.jsonl") -> list[dict[str, Any]]:
    """The rows of a run's ``log.jsonl`` (or ``eval.jsonl``); ``[]`` when there is none."""
    path = Path(run_dir) / name
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# --------------------------------------------------------------------------------------
# Throughput: FLOPs per image, measured once
# --------------------------------------------------------------------------------------
def training_flops_per_image(recipe: Recipe, step: int = 0, n: int = 2) -> float:
    """FLOPs of one training step per image, counted by ``torch.utils.flop_counter``.

    Runs ``training_step`` once on ``n`` images of the recipe's own data, on a *copy* of the
    recipe (networks, optimisers, generators) and with the global RNG forked, so the real run
    is untouched.  Counts matrix multiplies and convolutions, forward and backward (what
    dominates; element-wise work and the optimiser update are left out), per image as the
    Trainer counts images (the first tensor of a batch; per person for the two-decoder).
    """
    from torch.utils.flop_counter import FlopCounterMode

    batch = next(iter(recipe.batches(step, 0, 1)))
    batch = {k: v[:n] if torch.is_tensor(v) and v.dim() else v for k, v in batch.items()}
    twin = copy.deepcopy(recipe)
    devices = [recipe.device] if recipe.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), FlopCounterMode(display=False) as counter:
        twin.training_step(batch, step)
    return counter.get_total_flops() / len(next(iter(batch.values())))


class MeasureFlops(Callback):
    """Sets ``trainer.flops_per_image`` at the start (once per run directory), so that log
    rows carry ``gflop_per_s``: the arithmetic the step achieved, comparable across models.
    Skipped under DDP (a copy of a wrapped model cannot step alone)."""

    def __init__(self) -> None:
        self.note: str | None = None

    def on_start(self, trainer: Trainer) -> None:
        if trainer.flops_per_image is not None:
            return
        if trainer.world_size > 1:
            self.note = "GFLOP/s not measured under DDP"
            return
        try:
            trainer.flops_per_image = training_flops_per_image(trainer.recipe, trainer.step)
        except Exception as e:  # noqa: BLE001 - a missing figure must not stop training
            self.note = f"GFLOP/s not measured: {type(e).__name__}: {e}"


# --------------------------------------------------------------------------------------
# Swap metrics on held-out people, every few hundred steps
# --------------------------------------------------------------------------------------
class SwapEval(Callback):
    """Judge the model's swaps on ``n`` held-out SynthFaces problems every ``every`` steps
    (and at the last step with ``at_end``): ID retrieval, pose and expression error, PSNR,
    SSIM, sharpness ratio, KID - the metrics of ``deepfake-lab eval``, on fewer swaps.

    Needs a judge: the bundled one unless ``judge`` is given.  Without one (a fresh checkout
    before the judge is trained), or for runs on real facesets (no ground-truth swaps), it
    does nothing and says why in :attr:`note`.  Results go to ``eval.jsonl`` in the run
    directory and to every callback's ``on_eval``.
    """

    def __init__(self, every: int = EVAL_EVERY, n: int = EVAL_N, judge: Any = None,
                 at_end: bool = True, seed: int = 7) -> None:
        if every < 1 or n < 2:
            raise ValueError(f"SwapEval needs every >= 1 and n >= 2, got {every}, {n}")
        self.every, self.n, self.judge, self.at_end, self.seed = every, n, judge, at_end, seed
        self.note: str | None = None
        self.active = False
        self.last_step: int | None = None

    def on_start(self, trainer: Trainer) -> None:
        self.active = False
        if not trainer.is_main:
            return
        if trainer.recipe.config().get("data") != "synthfaces":
            self.note = ("no swap metrics: a run on real faces has no ground-truth swaps "
                         "(judge it with `deepfake-lab eval` when it is done)")
            return
        if self.judge is None:
            from ..checkpoints import CheckpointError
            from ..eval.judges import BUNDLED_JUDGE, load_judge
            try:
                self.judge = load_judge(device=trainer.device)
            except (CheckpointError, OSError) as e:
                self.note = (f"no swap metrics: no judge at {BUNDLED_JUDGE} "
                             f"({type(e).__name__}); train one with "
                             "`python -m deepfake_lab.eval.judges`")
                return
        self.active, self.note = True, None

    def on_step(self, trainer: Trainer) -> None:
        due = trainer.step % self.every == 0 or (self.at_end and trainer.step == trainer.steps)
        if self.active and due and self.last_step != trainer.step:
            metrics = self.evaluate(trainer)
            if trainer.is_main:
                with open(trainer.out / "eval.jsonl", "a") as f:
                    f.write(json.dumps(metrics) + "\n")
            trainer.emit("on_eval", metrics)

    def evaluate(self, trainer: Trainer) -> dict[str, Any]:
        """The metrics of the model as it is now (training mode and RNG left as they were)."""
        from ..eval.swap_eval import evaluate_model
        from ..registry import LoadedModel

        r = trainer.recipe
        modes = [(m, m.training) for m in r.model.modules()]
        loaded = LoadedModel(f"{trainer.out.name}@{trainer.step}", r.arch, r.model.eval(),
                             r.config(), trainer.out)
        t0 = time.perf_counter()
        devices = [trainer.device] if trainer.device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=devices):
                report = evaluate_model(loaded, self.judge, n=self.n, seed=self.seed)
        finally:
            for m, training in modes:
                m.train(training)
        self.last_step = trainer.step
        return {"step": trainer.step, **report,
                "eval_s": round(time.perf_counter() - t0, 3)}


# --------------------------------------------------------------------------------------
# A thread-safe record for front ends that read from another thread
# --------------------------------------------------------------------------------------
@dataclass
class PreviewGrid:
    """The latest probe grid and the step it shows."""

    images: torch.Tensor
    ncol: int
    step: int


class Recorder(Callback):
    """Keeps what a dashboard shows - log rows, the latest preview, evaluations, the end -
    behind a lock, with a version number that grows with every change, so a web handler in
    another thread can wait for news (:meth:`wait`) and read a consistent :meth:`snapshot`.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.version = 0
        self.rows: list[dict[str, float]] = []
        self.evals: list[dict[str, Any]] = []
        self.preview: PreviewGrid | None = None
        self.saved_step: int | None = None
        self.end_reason: str | None = None
        self.start_step: int | None = None
        self.steps: int | None = None

    def _changed(self) -> None:
        self.version += 1
        self._cond.notify_all()

    def touch(self) -> None:
        """Wake the waiters (something outside the Trainer changed, e.g. an error)."""
        with self._cond:
            self._changed()

    def on_start(self, trainer: Trainer) -> None:
        with self._cond:
            self.start_step, self.steps = trainer.step, trainer.steps
            self._changed()

    def on_log(self, trainer: Trainer, row: dict[str, float]) -> None:
        with self._cond:
            self.rows.append(dict(row))
            self._changed()

    def on_preview(self, trainer: Trainer, images: torch.Tensor, ncol: int) -> None:
        with self._cond:
            self.preview = PreviewGrid(images, ncol, trainer.step)
            self._changed()

    def on_eval(self, trainer: Trainer, metrics: dict[str, Any]) -> None:
        with self._cond:
            self.evals.append(metrics)
            self._changed()

    def on_save(self, trainer: Trainer, out_dir: Path) -> None:
        with self._cond:
            self.saved_step = trainer.step
            self._changed()

    def on_end(self, trainer: Trainer, reason: str) -> None:
        with self._cond:
            self.end_reason = reason
            self._changed()

    def wait(self, version: int, timeout: float) -> int:
        """Block until the version differs from ``version`` (or ``timeout`` s); returns it."""
        with self._cond:
            self._cond.wait_for(lambda: self.version != version, timeout)
            return self.version

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy: ``version, rows, evals, preview, saved_step, end_reason ...``."""
        with self._cond:
            return {"version": self.version, "rows": list(self.rows),
                    "evals": list(self.evals), "preview": self.preview,
                    "saved_step": self.saved_step, "end_reason": self.end_reason,
                    "start_step": self.start_step, "steps": self.steps}


# --------------------------------------------------------------------------------------
# What the preview rows are, and a labelled sheet of them
# --------------------------------------------------------------------------------------
PREVIEW_ROWS = {
    "cvae": ("source", "reconstruction", "swap", "ground truth"),
    "cgan": ("source", "swap", "prior sample", "ground truth"),
    "two-decoder": ("A", "swap to B", "truth B", "B", "swap to A", "truth A"),
}
"""Row labels of each recipe's ``preview()`` grid on SynthFaces (see the recipes)."""


def preview_row_labels(arch: str, rows: int) -> list[str]:
    """Labels for the ``rows`` rows of ``arch``'s probe grid.  Real-face runs have no ground
    truth rows; other row counts get plain numbers."""
    known = PREVIEW_ROWS.get(arch, ())
    if rows == len(known):
        return list(known)
    if arch == "cvae" and rows == 3:
        return list(known[:3])
    if arch == "two-decoder" and rows == 4:
        return ["A", "swap to B", "B", "swap to A"]
    return [f"row {i + 1}" for i in range(rows)]


def preview_sheet(images: torch.Tensor, ncol: int, arch: str) -> np.ndarray:
    """The probe grid as a uint8 ``(H, W, 3)`` sheet with its rows labelled."""
    rows = -(-len(images) // ncol)
    labels = preview_row_labels(arch, rows)
    if labels[0] == "row 1":
        return to_uint8(make_grid(images, ncol))
    return labelled_sheet(images, ncol, labels, [""] * ncol)


def eta_seconds(rows: list[dict[str, float]], steps: int, start_step: int) -> float | None:
    """Seconds to reach ``steps`` at the pace of this ``fit`` call so far (``None`` before
    the first log row)."""
    if not rows:
        return None
    last = rows[-1]
    done = last["step"] - start_step
    if done <= 0 or last["elapsed_s"] <= 0:
        return None
    return (steps - last["step"]) * last["elapsed_s"] / done


def dashboard_callbacks(eval_every: int = EVAL_EVERY, eval_n: int = EVAL_N,
                        judge: Any = None) -> list[Callback]:
    """What every dashboard attaches besides its own view: FLOPs and swap metrics."""
    return [MeasureFlops(), SwapEval(eval_every, eval_n, judge)]


__all__ = [
    "EVAL_EVERY", "EVAL_N", "PREVIEW_ROWS", "REFRESH_EVERY", "CSVLogger", "Callback",
    "MeasureFlops", "PreviewGrid", "Recorder", "SwapEval", "dashboard_callbacks",
    "eta_seconds", "preview_row_labels", "preview_sheet", "read_log",
    "training_flops_per_image",
]
