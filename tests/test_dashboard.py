"""The training dashboard: Trainer callbacks, stop / pause / save, the notebook live panel,
``deepfake-lab plot``, and the studio's Train tab on a real local server.

Every run uses the tiny networks of ``tests/test_training.py`` (a few milliseconds a step).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import gradio_client
import nbformat
import pytest
import torch
from nbclient import NotebookClient
from PIL import Image
from test_training import make, weights

from deepfake_lab.checkpoints import checkpoint_paths, load_checkpoint
from deepfake_lab.cli import main
from deepfake_lab.eval import judges
from deepfake_lab.eval.judges import Judge
from deepfake_lab.registry import load_model
from deepfake_lab.studio import core
from deepfake_lab.studio.training_job import JobSettings, TrainingService
from deepfake_lab.studio.ui import build_app, launch
from deepfake_lab.train.callbacks import (
    Callback,
    CSVLogger,
    MeasureFlops,
    SwapEval,
    TimeLimit,
    preview_row_labels,
)
from deepfake_lab.train.live import LivePanel
from deepfake_lab.train.trainer import Trainer, stop_on_interrupt

# Gradio's queue statistics use pandas APIs that pandas 3 deprecates (not our code).
pytestmark = [pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting'"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]

CVAE_LOSSES = {"loss", "l1", "dssim", "kl", "capacity"}


class Spy(Callback):
    """Records every event with the step it came at."""

    def __init__(self) -> None:
        self.events: list[tuple] = []
        self.rows: list[dict] = []

    def on_start(self, trainer):
        self.events.append(("start", trainer.step))

    def on_step(self, trainer):
        self.events.append(("step", trainer.step))

    def on_log(self, trainer, row):
        self.events.append(("log", trainer.step))
        self.rows.append(row)

    def on_preview(self, trainer, images, ncol):
        self.events.append(("preview", trainer.step, tuple(images.shape), ncol))

    def on_eval(self, trainer, metrics):
        self.events.append(("eval", trainer.step, metrics))

    def on_save(self, trainer, out_dir):
        self.events.append(("save", trainer.step))

    def on_end(self, trainer, reason):
        self.events.append(("end", reason))

    def steps(self, kind: str) -> list:
        return [e[1] for e in self.events if e[0] == kind]


# --------------------------------------------------------------------------------------
# Trainer callbacks
# --------------------------------------------------------------------------------------
def test_callbacks_fire_at_the_right_steps_with_the_right_keys(tmp_path):
    spy, plain = Spy(), []
    t = Trainer(make("cvae"), tmp_path, steps=7, log_every=2, preview_every=3, save_every=4,
                sample_every=100, progress=False,
                callbacks=[MeasureFlops(), spy, CSVLogger(), lambda tr, row: plain.append(row)])
    history = t.fit()
    assert spy.events[0] == ("start", 0) and spy.events[-1] == ("end", "done")
    assert spy.steps("step") == list(range(1, 8))
    assert spy.steps("log") == [2, 4, 6, 7]
    assert spy.steps("preview") == [3, 6, 7]
    assert spy.steps("save") == [4, 7]
    assert [e[2:] for e in spy.events if e[0] == "preview"] == [((32, 3, 64, 64), 8)] * 3
    assert preview_row_labels("cvae", 4) == ["source", "reconstruction", "swap", "ground truth"]
    # Every row: the recipe's losses, throughput, and the achieved GFLOP/s (FLOPs counted).
    assert t.flops_per_image and t.flops_per_image > 1e6
    for row in spy.rows:
        assert set(row) == CVAE_LOSSES | {"step", "images_per_s", "elapsed_s", "gflop_per_s"}
        assert row["images_per_s"] > 0
        assert row["gflop_per_s"] == pytest.approx(row["images_per_s"] * t.flops_per_image / 1e9)
    # The old callable form still gets the rows; log.jsonl and log.csv hold the same ones.
    assert plain == spy.rows == history
    logged = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert logged == history
    csv_lines = (tmp_path / "log.csv").read_text().splitlines()
    assert csv_lines[0].split(",") == list(history[0]) and len(csv_lines) == 1 + len(history)
    assert not (tmp_path / "samples").exists() or \
        [p.name for p in (tmp_path / "samples").glob("*.png")] == ["step_000007.png"]


def test_dashboard_callbacks_do_not_change_training(tmp_path):
    """FLOP counting, previews every step and a swap evaluation leave the weights exactly
    as a run without them (they run on copies, in eval mode, with the RNG forked)."""
    # Untrained, but the same network: evaluation costs what it costs with the real judge.
    # (Built first: its initialisation draws from the global RNG, which make() then seeds.)
    judge = Judge().eval()
    plain = make("cvae")
    Trainer(plain, tmp_path / "plain", steps=4, progress=False, sample_every=100).fit()
    watched, spy = make("cvae"), Spy()
    evaluator = SwapEval(every=4, n=8, judge=judge)
    Trainer(watched, tmp_path / "watched", steps=4, log_every=1, preview_every=1,
            sample_every=100, progress=False,
            callbacks=[MeasureFlops(), evaluator, spy]).fit()
    a, b = weights(plain), weights(watched)
    assert all(torch.equal(a[k], b[k]) for k in a)
    (metrics,) = [e[2] for e in spy.events if e[0] == "eval"]
    assert metrics["step"] == 4 and metrics["n_swaps"] == 8
    assert {"id_retrieval", "pose_mae_deg", "expr_mae", "psnr", "ssim", "sharpness_ratio",
            "kid", "ground_truth", "eval_s"} <= set(metrics)
    assert json.loads((tmp_path / "watched" / "eval.jsonl").read_text())["step"] == 4


def test_swap_eval_without_a_judge_skips_with_a_note(tmp_path, monkeypatch):
    monkeypatch.setattr(judges, "BUNDLED_JUDGE", tmp_path / "no-judge")
    evaluator, spy = SwapEval(every=1), Spy()
    Trainer(make("cvae"), tmp_path / "run", steps=2, progress=False,
            callbacks=[evaluator, spy]).fit()
    assert not evaluator.active and "no judge" in evaluator.note
    assert spy.steps("eval") == [] and not (tmp_path / "run" / "eval.jsonl").exists()


def test_stop_leaves_a_checkpoint_that_resumes_exactly(tmp_path):
    class StopAt(Callback):
        def on_step(self, trainer):
            if trainer.step == 3:
                trainer.stop()

    straight = make("cgan")
    Trainer(straight, tmp_path / "straight", steps=6, progress=False, sample_every=100).fit()
    spy = Spy()
    t = Trainer(make("cgan"), tmp_path / "stopped", steps=6, log_every=2, progress=False,
                sample_every=100, save_every=100, callbacks=[StopAt(), spy])
    t.fit()
    assert t.step == 3 and t.end_reason == "stopped" and spy.events[-1] == ("end", "stopped")
    assert spy.steps("save") == [3] and spy.steps("log") == [2, 3]  # the partial window too
    assert spy.steps("preview")[-1] == 3  # a last look at the stopped model
    assert load_model(tmp_path / "stopped").config["step"] == 3
    assert load_checkpoint(tmp_path / "stopped" / "state", kind="training-state")[1]["step"] == 3
    again = make("cgan")
    t2 = Trainer(again, tmp_path / "stopped", steps=6, progress=False, sample_every=100)
    assert t2.resume() and t2.step == 3
    t2.fit()
    a, b = weights(straight), weights(again)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_ctrl_c_stops_after_the_step_with_a_checkpoint_and_a_second_one_aborts(tmp_path):
    class CtrlCAt(Callback):
        def __init__(self, times):
            self.times = times

        def on_step(self, trainer):
            if trainer.step == 3:
                for _ in range(self.times):
                    os.kill(os.getpid(), signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)
    t = Trainer(make("cgan"), tmp_path / "once", steps=6, progress=False, sample_every=100,
                save_every=100, callbacks=[CtrlCAt(1)])
    with stop_on_interrupt(t):
        t.fit()
    assert t.step == 3 and t.end_reason == "stopped"
    assert load_checkpoint(tmp_path / "once" / "state", kind="training-state")[1]["step"] == 3
    assert signal.getsignal(signal.SIGINT) is before  # the handler is put back
    t = Trainer(make("cgan"), tmp_path / "twice", steps=6, progress=False, sample_every=100,
                save_every=100, callbacks=[CtrlCAt(2)])
    with pytest.raises(KeyboardInterrupt), stop_on_interrupt(t):
        t.fit()
    assert not checkpoint_paths(tmp_path / "twice" / "state")[1].exists()  # nothing saved
    assert signal.getsignal(signal.SIGINT) is before


def test_time_limit_stops_cleanly_with_a_resumable_checkpoint(tmp_path):
    limit = TimeLimit(minutes=1e-6)  # expires after the first step
    t = Trainer(make("cvae"), tmp_path / "run", steps=50, progress=False, sample_every=100,
                save_every=100, callbacks=[limit])
    t.fit()
    assert t.end_reason == "stopped" and t.step == 1 and "limit" in limit.note
    assert load_checkpoint(tmp_path / "run" / "state", kind="training-state")[1]["step"] == 1
    with pytest.raises(ValueError, match="> 0 minutes"):
        TimeLimit(0)


def test_pause_holds_the_loop_and_save_writes_a_checkpoint(tmp_path):
    class PauseAt(Callback):
        def on_step(self, trainer):
            if trainer.step == 2:
                trainer.pause()

    spy = Spy()
    t = Trainer(make("two-decoder"), tmp_path, steps=5, progress=False, sample_every=100,
                save_every=100, callbacks=[PauseAt(), spy])
    thread = threading.Thread(target=t.fit)
    thread.start()
    deadline = time.monotonic() + 60
    while not (t.paused and t.step == 2) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    assert t.paused and t.step == 2 and thread.is_alive()  # held between two steps
    t.request_save()
    t.unpause()
    thread.join(60)
    assert not thread.is_alive() and t.step == 5 and t.end_reason == "done"
    assert spy.steps("save") == [3, 5]  # the requested one, after the next step; the last


# --------------------------------------------------------------------------------------
# deepfake-lab plot, and the CLI's callbacks
# --------------------------------------------------------------------------------------
def test_train_cli_csv_eval_and_plot(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--arch", "cvae", "--steps", "3", "--batch", "2", "--out", str(run),
                 "--no-progress", "--csv", "--eval-every", "100"]) == 0
    out = capsys.readouterr().out
    assert (run / "log.csv").exists()
    judged = (run / "eval.jsonl").exists()  # with a judge: one evaluation at the end
    assert judged or "note: no swap metrics: no judge" in out
    assert main(["plot", str(run), "-o", str(tmp_path / "curves.png")]) == 0
    assert "wrote" in capsys.readouterr().out
    with Image.open(tmp_path / "curves.png") as im:
        assert im.format == "PNG" and im.width > 300 and im.height > 150
    assert main(["plot", str(run), "--keys", "l1,images_per_s"]) == 0
    assert (run / "curves.png").exists()
    with pytest.raises(SystemExit):
        main(["plot", str(run), "--keys", "nope"])
    assert "not in the log: nope" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["plot", str(tmp_path / "empty")])


# --------------------------------------------------------------------------------------
# The notebook live panel
# --------------------------------------------------------------------------------------
def test_live_panel_follows_training_and_its_stop_button_stops(tmp_path):
    panel = LivePanel(show=False, min_interval=0)
    Trainer(make("cvae"), tmp_path / "a", steps=4, log_every=2, preview_every=2,
            progress=False, callbacks=[panel]).fit()
    assert panel.draws >= 2 and panel.previews == 2 and len(panel.rows) == 2
    for image in (panel.curves.value, panel.preview.value):
        assert bytes(image[:8]) == b"\x89PNG\r\n\x1a\n"
    assert "step 4 / 4" in panel.status.value and "done" in panel.status.value
    assert panel.stop_button.disabled

    # In the background the kernel stays free, so the stop button acts at once.
    panel = LivePanel(show=False)
    t = Trainer(make("cvae"), tmp_path / "b", steps=100_000, log_every=1, preview_every=5,
                progress=False)
    panel.start(t)
    deadline = time.monotonic() + 60
    while not panel.rows and time.monotonic() < deadline:
        time.sleep(0.02)
    panel.stop_button.click()
    panel.wait(60)
    assert t.end_reason == "stopped" and 0 < t.step < 100_000
    assert load_model(tmp_path / "b").config["step"] == t.step
    assert "stopped: checkpoint saved" in panel.status.value


NOTEBOOK_CELLS = [
    """\
