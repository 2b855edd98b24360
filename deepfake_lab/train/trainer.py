"""The one small Trainer every architecture shares.

An architecture brings a :class:`Recipe`: its networks, optimisers, data and one readable
``training_step``.  The Trainer brings everything that is the same for all of them:

* device choice (cuda > mps > cpu) and bf16 autocast on CUDA;
* distributed data parallel under ``torchrun`` (gloo on CPU, NCCL on GPU): every rank reads its
  own shard of the data stream, gradients are averaged by DDP, rank 0 writes files;
* a background thread that renders the next batches while the current one trains;
* a tqdm progress bar, a ``log.jsonl`` line every ``log_every`` steps, a sample grid PNG every
  ``sample_every`` steps;
* atomic checkpoints (``model.*`` for inference, ``state.*`` for training: optimiser moments,
  training-only networks such as a critic, RNG states, step) and **exact** resume: K steps,
  stop, resume, K more gives the same weights as 2K steps in one go;
* a guard that stops with a clear message the moment a loss becomes NaN or infinite, before a
  broken model is saved over the last good checkpoint;
* callbacks (:mod:`deepfake_lab.train.callbacks`): ``on_start``, ``on_step``, ``on_log`` (losses,
  images/s, GFLOP/s when ``flops_per_image`` is known), ``on_preview`` (the recipe's probe
  grid every ``preview_every`` steps), ``on_save``, ``on_end``; the CLI, the notebooks' live
  panel and the studio's Train tab all watch training through them;
* :meth:`Trainer.stop`, :meth:`Trainer.pause` / :meth:`Trainer.unpause` and
  :meth:`Trainer.request_save`, safe to call from another thread (a UI): the loop checks them
  between steps, and a stopped run ends with a checkpoint that resumes exactly.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn as nn
from tqdm.auto import tqdm

from ..checkpoints import (
    checkpoint_paths,
    flatten_state,
    load_checkpoint,
    save_checkpoint,
    unflatten_state,
)
from ..data.synth_datasets import render_device_for
from ..device import pick_device
from ..images import make_grid, save_image


class TrainingDiverged(FloatingPointError):
    """A loss became NaN or infinite."""


class Recipe:
    """What an architecture gives the Trainer.  Subclasses set, in ``__init__``:

    * ``self.model`` - the complete ``nn.Module`` (what inference loads);
    * ``self.nets`` - name -> module called in ``training_step``; the Trainer replaces each
      with a ``DistributedDataParallel`` wrapper when distributed, so call them, not
      ``self.model``'s submodules, inside ``training_step``;
    * ``self.optimizers`` - name -> optimiser;
    * ``self.generators`` - name -> ``torch.Generator`` used for augmentation / noise
      (saved and restored for exact resume);

    and implement :meth:`batches`, :meth:`training_step`, :meth:`preview`, :meth:`config`.
    """

    arch: str = "recipe"
    model: nn.Module
    nets: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    generators: dict[str, torch.Generator]
    device: torch.device = torch.device("cpu")
    autocast: Any = contextlib.nullcontext
    reader: nn.Module | None = None   # a frozen attribute reader (see ``train/reader.py``)

    def batches(self, start: int, rank: int, world_size: int) -> Iterator[dict[str, Any]]:
        """Training batches ``start, start+1, ...`` of this rank's shard, on the CPU."""
        raise NotImplementedError

    def training_step(self, batch: dict[str, Any], step: int) -> dict[str, torch.Tensor]:
        """One optimisation step (forward, backward, optimiser step); returns the losses."""
        raise NotImplementedError

    @torch.no_grad()
    def preview(self) -> tuple[torch.Tensor, int]:
        """A fixed probe: ``(images (N, 3, S, S), images per row)`` to save as a grid."""
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """JSON config of the inference checkpoint (kind, architecture, sizes, schema...)."""
        raise NotImplementedError

    def inference_state(self) -> dict[str, torch.Tensor]:
        """Tensors of the inference checkpoint (default: the whole model)."""
        return self.model.state_dict()

    def training_nets(self) -> dict[str, nn.Module]:
        """Networks that training needs and inference does not (the pair's code critic),
        outside ``self.model``: saved in the training state, moved with the recipe.  Put
        them in ``self.nets`` too to have them wrapped for distributed training."""
        return {}

    @property
    def render_device(self) -> torch.device | None:
        """Where synthetic batches are rendered: on the GPU when training there (the CPU
        could not keep up), else ``None`` (the CPU, in the prefetch thread)."""
        return render_device_for(self.device)

    def to(self, device: torch.device) -> Recipe:
        self.device = device
        self.model.to(device)
        for net in self.training_nets().values():
            net.to(device)
        if self.reader is not None:  # frozen, outside ``nets``: never saved, never DDP-wrapped
            self.reader.to(device)
        return self


