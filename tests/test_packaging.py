"""Install files stay consistent: pyproject, environment.yml, README quick start, CI."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[; ]", req.strip(), maxsplit=1)[0].lower()


def test_environment_yml_matches_pyproject():
    """environment.yml: python within requires-python, the project installed with [dev],
    and any package it pins explicitly is pinned identically in pyproject."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    python = next(d for d in deps if isinstance(d, str) and d.startswith("python"))
    major, minor = map(int, python.split("=")[1].split(".")[:2])
    floor = PYPROJECT["project"]["requires-python"].removeprefix(">=")
    assert (major, minor) >= tuple(map(int, floor.split(".")))
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    assert '-e ".[dev]"' in pip or "-e .[dev]" in pip
    declared = {_name(r): r.replace(" ", "") for r in PYPROJECT["project"]["dependencies"]}
    for req in pip:
        if req.startswith("-"):
            continue
        assert _name(req) in declared, f"{req} is in environment.yml but not in pyproject"
        assert req.replace(" ", "") == declared[_name(req)], f"{req} != {declared[_name(req)]}"


def test_console_script_declared():
    assert PYPROJECT["project"]["scripts"]["deepfake-lab"] == "deepfake_lab.cli:main"


def _quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```(?:bash|sh)?\n(.*?)```", section, re.S).group(1)
    return [ln.strip() for ln in block.splitlines() if ln.strip() and not ln.startswith("#")]


def test_readme_quick_start_is_two_commands_and_ci_runs_the_second():
    """Exactly two commands: install + main job, and the test command that .ci/run calls."""
    cmds = _quick_start_commands()
    assert len(cmds) == 2, cmds
    install, test = cmds
    assert "pip install" in install and "deepfake-lab" in install
    ci = (ROOT / ".ci" / "run").read_text()
    assert test in ci.splitlines(), f"{test!r} must appear as a line of .ci/run"
    assert 'torch==2.13.0' in ci
