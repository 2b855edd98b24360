"""The studio's Train tab without Gradio: one bounded training job per server.

A :class:`TrainingService` runs at most one :class:`TrainingJob` at a time, in a background
thread, with the shared :class:`~deepfake_lab.train.trainer.Trainer` and the dashboard
callbacks of :mod:`deepfake_lab.train.callbacks`.  It is made for a public server:

* **bounded** - at most ``max_steps`` steps and ``max_seconds`` of wall time per job (paused
  time included), batch and learning rate within :data:`BATCH_RANGE` / :data:`LR_RANGE`;
  when the time is up the run stops cleanly and keeps its checkpoint;
* **one at a time** - a second start while a job runs raises :class:`BusyError` with a message
  saying what runs and until when;
* **owned** - :meth:`TrainingService.start` hands out a token; pause, resume, stop, save and
  "open in the Sliders tab" need it, so one visitor cannot stop another's run;
* **outside the repository** - runs go to ``$DEEPFAKE_LAB_CACHE/studio-runs`` or, without
  that variable, to ``<system temp>/deepfake-lab/studio-runs``.

:meth:`TrainingJob.view` turns the job's state into what the tab shows: a status line
(step, losses, images/s, GFLOP/s, ETA, time left), the learning curves and the probe grid
(sources, reconstructions, swaps, ground truth), and the swap metrics when a judge exists.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..device import fast_mode, pick_device
from ..train.callbacks import (
    EVAL_EVERY,
    REFRESH_EVERY,
    MeasureFlops,
    Recorder,
    SwapEval,
    eta_seconds,
    preview_sheet,
)
from ..train.curves import Throttle, live_curves
from ..train.live import format_seconds
from .core import StudioError

ARCHITECTURES = ("cvae", "cgan", "two-decoder")
SIZES = ("64", "128")
TINY = "tiny"
"""Size entry for tiny networks at 64 px (``DEEPFAKE_LAB_FAST=1`` only: tests and CI)."""
BATCH_RANGE = (1, 64)
LR_RANGE = (1e-5, 1e-2)
MIN_STEPS = 1
ENV_MAX_STEPS = "DEEPFAKE_LAB_STUDIO_MAX_STEPS"
ENV_MAX_MINUTES = "DEEPFAKE_LAB_STUDIO_MAX_MINUTES"
DEFAULT_MAX_STEPS = 2000
DEFAULT_MAX_MINUTES = 10.0
KEEP_JOBS = 8  # finished jobs whose owners can still open their model
MIN_UPDATE_S = 0.5  # least time between two views streamed to the page
IDLE_UPDATE_S = 2.0  # most time between two views (the clocks in the status move)


class BusyError(StudioError):
    """Another training job is running on this server."""


@dataclass(frozen=True)
class JobSettings:
    """What the user picks: architecture, size and a few hyper-parameters.

    ``lr=None`` keeps the recipe's own learning rate.  ``size`` is ``"64"``, ``"128"`` or
    :data:`TINY`.
    """

    arch: str = "cvae"
    size: str = "64"
    steps: int = 300
    batch: int = 16
    lr: float | None = None
    seed: int = 0

    def checked(self, max_steps: int, allow_tiny: bool) -> JobSettings:
        """The settings with numbers coerced, or :class:`StudioError` saying what is wrong."""
        arch, size = str(self.arch), str(self.size)
        if arch not in ARCHITECTURES:
            raise StudioError(f"architecture must be one of {', '.join(ARCHITECTURES)}, "
                              f"got {arch!r}")
        sizes = (*SIZES, TINY) if allow_tiny else SIZES
        if size not in sizes:
            raise StudioError(f"size must be one of {', '.join(sizes)}, got {size!r}")
        try:
            steps, batch, seed = int(self.steps), int(self.batch), int(self.seed)
            lr = None if self.lr in (None, "", 0) else float(self.lr)
        except (TypeError, ValueError):
            raise StudioError("steps, batch and seed must be whole numbers, the learning "
                              "rate a number") from None
        if not MIN_STEPS <= steps <= max_steps:
            raise StudioError(f"steps must be in [{MIN_STEPS}, {max_steps}] on this server, "
                              f"got {steps}")
        if not BATCH_RANGE[0] <= batch <= BATCH_RANGE[1]:
            raise StudioError(f"batch must be in [{BATCH_RANGE[0]}, {BATCH_RANGE[1]}], "
                              f"got {batch}")
        if lr is not None and not LR_RANGE[0] <= lr <= LR_RANGE[1]:
            raise StudioError(f"learning rate must be in [{LR_RANGE[0]:g}, {LR_RANGE[1]:g}] "
                              f"(or empty for the recipe's), got {lr:g}")
        if seed < 0:
            raise StudioError(f"seed must be >= 0, got {seed}")
        return JobSettings(arch, size, steps, batch, lr, seed)

    def describe(self) -> str:
        """``"cvae · 64 px · batch 16 · lr recipe default · 300 steps"``."""
        size = "tiny 64 px" if self.size == TINY else f"{self.size} px"
        lr = "recipe lr" if self.lr is None else f"lr {self.lr:g}"
        return f"{self.arch} · {size} · batch {self.batch} · {lr} · {self.steps} steps"


def runs_root(environ: dict[str, str] | None = None) -> Path:
    """Where the tab's runs go: ``$DEEPFAKE_LAB_CACHE/studio-runs``, else the system temp."""
    env = os.environ if environ is None else environ
    base = env.get("DEEPFAKE_LAB_CACHE") or os.path.join(tempfile.gettempdir(), "deepfake-lab")
    return Path(base).expanduser() / "studio-runs"