def _prefetch(it: Iterator, depth: int = 2) -> Iterator:
    """Run ``it`` in a background thread, keeping ``depth`` items ready."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        try:
            for item in it:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as e:  # noqa: BLE001 - re-raised in the consumer
            q.put(e)

    t = threading.Thread(target=work, daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        # Let the worker leave the batch it is making: a daemon thread still inside torch's
        # C++ code when the interpreter exits can abort the process ("terminate called
        # without an active exception"; seen under torchrun).
        t.join(timeout=60)


def distributed_context() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)``; initialises the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    if world > 1:
        return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0"))
    return 0, 1, 0


LOCK_NAME = "train.lock"


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (POSIX; elsewhere we cannot tell safely: assume so)."""
    if os.name != "posix":
        return True   # os.kill(pid, 0) would *terminate* it on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def run_lock(out: Path) -> Iterator[None]:
    """Hold ``out/train.lock`` (it names our PID) while training into ``out``.

    Two processes training one run directory would overwrite each other's checkpoints and
    append to one log.  A lock whose process is gone (a crash, a killed job) is taken over."""
    path = out / LOCK_NAME
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                pid = int(path.read_text().strip() or "0")
            except (OSError, ValueError):
                pid = 0
            if pid > 0 and _pid_alive(pid):
                raise RuntimeError(
                    f"{out} is being trained by process {pid}: a second process would "
                    f"overwrite its checkpoints. Wait for it or stop it, or train into another "
                    f"--out (if process {pid} is not a trainer, delete {path})") from None
            path.unlink(missing_ok=True)   # stale: its process is gone
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        break
    else:
        raise RuntimeError(f"could not take {path}: another process keeps creating it")
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def stop_on_interrupt(trainer: Trainer) -> Iterator[None]:
    """Make Ctrl-C (SIGINT) a clean stop: the first one asks ``trainer`` to stop after the
    current step, which saves a checkpoint that resumes exactly; a second one aborts at once.

    Without it Ctrl-C lands wherever the loop happens to be (inside a backward pass, between
    the discriminator's and the generator's updates) and the steps since the last save are
    lost.  Only the main thread can take signals, so elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def first(signum, frame):  # noqa: ARG001 - the signal-handler signature
        signal.signal(signal.SIGINT, signal.default_int_handler)  # the next one aborts
        print("\ninterrupted: stopping after this step and saving a checkpoint "
              "(Ctrl-C again to abort without saving)", file=sys.stderr, flush=True)
        trainer.stop()

    previous = signal.signal(signal.SIGINT, first)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class Trainer:
    """Runs a :class:`Recipe` for ``steps`` steps, writing into ``out_dir``.

    Files: ``model.safetensors/.json`` (inference), ``state.safetensors/.json`` (resume),
    ``log.jsonl`` (one line per ``log_every`` steps), ``samples/step_NNNNNN.png``, and with
    ``keep_every = N`` the inference checkpoint of every N-th step as ``snapshots/STEP``
    (what ``scripts/average_checkpoints.py`` averages; ``model`` is overwritten each save).

    ``callbacks`` are :class:`~deepfake_lab.train.callbacks.Callback` objects, or plain
    callables ``cb(trainer, row)`` called at each log step.  ``preview_every`` (default:
    ``sample_every``) is how often callbacks receive the probe grid (``on_preview``).
    """

    def __init__(self, recipe: Recipe, out_dir: str | os.PathLike, *, steps: int,
                 log_every: int = 25, sample_every: int = 500, save_every: int = 500,
                 device: str | torch.device | None = None, amp: bool = True,
                 progress: bool = True, callbacks: list | None = None,
                 preview_every: int | None = None, keep_every: int = 0) -> None:
        for name, every in (("log_every", log_every), ("sample_every", sample_every),
                            ("save_every", save_every)):
            if every < 1:
                raise ValueError(f"{name.replace('_', '-')} must be at least 1 step "
                                 f"(got {every})")
        if keep_every < 0:
            raise ValueError(f"keep-every must be 0 (off) or a number of steps (got {keep_every})")
        self.recipe, self.out = recipe, Path(out_dir)
        self.keep_every = keep_every
        self.steps, self.log_every = steps, log_every
        self.sample_every, self.save_every = sample_every, save_every
        self.preview_every = preview_every or sample_every
        self.rank, self.world_size, local_rank = distributed_context()
        dev = pick_device(str(device) if device else None)
        if dev.type == "cuda" and self.world_size > 1:
            dev = torch.device("cuda", local_rank)
            torch.cuda.set_device(dev)
        self.device = dev
        recipe.to(dev)
        if amp and dev.type == "cuda" and torch.cuda.is_bf16_supported():
            recipe.autocast = lambda: torch.autocast("cuda", dtype=torch.bfloat16)
        if self.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP
            ids = [dev.index] if dev.type == "cuda" else None
            recipe.nets = {k: DDP(m, device_ids=ids) for k, m in recipe.nets.items()}
        self.progress = progress and self.rank == 0
        self.callbacks = list(callbacks or [])
        self.step = 0
        self.history: list[dict[str, float]] = []
        self.flops_per_image: float | None = None  # set by MeasureFlops (or by hand)
        self.end_reason: str | None = None  # "done", "stopped" or "error" once fit() ends
        self._stop, self._save_now = threading.Event(), threading.Event()
        self._running = threading.Event()
        self._running.set()

    # --- callbacks and control from other threads ----------------------------------------

    def emit(self, event: str, *args: Any) -> None:
        """Call ``event`` (``"on_log"``, ``"on_preview"`` ...) on every callback that has it;
        a plain callable is an ``on_log`` callback.  Callbacks may emit events of their own
        (the swap evaluator emits ``on_eval``)."""
        for cb in self.callbacks:
            fn: Callable | None = getattr(cb, event, None)
            if fn is not None:
                fn(self, *args)
            elif event == "on_log" and callable(cb):
                cb(self, *args)

    def stop(self) -> None:
        """Ask the loop to stop after the current step; it saves a checkpoint and returns."""
        self._stop.set()
        self._running.set()

    def pause(self) -> None:
        """Hold the loop between two steps until :meth:`unpause` or :meth:`stop`."""
        if not self._stop.is_set():
            self._running.clear()

    def unpause(self) -> None:
        """Let a paused loop go on."""
        self._running.set()

    def request_save(self) -> None:
        """Write a checkpoint after the current step (besides the ``save_every`` ones)."""
        self._save_now.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # --- checkpoints -------------------------------------------------------------------

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def save(self, keep: bool = False) -> None:
        """Atomically write the inference checkpoint and the training state (rank 0);
        ``keep``: also keep this step's inference checkpoint as ``snapshots/STEP``."""
        if self.is_main:
            r = self.recipe
            cfg, weights = {**r.config(), "step": self.step}, r.inference_state()
            save_checkpoint(self.out / "model", weights, cfg)
            if keep:
                save_checkpoint(self.out / "snapshots" / str(self.step), weights, cfg)
            tensors = {f"model.{k}": v for k, v in r.model.state_dict().items()}
            for name, net in r.training_nets().items():
                tensors.update({f"train.{name}.{k}": v for k, v in net.state_dict().items()})
            opt = {k: flatten_state(f"opt.{k}", o.state_dict(), tensors)
                   for k, o in r.optimizers.items()}
            for k, g in r.generators.items():
                tensors[f"rng.{k}"] = g.get_state()
            tensors["rng.torch"] = torch.get_rng_state()
            if torch.cuda.is_available():
                tensors["rng.cuda"] = torch.cuda.get_rng_state()
            save_checkpoint(self.out / "state", tensors, {
                "kind": "training-state", "arch": r.arch, "step": self.step,
                "world_size": self.world_size, "optimizers": opt, "model_config": cfg})
            self.emit("on_save", self.out)
        if self.world_size > 1:
            dist.barrier()

    def resume(self) -> bool:
        """Load ``out_dir/state.*`` if present; returns whether it did."""
        if not checkpoint_paths(self.out / "state")[1].exists():
            return False
        t, cfg = load_checkpoint(self.out / "state", kind="training-state")
        r = self.recipe
        if cfg.get("arch") != r.arch:
            raise ValueError(f"{self.out} holds a {cfg.get('arch')!r} run, not {r.arch!r}")
        self._match_saved_recipe(cfg.get("model_config", {}).get("recipe"))
        r.model.load_state_dict({k[6:]: v for k, v in t.items() if k.startswith("model.")})
        for name, net in r.training_nets().items():
            prefix = f"train.{name}."
            part = {k[len(prefix):]: v for k, v in t.items() if k.startswith(prefix)}
            if not part:
                raise ValueError(f"{self.out} was trained without a {name}; resume it with the "
                                 "same settings, or start a new run from its weights with "
                                 "--continue-from")
            net.load_state_dict(part)
        for k, o in r.optimizers.items():
            o.load_state_dict(unflatten_state(cfg["optimizers"][k], t))
        for k, g in r.generators.items():
            g.set_state(t[f"rng.{k}"])
        torch.set_rng_state(t["rng.torch"])
        if "rng.cuda" in t and torch.cuda.is_available():
            torch.cuda.set_rng_state(t["rng.cuda"])
        self.step = int(cfg["step"])
        return True

    def _match_saved_recipe(self, saved: dict | None) -> None:
        """An exact resume needs the run's own hyper-parameters: refuse others, naming them.

        (The optimiser state would silently bring back the saved learning rate anyway.)
        ``init_from`` only mattered when the run was created, so a resume keeps the saved
        one as provenance instead of comparing it."""
        hp = getattr(self.recipe, "hp", None)
        if not saved or hp is None:
            return
        if "init_from" in saved and hasattr(hp, "init_from"):
            hp.init_from = saved["init_from"]
        mine = self._config_as_saved().get("recipe", {})
        diff = [f"{k}={saved[k]!r} (asked: {mine.get(k)!r})" for k in sorted(saved)
                if k != "init_from" and mine.get(k) != saved[k]]
        if diff:
            raise ValueError(f"{self.out} was trained with {', '.join(diff)}; resume it with "
                             "the same settings, or start a new run from its weights with "
                             "--continue-from")

    def _config_as_saved(self) -> dict:
        """The recipe's config as its checkpoint JSON holds it (tuples become lists)."""
        return json.loads(json.dumps(self.recipe.config()))

    def continue_from(self, path: str | os.PathLike) -> list[str]:
        """Start from the weights and step of an *inference* checkpoint of this recipe's
        architecture and sizes (a bundled model, or another run's ``model``), with fresh
        optimisers: schedules and the data stream carry on from that step.  Not an exact
        resume (the optimiser moments are gone); use :meth:`resume` when ``state.*`` exists.
        Returns the parameter names that were not in the checkpoint (a cGAN's inference
        checkpoint leaves out its discriminator, which then starts afresh)."""
        from ..registry import resolve

        _, stem = resolve(path)
        tensors, cfg = load_checkpoint(stem, kind="model")
        mine = self._config_as_saved()
        for key in ("architecture", "model", "schema"):
            if cfg.get(key) != mine.get(key):
                raise ValueError(f"{stem} cannot continue this run: its {key} differs "
                                 f"({cfg.get(key)!r} vs {mine.get(key)!r})"[:400])
        state = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
        missing, unexpected = self.recipe.model.load_state_dict(state, strict=False)
        if unexpected or any(not k.startswith("discriminator.") for k in missing):
            raise ValueError(f"{stem} does not fit this model: missing {missing[:4]}, "
                             f"unexpected {unexpected[:4]}")
        self.step = int(cfg.get("step", 0))
        return list(missing)

    # --- the loop ----------------------------------------------------------------------

    def _check(self, losses: dict[str, float]) -> None:
        bad = {k: v for k, v in losses.items() if not torch.isfinite(torch.tensor(v))}
        if bad:
            last = self.out / "model.safetensors"
            raise TrainingDiverged(
                f"training diverged at step {self.step + 1}: {bad}. Nothing was saved over "
                f"the last good checkpoint ({last if last.exists() else 'none yet'}). "
                "Lower the learning rate or resume from that checkpoint.")

    def save_samples(self, grid: tuple[torch.Tensor, int] | None = None) -> Path | None:
        """Write the probe grid (``recipe.preview()`` unless given) as a sample PNG."""
        if not self.is_main:
            return None
        images, ncol = grid or self.recipe.preview()
        path = self.out / "samples" / f"step_{self.step:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(make_grid(images.float().cpu(), ncol), path)
        return path

    def _stop_agreed(self) -> bool:
        """Whether to stop now; under DDP every rank stops together, decided at log steps."""
        if self.world_size == 1:
            return self._stop.is_set()
        if self.step % self.log_every:
            return False
        flag = torch.tensor([float(self._stop.is_set())], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def _log(self, window: dict[str, list[float]], images: int, elapsed: float) -> None:
        """Average the losses since the last log line, write it, show it, tell callbacks."""
        row = {"step": self.step, **{k: sum(v) / len(v) for k, v in window.items()},
               "images_per_s": images / max(elapsed, 1e-9), "elapsed_s": elapsed}
        if self.flops_per_image:
            row["gflop_per_s"] = row["images_per_s"] * self.flops_per_image / 1e9
        self.history.append(row)
        if self.is_main:
            with open(self.out / "log.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")
        self._bar.set_postfix({k: f"{v:.3g}" for k, v in row.items()
                               if k not in ("step", "elapsed_s")})
        self.emit("on_log", row)

    def fit(self) -> list[dict[str, float]]:
        """Train until ``steps``; returns the logged history of this call.

        One process trains a run directory at a time: a second one (a resume typed twice,
        the studio and the CLI on the same ``--out``) is refused while the first lives."""
        if not self.is_main:
            return self._fit()
        self.out.mkdir(parents=True, exist_ok=True)
        with run_lock(self.out):
            return self._fit()

    def _fit(self) -> list[dict[str, float]]:
        r = self.recipe
        data = _prefetch(r.batches(self.step, self.rank, self.world_size))
        bar = self._bar = tqdm(total=self.steps, initial=self.step, desc=r.arch,
                               disable=not self.progress, dynamic_ncols=True)
        t0, images, window = time.perf_counter(), 0, {}
        for model in r.nets.values():
            model.train()
        self.end_reason = "error"
        try:
            self.emit("on_start")
            while self.step < self.steps:
                if not self._running.is_set():  # paused: the clock stops too
                    held = time.perf_counter()
                    self._running.wait()
                    t0 += time.perf_counter() - held
                if self._stop_agreed():
                    break
                batch = next(data)
                losses = {k: float(v) for k, v in r.training_step(batch, self.step).items()}
                self._check(losses)
                self.step += 1
                images += len(next(iter(batch.values()))) * self.world_size
                for k, v in losses.items():
                    window.setdefault(k, []).append(v)
                last = self.step == self.steps
                if self.step % self.log_every == 0 or last:
                    self._log(window, images, time.perf_counter() - t0)
                    window = {}
                sample = self.step % self.sample_every == 0 or last
                show = bool(self.callbacks) and (self.step % self.preview_every == 0 or last)
                if self.is_main and (sample or show):
                    grid = self.recipe.preview()
                    if sample:
                        self.save_samples(grid)
                    if show:
                        self.emit("on_preview", *self._cpu(grid))
                keep = self.keep_every > 0 and self.step % self.keep_every == 0
                if (self.step % self.save_every == 0 or last or keep
                        or self._save_now.is_set()):
                    self._save_now.clear()
                    self.save(keep=keep)
                self.emit("on_step")
                bar.update(1)
            if self.step < self.steps:  # stopped: log what is left, checkpoint, last preview
                if window:
                    self._log(window, images, time.perf_counter() - t0)
                if self.is_main and self.callbacks:
                    self.emit("on_preview", *self._cpu(self.recipe.preview()))
                self.save()
                self.end_reason = "stopped"
            else:
                self.end_reason = "done"
        finally:
            bar.close()
            data.close()
            if self.end_reason == "error":  # the training error propagates, not a callback's
                with contextlib.suppress(Exception):
                    self.emit("on_end", "error")
            else:
                self.emit("on_end", self.end_reason)
        return self.history

    @staticmethod
    def _cpu(grid: tuple[torch.Tensor, int]) -> tuple[torch.Tensor, int]:
        return grid[0].float().cpu(), grid[1]
