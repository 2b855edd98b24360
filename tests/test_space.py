"""The studio as a Hugging Face Space: requirements.txt agrees with pyproject, the README's
front matter (when present) points at a real app, and the app starts with no network and no
GPU."""

from __future__ import annotations

import ast
import os
import re
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
APP_FILE = "apps/studio.py"


def _requirements() -> dict[str, Requirement]:
    """requirements.txt as ``{canonical name: Requirement}`` (comments and options skipped)."""
    reqs = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        req = Requirement(line)
        name = canonicalize_name(req.name)
        assert name not in reqs, f"{req.name} is listed twice in requirements.txt"
        reqs[name] = req
    return reqs


def _probe_versions(*specs: SpecifierSet) -> list[Version]:
    """Versions around every bound of ``specs`` (each one, and a step above and below in
    every release component), plus very low and very high ones."""
    out = {Version("0.0.1"), Version("99999")}
    for spec in specs:
        for s in spec:
            v = Version(s.version.removesuffix(".*"))
            rel = [*v.release, 0, 0, 0][:3]
            out.add(v)
            for i in range(3):
                out.add(Version(".".join(map(str, [*rel[:i], rel[i] + 1] + [0] * (2 - i)))))
                if rel[i] > 0:
                    out.add(Version(".".join(map(str, [*rel[:i], rel[i] - 1] + [99] * (2 - i)))))
    return sorted(out)


def _compatible(space: Requirement, declared: Requirement) -> bool:
    """Does ``space`` allow only versions that ``declared`` allows (and at least one)?"""
    probes = _probe_versions(space.specifier, declared.specifier)
    allowed = [v for v in probes if space.specifier.contains(v, prereleases=True)]
    return bool(allowed) and all(declared.specifier.contains(v, prereleases=True)
                                 for v in allowed)


def test_compatibility_rule():
    """The rule itself: tighter or equal is fine; looser, disjoint or missing bounds are not."""
    ok = [("torch>=2.3", "torch>=2.3"), ("torch>=2.5", "torch>=2.3"),
          ("numpy>=2,<3", "numpy>=1.24"), ("pillow==11.2.1", "pillow>=10")]
    bad = [("torch>=2.2", "torch>=2.3"), ("torch", "torch>=2.3"),
           ("gradio>=6", "gradio>=6,<7"), ("pillow<10", "pillow>=10")]
    for space, declared in ok:
        assert _compatible(Requirement(space), Requirement(declared)), (space, declared)
    for space, declared in bad:
        assert not _compatible(Requirement(space), Requirement(declared)), (space, declared)


def test_requirements_cover_pyproject_dependencies():
    reqs = _requirements()
    for line in PYPROJECT["project"]["dependencies"]:
        declared = Requirement(line)
        name = canonicalize_name(declared.name)
        assert name in reqs, f"pyproject dependency {line!r} is missing from requirements.txt"
        space = reqs[name]
        assert space.extras == declared.extras and space.marker == declared.marker, line
        assert _compatible(space, declared), (
            f"requirements.txt has {space}, which allows versions that pyproject's {line!r} "
            "does not")


def test_requirements_include_the_studio():
    gradio = _requirements().get("gradio")
    assert gradio is not None, "a Space needs gradio in requirements.txt"
    assert gradio.specifier.contains("6.0.0") and not gradio.specifier.contains("7.0.0")


# The Hugging Face Space front matter the root README is meant to carry.
RECOMMENDED_FRONT_MATTER = """\
title: deepfake-lab studio
emoji: 🎭
colorFrom: indigo
colorTo: gray
sdk: gradio
sdk_version: 6.31.0
python_version: "3.11"
app_file: apps/studio.py
pinned: false
license: mit
short_description: Attribute sliders drive face swaps, labelled + watermarked
"""


def _front_matter() -> dict | None:
    text = (ROOT / "README.md").read_text()
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    return yaml.safe_load(match.group(1)) if match else None


def _check_front_matter(meta: dict) -> None:
    assert meta.get("sdk") == "gradio"
    app_file = meta.get("app_file")
    assert app_file and (ROOT / app_file).is_file(), f"app_file {app_file!r} does not exist"
    if "sdk_version" in meta:
        gradio = _requirements()["gradio"]
        assert gradio.specifier.contains(str(meta["sdk_version"])), (
            f"sdk_version {meta['sdk_version']} is outside requirements.txt's {gradio}")
    if "python_version" in meta:
        floor = PYPROJECT["project"]["requires-python"]
        assert SpecifierSet(floor).contains(str(meta["python_version"]) + ".0"), (
            f"python_version {meta['python_version']} does not satisfy {floor}")
    if "license" in meta:
        assert str(meta["license"]).lower() == PYPROJECT["project"]["license"].lower()
    if "short_description" in meta:
        assert len(meta["short_description"]) <= 60  # the Hub's limit


def test_recommended_front_matter_passes_the_checks():
    _check_front_matter(yaml.safe_load(RECOMMENDED_FRONT_MATTER))


def test_readme_front_matter_points_at_the_app():
    meta = _front_matter()
    assert meta is not None, "README.md must open with the Hugging Face Space front matter"
    _check_front_matter(meta)


def test_app_file_defines_a_module_level_demo():
    """Gradio's reload mode and Spaces look for a top-level ``demo``."""
    tree = ast.parse((ROOT / APP_FILE).read_text())
    names = {t.id for node in tree.body if isinstance(node, ast.Assign)
             for t in node.targets if isinstance(t, ast.Name)}
    assert "demo" in names


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_space_app_starts_without_network_or_gpu(tmp_path):
    """``python apps/studio.py`` as a Space runs it: no GPU, every proxy pointing at a dead
    port (only localhost is reachable), Hugging Face Hub offline."""
    port = _free_port()
    dead = "http://127.0.0.1:9"  # the discard port: nothing answers
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_ANALYTICS_ENABLED": "False",
           "GRADIO_TEMP_DIR": str(tmp_path / "gradio"), "HF_HUB_OFFLINE": "1",
           "HTTP_PROXY": dead, "HTTPS_PROXY": dead, "http_proxy": dead, "https_proxy": dead,
           "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
           "PYTHONPATH": str(ROOT)}
    env.pop("DEEPFAKE_LAB_STUDIO_MODELS", None)
    env.pop("DEEPFAKE_LAB_DEVICE", None)
    log = tmp_path / "app.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, str(ROOT / APP_FILE)], cwd=tmp_path, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, f"the app exited early:\n{log.read_text()[-3000:]}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=5) as r:
                    assert r.status == 200 and b"deepfake-lab studio" in r.read()
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                assert time.monotonic() < deadline, f"no answer:\n{log.read_text()[-3000:]}"
                time.sleep(0.5)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
