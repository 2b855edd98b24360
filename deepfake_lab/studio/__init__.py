"""The studio: a Gradio app in which attribute sliders drive a face, live.

Three modules, so that each can be used (and tested) on its own:

* :mod:`deepfake_lab.studio.core` - everything the app *does*, without Gradio: which models
  to offer, identity picking and mixing, one preview (render, model, label + watermark,
  timings), reset and randomise.  Plain Python in, numpy images and tables out.
* :mod:`deepfake_lab.studio.ui` - the Gradio layout and the wiring of events to ``core``
  (imports Gradio; ``apps/studio.py`` and ``deepfake-lab studio`` both call it).
* :mod:`deepfake_lab.studio.command` - the ``deepfake-lab studio`` sub-command.

Importing this package is cheap (no torch, no Gradio): the command line imports it on every
start to register the sub-command.
"""

from __future__ import annotations

from .command import add_studio_parser, cmd_studio

__all__ = ["add_studio_parser", "cmd_studio"]
