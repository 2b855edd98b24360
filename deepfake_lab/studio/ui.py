"""The studio's Gradio layout and event wiring; every decision is made in :mod:`.core`.

Endpoints (what ``gradio_client`` and the HTTP API see; the browser uses the same ones):

============  ==============================================  ================================
api name      inputs                                          outputs
============  ==============================================  ================================
configure     model, mode, swap-to target                     mode, target, target seed,
                                                              source / output visibility, card
identity      identity A, seed A, identity B, seed B, mix     the identity sliders
preview       model, mode, target, target seed, every         source, output, ground truth,
              attribute (schema order, physical units)        info (latency, device), table
reset         -                                               pickers, mix, every attribute
randomise     -                                               pickers, mix, every attribute
============  ==============================================  ================================

The Real faces tab adds ``real_configure``, ``real_frame`` and ``real_preview``
(:mod:`.real_tab`, only when a real-face model is on offer), the Video and Animate tabs
``video_targets``, ``render_video``, ``animate_identities`` and ``render_animation``
(:mod:`.video_tab`), the Train tab its ``train_*`` controls (:mod:`.train_tab`).

``core.preview_args`` builds the ``preview`` inputs for API clients.  Slider changes fire
``preview`` with ``trigger_mode="always_last"``: while one preview runs, further moves are
collapsed into a single re-run with the latest values, so dragging never builds a backlog.
"""

from __future__ import annotations

import html
import io
import secrets
from collections.abc import Callable
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image, PngImagePlugin

from ..provenance import GENERATOR, WATERMARK_VERSION
from . import core
from .cache import png_in_cache
from .core import RANDOM_IDENTITY, RENDERER, Studio, StudioError
from .real_tab import build_real_tab
from .train_tab import build_train_tab
from .video_tab import build_animate_tab, build_video_tab

TITLE = "deepfake-lab studio"
CONCURRENCY = 2  # previews computed at once (torch already uses every core for one)
MAX_QUEUE = 64  # waiting requests before new ones are turned away

HEADER = """\
# deepfake-lab studio
Move a slider and the face follows. Sliders, ranges and defaults come from the attribute
schema; SynthFaces renders beside the model output show the exact right answer. Every model
output carries a visible **AI-generated** label and an invisible watermark. Only process
faces of people who have given their consent.
"""

# System fonts only: the default theme would fetch web fonts, and the app must work offline.
THEME = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                          font_mono=["ui-monospace", "monospace"])
# Keep model pixels crisp when the browser rescales the (already upscaled) images.
CSS = "#studio-images img { image-rendering: pixelated; }"


def _user_error(e: Exception) -> gr.Error:
    """A :class:`StudioError` as the toast the user sees (the message is shown as HTML)."""
    return gr.Error(html.escape(str(e), quote=False), title="deepfake-lab studio",
                    print_exception=False)


def _png_in_cache(image: np.ndarray | None, cache_dir: str,
                  model_id: str | None = None) -> str | None:
    """Write a display image as a PNG inside Gradio's cache and return its path.

    Gradio would encode a returned array itself at PNG's default compression, which costs
    ~20 ms for a watermarked 256 px image (the watermark's fine pattern compresses poorly);
    level 1 takes a third of that for files ~25 % larger.  A file already inside the cache
    is served as it is and removed with the rest of the cache (``delete_cache``).

    With ``model_id`` (model output, already labelled and watermarked) the file also gets the
    provenance text chunks that :func:`~deepfake_lab.provenance.save_generated_png` writes,
    so a downloaded preview passes ``deepfake-lab verify`` with its metadata.
    """
    if image is None:
        return None
    info = None
    if model_id is not None:
        info = PngImagePlugin.PngInfo()
        for key, value in {"ai_generated": "true", "generator": GENERATOR, "model": model_id,
                           "watermark": WATERMARK_VERSION}.items():
            info.add_text(key, value)
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="png", compress_level=1, pnginfo=info)
    return png_in_cache(buf.getvalue(), cache_dir, "studio")


def _catching(fn: Callable) -> Callable:
    """Turn :class:`StudioError` raised by ``fn`` into ``gr.Error`` (keeps the signature
    Gradio inspects: the wrapper takes ``*args`` like every handler below)."""
    def handler(*args: Any) -> Any:
        try:
            return fn(*args)
        except StudioError as e:
            raise _user_error(e) from None
    handler.__name__ = fn.__name__
    handler.__doc__ = fn.__doc__
    return handler


