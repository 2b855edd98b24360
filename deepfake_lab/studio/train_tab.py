"""The studio's Train tab: pick an architecture, start a run and watch it learn.

Layout and wiring only; the job itself (bounds, one job per server, ownership, what the
status says) lives in :mod:`deepfake_lab.studio.training_job`.

Endpoints (the page uses the same ones).  They are callable by ``gradio_client`` and the
HTTP API but left out of the app's API page (``api_visibility="undocumented"``): that page
documents the Sliders tab.  A session's job token is kept in ``gr.State``, so an API client
keeps its session (one ``Client``) to control its own job:

=============  ==========================================  ===================================
api name       inputs                                      outputs (streamed for train_start)
=============  ==========================================  ===================================
train_start    architecture, size, steps, batch, lr, seed  status, curves, preview, metrics
train_pause    -                                           status
train_resume   -                                           status
train_stop     -                                           status
train_save     -                                           status
train_open     -                                           the Sliders tab's model (a path)
=============  ==========================================  ===================================

``train_start`` streams an update whenever the run logs, previews or evaluates (at most
twice a second, at least every two seconds: :meth:`TrainingJob.watch`) until the run ends;
a start while another job runs answers with one "Busy" status and ends.
"""

from __future__ import annotations

import html
import importlib.util
from collections.abc import Iterator
from typing import Any

import gradio as gr

from .cache import png_in_cache
from .core import Studio, StudioError
from .training_job import (
    ARCHITECTURES,
    BATCH_RANGE,
    LR_RANGE,
    BusyError,
    JobSettings,
    JobView,
    TrainingJob,
    TrainingService,
    marked_preview,
    png_bytes,
)

ARCH_LABELS = {"cvae": "conditional VAE", "cgan": "conditional GAN",
               "two-decoder": "two-decoder autoencoder (ada, boris)"}


def _intro(service: TrainingService) -> str:
    minutes = service.max_seconds / 60
    return f"""\
### Train a model and watch it learn
Learning curves, and a fixed probe of held-out faces (sources, reconstructions, swaps and
the exact ground-truth swaps) redrawn every few steps. One job at a time on this server, at
most **{service.max_steps} steps** and **{minutes:g} minutes**; pausing does not stop the
clock. The finished (or saved) model opens in the Sliders tab. On a CPU, a 64 px CVAE at
batch 16 needs a few minutes to draw faces rather than blobs.
"""


def _file_in_cache(data: bytes | None, cache_dir: str) -> str | None:
    """PNG bytes -> a content-named file inside Gradio's cache (served as it is)."""
    return png_in_cache(data, cache_dir, "train")


def _error(e: StudioError) -> gr.Error:
    return gr.Error(html.escape(str(e), quote=False), title="Train", print_exception=False)


