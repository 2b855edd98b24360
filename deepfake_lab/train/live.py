"""A live view of training for notebooks: learning curves, the probe grid and a stop button,
updated in place while the Trainer runs.

    from deepfake_lab.train.live import LivePanel
    panel = LivePanel()
    Trainer(recipe, run_dir, steps=500, callbacks=[panel], preview_every=25).fit()

The panel is an ordinary :class:`~deepfake_lab.train.callbacks.Callback` built from
ipywidgets (``pip install ipywidgets``; the rest of deepfake-lab does not need it): it shows
itself when training starts, redraws the curves and its status line at each log row and the
preview grid at each ``on_preview``.  The curves are drawn with PIL
(:func:`~deepfake_lab.train.curves.live_curves`, milliseconds), and still at most every
``min_interval`` seconds and 2 % of the time (:class:`~deepfake_lab.train.curves.Throttle`):
drawing takes CPU from training.  The final state is always drawn.

The buttons work while the kernel is free to hear them.  A blocking ``fit()`` keeps the kernel
busy, so the clicks wait until it returns; train in the background with :meth:`LivePanel.start`
(then :meth:`LivePanel.wait` in a later cell) to stop or pause a run from the panel - the
run then ends with a checkpoint that resumes exactly.  Without a front end (nbval, a plain
script) the panel still runs; it only has no one to show itself to.
"""

from __future__ import annotations

import html
import io
import threading
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image

from .callbacks import Callback, eta_seconds, preview_sheet
from .curves import Throttle, live_curves

if TYPE_CHECKING:
    from .trainer import Trainer


def _png(array: Any) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="png", compress_level=1)
    return buf.getvalue()