import tempfile
from deepfake_lab.models import CVAEConfig
from deepfake_lab.train.cvae import CVAERecipe, CVAETraining
from deepfake_lab.train.live import LivePanel
from deepfake_lab.train.trainer import Trainer

recipe = CVAETraining(CVAEConfig(latent=4, enc_widths=(8, 8, 16, 16),
                                 dec_widths=(16, 16, 8, 8, 8), hidden=16), CVAERecipe(batch=4))
panel = LivePanel(min_interval=0)
run = tempfile.mkdtemp()
Trainer(recipe, run, steps=4, log_every=2, preview_every=2, progress=False,
        callbacks=[panel]).fit();""",
    """print(len(panel.rows), panel.draws >= 2, panel.previews, panel.stop_button.disabled)""",
]


def test_live_panel_renders_in_a_notebook(tmp_path):
    """Executed by a real kernel without a front end, as nbval runs the notebooks."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in NOTEBOOK_CELLS])
    NotebookClient(nb, kernel_name="python3", timeout=180,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    shown = [o for o in nb.cells[0].outputs if o.get("output_type") == "display_data"]
    assert any("application/vnd.jupyter.widget-view+json" in o["data"] for o in shown)
    assert not any(o.get("output_type") == "error" for c in nb.cells for o in c.outputs)
    assert nb.cells[1].outputs[0]["text"].strip() == "2 True 2 True"


# --------------------------------------------------------------------------------------
# The studio's Train tab: its rules, then the real app over HTTP
# --------------------------------------------------------------------------------------
def test_job_settings_are_bounded(tmp_path):
    service = TrainingService(tmp_path, max_steps=50, max_seconds=60, allow_tiny=False)
    bad = [(JobSettings(steps=51), "steps must be in"),
           (JobSettings(steps=10, batch=65), "batch must be in"),
           (JobSettings(steps=10, lr=0.5), "learning rate"),
           (JobSettings(steps=10, arch="vit"), "architecture"),
           (JobSettings(steps=10, size="tiny"), "size must be one of 64, 128")]
    for settings, message in bad:
        with pytest.raises(core.StudioError, match=message):
            service.start(settings)
    assert service.current is None
    with pytest.raises(core.StudioError, match="no training job of yours"):
        service.stop("not-a-token")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADIO_ANALYTICS_ENABLED", "False")
        mp.setenv("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio-cache")))
        mp.setenv("DEEPFAKE_LAB_CACHE", str(cache))
        mp.setenv("DEEPFAKE_LAB_FAST", "1")  # offers the tiny networks
        mp.delenv(core.ENV_MODELS, raising=False)
        demo = build_app(core.Studio([]))
        port = _free_port()
        launch(demo, "127.0.0.1", port, block=False, quiet=True)
        try:
            yield SimpleNamespace(url=f"http://127.0.0.1:{port}/", runs=cache / "studio-runs")
        finally:
            demo.close()


