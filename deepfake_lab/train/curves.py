"""Learning curves of a run, drawn to PNG: ``deepfake-lab plot RUN_DIR``, the studio's Train
tab and the notebooks' live panel all draw them here.

One small panel per logged quantity (every loss the recipe returns, then throughput), x =
training step; when the run has swap evaluations (``eval.jsonl``, see
:class:`~deepfake_lab.train.callbacks.SwapEval`) their main metrics get panels too.  Drawn
with matplotlib's object API on the Agg canvas (no pyplot, no display, safe in a server
thread).
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .callbacks import read_log

NOT_CURVES = ("step", "elapsed_s")
THROUGHPUT = ("images_per_s", "gflop_per_s")
EVAL_KEYS = {"id_retrieval": "swap ID retrieval (%)", "pose_mae_deg": "swap pose error (deg)",
             "expr_mae": "swap expression error", "psnr": "swap PSNR (dB)",
             "sharpness_ratio": "sharpness ratio"}
TITLES = {"images_per_s": "images / s", "gflop_per_s": "achieved GFLOP/s"}


def curve_keys(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The logged numeric quantities in first-seen order, throughput last."""
    keys: dict[str, None] = {}
    for row in rows:
        for k, v in row.items():
            if k not in NOT_CURVES and isinstance(v, int | float) and not isinstance(v, bool):
                keys.setdefault(k)
    losses = [k for k in keys if k not in THROUGHPUT]
    return losses + [k for k in THROUGHPUT if k in keys]


def plot_curves(rows: Sequence[dict[str, Any]], evals: Sequence[dict[str, Any]] = (),
                title: str | None = None, keys: Sequence[str] | None = None, ncols: int = 3,
                panel: tuple[float, float] = (3.2, 2.1)) -> Any:
    """A matplotlib ``Figure``: one panel per key of ``rows`` (and per main metric of
    ``evals``), against the training step."""
    from matplotlib.figure import Figure

    keys = list(keys) if keys else curve_keys(rows)
    missing = [k for k in keys if not any(k in r for r in rows)]
    if missing:
        raise ValueError(f"not in the log: {', '.join(missing)} (it has "
                         f"{', '.join(curve_keys(rows)) or 'no rows'})")
    panels = [(k, TITLES.get(k, k), rows) for k in keys]
    panels += [(k, label, evals) for k, label in EVAL_KEYS.items()
               if any(k in e for e in evals)]
    n = max(1, len(panels))
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows + (0.3 if title else 0)),
                 dpi=100, layout="constrained")
    if title:
        fig.suptitle(title, fontsize=10)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (key, label, source) in zip(axes, panels, strict=False):
        pts = [(r["step"], r[key]) for r in source if key in r and r[key] is not None]
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        is_eval = source is evals
        ax.plot(xs, ys, "o-" if is_eval or len(xs) < 20 else "-", lw=1.2, ms=3,
                color="tab:orange" if is_eval else "tab:blue")
        ax.set_title(label, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    if not panels:
        axes[0].text(0.5, 0.5, "nothing logged yet", ha="center", va="center")
        axes[0].set_axis_off()
    for ax in axes[max(0, len(panels) - ncols):len(panels)]:
        ax.set_xlabel("step", fontsize=8)
    return fig


def curves_png(rows: Sequence[dict[str, Any]], evals: Sequence[dict[str, Any]] = (),
               title: str | None = None, keys: Sequence[str] | None = None) -> bytes:
    """:func:`plot_curves` as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = plot_curves(rows, evals, title, keys)
    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf)
    return buf.getvalue()


def plot_run(run_dir: str | Path, output: str | Path | None = None,
             keys: Sequence[str] | None = None) -> Path:
    """Draw ``run_dir/log.jsonl`` (and ``eval.jsonl``) to ``output`` (default
    ``run_dir/curves.png``); returns the path written."""
    run = Path(run_dir)
    rows = read_log(run)
    if not rows:
        raise FileNotFoundError(f"no training log at {run / 'log.jsonl'}")
    out = Path(output) if output else run / "curves.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    title = f"{run.resolve().name}: step {rows[-1]['step']}"
    out.write_bytes(curves_png(rows, read_log(run, "eval.jsonl"), title, keys))
    return out


class Throttle:
    """When to redraw live curves so that drawing takes at most ``share`` of the wall time.

    Drawing a figure costs a few hundred milliseconds of CPU - time a CPU run would rather
    train with.  :meth:`due` says yes when ``min_interval`` seconds have passed *and* the
    last drawing's cost is at most ``share`` of the time since it (2 % by default: a 0.3 s
    drawing at most every 15 s).  Wrap the drawing in :meth:`timing`.
    """

    def __init__(self, min_interval: float = 2.0, share: float = 0.02) -> None:
        self.min_interval, self.share = float(min_interval), float(share)
        self.last: float | None = None
        self.cost = 0.0

    def due(self) -> bool:
        if self.last is None:
            return True
        wait = max(self.min_interval, self.cost / self.share)
        return time.perf_counter() - self.last >= wait

    def timing(self) -> _Timing:
        """``with throttle.timing(): draw()`` records when and how long it drew."""
        return _Timing(self)


class _Timing:
    def __init__(self, throttle: Throttle) -> None:
        self.throttle = throttle

    def __enter__(self) -> None:
        self.t0 = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.throttle.last = time.perf_counter()
        self.throttle.cost = self.throttle.last - self.t0