def build_app(studio: Studio | None = None, *, concurrency: int = CONCURRENCY,
              max_queue: int = MAX_QUEUE) -> gr.Blocks:
    """The studio as a queued ``gr.Blocks`` (launch it with :func:`launch`)."""
    studio = studio or Studio()
    specs = core.slider_specs()
    by_group = {g: [s for s in specs if s.group == g] for g in ("identity", "pose", "expression")}
    choices = studio.choices()
    ident_choices = core.identity_choices()
    start = core.default_state()

    # The GPU work, wrapped in spaces.GPU on Hugging Face ZeroGPU hardware.
    compute = core.gpu_decorator()(studio.preview)

    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(900, 1800)) as demo:
        gr.Markdown(HEADER)
        with gr.Tabs() as tabs:
            with gr.Tab("Sliders", id="sliders"):
                with gr.Row():
                    # ---- controls --------------------------------------------------------
                    with gr.Column(scale=2, min_width=340):
                        model = gr.Dropdown(
                            [(c.label, c.value) for c in choices], value=choices[0].value,
                            allow_custom_value=True, label="model", elem_id="studio-model",
                            info="bundled models, $DEEPFAKE_LAB_STUDIO_MODELS, or type a "
                                 "checkpoint path / run directory")
                        mode = gr.Radio([("generate from the sliders (z = 0)", "generate"),
                                         ("swap a SynthFaces source", "swap")],
                                        value="generate", label="mode")
                        with gr.Row():
                            target = gr.Dropdown(ident_choices, value=ident_choices[1],
                                                 allow_custom_value=True, label="swap to",
                                                 scale=3)
                            target_seed = gr.Number(0, precision=0, minimum=0, label="seed",
                                                    info=f"for '{RANDOM_IDENTITY}'", scale=1)
                        with gr.Row():
                            id_a = gr.Dropdown(ident_choices, value=start.identity_a,
                                               allow_custom_value=True, label="identity",
                                               scale=3, info="or type a seed number")
                            seed_a = gr.Number(start.seed_a, precision=0, minimum=0,
                                               label="seed", scale=1)
                        with gr.Row():
                            id_b = gr.Dropdown(ident_choices, value=start.identity_b,
                                               allow_custom_value=True,
                                               label="second identity", scale=3)
                            seed_b = gr.Number(start.seed_b, precision=0, minimum=0,
                                               label="seed", scale=1)
                        mix = gr.Slider(0, 1, value=start.mix, step=0.01,
                                        label="mix (0 = identity, 1 = second identity)")
                        sliders: list[gr.Slider] = []
                        titles = {"identity": "identity parameters (SynthFaces)",
                                  "pose": "pose", "expression": "expression"}
                        # Initial values: the reset state (the first catalogue person's
                        # identity, schema defaults for pose and expression).
                        initial = dict(zip(core.SCHEMA.names, start.values, strict=True))
                        for group in ("identity", "pose", "expression"):
                            with gr.Accordion(titles[group], open=group != "identity"):
                                for s in by_group[group]:
                                    sliders.append(gr.Slider(
                                        s.low, s.high, value=initial[s.name], step=s.step,
                                        label=s.label, info=s.info, elem_id=f"slider-{s.name}"))
                        with gr.Row():
                            reset = gr.Button("reset", variant="secondary")
                            randomise = gr.Button("randomise", variant="secondary")

                    # ---- what the sliders make ---------------------------------------------
                    with gr.Column(scale=3, min_width=420):
                        with gr.Row(elem_id="studio-images"):
                            # Handlers return PNG paths inside Gradio's cache (_png_in_cache).
                            img = dict(type="filepath", format="png", interactive=False,
                                       buttons=["download"])
                            source = gr.Image(label="source (SynthFaces render)",
                                              elem_id="studio-source", visible=False, **img)
                            output = gr.Image(label="model output (AI-generated)",
                                              elem_id="studio-output", **img)
                            truth = gr.Image(label="ground truth (SynthFaces render)",
                                             elem_id="studio-truth", **img)
                        info = gr.Markdown(elem_id="studio-info")
                        card = gr.Markdown(elem_id="studio-card")
                        table = gr.Dataframe(headers=list(core.TABLE_HEADERS),
                                             interactive=False, label="attribute vector "
                                             "(what the output should match)")

            with gr.Tab("Real faces", id="real"):
                build_real_tab(demo, studio, _catching, _png_in_cache)
            with gr.Tab("Train", id="train"):
                build_train_tab(studio, sliders_model=model, tabs=tabs)
            with gr.Tab("Video", id="video"):
                build_video_tab(demo, studio, _catching, _user_error)
            with gr.Tab("Animate", id="animate"):
                build_animate_tab(demo, studio, _catching, _user_error)
            with gr.Tab("About", id="about"):
                gr.Markdown(core.about_markdown())

        # ---- handlers: thin adapters from components to core ------------------------------
        @_catching
        def configure(model_value: str, mode_value: str, target_value: str) -> tuple:
            """Show the controls the chosen model uses; its card."""
            view = studio.view(model_value)
            mode_value = mode_value if mode_value in view.modes else "generate"
            swaps = view.uses_source(mode_value)
            keep = target_value if target_value in view.targets else view.default_target
            label = ("swap to (a person of this model)" if view.architecture == "two-decoder"
                     else "swap to")
            return (gr.update(visible=bool(view.modes), value=mode_value),
                    gr.update(choices=view.targets, value=keep, visible=swaps, label=label),
                    gr.update(visible=swaps and view.architecture != "two-decoder"),
                    gr.update(visible=swaps),
                    gr.update(visible=view.architecture != RENDERER),
                    view.card)

        @_catching
        def preview(model_value: str, mode_value: str, target_value: str,
                    target_seed_value: float, *values: float) -> tuple:
            """One preview: source, labelled output, ground truth, info, attribute table."""
            p = compute(model_value, mode_value, target_value, target_seed_value, values)
            cache = output.GRADIO_CACHE
            return (_png_in_cache(p.source, cache), _png_in_cache(p.output, cache, p.model_id),
                    _png_in_cache(p.truth, cache), p.info(), p.table)

        @_catching
        def identity(a: str, sa: float, b: str, sb: float, m: float) -> tuple:
            """The identity sliders for a mix of two picked identities."""
            return tuple(core.identity_values(a, sa, b, sb, m))

        def refresh_models() -> dict:
            """Re-read the models on offer (runs trained while the app was up appear)."""
            return gr.update(choices=[(c.label, c.value) for c in studio.choices()])

        def reset_controls() -> tuple:
            """Pickers, mix and every slider back to their defaults."""
            return core.default_state().as_tuple()

        def randomise_controls() -> tuple:
            """A random person, pose and expression."""
            return core.random_state(secrets.randbelow(1_000_000)).as_tuple()

        # ---- wiring -----------------------------------------------------------------------
        config_out = [mode, target, target_seed, source, output, card]
        preview_in = [model, mode, target, target_seed, *sliders]
        preview_out = [source, output, truth, info, table]
        controls = [id_a, seed_a, id_b, seed_b, mix, *sliders]
        private = dict(api_visibility="private")

        # Public endpoints first: they keep their plain api names.
        model_changed = model.change(configure, [model, mode, target], config_out,
                                     api_name="configure")
        gr.on([s.change for s in sliders] + [mode.change, target.change, target_seed.change],
              preview, preview_in, preview_out, api_name="preview",
              trigger_mode="always_last", show_progress="hidden")
        gr.on([id_a.change, seed_a.change, id_b.change, seed_b.change, mix.change],
              identity, [id_a, seed_a, id_b, seed_b, mix], sliders[:len(by_group["identity"])],
              api_name="identity", trigger_mode="always_last", show_progress="hidden")
        reset.click(reset_controls, None, controls, api_name="reset")
        randomise.click(randomise_controls, None, controls, api_name="randomise")
        # The same handlers chained for the page (not part of the API).
        model_changed.success(preview, preview_in, preview_out, **private)
        mode.change(configure, [model, mode, target], config_out, **private)
        demo.load(configure, [model, mode, target], config_out, **private,
                  ).success(preview, preview_in, preview_out, **private)
        demo.load(refresh_models, None, model, **private)

    demo.queue(default_concurrency_limit=concurrency, max_size=max_queue)
    return demo


def launch(demo: gr.Blocks, host: str | None = None, port: int | None = None, *,
           block: bool = True, quiet: bool = False) -> Any:
    """Serve ``demo`` on ``host:port`` (``None``: Gradio's defaults and its
    ``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` variables).  Never a public share link.

    ``block=False`` returns right after the server starts (tests, benchmarks).
    """
    return demo.launch(server_name=host, server_port=port, share=False,
                       prevent_thread_lock=not block, show_error=True, quiet=quiet,
                       ssr_mode=False, theme=THEME, css=CSS)
