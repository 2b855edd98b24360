"""Image conversions at the library's edges, in one place.

Inside the library images are float tensors in [-1, 1], ``(3, H, W)`` or ``(B, 3, H, W)``,
RGB.  Files and apps use uint8 ``(H, W, 3)`` RGB arrays.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` or ``(B, 3, H, W)`` in [-1, 1] -> uint8 ``(H, W, 3)`` / ``(B, H, W, 3)``."""
    if images.dim() not in (3, 4) or images.shape[-3] != 3:
        raise ValueError(f"expected (3, H, W) or (B, 3, H, W) RGB, got {tuple(images.shape)}")
    x = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.movedim(-3, -1).numpy()


def from_uint8(array: np.ndarray) -> torch.Tensor:
    """uint8 ``(H, W, 3)`` / ``(B, H, W, 3)`` -> float in [-1, 1], channels first."""
    a = np.asarray(array)
    if a.dtype != np.uint8 or a.ndim not in (3, 4) or a.shape[-1] != 3:
        raise ValueError(f"expected uint8 (H, W, 3) or (B, H, W, 3), got {a.dtype} {a.shape}")
    return torch.from_numpy(a.copy()).movedim(-1, -3).float() / 127.5 - 1


def make_grid(images: torch.Tensor, ncol: int, padding: int = 2,
              pad_value: float = 1.0) -> torch.Tensor:
    """Tile ``(N, 3, H, W)`` images into one ``(3, H', W')`` sheet, ``ncol`` per row."""
    n, c, h, w = images.shape
    nrow = -(-n // ncol)
    sheet = torch.full((c, nrow * (h + padding) + padding, ncol * (w + padding) + padding),
                       pad_value, dtype=images.dtype)
    for i in range(n):
        r, k = divmod(i, ncol)
        y, x = padding + r * (h + padding), padding + k * (w + padding)
        sheet[:, y:y + h, x:x + w] = images[i]
    return sheet


def save_image(image: torch.Tensor | np.ndarray, path: str | Path) -> Path:
    """Write one image (tensor in [-1, 1] or uint8 HWC array) to PNG/JPEG/...; make dirs."""
    path = Path(path)
    arr = to_uint8(image) if isinstance(image, torch.Tensor) else np.asarray(image)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        Image.fromarray(arr).save(path)
    except (KeyError, ValueError) as e:  # PIL: unknown extension
        raise ValueError(f"cannot write {path}: unsupported image format ({e})") from None
    return path


def labelled_sheet(images: torch.Tensor, ncol: int, row_labels: list[str],
                   col_labels: list[str], padding: int = 2) -> np.ndarray:
    """A :func:`make_grid` sheet with row labels on the left and column labels on top."""
    from PIL import ImageDraw, ImageFont

    grid = to_uint8(make_grid(images, ncol, padding=padding))
    font = ImageFont.load_default()
    h, w = images.shape[-2:]
    left = 8 + max(int(font.getlength(t)) for t in row_labels)
    top = 16
    canvas = Image.new("RGB", (grid.shape[1] + left, grid.shape[0] + top), "white")
    canvas.paste(Image.fromarray(grid), (left, top))
    draw = ImageDraw.Draw(canvas)
    for r, text in enumerate(row_labels):
        draw.text((4, top + padding + r * (h + padding) + h // 2 - 6), text, fill="black",
                  font=font)
    for c, text in enumerate(col_labels):
        x = left + padding + c * (w + padding) + (w - int(font.getlength(text))) // 2
        draw.text((max(x, left), 2), text, fill="black", font=font)
    return np.asarray(canvas)
