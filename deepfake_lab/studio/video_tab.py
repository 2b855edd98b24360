"""The Video and Animate tabs' Gradio layout and wiring; the logic is in :mod:`.video_jobs`.

Endpoints: ``video_targets`` (model -> who it can swap to), ``render_video`` (clip or upload,
consent, target, strategy, mask / colour / smoothing -> labelled H.264 mp4 + report) and
``render_animation`` (model, identity, keyframe path, seconds -> mp4 + report).  Renders run
one at a time per server (``concurrency_limit=1``) with a progress bar.
"""

from __future__ import annotations

import gradio as gr

from ..faces.blend import COLOR_MODES, BlendOptions
from . import core, video_jobs

VIDEO_INTRO = f"""\
Swap the face through a short clip: detect and track it, align, run the model, blend the
result back (mask, colour transfer), write H.264. At most **{video_jobs.MAX_SECONDS:g} s**
are rendered; every frame carries the visible **AI-generated** label and an invisible
watermark, and the file carries provenance metadata (`deepfake-lab verify FILE` reads them).
The bundled clips show the bundled sample people; **an upload is processed only after you
confirm you have the consent of everyone in it** (at most {video_jobs.MAX_UPLOAD_MB:g} MB).
"""

ANIMATE_INTRO = f"""\
No driving video: a conditional model draws one identity frame by frame while the attributes
move along keyframes, e.g. `yaw:-30..30,smile:0..1` (each `name:start..end`, or
`name:a..b..c` for more keys; names and ranges come from the model's attribute schema). At
most {video_jobs.MAX_SECONDS:g} s; labelled and watermarked like every model output.
"""


def build_video_tab(demo: gr.Blocks, studio: core.Studio, catching, user_error) -> None:
    """The Video tab, inside the current ``gr.Tab``.  ``catching`` wraps a handler so that
    :class:`~.core.StudioError` becomes a ``gr.Error``; ``user_error(e)`` builds that error
    (the render handlers raise it themselves: they keep their signature for ``gr.Progress``).
    """
    models = video_jobs.video_model_choices(studio)
    gr.Markdown(VIDEO_INTRO)
    with gr.Row():
        with gr.Column(scale=2, min_width=340):
            model = gr.Dropdown(models, value=models[0][1] if models else None,
                                label="model", allow_custom_value=True, elem_id="video-model")
            target = gr.Dropdown([], label="swap to", allow_custom_value=True,
                                 elem_id="video-target")
            clip = gr.Radio(video_jobs.bundled_clips(), value=video_jobs.bundled_clips()[0],
                            label="bundled driving clip (used when nothing is uploaded)")
            upload = gr.Video(label="or upload a clip", sources=["upload"],
                              elem_id="video-upload")
            consent = gr.Checkbox(False, label="everyone in my upload has consented to this",
                                  elem_id="video-consent")
            strategy = gr.Radio(list(video_jobs.STRATEGIES), value="auto", label="strategy",
                                info="auto: the model's own (two-decoder: swap; cvae: "
                                     "conditional; cgan: reenact)")
            with gr.Accordion("mask, colour and smoothing", open=False):
                color = gr.Radio(list(COLOR_MODES), value="rct", label="colour transfer")
                erode = gr.Slider(-0.2, 0.2, value=BlendOptions.erode, step=0.01,
                                  label="mask erode (fraction of the crop)")
                blur = gr.Slider(0.0, 0.3, value=BlendOptions.blur, step=0.01,
                                 label="mask feather (fraction of the crop)")
                seamless = gr.Checkbox(False, label="seamless clone (Poisson)")
                smooth = gr.Checkbox(True, label="smooth landmarks and attributes (one-euro)")
            seconds = gr.Slider(1, video_jobs.MAX_SECONDS, value=4, step=0.5,
                                label="seconds to render")
            go = gr.Button("render", variant="primary", elem_id="video-render")
        with gr.Column(scale=3, min_width=420):
            result = gr.Video(label="result (AI-generated, labelled and watermarked)",
                              elem_id="video-result", interactive=False)
            report = gr.Textbox(label="report", lines=6, interactive=False)

    @catching
    def targets(value: str) -> dict:
        people, _ = video_jobs.targets_for(studio, value)
        return gr.update(choices=people, value=people[-1] if people else None)

    def render(value, who, clip_name, upload_path, ok, strat, col, er, bl, seam, sm, secs,
               progress=gr.Progress()):  # noqa: B008 - how Gradio injects progress
        def tick(done: int, total: int) -> None:
            progress((done, max(total, done)), desc="frames", unit="frames")

        try:
            return video_jobs.render_swap(studio, value, clip_name, upload_path, bool(ok), who,
                                          strat, col, er, bl, bool(seam), bool(sm), secs,
                                          out_dir=result.GRADIO_CACHE, progress=tick)
        except core.StudioError as e:
            raise user_error(e) from None

    model.change(targets, model, target, api_name="video_targets")
    go.click(render, [model, target, clip, upload, consent, strategy, color, erode, blur,
                      seamless, smooth, seconds], [result, report], api_name="render_video",
             concurrency_limit=1, concurrency_id="video")
    if models:
        demo.load(targets, model, target, api_visibility="private")


def build_animate_tab(demo: gr.Blocks, studio: core.Studio, catching, user_error) -> None:
    """The Animate tab, inside the current ``gr.Tab`` (arguments as :func:`build_video_tab`)."""
    models = video_jobs.video_model_choices(studio)
    gr.Markdown(ANIMATE_INTRO)
    with gr.Row():
        with gr.Column(scale=2, min_width=340):
            model = gr.Dropdown(models, value=models[0][1] if models else None,
                                label="model (cvae or cgan)", allow_custom_value=True,
                                elem_id="animate-model")
            identity = gr.Dropdown([], label="identity", allow_custom_value=True,
                                   elem_id="animate-identity")
            path = gr.Textbox("yaw:-30..30,smile:0..1", label="keyframes",
                              elem_id="animate-path")
            with gr.Row():
                seconds = gr.Slider(1, video_jobs.MAX_SECONDS, value=3, step=0.5,
                                    label="seconds")
                fps = gr.Slider(5, 30, value=20, step=1, label="frames per second")
            go = gr.Button("animate", variant="primary", elem_id="animate-render")
        with gr.Column(scale=3, min_width=420):
            result = gr.Video(label="result (AI-generated, labelled and watermarked)",
                              elem_id="animate-result", interactive=False)
            report = gr.Textbox(label="report", lines=4, interactive=False)

    @catching
    def identities(value: str) -> dict:
        people, conditional = video_jobs.targets_for(studio, value)
        if not conditional:
            raise core.StudioError("a two-decoder model has no attribute input to animate; "
                                   "choose a cvae or cgan model")
        return gr.update(choices=people, value=people[0] if people else None)

    def render(value, who, keys, secs, rate, progress=gr.Progress()):  # noqa: B008
        def tick(done: int, total: int) -> None:
            progress((done, total), desc="frames", unit="frames")

        try:
            return video_jobs.render_animation(studio, value, who, keys, secs, rate,
                                               out_dir=result.GRADIO_CACHE, progress=tick)
        except core.StudioError as e:
            raise user_error(e) from None

    model.change(identities, model, identity, api_name="animate_identities")
    go.click(render, [model, identity, path, seconds, fps], [result, report],
             api_name="render_animation", concurrency_limit=1, concurrency_id="video")
    if models:
        demo.load(identities, model, identity, api_visibility="private")
