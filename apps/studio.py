"""The deepfake-lab studio as a stand-alone app (and the Hugging Face Space entry point).

    python apps/studio.py                  # http://127.0.0.1:7860
    deepfake-lab studio --port 8080        # the same app from an installed package

Layout and wiring live in ``deepfake_lab/studio/ui.py`` and the logic in
``deepfake_lab/studio/core.py``, so that ``deepfake-lab studio`` works from an installed
wheel (which does not ship ``apps/``).  This file only builds the app and serves it.
Extra checkpoints: ``DEEPFAKE_LAB_STUDIO_MODELS=runs/cvae,runs/cgan python apps/studio.py``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no telemetry, no update check

# A Space (or a plain checkout) runs this file without installing the package.
if importlib.util.find_spec("deepfake_lab") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deepfake_lab.studio.serving import tune_for_serving  # noqa: E402
from deepfake_lab.studio.ui import build_app, launch  # noqa: E402

tune_for_serving()  # one torch thread per preview, freed memory kept (see serving.py)
demo = build_app()

if __name__ == "__main__":
    launch(demo)  # host/port: GRADIO_SERVER_NAME / GRADIO_SERVER_PORT, else 127.0.0.1:7860
