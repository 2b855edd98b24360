"""Studio latency: slider -> image round trips against the running app, and its cold start.

    python benchmarks/studio.py --json             # 60 changes at 64 px and at 128 px

What is measured, and how:

* **Round trip** (``p50_ms``, ``p95_ms``): what a browser does after a slider move.  The app
  runs in its own process on localhost; each change is ``POST /gradio_api/call/preview``
  with every slider value (a different yaw each time), reading the event stream up to its
  ``complete`` event, then ``GET`` of every returned image file.  Gradio's HTTP API, not
  ``gradio_client``: no client-side conveniences in the figure.  64 px and 128 px changes
  alternate, so a change in background load hits both sizes alike.  All changes carry one
  ``session_hash``, as every request of a browser tab does: Gradio builds a session's
  state (a copy of every component's config, ~15 ms for this app) once per session, not
  per change.  ``new_session_p50_ms`` is the same round trip with a fresh session each
  time (what an API client that sends none pays), measured on a third as many changes.
* **Server side** (``server_p50_ms`` and its breakdown): the app's own timings of the same
  previews (SynthFaces renders, model, display upscaling, label + watermark), read from
  the info line each preview returns.
* **Cold start** (``cold_start_s``): importing Gradio and the studio, loading the models,
  building the app and starting the server, timed inside the app's process, plus the wall
  clock from spawning the process to its first image.

Models: the bundled ``cvae-synthfaces-64`` when present, else an untrained 64 px CVAE; a
bundled 128 px CVAE when present, else an untrained ``CVAE(CVAEConfig(size=128))`` saved to
a temporary directory (latency does not depend on the weights).  The app process gets the
settings ``deepfake-lab studio`` applies (:func:`deepfake_lab.studio.serving.tune_for_serving`:
one torch thread unless ``--threads`` says otherwise, freed memory kept).  Run it alone:
other processes on the same cores distort every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

T_PROCESS = time.perf_counter()  # --serve: the clock starts before the heavy imports

ROOT = Path(__file__).resolve().parents[1]
BAR_P50_MS_128 = 80.0


# --------------------------------------------------------------------------------------
# The app's side (--serve): time the cold start, print it, serve until killed
# --------------------------------------------------------------------------------------
def serve(port: int, models: list[str], threads: int | None, display_size: int | None
          ) -> None:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    t0 = T_PROCESS
    import gradio  # noqa: F401
    import torch

    from deepfake_lab.studio import core, ui
    t_import = time.perf_counter()
    from deepfake_lab.studio.serving import tune_for_serving
    serving = tune_for_serving(threads)  # what deepfake-lab studio and apps/studio.py do
    studio = core.Studio(models, display_size=display_size or core.DISPLAY_SIZE)  # None: default
    for m in models:
        studio.load(m)
    t_load = time.perf_counter()
    demo = ui.build_app(studio)
    t_build = time.perf_counter()
    ui.launch(demo, "127.0.0.1", port, block=False, quiet=True)
    t_launch = time.perf_counter()
    print(json.dumps({"ready": True, "torch_threads": torch.get_num_threads(),
                      "display_size": studio.display_size,
                      "keep_freed_memory": serving["keep_freed_memory"],
                      "device": str(studio.device), "gradio": gradio.__version__,
                      "torch": torch.__version__,
                      "cold_start_s": {"import": t_import - t0, "model_load": t_load - t_import,
                                       "build": t_build - t_load, "launch": t_launch - t_build,
                                       "in_process_total": t_launch - t0}}), flush=True)
    while True:
        time.sleep(3600)


# --------------------------------------------------------------------------------------
# The browser's side: models, the HTTP round trip, statistics
# --------------------------------------------------------------------------------------
def pick_models(tmp: Path) -> dict[int, tuple[str, str]]:
    """``{size: (picker value, description)}``: bundled CVAEs where present, else untrained."""
    from deepfake_lab.attributes import SYNTHFACES_SCHEMA
    from deepfake_lab.checkpoints import save_checkpoint
    from deepfake_lab.models import CVAE, CVAEConfig
    from deepfake_lab.registry import list_models

    bundled = {r["size"]: r["name"] for r in list_models()
               if r["architecture"] == "cvae" and r["data"] == "synthfaces"}
    out = {}
    for size in (64, 128):
        if size in bundled:
            out[size] = (bundled[size], f"bundled {bundled[size]}")
            continue
        cfg = CVAEConfig(size=size)
        path = tmp / f"cvae-{size}"
        save_checkpoint(path / "model", CVAE(cfg).state_dict(),
                        {"kind": "model", "architecture": "cvae", "model": cfg.to_dict(),
                         "schema": SYNTHFACES_SCHEMA.to_json()})
        out[size] = (str(path), f"untrained CVAE(CVAEConfig(size={size}))")
    return out


def round_trip(http, base: str, args: list, session: str | None = None) -> tuple[float, str]:
    """One slider change through Gradio's HTTP call API; ``(milliseconds, info text)``.
    ``session``: the browser tab's ``session_hash`` (``None``: a new session per call)."""
    t0 = time.perf_counter()
    body = {"data": args} if session is None else {"data": args, "session_hash": session}
    r = http.post(f"{base}gradio_api/call/preview", json=body)
    r.raise_for_status()
    event_id = r.json()["event_id"]
    event, data = None, None
    with http.stream("GET", f"{base}gradio_api/call/preview/{event_id}") as stream:
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                data = json.loads(line.split(":", 1)[1])
                break
    if event != "complete":
        raise RuntimeError(f"preview failed: {event} {data}")
    for item in data:
        if isinstance(item, dict) and item.get("url"):
            url = item["url"] if item["url"].startswith("http") else base + item["url"]
            http.get(url).raise_for_status().read()
    ms = (time.perf_counter() - t0) * 1000
    return ms, next(d for d in data if isinstance(d, str))