def build_train_tab(studio: Studio, *, sliders_model: gr.Dropdown | None = None,
                    tabs: gr.Tabs | None = None,
                    service: TrainingService | None = None) -> TrainingService:
    """Lay out the Train tab inside the current ``gr.Tab`` and wire it; returns its
    :class:`TrainingService` (one per app, hence one job per server).

    ``sliders_model`` (the Sliders tab's model picker) and ``tabs`` (the app's ``gr.Tabs``)
    let "open in Sliders" load the trained model there and switch to that tab.
    """
    if service is None:
        # On Hugging Face ZeroGPU hardware the GPU exists only inside spaces.GPU calls, which
        # are short; a background job trains on the CPU there.
        zero_gpu = importlib.util.find_spec("spaces") is not None
        service = TrainingService(device="cpu" if zero_gpu else studio.device)
    gr.Markdown(_intro(service))
    with gr.Row():
        with gr.Column(scale=2, min_width=320):
            arch = gr.Radio([(ARCH_LABELS[a], a) for a in ARCHITECTURES], value="cvae",
                            label="architecture")
            size = gr.Radio(list(service.sizes()), value="64", label="image size (px)")
            steps = gr.Slider(1, service.max_steps, value=min(300, service.max_steps), step=1,
                              label="steps", info=f"at most {service.max_steps} here")
            batch = gr.Slider(BATCH_RANGE[0], BATCH_RANGE[1], value=16, step=1,
                              label="batch", info="images per step (per person for the "
                                                  "two-decoder model)")
            lr = gr.Number(None, label="learning rate",
                           info=f"0 or empty: the recipe's own; else in [{LR_RANGE[0]:g}, "
                                f"{LR_RANGE[1]:g}]",
                           minimum=0, maximum=LR_RANGE[1])
            seed = gr.Number(0, precision=0, minimum=0, label="seed")
            with gr.Row():
                start = gr.Button("start", variant="primary")
                pause = gr.Button("pause")
                resume = gr.Button("resume")
            with gr.Row():
                stop = gr.Button("stop", variant="stop")
                save = gr.Button("save checkpoint")
                open_in_sliders = gr.Button("open in Sliders")
        with gr.Column(scale=3, min_width=420):
            status = gr.Markdown("No training job yet.", elem_id="train-status")
            img = dict(type="filepath", format="png", interactive=False, buttons=["download"])
            preview = gr.Image(label="probe of held-out faces (AI-generated rows are the "
                                     "model's)", elem_id="train-preview", **img)
            curves = gr.Image(label="learning curves", elem_id="train-curves", **img)
            metrics = gr.Markdown(elem_id="train-metrics")
    token = gr.State("")
    cache = preview.GRADIO_CACHE

    def outputs(job: TrainingJob, v: JobView, memo: dict) -> tuple:
        """The stream's outputs; ``memo`` keeps the files of images already encoded."""
        if v.preview is not None and memo.get("step") != v.preview_step:
            image = marked_preview(v.preview, job.run_dir.name)
            memo["step"], memo["preview"] = v.preview_step, _file_in_cache(png_bytes(image),
                                                                           cache)
        if v.curves is not None and memo.get("drawn") is not v.curves:
            memo["drawn"], memo["curves"] = v.curves, _file_in_cache(png_bytes(v.curves), cache)
        return (job.token, v.status, memo.get("curves"), memo.get("preview"), v.evals)

    def train_start(tok: str, arch_v: str, size_v: str, steps_v: float, batch_v: float,
                    lr_v: float | None, seed_v: float) -> Iterator[tuple]:
        """Start a job and stream its view until it ends (or say the server is busy)."""
        try:
            job = service.start(JobSettings(arch_v, str(size_v), steps_v, batch_v, lr_v,
                                            seed_v))
        except BusyError as e:
            yield (tok, f"**{html.escape(str(e))}**", gr.skip(), gr.skip(), gr.skip())
            return
        except StudioError as e:
            raise _error(e) from None
        memo: dict = {}
        for view in job.watch():
            yield outputs(job, view, memo)

    def control(action: str):
        def handler(tok: str) -> str:
            try:
                job = getattr(service, action)(tok)
            except StudioError as e:
                raise _error(e) from None
            done = {"pause": "pausing", "resume": "resuming", "stop": "stopping: saving a "
                    "checkpoint", "save": "a checkpoint will be written after this step"}
            return f"{job.view().status}  \n_{done[action]}_"
        handler.__name__ = f"train_{action}"
        handler.__doc__ = f"{action.capitalize()} this session's training job."
        return handler

    def train_open(tok: str) -> tuple:
        """Copy the job's latest checkpoint and open it in the Sliders tab."""
        try:
            path = service.snapshot_model(tok)
        except StudioError as e:
            raise _error(e) from None
        if path not in studio.extra_models:
            studio.extra_models.append(path)
        choices = [(c.label, c.value) for c in studio.choices()]
        return (gr.update(choices=choices, value=path),
                gr.Tabs(selected="sliders") if tabs is not None else gr.skip())

    watch_out = [token, status, curves, preview, metrics]
    api: dict[str, Any] = {"api_visibility": "undocumented"}
    start.click(train_start, [token, arch, size, steps, batch, lr, seed], watch_out,
                api_name="train_start", concurrency_limit=4, concurrency_id="train-watch",
                show_progress="minimal", time_limit=service.max_seconds + 120, **api)
    for button, action in ((pause, "pause"), (resume, "resume"), (stop, "stop"),
                           (save, "save")):
        button.click(control(action), token, status, api_name=f"train_{action}",
                     concurrency_limit=None, show_progress="hidden", **api)
    target: Any = sliders_model if sliders_model is not None else gr.Textbox(visible=False)
    open_in_sliders.click(train_open, token, [target, tabs if tabs is not None else
                                              gr.State()],
                          api_name="train_open", concurrency_limit=None, **api)
    return service