def format_seconds(s: float | None) -> str:
    """``75.2 -> "1 min 15 s"``; ``None -> "?"``."""
    if s is None:
        return "?"
    s = int(round(s))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class LivePanel(Callback):
    """An ipywidgets panel (status line, stop and pause buttons, curves, preview grid) that
    follows a :class:`~deepfake_lab.train.trainer.Trainer` as a callback.

    Args:
        title: shown above the curves (default: the run directory's name).
        min_interval: least seconds between two redraws of the curves.
        show: display the panel when training starts (``False``: display
            :attr:`widget` yourself).
    """

    def __init__(self, title: str | None = None, min_interval: float = 1.0,
                 show: bool = True) -> None:
        try:
            import ipywidgets as w
        except ImportError as e:  # pragma: no cover - ipywidgets is a dev dependency
            raise ImportError("the live panel needs ipywidgets: pip install ipywidgets") from e
        self.title, self.min_interval, self.show = title, float(min_interval), show
        self.trainer: Trainer | None = None
        self.rows: list[dict[str, float]] = []
        self.evals: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.draws = 0  # times the curves were drawn
        self.previews = 0  # preview grids shown
        self._drawn = (0, 0)  # rows and evaluations in the drawn curves
        self._throttle = Throttle(min_interval)
        self._start_step = 0
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._shown = False

        self.status = w.HTML("<b>waiting for training to start</b>")
        self.stop_button = w.Button(description="stop", icon="stop", button_style="danger",
                                    tooltip="stop after this step, with a checkpoint")
        self.pause_button = w.ToggleButton(description="pause", icon="pause",
                                           tooltip="hold training between two steps")
        self.curves = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self.preview = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self.stop_button.on_click(lambda _: self.stop())
        self.pause_button.observe(self._toggle_pause, names="value")
        self.widget = w.VBox([w.HBox([self.stop_button, self.pause_button, self.status]),
                              self.curves, self.preview])

    # ---- control ------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop the followed run after its current step (it saves a checkpoint)."""
        if self.trainer is not None:
            self.trainer.stop()
            self.status.value += " · <i>stopping...</i>"

    def _toggle_pause(self, change: dict) -> None:
        if self.trainer is None:
            return
        if change["new"]:
            self.trainer.pause()
        else:
            self.trainer.unpause()
        self._status()

    def start(self, trainer: Trainer) -> threading.Thread:
        """Run ``trainer.fit()`` in a background thread (the kernel stays free, so the
        buttons act at once); returns the thread.  Adds the panel to its callbacks."""
        if self not in trainer.callbacks:
            trainer.callbacks.append(self)

        def run() -> None:
            try:
                trainer.fit()
            except BaseException as e:  # noqa: BLE001 - re-raised by wait()
                self._error = e

        self._thread = threading.Thread(target=run, name="deepfake-lab-train", daemon=True)
        self._thread.start()
        return self._thread

    def wait(self, timeout: float | None = None) -> list[dict[str, float]]:
        """Wait for a run started with :meth:`start`; re-raises its error; returns the rows."""
        if self._thread is not None:
            self._thread.join(timeout)
        if self._error is not None:
            raise self._error
        return self.rows

    def _ipython_display_(self) -> None:
        from IPython.display import display
        self._shown = True
        display(self.widget)

    # ---- events -------------------------------------------------------------------------
    def on_start(self, trainer: Trainer) -> None:
        self.trainer, self._start_step = trainer, trainer.step
        if self.show and not self._shown:
            try:
                from IPython.display import display
            except ImportError:  # pragma: no cover - ipywidgets brings IPython
                pass
            else:
                self._shown = True
                display(self.widget)
        self._status()

    def on_log(self, trainer: Trainer, row: dict[str, float]) -> None:
        self.rows.append(dict(row))
        if self._throttle.due():
            self._draw()
        self._status()

    def on_preview(self, trainer: Trainer, images: torch.Tensor, ncol: int) -> None:
        self.preview.value = _png(preview_sheet(images, ncol, trainer.recipe.arch))
        self.previews += 1

    def on_eval(self, trainer: Trainer, metrics: dict[str, Any]) -> None:
        self.evals.append(metrics)  # drawn with the next curves
        self._status()

    def on_end(self, trainer: Trainer, reason: str) -> None:
        for cb in trainer.callbacks:
            note = getattr(cb, "note", None)
            if note and note not in self.notes:
                self.notes.append(note)
        if self._drawn != (len(self.rows), len(self.evals)):
            self._draw()
        self.stop_button.disabled = self.pause_button.disabled = True
        self._status(reason)

    # ---- drawing ------------------------------------------------------------------------
    def _draw(self) -> None:
        title = self.title or (self.trainer.out.name if self.trainer else None)
        with self._throttle.timing():
            self.curves.value = _png(live_curves(self.rows, self.evals, title))
        self.draws += 1
        self._drawn = (len(self.rows), len(self.evals))

    def _status(self, ended: str | None = None) -> None:
        t = self.trainer
        if t is None:
            return
        parts = [f"<b>{html.escape(t.recipe.arch)}</b> step {t.step} / {t.steps}"]
        if self.rows:
            last = self.rows[-1]
            parts.append(f"{last['images_per_s']:.1f} images/s")
            if "gflop_per_s" in last:
                parts.append(f"{last['gflop_per_s']:.2f} GFLOP/s")
        if self.evals:
            e = self.evals[-1]
            parts.append(f"swap ID {e['id_retrieval']:.0f} %, pose error "
                         f"{e['pose_mae_deg']:.1f}° (step {e['step']})")
        if ended:
            parts.append({"done": "done", "stopped": "stopped: checkpoint saved",
                          "error": "ended with an error"}.get(ended, ended))
        elif t.paused:
            parts.append("paused")
        else:
            parts.append(f"ETA {format_seconds(eta_seconds(self.rows, t.steps, self._start_step))}")
        text = " · ".join(parts)
        if self.notes:
            text += "<br>" + "<br>".join(html.escape(n) for n in self.notes)
        self.status.value = text
