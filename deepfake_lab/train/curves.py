"""Learning curves of a run: one small panel per logged quantity (every loss the recipe
returns, then throughput) against the training step, and, when the run has swap evaluations
(``eval.jsonl``, see :class:`~deepfake_lab.train.callbacks.SwapEval`), one per main metric.

Two renderers draw the same panels:

* :func:`plot_curves` / :func:`plot_run` - matplotlib (object API on the Agg canvas: no
  pyplot, no display, safe in a server thread), for ``deepfake-lab plot RUN_DIR``: axes,
  ticks, a PNG to keep.  A figure costs a few hundred milliseconds of CPU.
* :func:`live_curves` - PIL only, ~100x cheaper, for the live views (the notebooks' panel, the
  studio's Train tab) that redraw at every log row while the same CPU trains: each panel
  shows the curve, its last value and its range.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

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

    panels = _panels(rows, evals, keys)
    n = max(1, len(panels))
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows + (0.3 if title else 0)),
                 dpi=100, layout="constrained")
    if title:
        fig.suptitle(title, fontsize=10)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (key, label, source) in zip(axes, panels, strict=False):
        xs, ys = _points(source, key)
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


def _panels(rows: Sequence[dict[str, Any]], evals: Sequence[dict[str, Any]],
            keys: Sequence[str] | None) -> list[tuple[str, str, Sequence[dict[str, Any]]]]:
    """``(key, title, source rows)`` of every panel to draw."""
    keys = list(keys) if keys else curve_keys(rows)
    missing = [k for k in keys if not any(k in r for r in rows)]
    if missing:
        raise ValueError(f"not in the log: {', '.join(missing)} (it has "
                         f"{', '.join(curve_keys(rows)) or 'no rows'})")
    panels = [(k, TITLES.get(k, k), rows) for k in keys]
    return panels + [(k, label, evals) for k, label in EVAL_KEYS.items()
                     if any(k in e for e in evals)]


def _points(source: Sequence[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    pts = [(r["step"], r[key]) for r in source
           if isinstance(r.get(key), int | float) and math.isfinite(r[key])]
    return [p[0] for p in pts], [p[1] for p in pts]


def curves_png(rows: Sequence[dict[str, Any]], evals: Sequence[dict[str, Any]] = (),
               title: str | None = None, keys: Sequence[str] | None = None) -> bytes:
    """:func:`plot_curves` as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = plot_curves(rows, evals, title, keys)
    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf)
    return buf.getvalue()


def live_curves(rows: Sequence[dict[str, Any]], evals: Sequence[dict[str, Any]] = (),
                title: str | None = None, ncols: int = 3,
                panel: tuple[int, int] = (250, 130)) -> np.ndarray:
    """The panels of :func:`plot_curves` drawn with PIL in milliseconds: uint8 ``(H, W, 3)``.

    Each panel: its title and last value, the curve (evaluations as dots), the y range at
    the left and the step range below.
    """
    from PIL import Image, ImageDraw, ImageFont

    panels = _panels(rows, evals, None)
    ncols = max(1, min(ncols, len(panels)))
    nrows = max(1, math.ceil(len(panels) / ncols))
    pw, ph = panel
    top = 22 if title else 4
    img = Image.new("RGB", (pw * ncols, top + ph * nrows), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=11)
    small = ImageFont.load_default(size=9)
    if title:
        draw.text((6, 4), title, fill="black", font=font)
    if not panels:
        draw.text((6, top + 6), "nothing logged yet", fill="gray", font=font)
    for i, (key, label, source) in enumerate(panels):
        x0, y0 = (i % ncols) * pw, top + (i // ncols) * ph
        left, right, up, down = x0 + 46, x0 + pw - 8, y0 + 18, y0 + ph - 16
        xs, ys = _points(source, key)
        draw.text((x0 + 6, y0 + 2), label, fill="black", font=font)
        if ys:
            last = f"{ys[-1]:.4g}"
            draw.text((right - draw.textlength(last, font=font), y0 + 2), last,
                      fill=(31, 119, 180) if source is not evals else (230, 120, 20),
                      font=font)
        draw.rectangle((left, up, right, down), outline=(190, 190, 190))
        if not xs:
            continue
        lo, hi = min(ys), max(ys)
        pad = (hi - lo) * 0.05 or abs(hi) * 0.05 or 1.0
        lo, hi = lo - pad, hi + pad
        x_lo, x_hi = xs[0], max(xs[-1], xs[0] + 1)
        pts = [(left + (x - x_lo) / (x_hi - x_lo) * (right - left),
                down - (y - lo) / (hi - lo) * (down - up)) for x, y in zip(xs, ys, strict=True)]
        color = (230, 120, 20) if source is evals else (31, 119, 180)
        if len(pts) > 1:
            draw.line(pts, fill=color, width=2)
        if len(pts) == 1 or source is evals:
            for px, py in pts:
                draw.ellipse((px - 2.5, py - 2.5, px + 2.5, py + 2.5), fill=color)
        for value, y in ((hi - pad, up), (lo + pad, down - 10)):
            draw.text((x0 + 4, y), f"{value:.3g}", fill="gray", font=small)
        draw.text((left, down + 2), str(xs[0]), fill="gray", font=small)
        end = f"step {xs[-1]}"
        draw.text((right - draw.textlength(end, font=small), down + 2), end, fill="gray",
                  font=small)
    return np.asarray(img)


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
