"""The notebooks' form: header, closing section, committed executed, small, portable, and no
writes outside a temporary folder.

`pytest --nbval-lax` (see pyproject.toml) runs every notebook's cells in fast mode; this file
checks what running cannot: what a reader sees on GitHub.  Cheap and static: no kernel starts.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MAX_BYTES = 3 * 1024 * 1024

# Absolute paths of this or any machine have no place in a committed notebook.
ABSOLUTE_PATH = re.compile(r"(?<![\w.~])(/work/|/root/|/tmp/|/home/|/Users/|/private/var/|"
                           r"[A-Za-z]:\\\\Users)")
# Calls that write files.  A notebook may use them only into a folder from tempfile
# (in-memory buffers named ``buf`` are fine: ``image.save(buf, format="JPEG")``).
WRITES = re.compile(r"\bsave_image\(|\bsave_checkpoint\(|\.savefig\(|\btorch\.save\(|"
                    r"\bnp\.save[z]?\(|\.to_csv\(|\.write_text\(|\.write_bytes\(|"
                    r"\bTrainer\(|\.save\((?!\s*buf\b)|\bopen\([^)]*['\"][wax]b?['\"]")
TEMP_DIR = re.compile(r"tempfile\.(mkdtemp|TemporaryDirectory)\(")


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def text(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def output_texts(cell: dict) -> list[str]:
    """Everything textual a code cell's outputs hold (stream, text/*, tracebacks)."""
    out = []
    for o in cell.get("outputs", []):
        for key in ("text", "traceback"):
            if key in o:
                out.append("".join(o[key]) if isinstance(o[key], list) else o[key])
        for mime, data in o.get("data", {}).items():
            if mime.startswith("text/") or mime.endswith("json"):
                out.append(json.dumps(data) if not isinstance(data, str | list) else
                           "".join(data) if isinstance(data, list) else data)
    return out


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 1


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_header(path: Path):
    """Opens with a title, what you will learn, and the runtime on CPU and GPU."""
    first = text(load(path)["cells"][0])
    assert first.lstrip().startswith("# "), "the first cell must be a title"
    assert re.search(r"what you will learn", first, re.I), "no 'What you will learn'"
    runtime = re.search(r"\*\*(runtime|time)\*\*(.*?)(\n\n|$)", first, re.I | re.S)
    assert runtime, "no **Runtime** line in the header"
    assert "CPU" in runtime.group(2) and "GPU" in runtime.group(2), \
        "the runtime must be given for the CPU and say something about the GPU"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_ends_with_next_steps(path: Path):
    markdown = [text(c) for c in load(path)["cells"] if c["cell_type"] == "markdown"]
    assert re.search(r"^#+ .*(what to try next|exercises|next steps)", markdown[-1],
                     re.I | re.M), "the last markdown cell must be exercises / what to try next"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_executed(path: Path):
    """Every code cell ran (in order) and none ended in an error."""
    code = [c for c in load(path)["cells"] if c["cell_type"] == "code" and text(c).strip()]
    counts = [c.get("execution_count") for c in code]
    assert all(n is not None for n in counts), f"unexecuted cells in {path.name}"
    assert counts == sorted(counts), "cells were executed out of order"
    assert any(c.get("outputs") for c in code), "no outputs at all"
    errors = [o for c in code for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert not errors, f"an executed cell failed: {errors[0].get('ename')}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_small(path: Path):
    size = path.stat().st_size
    assert size <= MAX_BYTES, f"{path.name} is {size / 2**20:.1f} MB (limit 3 MB)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_absolute_paths(path: Path):
    for i, cell in enumerate(load(path)["cells"]):
        for chunk in [text(cell), *output_texts(cell)]:
            m = ABSOLUTE_PATH.search(chunk)
            assert m is None, f"cell {i} holds an absolute path: ...{chunk[m.start():][:60]!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_writes_only_into_a_temp_dir(path: Path):
    """A notebook that writes files must create its folder with tempfile."""
    sources = [text(c) for c in load(path)["cells"] if c["cell_type"] == "code"]
    writes = [m.group(0) for s in sources for m in WRITES.finditer(s)]
    if writes:
        assert any(TEMP_DIR.search(s) for s in sources), \
            f"{path.name} writes files ({writes[:3]}) but never makes a tempfile folder"


def test_checks_catch_what_they_should():
    """The patterns above match the mistakes they exist for (and not the allowed forms)."""
    assert ABSOLUTE_PATH.search("saved to /tmp/abc/x.png")
    assert ABSOLUTE_PATH.search("File /work/main/deepfake_lab/x.py, line 3")
    assert not ABSOLUTE_PATH.search("see notebooks/02.ipynb and deepfake_lab/models/cvae.py")
    assert not ABSOLUTE_PATH.search("L1 / DSSIM, 12/64 steps")
    assert WRITES.search('save_image(img, "out.png")')
    assert WRITES.search('fig.savefig("plot.png")')
    assert WRITES.search('with open("x.txt", "w") as f:')
    assert not WRITES.search('PILImage.fromarray(a).save(buf, format="JPEG")')
    assert not WRITES.search('open("x.txt")')
