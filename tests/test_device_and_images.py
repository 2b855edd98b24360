"""Device choice, seeding, fast mode, and the one place images change representation."""

import numpy as np
import pytest
import torch

from deepfake_lab.device import fast_mode, pick_device, seed_everything
from deepfake_lab.images import from_uint8, make_grid, save_image, to_uint8


def test_pick_device_honours_override_and_refuses_absent_devices(monkeypatch):
    monkeypatch.delenv("DEEPFAKE_LAB_DEVICE", raising=False)
    assert pick_device("cpu").type == "cpu"
    monkeypatch.setenv("DEEPFAKE_LAB_DEVICE", "cpu")
    assert pick_device().type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            pick_device("cuda")


def test_seed_everything_repeats_random_streams():
    seed_everything(3)
    a = (torch.rand(3), np.random.rand(2))
    seed_everything(3)
    b = (torch.rand(3), np.random.rand(2))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_fast_mode_reads_the_environment(monkeypatch):
    monkeypatch.setenv("DEEPFAKE_LAB_FAST", "1")
    assert fast_mode()
    monkeypatch.setenv("DEEPFAKE_LAB_FAST", "0")
    assert not fast_mode()


def test_uint8_round_trip_is_exact_on_the_uint8_grid():
    arr = np.random.default_rng(0).integers(0, 256, (2, 5, 7, 3), dtype=np.uint8)
    t = from_uint8(arr)
    assert t.shape == (2, 3, 5, 7) and t.min() >= -1 and t.max() <= 1
    assert np.array_equal(to_uint8(t), arr)
    with pytest.raises(ValueError, match="expected uint8"):
        from_uint8(arr.astype(np.float32))
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        to_uint8(torch.zeros(4, 5, 5))


def test_grid_places_images_in_rows(tmp_path):
    imgs = torch.stack([torch.full((3, 4, 4), v) for v in (-1.0, 0.0, 1.0)])
    sheet = make_grid(imgs, ncol=2, padding=1, pad_value=0.5)
    assert sheet.shape == (3, 2 * 5 + 1, 2 * 5 + 1)
    assert sheet[0, 1, 1] == -1 and sheet[0, 1, 6] == 0 and sheet[0, 6, 1] == 1
    path = save_image(sheet, tmp_path / "sub" / "g.png")
    assert path.exists()
    with pytest.raises(ValueError, match="unsupported image format"):
        save_image(sheet, tmp_path / "g.unknownext")
