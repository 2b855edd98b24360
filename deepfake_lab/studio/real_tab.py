"""The "Real faces" tab's Gradio layout and wiring; the logic is in :mod:`.real`.

Endpoints: ``real_configure`` (model -> people, frame range, which controls apply),
``real_frame`` (person, frame -> the frame's estimated pose / expression on the sliders) and
``real_preview`` (everything -> source frame, labelled output, info, vector table).
"""

from __future__ import annotations

import gradio as gr

from ..attributes import EXPRESSION, POSE
from . import core
from .real import RealFaces

INTRO = """\
Real people, moved by the same pose and expression sliders. The source is a frame of one of
the model's facesets (aligned by the face pipeline; frames at the end of each clip were held
out from training). A **cvae** model decodes the frame's latent with the identity you pick
(mix two people with the slider) and the pose and expression of the sliders; a
**two-decoder** model paints the frame with the chosen person's decoder. Only the bundled
sample people are offered; process faces only with consent.
"""


def build_real_tab(demo: gr.Blocks, studio: core.Studio, catching, png) -> None:
    """Lay out the tab inside the current ``gr.Blocks``/``gr.Tab`` and wire its events.

    ``catching`` turns :class:`~.core.StudioError` into ``gr.Error``; ``png(image, cache,
    model_id)`` writes a display image into Gradio's cache (both from :mod:`.ui`).
    """
    real = RealFaces(studio)
    choices = real.choices()
    controls = [*POSE, *EXPRESSION]
    gr.Markdown(INTRO)
    if not choices:
        gr.Markdown("*No real-face model is bundled or configured yet. Train one with "
                    "`deepfake-lab train --arch cvae --data woman,man,carphone --out runs/real` "
                    "and start the studio with `--model runs/real`.*")
        return
    with gr.Row():
        with gr.Column(scale=2, min_width=340):
            model = gr.Dropdown([(c.label, c.value) for c in choices], value=choices[0].value,
                                label="real-face model", elem_id="real-model")
            with gr.Row():
                # Choices arrive with the model (real_configure); the core checks names.
                person = gr.Dropdown([], label="source person", scale=2,
                                     allow_custom_value=True)
                frame = gr.Number(0, precision=0, minimum=0, label="frame", scale=2,
                                  elem_id="real-frame", info="index in the person's faceset")
            with gr.Row():
                target = gr.Dropdown([], label="identity", scale=2, allow_custom_value=True)
                target_b = gr.Dropdown([], label="second identity", scale=2,
                                       allow_custom_value=True)
            mix = gr.Slider(0, 1, value=0, step=0.01,
                            label="mix (0 = identity, 1 = second identity)")
            with gr.Accordion("pose and expression", open=True) as accordion:
                sliders = [gr.Slider(a.low, a.high, value=a.default,
                                     step=core.slider_step(a),
                                     label=f"{a.name} ({a.unit})" if a.unit else a.name,
                                     info=a.description, elem_id=f"real-slider-{a.name}")
                           for a in controls]
            from_frame = gr.Button("pose and expression from the frame", variant="secondary")
        with gr.Column(scale=3, min_width=420):
            with gr.Row(elem_id="real-images"):
                img = dict(type="filepath", format="png", interactive=False,
                           buttons=["download"])
                source = gr.Image(label="source frame (real, unmodified)", **img)
                output = gr.Image(label="model output (AI-generated)", elem_id="real-output",
                                  **img)
            info = gr.Markdown()
            table = gr.Dataframe(headers=list(core.TABLE_HEADERS), interactive=False,
                                 label="attribute vector of the output")

    # Handler names are unique across the app: Gradio names private events after their
    # functions, and a clash would rename the Sliders tab's public endpoints.
    @catching
    def real_configure(value: str) -> tuple:
        m, data = real.load(value)
        people = list(data.people)
        n = real.frames(value, people[0])
        conditional = m.architecture != "two-decoder"
        return (gr.update(choices=people, value=people[0]),
                gr.update(maximum=n - 1, value=0, info=f"0 to {n - 1}"),
                gr.update(choices=people, value=people[1 % len(people)]),
                gr.update(choices=people, value=people[0], visible=conditional),
                gr.update(visible=conditional), gr.update(visible=conditional),
                gr.update(visible=conditional))

    @catching
    def real_frame(value: str, who: str, index: float) -> tuple:
        n = real.frames(value, who)
        i = min(int(index), n - 1)
        return (gr.update(maximum=n - 1, value=i, info=f"0 to {n - 1}"),
                *real.frame_values(value, who, i))

    @catching
    def real_preview(value: str, who: str, index: float, tgt: str, tgt_b: str, m: float,
                     *values: float) -> tuple:
        p = real.preview(value, who, int(index), tgt, tgt_b, m, values)
        cache = output.GRADIO_CACHE
        return png(p.source, cache), png(p.output, cache, p.model_id), p.info(), p.table

    preview_in = [model, person, frame, target, target_b, mix, *sliders]
    preview_out = [source, output, info, table]
    private = dict(api_visibility="private")
    configured = model.change(real_configure, model,
                              [person, frame, target, target_b, mix, accordion, from_frame],
                              api_name="real_configure")
    framed = gr.on([person.change, frame.submit, from_frame.click], real_frame,
                   [model, person, frame], [frame, *sliders], api_name="real_frame",
                   trigger_mode="always_last")
    gr.on([target.change, target_b.change, mix.change, *(s.change for s in sliders)],
          real_preview, preview_in, preview_out, api_name="real_preview",
          trigger_mode="always_last", show_progress="hidden")
    configured.success(real_frame, [model, person, frame], [frame, *sliders], **private)
    framed.success(real_preview, preview_in, preview_out, **private)
    controls = [person, frame, target, target_b, mix, accordion, from_frame]
    demo.load(real_configure, model, controls, **private).success(
        real_frame, [model, person, frame], [frame, *sliders], **private).success(
        real_preview, preview_in, preview_out, **private)
