"""The deepfake-lab command line: render one face, a grid, and refuse bad attributes."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from deepfake_lab.cli import main
from deepfake_lab.data import synthfaces as sf
from deepfake_lab.images import to_uint8


def test_render_one_face_matches_the_library(tmp_path):
    """`render --identity boris --yaw 30 --smile 0.8` writes exactly render_one's pixels."""
    out = tmp_path / "boris.png"
    assert main(["render", "--identity", "boris", "--yaw", "30", "--smile", "0.8",
                 "--size", "64", "-o", str(out)]) == 0
    img = np.asarray(Image.open(out))
    expected = to_uint8(sf.render_one("boris", size=64, yaw=30, smile=0.8))
    assert img.shape == (64, 64, 3)
    assert np.array_equal(img, expected)


def test_identity_seed_and_set(tmp_path):
    """An integer identity is a random person; --set reaches any attribute by name."""
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    main(["render", "--identity", "17", "--size", "48", "-o", str(a)])
    main(["render", "--identity", "17", "--size", "48", "--set", "mouth_open=1", "-o", str(b)])
    ia, ib = np.asarray(Image.open(a)), np.asarray(Image.open(b))
    assert np.array_equal(ia, to_uint8(sf.render_one(17, size=48)))
    assert np.abs(ia.astype(int) - ib.astype(int)).mean() > 0.1


def test_grid_has_one_cell_per_identity_and_view(tmp_path):
    out = tmp_path / "grid.png"
    main(["render", "--grid", "--identities", "ada,3", "--size", "32", "-o", str(out)])
    w, h = Image.open(out).size
    n_views = len(sf.GRID_VIEWS)
    assert w > n_views * 32 and h > 2 * 32 and h < 3 * 32 + 40


@pytest.mark.parametrize("argv, message", [
    (["--smile", "1.5"], "smile=1.5 is outside its range [-1, 1]"),
    (["--yaw", "-90"], "yaw=-90 is outside its range [-60, 60] deg"),
    (["--smiel", "1"], "did you mean --smile"),
    (["--set", "brow_rise=1"], "did you mean brow_raise"),
    (["--set", "smile"], "--set expects NAME=VALUE"),
    (["--identity", "nobody"], "unknown SynthFaces identity 'nobody'"),
])
def test_bad_attributes_fail_clearly(argv, message, capsys, tmp_path):
    """Out-of-range or unknown attributes exit with status 2 and a specific message."""
    with pytest.raises(SystemExit) as exc:
        main(["render", *argv, "-o", str(tmp_path / "x.png")])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_schema_command_prints_every_attribute(capsys):
    main(["schema", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert [a["name"] for a in data["attributes"]] == sf.SCHEMA.names


def test_console_script_entry_point(tmp_path):
    """The installed `deepfake-lab` module entry runs as a subprocess too."""
    r = subprocess.run([sys.executable, "-m", "deepfake_lab.cli", "--version"],
                       capture_output=True, text=True, check=True)
    assert r.stdout.startswith("deepfake-lab ")
