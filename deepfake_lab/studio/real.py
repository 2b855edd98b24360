"""The studio's "Real faces" tab, without Gradio: sliders that move *real* faces.

Models trained on real facesets (``deepfake-lab train --data woman,man``) speak a
**learned-identity** schema: one weight per person, then the same pose and expression as
SynthFaces.  Their sliders are therefore generated from *the model's* schema, and the source
is a frame of one of its facesets (an aligned crop, read and labelled by the face pipeline):

==============  ==========================================================================
model           output (labelled + watermarked)
==============  ==========================================================================
cvae            ``model.swap(frame, a_frame, a_sliders)``: the frame's latent (its light,
                background, details) decoded with the sliders' vector - identity weights
                from the people pickers and the mix, pose and expression from the sliders
two-decoder     ``model.swap(frame, to=person)``: the person's decoder paints the frame
==============  ==========================================================================

There is no ground truth for real faces; the source frame is shown beside the output.  The
"from frame" values are what the estimator read from that frame (pose in crop space).
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ..attributes import AttributeSchema, AttributeValueError
from ..checkpoints import CheckpointError, checkpoint_paths
from ..data.faceset_stream import FacesetTensors
from ..eval.real_eval import real_data_for
from ..provenance import mark_image
from ..registry import LoadedModel, list_models, load_model, resolve
from .core import (
    MODEL_CACHE,
    ModelChoice,
    Studio,
    StudioError,
    attribute_table,
    env_models,
    slider_step,
    snap,
)


def is_real_config(config: dict) -> bool:
    """Was this checkpoint trained on real facesets?"""
    data = config.get("data")
    return isinstance(data, dict) and data.get("kind") == "facesets"


def real_model_choices(studio: Studio) -> list[ModelChoice]:
    """Bundled real-face models, then the studio's extra checkpoints that are real-face."""
    rows = []
    for r in list_models():
        _, stem = resolve(r["name"])
        cfg = json.loads(checkpoint_paths(stem)[1].read_text())
        if is_real_config(cfg):
            people = ", ".join(cfg["data"]["facesets"])
            rows.append(ModelChoice(r["name"], f"{r['name']} · {r['architecture']} · {people} "
                                               f"(bundled)", r["architecture"]))
    for path in [*env_models(), *studio.extra_models]:
        if path in {r.value for r in rows}:
            continue
        try:
            _, stem = resolve(path)
            cfg = json.loads(checkpoint_paths(stem)[1].read_text())
        except (CheckpointError, OSError, ValueError):
            continue
        if is_real_config(cfg):
            people = ", ".join(cfg["data"]["facesets"])
            rows.append(ModelChoice(path, f"{path} · {cfg['architecture']} · {people}",
                                    cfg["architecture"]))
    return rows


@dataclass
class RealPreview:
    """One real-face preview: display-size images, the vector table, timings."""

    source: np.ndarray
    output: np.ndarray
    table: list[list]
    timings_ms: dict[str, float] = field(default_factory=dict)
    device: str = "cpu"
    notes: list[str] = field(default_factory=list)
    model_id: str = ""

    def info(self) -> str:
        t = self.timings_ms
        parts = [f"{k} {t[k]:.1f} ms" for k in ("model", "display", "marks") if k in t]
        text = f"**{t.get('total', 0.0):.1f} ms** on `{self.device}` ({', '.join(parts)})"
        return "  \n".join([text, *self.notes])