def _client(app, tmp_path) -> gradio_client.Client:
    return gradio_client.Client(app.url, verbose=False, analytics_enabled=False,
                                download_files=str(tmp_path))


def _run_dir(status: str) -> Path:
    return Path(status.split("checkpoint at step ")[1].split("`")[1])


def test_app_trains_streams_and_opens_the_model_in_sliders(app, tmp_path):
    client = _client(app, tmp_path)
    job = client.submit("cvae", "tiny", 12, 2, None, 0, api_name="/train_start")
    updates = list(job)
    assert len(updates) >= 2
    status, curves, preview, metrics = updates[-1]
    assert "**done**" in status and "step **12 / 12**" in status and "images/s" in status
    if checkpoint_paths(judges.BUNDLED_JUDGE)[1].exists():  # the last step was judged
        assert "Swaps judged on 64 held-out problems" in metrics
    else:
        assert "no swap metrics: no judge" in status and not metrics
    assert any(u[2] is not None for u in updates)  # the probe grid came while it trained
    with Image.open(preview) as im, Image.open(curves) as cv:
        assert im.width > 8 * 64 and cv.format == "PNG"
    run = _run_dir(status)
    assert run.parent == app.runs and not str(run).startswith(str(Path.cwd()))
    assert load_model(run).config["step"] == 12
    picker = client.predict(api_name="/train_open")  # an update of the Sliders' model picker
    path = picker["value"]
    assert path in [c[1] for c in picker["choices"]]
    assert Path(path).parent == run / "snapshots"
    assert load_model(path).architecture == "cvae"


def test_app_refuses_a_second_job_and_stop_keeps_a_checkpoint(app, tmp_path):
    owner, other = _client(app, tmp_path / "a"), _client(app, tmp_path / "b")
    job = owner.submit("two-decoder", "tiny", 2000, 2, None, 0, api_name="/train_start")
    deadline = time.monotonic() + 60
    while "step **" not in (job.outputs()[-1][0] if job.outputs() else ""):
        assert time.monotonic() < deadline and not job.done()
        time.sleep(0.1)
    busy = other.predict("cvae", "tiny", 10, 2, None, 0, api_name="/train_start")
    assert "Busy: this server is training another model" in busy[0]
    with pytest.raises(gradio_client.exceptions.AppError, match="Busy"):
        other.predict(api_name="/train_stop")  # not theirs to stop
    assert "stopping" in owner.predict(api_name="/train_stop")
    final = job.result(timeout=60)[0]
    assert "**stopped**" in final
    run = _run_dir(final)
    step = load_model(run).config["step"]
    assert 0 < step < 2000
    assert load_checkpoint(run / "state", kind="training-state")[1]["step"] == step