def _env_number(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    try:
        return float(text) if text else default
    except ValueError:
        raise StudioError(f"${name} must be a number, got {text!r}") from None


def make_job_recipe(s: JobSettings):
    """The training recipe of ``s`` (SynthFaces; the two-decoder model learns ada and boris)."""
    if s.size != TINY:
        from ..train import make_recipe
        return make_recipe(s.arch, size=int(s.size), batch=s.batch, lr=s.lr, seed=s.seed)
    # Tiny networks (the sizes of the test suite): seconds per hundred steps, for CI.
    from dataclasses import replace

    from ..models import CGANConfig, CVAEConfig, TwoDecoderConfig
    from ..train.cgan import CGANRecipe, CGANTraining
    from ..train.cvae import CVAERecipe, CVAETraining
    from ..train.two_decoder import TwoDecoderRecipe, TwoDecoderTraining
    lr = {} if s.lr is None else {"lr": s.lr}
    if s.arch == "cvae":
        return CVAETraining(
            CVAEConfig(latent=4, enc_widths=(8, 8, 16, 16), dec_widths=(16, 16, 8, 8, 8),
                       hidden=16),
            replace(CVAERecipe(batch=s.batch, seed=s.seed, capacity_steps=50), **lr))
    if s.arch == "cgan":
        glr = {} if s.lr is None else {"lr_g": s.lr, "lr_d": 2 * s.lr}
        return CGANTraining(
            CGANConfig(z_dim=4, gen_widths=(16, 16, 8, 8, 8), disc_widths=(8, 8, 16, 16),
                       disc_hidden=16),
            replace(CGANRecipe(batch=s.batch, seed=s.seed), **glr))
    return TwoDecoderTraining(
        TwoDecoderConfig(people=("ada", "boris"), code_dim=16, enc_widths=(8, 8, 16, 16),
                         dec_widths=(16, 16, 8, 8, 8)),
        replace(TwoDecoderRecipe(batch=s.batch, seed=s.seed), **lr))


def refresh_every(steps: int) -> int:
    """Steps between two updates of a job of ``steps`` steps: every
    :data:`~deepfake_lab.train.callbacks.REFRESH_EVERY` (the interval
    ``benchmarks/dashboard.py`` measures), more often for jobs under 250 steps."""
    return max(1, min(REFRESH_EVERY, steps // 10))


def job_trainer_args(steps: int, refresh: int) -> dict[str, Any]:
    """The Trainer's settings for a job (logs and previews every ``refresh`` steps, four
    checkpoints and sample grids per job)."""
    every = max(refresh, steps // 4)
    return {"steps": steps, "log_every": refresh, "preview_every": refresh,
            "sample_every": every, "save_every": every, "progress": False}


def job_callbacks(eval_every: int = EVAL_EVERY, judge: Any = None,
                  eval_at_end: bool = True) -> list:
    """The callbacks of a job besides its :class:`Recorder`: FLOPs and swap metrics (every
    ``eval_every`` steps and, with ``eval_at_end``, at the last step)."""
    return [MeasureFlops(), SwapEval(every=eval_every, judge=judge, at_end=eval_at_end)]


def marked_preview(sheet: np.ndarray, run_name: str) -> np.ndarray:
    """The probe grid as the tab serves it: it holds model output, so it is labelled and
    watermarked like every other, the label on a white margin of its own (it hides no face)."""
    from ..provenance import mark_image

    margin = max(24, len(sheet) // 8)
    padded = np.pad(sheet, ((0, margin), (0, 0), (0, 0)), constant_values=255)
    return mark_image(padded, f"studio-train:{run_name}")


def png_bytes(image: np.ndarray) -> bytes:
    """uint8 ``(H, W, 3)`` -> PNG bytes (fast compression: these are refreshed often)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="png", compress_level=1)
    return buf.getvalue()


@dataclass
class JobView:
    """What the Train tab shows for one job."""

    status: str  # Markdown
    curves: np.ndarray | None  # uint8 (H, W, 3) learning curves, or None
    preview: np.ndarray | None  # uint8 (H, W, 3) labelled probe grid, or None
    evals: str  # Markdown
    version: int = 0
    finished: bool = False
    preview_step: int | None = None  # the step the probe grid shows


@dataclass
class TrainingJob:
    """One training run in a background thread; read it with :meth:`view`."""

    token: str
    settings: JobSettings
    run_dir: Path
    max_seconds: float
    trainer: Any = None
    recorder: Recorder = field(default_factory=Recorder)
    callbacks: list = field(default_factory=list)
    thread: threading.Thread | None = None
    error: str | None = None
    started: float = field(default_factory=time.monotonic)
    timed_out: bool = False
    _timer: threading.Timer | None = None
    _curves: np.ndarray | None = None
    _drawn: tuple[int, int] = (0, 0)  # rows and evaluations in _curves
    _throttle: Throttle = field(default_factory=lambda: Throttle(min_interval=1.0))
    _sheet: tuple[int | None, np.ndarray | None] = (None, None)  # preview step, its sheet

    @property
    def alive(self) -> bool:
        """Still training (or still setting up, or stopping)."""
        return self.thread is not None and self.thread.is_alive()

    def seconds_left(self) -> float:
        return max(0.0, self.max_seconds - (time.monotonic() - self.started))

    def run(self, device: Any, refresh: int) -> None:
        """The thread's body: build the recipe, train, record how it ended."""
        try:
            recipe = make_job_recipe(self.settings)
            from ..train.trainer import Trainer
            self.trainer = Trainer(recipe, self.run_dir, device=device,
                                   callbacks=[*self.callbacks, self.recorder],
                                   **job_trainer_args(self.settings.steps, refresh))
            self.trainer.fit()
        except Exception as e:  # noqa: BLE001 - shown to the user, the server goes on
            self.error = f"{type(e).__name__}: {e}"
            self.recorder.touch()  # wake the watchers
        finally:
            if self._timer is not None:
                self._timer.cancel()

    def _time_up(self) -> None:
        self.timed_out = True
        if self.trainer is not None:
            self.trainer.stop()

    # ---- what the tab shows ------------------------------------------------------------
    def state(self) -> str:
        """``starting``, ``running``, ``paused``, ``stopping``, ``done``, ``stopped`` or
        ``error``."""
        t, end = self.trainer, self.recorder.end_reason
        if self.error or end == "error":
            return "error"
        if end is not None and not self.alive:
            return end
        if t is None:
            return "starting" if self.alive else "error"
        if t.stopping:
            return "stopping"
        return "paused" if t.paused else "running"

    def status_markdown(self, snap: dict[str, Any]) -> str:
        """One status block: settings, state, step, losses, speed, ETA, time left."""
        s, state = self.settings, self.state()
        step = self.trainer.step if self.trainer is not None else 0
        lines = [f"**{s.describe()}** · **{state}**"
                 + (" (wall-time limit reached)" if self.timed_out else "")]
        rows = snap["rows"]
        if rows:
            last = rows[-1]
            losses = ", ".join(f"{k} {v:.4g}" for k, v in last.items()
                               if k not in ("step", "elapsed_s", "images_per_s",
                                            "gflop_per_s"))
            speed = f"{last['images_per_s']:.1f} images/s"
            if "gflop_per_s" in last:
                speed += f" · {last['gflop_per_s']:.2f} GFLOP/s achieved"
            lines.append(f"step **{step} / {s.steps}** · {speed}  \n{losses} "
                         f"(mean of the last log interval)")
        else:
            lines.append(f"step {step} / {s.steps}")
        if self.alive:
            eta = eta_seconds(rows, s.steps, snap["start_step"] or 0)
            left = self.seconds_left()
            ends = ("" if eta is None or eta <= left else " (the wall-time limit comes first)")
            lines.append(f"ETA {format_seconds(eta)}{ends} · time left on this server "
                         f"{format_seconds(left)}")
        if snap["saved_step"] is not None:
            lines.append(f"checkpoint at step {snap['saved_step']}: `{self.run_dir}`")
        if self.error:
            lines.append(f"**error**: {self.error}")
        notes = [n for n in (getattr(cb, "note", None) for cb in self.callbacks) if n]
        lines += [f"_{n}_" for n in notes]
        return "  \n".join(lines)

    def evals_markdown(self, evals: list[dict[str, Any]]) -> str:
        """The swap metrics as a Markdown table (latest last)."""
        if not evals:
            return ""
        head = ("| step | swap ID retrieval % | pose error ° | expression error | PSNR dB | "
                "SSIM | sharpness ratio |\n|---|---|---|---|---|---|---|")
        body = "\n".join(f"| {e['step']} | {e['id_retrieval']:.1f} | {e['pose_mae_deg']:.2f} | "
                         f"{e['expr_mae']:.3f} | {e['psnr']:.2f} | {e['ssim']:.3f} | "
                         f"{e['sharpness_ratio']:.3f} |" for e in evals[-6:])
        return (f"**Swaps judged on {evals[-1]['n_swaps']} held-out problems**\n\n"
                f"{head}\n{body}")

    def view(self) -> JobView:
        """The tab's view of the job now.  The curves are redrawn when rows arrived, and
        while the job runs at most every second and 2 % of the time
        (:class:`~deepfake_lab.train.curves.Throttle`: drawing takes CPU from training)."""
        snap = self.recorder.snapshot()
        rows, evals = snap["rows"], snap["evals"]
        news = self._drawn != (len(rows), len(evals))
        if rows and news and (self._throttle.due() or snap["end_reason"] is not None):
            with self._throttle.timing():
                self._curves = live_curves(rows, evals)  # the status names the run
            self._drawn = (len(rows), len(evals))
        grid = snap["preview"]
        if grid is not None and self._sheet[0] != grid.step:
            self._sheet = (grid.step, preview_sheet(grid.images, grid.ncol, self.settings.arch))
        return JobView(self.status_markdown(snap), self._curves, self._sheet[1],
                       self.evals_markdown(evals), snap["version"], not self.alive,
                       self._sheet[0])

    def watch(self, min_interval: float = MIN_UPDATE_S,
              idle: float = IDLE_UPDATE_S) -> Iterator[JobView]:
        """Views of the job as it changes - at most every ``min_interval`` seconds, at least
        every ``idle`` seconds - and a last one once it has ended (the tab streams these)."""
        version, last = -1, 0.0
        while True:
            finished = not self.alive
            version = self.recorder.wait(version, idle)
            wait = min_interval - (time.monotonic() - last)
            if wait > 0 and not finished:
                time.sleep(wait)
            last = time.monotonic()
            yield self.view()
            if finished:
                return


class TrainingService:
    """At most one training job at a time for this server (see the module docstring).

    Args:
        runs_dir: where runs go (default :func:`runs_root`).
        max_steps / max_seconds: the bounds of one job (defaults: ``$DEEPFAKE_LAB_STUDIO_
            MAX_STEPS`` or 2000, ``$DEEPFAKE_LAB_STUDIO_MAX_MINUTES`` or 10 minutes).
        allow_tiny: offer :data:`TINY` networks (default: ``DEEPFAKE_LAB_FAST=1``).
        device: where to train (default: the best present).
        eval_every: steps between swap evaluations (when a judge is available).
    """

    def __init__(self, runs_dir: str | os.PathLike | None = None, *,
                 max_steps: int | None = None, max_seconds: float | None = None,
                 allow_tiny: bool | None = None, device: Any = None,
                 eval_every: int = EVAL_EVERY, judge: Any = None) -> None:
        self.runs_dir = Path(runs_dir) if runs_dir else runs_root()
        self.max_steps = int(max_steps or _env_number(ENV_MAX_STEPS, DEFAULT_MAX_STEPS))
        self.max_seconds = float(max_seconds or 60 * _env_number(ENV_MAX_MINUTES,
                                                                  DEFAULT_MAX_MINUTES))
        self.allow_tiny = fast_mode() if allow_tiny is None else bool(allow_tiny)
        self.device = pick_device(str(device) if device else None)
        self.eval_every, self.judge = eval_every, judge
        self._lock = threading.Lock()
        self.current: TrainingJob | None = None
        self.jobs: dict[str, TrainingJob] = {}

    def sizes(self) -> tuple[str, ...]:
        """The size entries on offer."""
        return (*SIZES, TINY) if self.allow_tiny else SIZES

    def busy_message(self, job: TrainingJob) -> str:
        step = job.trainer.step if job.trainer is not None else 0
        return (f"Busy: this server is training another model ({job.settings.describe()}, "
                f"step {step}), one job at a time. It ends within "
                f"{format_seconds(job.seconds_left())}; try again then.")

    def start(self, settings: JobSettings) -> TrainingJob:
        """Start a job; :class:`BusyError` if one runs, :class:`StudioError` for bad
        settings."""
        s = settings.checked(self.max_steps, self.allow_tiny)
        with self._lock:
            if self.current is not None and self.current.alive:
                raise BusyError(self.busy_message(self.current))
            token = secrets.token_hex(8)
            stamp = time.strftime("%Y%m%d-%H%M%S")
            run_dir = self.runs_dir / f"{s.arch}-{s.size}-{stamp}-{token[:6]}"
            job = TrainingJob(token, s, run_dir, self.max_seconds)
            job.callbacks = job_callbacks(self.eval_every, self.judge)
            job.thread = threading.Thread(target=job.run,
                                          args=(self.device, refresh_every(s.steps)),
                                          name=f"studio-train-{token[:6]}", daemon=True)
            job._timer = threading.Timer(self.max_seconds, job._time_up)
            job._timer.daemon = True
            self.current = job
            self.jobs[token] = job
            while len(self.jobs) > KEEP_JOBS:
                self.jobs.pop(next(iter(self.jobs)))
            job.thread.start()
            job._timer.start()
            return job

    def job(self, token: str | None) -> TrainingJob:
        """The job of ``token`` (the session that started it)."""
        job = self.jobs.get(str(token or ""))
        if job is None:
            raise StudioError("no training job of yours on this server: start one first"
                              if not self.current or not self.current.alive else
                              self.busy_message(self.current))
        return job

    def _running(self, token: str | None) -> TrainingJob:
        job = self.job(token)
        if job.trainer is None or not job.alive:
            raise StudioError(f"the job is not running ({job.state()})")
        return job

    def pause(self, token: str | None) -> TrainingJob:
        """Hold the job between two steps (its wall time keeps counting)."""
        job = self._running(token)
        job.trainer.pause()
        return job

    def resume(self, token: str | None) -> TrainingJob:
        job = self._running(token)
        job.trainer.unpause()
        return job

    def stop(self, token: str | None) -> TrainingJob:
        """Stop after the current step; the run saves a checkpoint."""
        job = self._running(token)
        job.trainer.stop()
        return job

    def save(self, token: str | None) -> TrainingJob:
        """Write a checkpoint after the current step."""
        job = self._running(token)
        job.trainer.request_save()
        return job

    def snapshot_model(self, token: str | None) -> str:
        """Copy the job's latest inference checkpoint to ``run_dir/snapshots/RUN-stepN`` and
        return that folder: a fixed model the Sliders tab can load (and cache) while the run
        goes on writing new checkpoints."""
        job = self.job(token)
        for _ in range(50):
            dest = _copy_checkpoint(job.run_dir)
            if dest is not None:
                return str(dest)
            time.sleep(0.1)  # a checkpoint was being written: try again
        raise StudioError("could not copy the checkpoint (it kept changing); try again")


def _copy_checkpoint(run_dir: Path) -> Path | None:
    """``run_dir/model.*`` -> ``run_dir/snapshots/RUN-stepN/model.*``; ``None`` when a save
    happened meanwhile.  Saves replace files atomically, weights first, then the JSON: the pair
    is consistent when neither file was replaced during the copy and the JSON is the newer."""
    import json

    from ..checkpoints import checkpoint_paths

    st, js = checkpoint_paths(run_dir / "model")
    if not js.exists():
        raise StudioError("no checkpoint yet: press save, or wait for the first one")

    def stamp() -> tuple:
        a, b = st.stat(), js.stat()
        return a.st_ino, a.st_mtime_ns, b.st_ino, b.st_mtime_ns

    try:
        before = stamp()
        if before[3] < before[1]:
            return None
        text = js.read_text()
        step = int(json.loads(text).get("step", 0))
        dest = run_dir / "snapshots" / f"{run_dir.name}-step{step:06d}"
        if checkpoint_paths(dest / "model")[1].exists():
            return dest
        tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(3)}")
        tmp.mkdir(parents=True)
        shutil.copyfile(st, tmp / st.name)
        (tmp / js.name).write_text(text)
        if stamp() != before:
            shutil.rmtree(tmp, ignore_errors=True)
            return None
    except FileNotFoundError:  # replaced while we looked
        return None
    try:
        tmp.rename(dest)
    except OSError:  # another request made it first
        shutil.rmtree(tmp, ignore_errors=True)
    return dest