class RealFaces:
    """Loaded real-face models with their facesets (cached), and the tab's operations."""

    def __init__(self, studio: Studio) -> None:
        self.studio = studio
        self._cache: OrderedDict[str, tuple[LoadedModel, FacesetTensors]] = OrderedDict()
        self._lock = threading.Lock()

    def choices(self) -> list[ModelChoice]:
        return real_model_choices(self.studio)

    def load(self, value: str) -> tuple[LoadedModel, FacesetTensors]:
        """The model and its facesets (all frames, held-out ones included) at its size."""
        value = str(value or "").strip()
        if not value:
            raise StudioError("no real-face model chosen (none is bundled yet: train one with "
                              "'deepfake-lab train --arch cvae --data woman,man,carphone')")
        with self._lock:
            if value in self._cache:
                self._cache.move_to_end(value)
                return self._cache[value]
            try:
                model = load_model(value, device=self.studio.device)
                if not is_real_config(model.config):
                    raise StudioError(f"{value!r} was trained on SynthFaces: use the Sliders "
                                      "tab")
                data = real_data_for(model)
            except (CheckpointError, AttributeValueError, OSError, ValueError) as e:
                raise StudioError(f"cannot open the real-face model: {e}") from None
            self._cache[value] = (model, data)
            while len(self._cache) > MODEL_CACHE:
                self._cache.popitem(last=False)
            return model, data

    @staticmethod
    def controls(schema: AttributeSchema) -> list:
        """The pose and expression attributes the sliders show (the model's schema)."""
        return [*schema.pose, *schema.expression]

    def people(self, value: str) -> list[str]:
        return list(self.load(value)[1].people)

    def frames(self, value: str, person: str) -> int:
        """How many frames the person's faceset has (the frame slider's range)."""
        model, data = self.load(value)
        return len(data.person(self._person_index(data, person)))

    @staticmethod
    def _person_index(data: FacesetTensors, person: str) -> int:
        if person not in data.people:
            raise StudioError(f"unknown person {person!r}: this model knows "
                              f"{', '.join(data.people)}")
        return data.people.index(person)

    def _frame(self, data: FacesetTensors, person: str, index: int
               ) -> tuple[torch.Tensor, torch.Tensor, bool]:
        faces = data.person(self._person_index(data, person))
        if not 0 <= int(index) < len(faces):
            raise StudioError(f"frame {index} is out of range: {person} has {len(faces)} frames")
        i = int(index)
        return faces.images[i:i + 1], faces.attributes[i:i + 1], bool(faces.held_out[i])

    def frame_values(self, value: str, person: str, index: int) -> list[float]:
        """The frame's estimated pose and expression (physical units, snapped to steps)."""
        model, data = self.load(value)
        _, a, _ = self._frame(data, person, index)
        phys = model.schema.to_dict(a[0])
        return [snap(phys[c.name], slider_step(c)) for c in self.controls(model.schema)]

    def preview(self, value: str, person: str, index: int, target: str, target_b: str,
                mix: float, values: Sequence[float]) -> RealPreview:
        """Swap frame ``index`` of ``person`` (see the module docstring)."""
        t0 = time.perf_counter()
        model, data = self.load(value)
        schema = model.schema
        x, a_src, held = self._frame(data, person, index)
        seen = "held out from training" if held else "seen in training"
        notes = [f"frame {index} of {person} ({seen})"]
        times: dict[str, float] = {}
        if not 0.0 <= float(mix) <= 1.0:
            raise StudioError(f"mix must be in [0, 1], got {mix}")
        with self.studio._inference():
            t = time.perf_counter()
            if model.architecture == "two-decoder":
                k = self._person_index(data, target)
                out = model.swap(x, to=k)
                a_out = schema.with_identity(
                    a_src, schema.normalize(F.one_hot(torch.tensor([k]), len(data.people))
                                            .float(), "identity"))
                notes.append("A two-decoder model has no attribute input: pose and expression "
                             "come from the frame itself.")
            else:
                weights = torch.zeros(1, len(data.people))
                weights[0, self._person_index(data, target)] += 1 - float(mix)
                weights[0, self._person_index(data, target_b)] += float(mix)
                controls = self.controls(schema)
                if len(values) != len(controls):
                    raise StudioError(f"expected {len(controls)} slider values "
                                      f"({', '.join(c.name for c in controls)})")
                try:
                    phys = schema.validate({c.name: float(v) for c, v in
                                            zip(controls, values, strict=True)})
                except (AttributeValueError, TypeError) as e:
                    raise StudioError(str(e)) from None
                rest = schema.to_tensor(phys)[None]
                a_out = schema.with_identity(rest, schema.normalize(weights, "identity"))
                out = model.swap(x, a_src, a_out)
            times["model"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        shown = self.studio._display(torch.cat([out.float().cpu(), x]))
        times["display"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        output = mark_image(np.ascontiguousarray(shown[0]), model.name)
        times["marks"] = (time.perf_counter() - t) * 1000
        times["total"] = (time.perf_counter() - t0) * 1000
        notes.append(f"{model.size} px model output shown at {self.studio.display_size} px; "
                     "it carries a visible label and an invisible watermark.")
        return RealPreview(shown[1], output, attribute_table(a_out[0].cpu(), schema), times,
                           str(self.studio.device), notes, model.name)
