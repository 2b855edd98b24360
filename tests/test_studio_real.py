"""The studio's Real faces tab: its logic without Gradio, then its endpoints on a live app.

Models: a tiny CVAE and a tiny two-decoder trained for one step on the bundled facesets (so
their configs record the facesets, as a real run's do).
"""

from __future__ import annotations

import socket
from types import SimpleNamespace

import gradio_client
import numpy as np
import pytest
import torch
from PIL import Image

from deepfake_lab.models import CVAEConfig, TwoDecoderConfig
from deepfake_lab.provenance import extract_watermark
from deepfake_lab.studio import core
from deepfake_lab.studio.real import RealFaces, real_model_choices
from deepfake_lab.studio.ui import build_app, launch
from deepfake_lab.train.cvae import CVAERecipe, CVAETraining
from deepfake_lab.train.trainer import Trainer
from deepfake_lab.train.two_decoder import TwoDecoderRecipe, TwoDecoderTraining

SHOWN = (core.DISPLAY_SIZE, core.DISPLAY_SIZE, 3)  # the studio's display images

pytestmark = [pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting'"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("real-runs")
    torch.manual_seed(0)
    cvae = CVAETraining(CVAEConfig(latent=4, enc_widths=(8, 8, 16, 16),
                                   dec_widths=(16, 16, 8, 8, 8), hidden=16),
                        CVAERecipe(batch=2), facesets=("woman", "man"))
    Trainer(cvae, root / "cvae", steps=1, progress=False).fit()
    pair = TwoDecoderTraining(TwoDecoderConfig(people=("woman", "man"), code_dim=8,
                                               enc_widths=(8, 8, 16, 16),
                                               dec_widths=(16, 16, 8, 8, 8)),
                              TwoDecoderRecipe(batch=2), facesets=True)
    Trainer(pair, root / "pair", steps=1, progress=False).fit()
    return SimpleNamespace(cvae=str(root / "cvae"), pair=str(root / "pair"))


@pytest.fixture(scope="module")
def synth_run(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("synth-run")
    recipe = CVAETraining(CVAEConfig(latent=4, enc_widths=(8, 8, 16, 16),
                                     dec_widths=(16, 16, 8, 8, 8), hidden=16),
                          CVAERecipe(batch=2))
    Trainer(recipe, root / "cvae", steps=1, progress=False).fit()
    return str(root / "cvae")


@pytest.fixture()
def real(runs: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> RealFaces:
    monkeypatch.delenv(core.ENV_MODELS, raising=False)
    return RealFaces(core.Studio([runs.cvae, runs.pair]))


def test_real_models_get_their_own_tab(runs, synth_run, monkeypatch) -> None:
    monkeypatch.delenv(core.ENV_MODELS, raising=False)
    studio = core.Studio([runs.cvae, runs.pair, synth_run])
    real = [c.value for c in real_model_choices(studio)]
    sliders = [c.value for c in studio.choices()]
    assert runs.cvae in real and runs.pair in real and synth_run not in real
    assert synth_run in sliders and runs.cvae not in sliders and runs.pair not in sliders


def test_frame_values_are_the_estimated_attributes(real: RealFaces, runs) -> None:
    model, data = real.load(runs.cvae)
    assert real.people(runs.cvae) == ["woman", "man"]
    n = real.frames(runs.cvae, "man")
    assert n == int((data.identity == 1).sum())
    vals = real.frame_values(runs.cvae, "man", 3)
    truth = model.schema.to_dict(data.person(1).attributes[3])
    for c, v in zip(real.controls(model.schema), vals, strict=True):
        assert v == pytest.approx(truth[c.name], abs=core.slider_step(c))


def test_cvae_preview_follows_the_sliders_and_is_marked(real: RealFaces, runs) -> None:
    base = real.frame_values(runs.cvae, "woman", 0)
    p = real.preview(runs.cvae, "woman", 0, "man", "woman", 0.0, base)
    assert p.output.shape == p.source.shape == SHOWN
    assert extract_watermark(p.output) is not None  # the invisible mark is there
    turned = list(base)
    turned[0] = 30.0  # yaw: the first pose control
    q = real.preview(runs.cvae, "woman", 0, "man", "woman", 0.0, turned)
    assert not np.array_equal(p.output, q.output)
    assert np.array_equal(p.source, q.source)  # the real frame itself is never changed
    table = {row[1]: row[2] for row in q.table}
    assert table["yaw"] == pytest.approx(30.0) and table["person:man"] == pytest.approx(1.0)
    mixed = real.preview(runs.cvae, "woman", 0, "man", "woman", 0.25, turned)
    table = {row[1]: row[2] for row in mixed.table}
    assert table["person:man"] == pytest.approx(0.75) and table["person:woman"] == \
        pytest.approx(0.25)


def test_two_decoder_preview_and_bad_requests(real: RealFaces, runs, synth_run) -> None:
    p = real.preview(runs.pair, "man", 1, "woman", "woman", 0.0, [])
    assert p.output.shape == SHOWN and "no attribute input" in p.info()
    with pytest.raises(core.StudioError, match="unknown person 'zed'"):
        real.preview(runs.pair, "zed", 0, "woman", "woman", 0.0, [])
    with pytest.raises(core.StudioError, match="out of range"):
        real.preview(runs.pair, "man", 10_000, "woman", "woman", 0.0, [])
    with pytest.raises(core.StudioError, match="trained on SynthFaces"):
        real.load(synth_run)
    with pytest.raises(core.StudioError, match="mix must be"):
        real.preview(runs.cvae, "man", 0, "woman", "man", 2.0, [0.0] * 7)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_real_tab_endpoints_on_a_live_app(runs, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(core.ENV_MODELS, raising=False)
    demo = build_app(core.Studio([runs.cvae, runs.pair]))
    port = _free_port()
    launch(demo, "127.0.0.1", port, block=False, quiet=True)
    try:
        client = gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False,
                                      analytics_enabled=False,
                                      download_files=str(tmp_path / "downloads"))
        frame = client.predict(runs.cvae, "woman", 2, api_name="/real_frame")
        values = list(frame[1:])
        assert len(values) == 7
        out = client.predict(runs.cvae, "woman", 2, "man", "woman", 0.0, *values,
                             api_name="/real_preview")
        src, img = (np.asarray(Image.open(p).convert("RGB")) for p in out[:2])
        assert src.shape == img.shape == SHOWN
        values[0] = -25.0
        again = client.predict(runs.cvae, "woman", 2, "man", "woman", 0.0, *values,
                               api_name="/real_preview")
        assert not np.array_equal(img, np.asarray(Image.open(again[1]).convert("RGB")))
        with pytest.raises(gradio_client.exceptions.AppError, match="unknown person"):
            client.predict(runs.cvae, "zed", 0, "man", "woman", 0.0, *values,
                           api_name="/real_preview")
    finally:
        demo.close()