def server_timings(info: str) -> dict[str, float]:
    """The app's own timings from a preview's info line ("**12.3 ms** ... (render 1.0 ms, ...")."""
    out = {"total": float(re.search(r"\*\*([\d.]+) ms\*\*", info).group(1))}
    out.update({k: float(v) for k, v in re.findall(r"(render|model|display|marks) ([\d.]+) ms",
                                                   info)})
    return out


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(changes: int, threads: int | None, display_size: int | None) -> dict:
    import httpx

    from deepfake_lab.studio.core import preview_args

    with tempfile.TemporaryDirectory() as tmp:
        models = pick_models(Path(tmp))
        port = _free_port()
        base = f"http://127.0.0.1:{port}/"
        env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False",
               "GRADIO_TEMP_DIR": str(Path(tmp) / "gradio"),
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        cmd = [sys.executable, __file__, "--serve", "--port", str(port),
               "--models", ",".join(v for v, _ in models.values())]
        if threads:
            cmd += ["--threads", str(threads)]
        if display_size:
            cmd += ["--display-size", str(display_size)]
        t_spawn = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
        try:
            ready = json.loads(proc.stdout.readline() or "{}")
            if not ready.get("ready"):
                raise RuntimeError("the app did not start")
            t_ready = time.perf_counter()
            tab = secrets.token_hex(6)  # one browser tab: one session for every change
            with httpx.Client(timeout=60) as http:
                round_trip(http, base, preview_args(models[64][0]), tab)
                t_first = time.perf_counter()
                for _ in range(5):  # warm-up, both sizes
                    for value, _ in models.values():
                        round_trip(http, base, preview_args(value, {"yaw": 1}), tab)
                trips: dict[int, list[float]] = {s: [] for s in models}
                fresh: dict[int, list[float]] = {s: [] for s in models}
                server: dict[int, list[dict]] = {s: [] for s in models}
                for i in range(changes):
                    yaw = -40 + (i * 7) % 81  # a different pose every change
                    for size, (value, _) in models.items():
                        args = preview_args(value, {"yaw": yaw})
                        ms, info = round_trip(http, base, args, tab)
                        trips[size].append(ms)
                        server[size].append(server_timings(info))
                        if i % 3 == 0:
                            fresh[size].append(round_trip(http, base, args)[0])
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    by_size = {}
    for size, (_, what) in models.items():
        parts = {k: round(statistics.median(t[k] for t in server[size]), 1)
                 for k in server[size][0]}
        by_size[str(size)] = {
            "model": what, "changes": changes,
            "p50_ms": round(statistics.median(trips[size]), 1),
            "p95_ms": round(percentile(trips[size], 0.95), 1),
            "mean_ms": round(statistics.fmean(trips[size]), 1),
            "new_session_p50_ms": round(statistics.median(fresh[size]), 1),
            "server_p50_ms": parts.pop("total"), "server_breakdown_p50_ms": parts}
    cold = {k: round(v, 2) for k, v in ready["cold_start_s"].items()}
    cold["spawn_to_ready"] = round(t_ready - t_spawn, 2)
    cold["spawn_to_first_image"] = round(t_first - t_spawn, 2)
    p50_128 = by_size["128"]["p50_ms"]
    return {
        "p50_ms": {s: v["p50_ms"] for s, v in by_size.items()},
        "p95_ms": {s: v["p95_ms"] for s, v in by_size.items()},
        "by_size": by_size,
        "cold_start_s": cold,
        "bar": {"p50_ms_at_128_px": BAR_P50_MS_128, "met": p50_128 <= BAR_P50_MS_128},
        "setup": {"display_size": ready["display_size"], "device": ready["device"],
                  "torch_threads": ready["torch_threads"],
                  "keep_freed_memory": ready["keep_freed_memory"], "cpu_count": os.cpu_count(),
                  "load_average": [round(x, 2) for x in os.getloadavg()],
                  "torch": ready["torch"], "gradio": ready["gradio"]},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--changes", type=int, default=60, help="slider changes per size (>= 50)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads in the app (default: the studio's serving default, 1)")
    p.add_argument("--display-size", type=int, default=None,
                   help="px the app sends (default: the studio's, 128)")
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--models", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        serve(args.port, [m for m in args.models.split(",") if m], args.threads,
              args.display_size)
        return
    report = run(args.changes, args.threads, args.display_size)
    if args.json:
        print(json.dumps(report))
        return
    for size, r in report["by_size"].items():
        print(f"{size:>4} px  round trip p50 {r['p50_ms']:6.1f} ms  p95 {r['p95_ms']:6.1f} ms  "
              f"(new session per call: p50 {r['new_session_p50_ms']:.1f} ms)  "
              f"(server {r['server_p50_ms']:.1f} ms: {r['server_breakdown_p50_ms']})  "
              f"[{r['model']}]")
    c = report["cold_start_s"]
    print(f"cold start: import {c['import']} s, models {c['model_load']} s, build {c['build']} "
          f"s, launch {c['launch']} s; spawn to first image {c['spawn_to_first_image']} s")
    s = report["setup"]
    print(f"{s['device']}, {s['torch_threads']} torch threads, {s['cpu_count']} cores, load "
          f"average {s['load_average']}; bar p50 <= {BAR_P50_MS_128:g} ms at 128 px: "
          f"{'met' if report['bar']['met'] else 'NOT met'}")


if __name__ == "__main__":
    main()
