"""Provenance marks for generated images and videos: a visible label and an invisible watermark.

Project rule: every image and every video frame that a model generates and that leaves the
app or the CLI carries **two** marks:

1. a *visible* ``AI-generated`` label - a small semi-opaque dark box with white text in the
   bottom-left corner, scaled to the image (:func:`label_image`);
2. an *invisible* watermark hidden in the pixels (:func:`embed_watermark`), which names the
   model and the content without changing how the image looks;

plus, for PNG files, plain-text metadata chunks (:func:`save_generated_png`), and for mp4
files metadata tags (:func:`video_metadata`; the video part is section 4 below).  The label is
for people, the watermark is for tools, the metadata is for honest pipelines.  Each can be
removed by someone who wants to (crop the label, re-encode the pixels, strip the chunks), so
together they are a *disclosure* mechanism, not proof of origin.

The watermark, step by step
---------------------------

**Where the bits live.**  The image is converted to luma ``Y = 0.299 R + 0.587 G + 0.114 B``
(the Y of JPEG's YCbCr) and cut into 8x8 blocks, exactly the grid that JPEG uses.  Each block
gets an orthonormal 2-D DCT (the same transform JPEG uses), and two *mid-frequency*
coefficients, ``(2, 3)`` and ``(3, 2)``, each carry one embedded bit.  Low frequencies would be
visible (smooth brightness bumps); high frequencies are what JPEG throws away first; the
middle is the usual compromise.  Every ``(block, coefficient)`` pair is one *slot*.

**How one bit is written: quantisation index modulation (QIM).**  Pick a step ``D`` (the
``strength``).  Two interleaved lattices of values are allowed for a coefficient ``c``::

    bit 0:  d + k*D            bit 1:  d + k*D + D/2          (k any integer)

and embedding moves ``c`` to the nearest point of the lattice for the wanted bit (it moves
by at most ``D/2``).  The offset ``d`` is a pseudo-random *dither*, fixed per slot by a seed,
so that an unmarked image (e.g. a flat area whose coefficients are all 0) decodes to
random-looking bits rather than a suspiciously regular pattern.  Reading a slot back needs no
original: ``r = (c - d) / D``, and ``s = cos(2 pi r)`` is +1 on the bit-0 lattice, -1 on the
bit-1 lattice and near 0 halfway between.  A disturbance smaller than ``D/4`` never flips a
slot.  Because the luma change is added equally to R, G and B, chroma is untouched.

**Spreading and voting.**  The message (below) has ``N = 72`` bits but a 128x128 image has
512 slots, so every bit is repeated: the slots are shuffled with a fixed seed, and in that
shuffled order bit ``i`` goes into slots ``i, i+N, i+2N, ...``.  The shuffle scatters the
copies of one bit across the whole picture, so a damaged region (the visible label, a logo,
a clipped highlight) hurts every bit a little instead of some bits completely.  Decoding adds
up the soft values ``s`` of all copies of a bit and takes the sign (a *soft majority vote*).

**The message.**  ``16-bit sync word | 48 data bits | CRC-8 of the data`` = 72 bits.  The
48 data bits are the 6-byte payload (:func:`make_payload`: 3 bytes of ``sha256(model_id)``
and 3 bytes of ``sha256(pixels)``).  :func:`extract_watermark` reports ``found`` only if at
least 14 of the 16 sync bits match *and* the CRC checks out; for an unmarked image the
chance of that is about ``137 / 65536 * 1 / 256``, i.e. below one in a hundred thousand.

**Rounding and clipping.**  The pixels are stored as uint8, so the DCT changes are rounded
and clipped to [0, 255].  Embedding therefore runs a few passes (re-measure, re-quantise,
re-apply); the small residue left in saturated areas is absorbed by the vote.

Robustness and limits (measured on procedural 128x128 and 256x256 test images)
------------------------------------------------------------------------------

* PSNR of a watermarked image against its original is about 44 dB at the default strength
  (the QIM error is uniform in ``[-D/2, D/2]``, so two slots per block add a luma MSE of
  ``2 * D**2 / 12 / 64``, about 2.7 at ``D = 32``).
* **JPEG re-encoding** at quality 75 leaves the payload exactly recoverable: JPEG q75
  quantises coefficients ``(2, 3)`` / ``(3, 2)`` with steps 12 / 11, an error of at most 6,
  below ``D/4 = 8``.  Much stronger compression (quality ~50 and below) starts to flip bits
  and eventually defeats it.
* Small brightness/contrast tweaks, mild noise and PNG round trips survive.
* **Cropping** that shifts the 8x8 grid, **rescaling**, rotation or any geometric change
  defeat it: the decoder looks for the blocks at fixed positions and does not search.
  Painting over large parts of the image does too.
* It is **not a cryptographic signature**.  The seed and the scheme are public (this file),
  so anyone can read, strip or forge a mark; the payload is a short fingerprint, not proof.
  Its job is to let honest tools recognise our output, not to defeat an adversary.
* Extraction must use the same ``strength`` as embedding (the default, unless you changed it).

Minimum image size: the message needs ``72 * 5 = 360`` slots, i.e. **180 full 8x8 blocks**
(e.g. 112x112 px, or 96x128 px); smaller images raise ``ValueError`` in
:func:`embed_watermark`.  128x128 gives 256 blocks, 512 slots, 7 copies of every bit.
"""

from __future__ import annotations

import hashlib
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, PngImagePlugin, UnidentifiedImageError

WATERMARK_VERSION = "dfl-dct-qim/1"
"""Name and version of the watermark scheme; written into PNG metadata."""

DEFAULT_LABEL = "AI-generated"
DEFAULT_STRENGTH = 32.0
"""QIM step ``D`` in luma-DCT units (orthonormal DCT of 0..255 luma)."""

PAYLOAD_BYTES = 6
SYNC_WORD = 0xD3A5  # 16 bits, 8 ones and 8 zeros
SYNC_BITS = 16
DATA_BITS = 8 * PAYLOAD_BYTES
CRC_BITS = 8
MESSAGE_BITS = SYNC_BITS + DATA_BITS + CRC_BITS  # 72
MIN_REPETITIONS = 5
COEFFICIENTS = ((2, 3), (3, 2))  # (row, column) in each 8x8 DCT block
MIN_BLOCKS = math.ceil(MESSAGE_BITS * MIN_REPETITIONS / len(COEFFICIENTS))  # 180
SEED = 0x5EED_DF1A
SYNC_MATCH_MIN = 14  # of 16 sync bits
EMBED_PASSES = 4

# The label box: black at this opacity (0..255) under opaque white text.
LABEL_BOX_ALPHA = 160

GENERATOR = "deepfake-lab"
RESERVED_KEYS = ("ai_generated", "generator", "model", "watermark")


def _check_rgb(img: np.ndarray, what: str = "img") -> np.ndarray:
    """Return ``img`` as an array after checking it is uint8 ``(H, W, 3)``."""
    a = np.asarray(img)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"{what} must be a uint8 (H, W, 3) RGB array, got {a.dtype} {a.shape}")
    return a


# --------------------------------------------------------------------------------------
# 1. The visible label
# --------------------------------------------------------------------------------------

@lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's built-in font at ``size`` px (Pillow >= 10.1), else the fixed bitmap font."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # old Pillow or no FreeType
        return ImageFont.load_default()


def _label_layout(height: int, width: int, text: str) -> tuple[Any, tuple[int, int, int, int],
                                                              tuple[int, int]]:
    """Font, box ``(x0, y0, x1, y1)`` (half-open) and text origin of the label.

    The font size is 6% of the shorter side (at least 10 px, so 128 px images get 10 px
    text), shrunk if the text would not fit the width.  The layout is a pure function of the
    image size and the text, which lets :func:`verify_image` re-draw it as a template.
    """
    size = max(10, round(0.06 * min(height, width)))
    while True:
        font = _font(size)
        left, top, right, bottom = font.getbbox(text)
        tw, th = right - left, bottom - top
        pad, margin = max(2, round(0.35 * size)), max(2, round(0.4 * size))
        if tw + 2 * (pad + margin) <= width or size <= 6:
            break
        size -= 1
    x0 = min(margin, width)
    y1 = max(height - margin, 0)
    x1 = min(x0 + tw + 2 * pad, width)
    y0 = max(y1 - th - 2 * pad, 0)
    return font, (x0, y0, x1, y1), (x0 + pad - left, y0 + pad - top)


def label_region(height: int, width: int, text: str = DEFAULT_LABEL) -> tuple[int, int, int, int]:
    """The box ``(x0, y0, x1, y1)`` (half-open pixel ranges) that :func:`label_image` paints."""
    return _label_layout(height, width, text)[1]


def label_image(img: np.ndarray, text: str = DEFAULT_LABEL) -> np.ndarray:
    """Draw a visible ``text`` label in the bottom-left corner; return a new array.

    ``img`` is uint8 ``(H, W, 3)`` RGB and is not modified.  The label is a black box at
    ~63% opacity (the picture stays faintly visible through it) with opaque white text,
    sized to the image (see :func:`label_region`).  Only pixels inside the box change.
    """
    a = _check_rgb(img)
    h, w = a.shape[:2]
    font, (x0, y0, x1, y1), origin = _label_layout(h, w, text)
    if x1 <= x0 or y1 <= y0:
        return a.copy()
    box = Image.fromarray(np.ascontiguousarray(a[y0:y1, x0:x1])).convert("RGBA")
    composed = Image.alpha_composite(box, _label_overlay(h, w, text)).convert("RGB")
    out = a.copy()
    out[y0:y1, x0:x1] = np.asarray(composed)  # nothing outside the box may change
    return out


@lru_cache(maxsize=16)
def _label_overlay(height: int, width: int, text: str) -> Image.Image:
    """The label's RGBA overlay, cropped to its box (cached: every preview and frame of one
    size shares it)."""
    font, (x0, y0, x1, y1), origin = _label_layout(height, width, text)
    overlay = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=(0, 0, 0, LABEL_BOX_ALPHA))
    draw.text(origin, text, font=font, fill=(255, 255, 255, 255))
    return overlay.crop((x0, y0, x1, y1))


@lru_cache(maxsize=16)
def _label_template(height: int, width: int, text: str
                    ) -> tuple[tuple[int, int, int, int], np.ndarray, np.ndarray]:
    """The label's box and its glyph / near-glyph pixel masks (cached: video frames share it)."""
    font, (x0, y0, x1, y1), origin = _label_layout(height, width, text)
    mask = Image.new("L", (width, height), 0)
    ImageDraw.Draw(mask).text(origin, text, font=font, fill=255)
    near_glyph = np.asarray(mask.filter(ImageFilter.MaxFilter(3)))[y0:y1, x0:x1] > 0
    glyph = np.asarray(mask)[y0:y1, x0:x1] >= 250
    return (x0, y0, x1, y1), glyph, near_glyph


def _detect_label(a: np.ndarray, text: str = DEFAULT_LABEL) -> bool | None:
    """Template check: are the glyph pixels bright and the box around them dark?

    Re-draws the label layout for this image size and compares: at least 85% of the pixels
    fully inside the glyphs must be bright (luma >= 160) and at least 90% of the box pixels
    well away from the glyphs must be as dark as the box makes them (luma <= 115; the box
    keeps at most ~37% of the original brightness, i.e. <= 95).  ``None`` for images under
    32 px a side, where the label is too small to judge.
    """
    h, w = a.shape[:2]
    if min(h, w) < 32:
        return None
    (x0, y0, x1, y1), glyph, near_glyph = _label_template(h, w, text)
    if not glyph.any() or near_glyph.all():
        return None
    luma = _luma(a[y0:y1, x0:x1])
    bright = float(np.mean(luma[glyph] >= 160))
    dark = float(np.mean(luma[~near_glyph] <= 115))
    return bright >= 0.85 and dark >= 0.90


# --------------------------------------------------------------------------------------
# 2. The invisible watermark
# --------------------------------------------------------------------------------------

def _luma(rgb: np.ndarray) -> np.ndarray:
    """JPEG/BT.601 luma of a uint8 RGB array, as float64 in [0, 255]."""
    x = rgb.astype(np.float64)
    return 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]


def _dct_matrix() -> np.ndarray:
    """The orthonormal 8-point DCT-II matrix ``C``: block coefficients are ``C @ B @ C.T``."""
    k = np.arange(8)[:, None]
    n = np.arange(8)[None, :]
    c = np.cos(np.pi * (2 * n + 1) * k / 16) * np.sqrt(2 / 8)
    c[0] /= np.sqrt(2)
    return c


_C = _dct_matrix()


def _blocks(y: np.ndarray) -> np.ndarray:
    """Cut the full 8x8 blocks of ``y`` into ``(rows, cols, 8, 8)`` (partial edges ignored)."""
    bh, bw = y.shape[0] // 8, y.shape[1] // 8
    return y[: bh * 8, : bw * 8].reshape(bh, 8, bw, 8).transpose(0, 2, 1, 3)


def _unblocks(b: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_blocks`: ``(rows, cols, 8, 8)`` -> ``(rows*8, cols*8)``."""
    bh, bw = b.shape[:2]
    return b.transpose(0, 2, 1, 3).reshape(bh * 8, bw * 8)


def _slot_basis() -> np.ndarray:
    """``(64, S)``: column ``s`` is the 8x8 DCT basis image of slot coefficient ``s``,
    flattened.  Coefficient ``(r, c)`` of a block ``B`` is ``C[r] @ B @ C[c]`` - the dot
    product of ``B`` with ``outer(C[r], C[c])`` - so the slots of every block come from one
    matrix product instead of a full 8x8 DCT per block; the basis is orthonormal, so the same
    matrix, transposed, turns coefficient changes back into pixels."""
    return np.stack([np.outer(_C[r], _C[c]).reshape(64) for r, c in COEFFICIENTS], axis=1)


_BASIS = _slot_basis()


def _slot_coefficients(y: np.ndarray) -> np.ndarray:
    """The embedding coefficients of every slot, shape ``(blocks * 2,)`` (block-major)."""
    b = _blocks(y)                                                   # (bh, bw, 8, 8)
    return (b.reshape(-1, 64) @ _BASIS).reshape(-1)                  # (bh * bw * S,)


def _slots_to_luma(delta: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Luma change (full image size) produced by changing each slot coefficient by ``delta``."""
    bh, bw = shape[0] // 8, shape[1] // 8
    blocks = (delta.reshape(bh * bw, len(COEFFICIENTS)) @ _BASIS.T).reshape(bh, bw, 8, 8)
    dy = np.zeros(shape)
    dy[: bh * 8, : bw * 8] = _unblocks(blocks)
    return dy


def _layout(n_slots: int, message_bits: int = MESSAGE_BITS,
            seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Which message bit each slot carries, and each slot's dither (fraction of a step).

    The slots are shuffled with a fixed seed; the j-th slot in shuffled order carries bit
    ``j mod 72`` (``message_bits``), so bit ``i`` sits in shuffled slots ``i, i+72, ...``.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_slots)
    bit_of_slot = np.empty(n_slots, dtype=np.int64)
    bit_of_slot[order] = np.arange(n_slots) % message_bits
    dither = rng.random(n_slots)
    return bit_of_slot, dither


def _crc8(data: bytes) -> int:
    """CRC-8 with polynomial x^8 + x^2 + x + 1 (0x07), initial value 0."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _message_bits(payload: bytes) -> np.ndarray:
    """``sync (16) | payload (48) | crc8 (8)`` as a 0/1 array, most significant bit first."""
    raw = SYNC_WORD.to_bytes(2, "big") + payload + bytes([_crc8(payload)])
    return np.unpackbits(np.frombuffer(raw, dtype=np.uint8)).astype(np.int64)


def _check_size(shape: tuple[int, ...]) -> int:
    """Number of full 8x8 blocks; ``ValueError`` if too few for the message."""
    blocks = (shape[0] // 8) * (shape[1] // 8)
    if blocks < MIN_BLOCKS:
        raise ValueError(
            f"image {shape[0]}x{shape[1]} is too small for the watermark: it has {blocks} "
            f"full 8x8 blocks, and {MESSAGE_BITS} bits x {MIN_REPETITIONS} repetitions need "
            f"at least {MIN_BLOCKS} blocks (e.g. 112x112 or 96x128 pixels)"
        )
    return blocks


def embed_watermark(img: np.ndarray, payload: bytes,
                    strength: float = DEFAULT_STRENGTH) -> np.ndarray:
    """Hide a 6-byte ``payload`` in ``img`` (uint8 ``(H, W, 3)``); return a new array.

    ``strength`` is the QIM step in luma-DCT units: larger survives harsher JPEG but costs
    PSNR (about 44 dB at the default 32).  Raises ``ValueError`` if ``payload`` is not
    exactly 6 bytes or the image has fewer than 180 full 8x8 blocks (e.g. under 112x112).
    """
    a = _check_rgb(img)
    if not isinstance(payload, bytes | bytearray) or len(payload) != PAYLOAD_BYTES:
        raise ValueError(f"payload must be exactly {PAYLOAD_BYTES} bytes, got {payload!r}")
    if not strength > 0:
        raise ValueError(f"strength must be positive, got {strength}")
    _check_size(a.shape)
    h, w = a.shape[:2]
    bit_of_slot, dither = _layout(2 * (h // 8) * (w // 8))
    wanted = _message_bits(bytes(payload))[bit_of_slot]
    offset = (dither + wanted / 2) * strength  # the lattice for the wanted bit: offset + k*D
    out = a.copy()
    for _ in range(EMBED_PASSES):  # repeat: rounding and clipping move coefficients a little
        c = _slot_coefficients(_luma(out))
        target = offset + np.round((c - offset) / strength) * strength
        delta = target - c
        if np.abs(delta).max() < 0.05 * strength:
            break
        dy = _slots_to_luma(delta, (h, w))
        moved = np.clip(np.round(out + dy[..., None]), 0, 255).astype(np.uint8)
        if np.array_equal(moved, out):  # no pixel moved: every further pass would repeat this
            break
        out = moved
    return out


def _decode(a: np.ndarray, strength: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Soft-decode: (decided bits, per-bit mean soft value, mean slot agreement)."""
    h, w = a.shape[:2]
    bit_of_slot, dither = _layout(2 * (h // 8) * (w // 8))
    c = _slot_coefficients(_luma(a))
    soft = np.cos(2 * np.pi * (c / strength - dither))  # +1: bit 0, -1: bit 1
    votes = np.bincount(bit_of_slot, weights=soft, minlength=MESSAGE_BITS)
    counts = np.bincount(bit_of_slot, minlength=MESSAGE_BITS)
    bits = (votes < 0).astype(np.int64)
    agreement = float(np.mean(soft * (1 - 2 * bits[bit_of_slot])))
    return bits, votes / counts, agreement


def extract_watermark(img: np.ndarray, strength: float = DEFAULT_STRENGTH) -> dict[str, Any]:
    """Look for a watermark in ``img`` (uint8 ``(H, W, 3)``).

    Returns ``{"found", "payload", "bit_accuracy_vs_sync", "confidence"}``:

    * ``found`` - at least 14 of the 16 sync bits match *and* the CRC-8 of the data holds;
    * ``payload`` - the 6 data bytes if found, else ``None``;
    * ``bit_accuracy_vs_sync`` - fraction of the 16 decoded sync bits equal to the sync word
      (about 0.5 for an unmarked image, 1.0 for a marked one);
    * ``confidence`` - mean agreement of every slot's soft value with the decided bit, in
      [-1, 1]: ~1 for a clean mark, lower after compression, ~0.25 for random content.

    Images too small to hold a mark return ``found=False`` rather than raising.
    ``strength`` must match the value used to embed.
    """
    a = _check_rgb(img)
    try:
        _check_size(a.shape)
    except ValueError:
        return {"found": False, "payload": None, "bit_accuracy_vs_sync": 0.0, "confidence": 0.0}
    bits, _, agreement = _decode(a, strength)
    sync_ref = _message_bits(bytes(PAYLOAD_BYTES))[:SYNC_BITS]
    sync_ok = int(np.sum(bits[:SYNC_BITS] == sync_ref))
    data = np.packbits(bits[SYNC_BITS:SYNC_BITS + DATA_BITS].astype(np.uint8)).tobytes()
    crc = int(np.packbits(bits[SYNC_BITS + DATA_BITS:].astype(np.uint8))[0])
    found = sync_ok >= SYNC_MATCH_MIN and crc == _crc8(data)
    return {
        "found": bool(found),
        "payload": data if found else None,
        "bit_accuracy_vs_sync": sync_ok / SYNC_BITS,
        "confidence": agreement,
    }


def make_payload(model_id: str, content: bytes | np.ndarray) -> bytes:
    """The 6-byte payload: ``sha256(model_id)[:3] + sha256(content)[:3]``.

    ``content`` is raw bytes or an array (hashed as its C-order bytes, e.g. the pixels
    before marking).  Three bytes each are fingerprints for matching, not secure hashes.
    """
    if isinstance(content, np.ndarray):
        content = np.ascontiguousarray(content).tobytes()
    if not isinstance(content, bytes | bytearray):
        raise TypeError(f"content must be bytes or a numpy array, got {type(content).__name__}")
    return (hashlib.sha256(model_id.encode("utf-8")).digest()[:3]
            + hashlib.sha256(bytes(content)).digest()[:3])


# --------------------------------------------------------------------------------------
# 3. Putting it together: mark, save, verify
# --------------------------------------------------------------------------------------

def mark_image(img: np.ndarray, model_id: str, label: bool = True) -> np.ndarray:
    """Watermark ``img`` (payload from :func:`make_payload` over the input pixels), then label.

    The watermark goes first so that the label is drawn crisply on top; the label then
    overwrites a few blocks of the mark, which the repetition vote absorbs.
    """
    a = _check_rgb(img)
    out = embed_watermark(a, make_payload(model_id, a))
    return label_image(out) if label else out


def save_generated_png(img: np.ndarray, path: str | Path, model_id: str, *, label: bool = True,
                       watermark: bool = True, extra: dict | None = None) -> Path:
    """Write a generated image as a PNG with its provenance marks; return the path.

    Text chunks: ``ai_generated="true"``, ``generator="deepfake-lab"``, ``model=model_id``,
    ``watermark=WATERMARK_VERSION`` (or ``"none"``) and every ``extra`` item (values turned
    into strings; ``extra`` may not redefine those four keys).  The pixels go through
    :func:`mark_image`.

    ``label=False`` and ``watermark=False`` are **developer-only escape hatches** (e.g. for
    building training data or debugging a model); anything shown to users or shared must
    keep both marks.  Parent directories are created.
    """
    a = _check_rgb(img)
    extra = dict(extra or {})
    clash = sorted(set(extra) & set(RESERVED_KEYS))
    if clash:
        raise ValueError(f"extra metadata may not redefine reserved keys: {clash}")
    if watermark:
        a = mark_image(a, model_id, label=label)
    elif label:
        a = label_image(a)
    info = PngImagePlugin.PngInfo()
    meta = {"ai_generated": "true", "generator": GENERATOR, "model": model_id,
            "watermark": WATERMARK_VERSION if watermark else "none"}
    meta.update({str(k): str(v) for k, v in extra.items()})
    for key, value in meta.items():
        info.add_text(key, value)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(a)).save(path, format="PNG", pnginfo=info)
    return path


def verify_image(path: str | Path) -> dict[str, Any]:
    """Check a saved image for the label, the watermark and provenance metadata.

    Returns ``{"label", "watermark", "payload", "metadata"}``:

    * ``label`` - a *heuristic*: the default ``AI-generated`` label is re-drawn for this
      image size as a template, and the label counts as present if the glyph pixels are
      bright and the box around them dark (see :func:`_detect_label`).  It detects our own
      label at its standard place and size only (not custom text, not after rescaling);
      ``None`` for images under 32 px a side.
    * ``watermark`` - :func:`extract_watermark` found a mark (sync + CRC);
    * ``payload`` - its 6 bytes as a hex string, or ``None``;
    * ``metadata`` - the file's text metadata (PNG text chunks), e.g. ``ai_generated``.

    Raises ``ValueError`` naming the path if the file is missing or not a readable image.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        with Image.open(path) as im:
            im.load()
            text = getattr(im, "text", None) or {}
            metadata = {str(k): v for k, v in {**im.info, **text}.items() if isinstance(v, str)}
            rgb = np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ValueError(f"{path}: not a readable image ({e})") from None
    mark = extract_watermark(rgb)
    return {
        "label": _detect_label(rgb),
        "watermark": mark["found"],
        "payload": mark["payload"].hex() if mark["found"] else None,
        "metadata": metadata,
    }


# --------------------------------------------------------------------------------------
# 4. Video: the same two marks on every frame, mp4 metadata, and a verifier
# --------------------------------------------------------------------------------------
#
# A video is a stack of frames, so every frame gets the visible label and the invisible
# watermark of sections 1 and 2, with three differences:
#
# * **Speed.**  A frame is marked in ~2 ms at 640x360: the layout (which slot carries which
#   bit, its dither, the DCT basis) is computed once per frame size (:class:`FrameWatermark`,
#   :class:`LabelStamp`); the two coefficients of each 8x8 block are a matrix product of the
#   blocks ``(N, 64)`` with their two basis images ``(64, 2)``, not a full DCT; and one
#   embedding pass suffices (the rounding residue is far below the step).
# * **A longer payload**, 8 bytes: ``b"DL"`` (the project) + 3 bytes of ``sha256(model id)``
#   + 3 bytes of the content hash (the SHA-256 of the source clip, or of the request for an
#   animation) - :func:`make_video_payload`.  Message: 16 sync + 64 data + 8 CRC = 88 bits.
# * **Votes across frames.**  Every frame carries the same message at the same places, so
#   the verifier adds the soft votes of many frames before deciding: what H.264 blurs in one
#   frame it rarely blurs in all of them.  Measured on the 96 frames of the bundled clip
#   after our encode (CRF 20) *and* a re-encode with ``ffmpeg -crf 23``: ~77 % of single
#   slots still read correctly and every frame alone decodes 100 % of the message bits
#   (tests/test_video_provenance.py asks for >= 95 %).  Re-encoded at CRF 28: still 100 %;
#   CRF 33: 99.9 % (91 of 96 frames decode alone, the clip's vote does); CRF 38, where
#   blocks show: gone.  Rescaling, cropping or rotating defeat it, as for images.
#
# The mp4 container carries metadata tags (``ai_generated``, ``generator``, ``model``,
# ``watermark``, ``content_sha256`` and a human-readable ``comment``), written by ffmpeg with
# ``-movflags use_metadata_tags`` and read back with ``ffmpeg -f ffmetadata``.

VIDEO_WATERMARK_VERSION = "dfl-video-dct-qim/1"
"""Name and version of the per-frame video watermark; written into mp4 metadata."""

PROJECT_TAG = b"DL"
VIDEO_PAYLOAD_BYTES = 8
VIDEO_MESSAGE_BITS = SYNC_BITS + 8 * VIDEO_PAYLOAD_BYTES + CRC_BITS  # 88
VIDEO_SEED = SEED + 1
VIDEO_MIN_BLOCKS = math.ceil(VIDEO_MESSAGE_BITS * MIN_REPETITIONS / len(COEFFICIENTS))  # 220


def make_video_payload(model_id: str, content_sha256: str | bytes) -> bytes:
    """``b"DL" + sha256(model_id)[:3] + content_sha256[:3]`` (8 bytes).

    ``content_sha256`` is a SHA-256 digest (32 bytes or 64 hex characters): of the source
    clip for a swap, of the request for an animation.
    """
    digest = bytes.fromhex(content_sha256) if isinstance(content_sha256, str) else content_sha256
    if len(digest) != 32:
        raise ValueError(f"content_sha256 must be a SHA-256 digest, got {len(digest)} bytes")
    return PROJECT_TAG + hashlib.sha256(model_id.encode("utf-8")).digest()[:3] + digest[:3]


def parse_video_payload(payload: bytes) -> dict[str, str]:
    """Split an 8-byte video payload into its project, model and content fingerprints."""
    return {"project": "deepfake-lab" if payload[:2] == PROJECT_TAG else payload[:2].hex(),
            "model_fingerprint": payload[2:5].hex(), "content_fingerprint": payload[5:8].hex()}


def _basis(coefficients: tuple[tuple[int, int], ...] = COEFFICIENTS) -> np.ndarray:
    """The 8x8 DCT basis images of ``coefficients`` as columns: ``(64, K)`` float32."""
    return np.stack([np.outer(_C[u], _C[v]).reshape(64) for u, v in coefficients],
                    axis=1).astype(np.float32)


class FrameWatermark:
    """The video watermark for one frame size: embed it in a frame, read soft bits back.

    >>> wm = FrameWatermark(360, 640)                        # doctest: +SKIP
    >>> marked = wm.embed(frame, make_video_payload("m", sha))
    >>> wm.decode(wm.soft_bits(marked))["payload"]           # the 8 bytes
    """

    def __init__(self, height: int, width: int, strength: float = DEFAULT_STRENGTH) -> None:
        self.height, self.width, self.strength = int(height), int(width), float(strength)
        self.rows, self.cols = self.height // 8, self.width // 8
        blocks = self.rows * self.cols
        if blocks < VIDEO_MIN_BLOCKS:
            raise ValueError(
                f"frames of {height}x{width} are too small for the video watermark: "
                f"{blocks} full 8x8 blocks, at least {VIDEO_MIN_BLOCKS} needed "
                f"(e.g. 128x128 pixels)")
        self.basis = _basis()                                    # (64, 2)
        n_slots = blocks * len(COEFFICIENTS)
        self.bit_of_slot, self.dither = _layout(n_slots, VIDEO_MESSAGE_BITS, VIDEO_SEED)
        self.counts = np.bincount(self.bit_of_slot, minlength=VIDEO_MESSAGE_BITS)
        self._offset: np.ndarray | None = None
        self._payload: bytes | None = None

    def _coefficients(self, frame: np.ndarray) -> np.ndarray:
        """Slot coefficients ``(blocks * 2,)`` of a uint8 RGB frame (block-major order)."""
        import cv2

        y = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)   # (H, W) luma
        r, c = self.rows, self.cols
        blocks = y[:r * 8, :c * 8].reshape(r, 8, c, 8).transpose(0, 2, 1, 3).reshape(-1, 64)
        return (blocks.astype(np.float32) @ self.basis).reshape(-1)        # (N * 2,)

    def embed(self, frame: np.ndarray, payload: bytes, out: np.ndarray | None = None
              ) -> np.ndarray:
        """Mark a uint8 ``(H, W, 3)`` frame with the 8-byte ``payload`` (QIM, one pass).

        Writes into ``out`` (may be ``frame`` itself; default a new array) and returns it.
        """
        import cv2

        if frame.shape[:2] != (self.height, self.width):
            raise ValueError(f"frame is {frame.shape[:2]}, this watermark is for "
                             f"{(self.height, self.width)}")
        if len(payload) != VIDEO_PAYLOAD_BYTES:
            raise ValueError(f"payload must be {VIDEO_PAYLOAD_BYTES} bytes, got {len(payload)}")
        if payload != self._payload:  # the lattice of each slot's wanted bit, once per payload
            wanted = _message_bits(bytes(payload))[self.bit_of_slot]
            self._offset = ((self.dither + wanted / 2) * self.strength).astype(np.float32)
            self._payload = bytes(payload)
        c = self._coefficients(frame)
        d, off = self.strength, self._offset
        delta = off + np.round((c - off) / d) * d - c                        # (N * 2,)
        r, k = self.rows, self.cols
        dy = (delta.reshape(-1, len(COEFFICIENTS)) @ self.basis.T)           # (N, 64)
        dy = dy.reshape(r, k, 8, 8).transpose(0, 2, 1, 3).reshape(r * 8, k * 8)
        full = np.zeros((self.height, self.width), np.float32)
        full[:r * 8, :k * 8] = dy
        target = np.empty_like(frame) if out is None else out
        # the same change on R, G and B: luma moves by dy, chroma stays (saturating add)
        cv2.add(frame, cv2.merge([full, full, full]), dst=target, dtype=cv2.CV_8U)
        return target

    def soft_bits(self, frame: np.ndarray) -> np.ndarray:
        """Summed soft votes per message bit ``(88,)``: > 0 reads 0, < 0 reads 1."""
        soft = np.cos(2 * np.pi * (self._coefficients(frame) / self.strength - self.dither))
        return np.bincount(self.bit_of_slot, weights=soft, minlength=VIDEO_MESSAGE_BITS)

    def slot_accuracy(self, frame: np.ndarray, payload: bytes) -> float:
        """Fraction of single slots (before any vote) that read the bit ``payload`` put there."""
        soft = np.cos(2 * np.pi * (self._coefficients(frame) / self.strength - self.dither))
        wanted = _message_bits(bytes(payload))[self.bit_of_slot]
        return float(np.mean((soft < 0) == wanted))

    @staticmethod
    def decode(votes: np.ndarray) -> dict[str, Any]:
        """Decide the bits of summed ``votes`` and check sync word and CRC.

        Returns ``{"found", "payload" (bytes or None), "bits" (88 0/1), "sync_ok" (of 16)}``.
        """
        bits = (np.asarray(votes) < 0).astype(np.int64)
        sync_ref = _message_bits(bytes(VIDEO_PAYLOAD_BYTES))[:SYNC_BITS]
        sync_ok = int(np.sum(bits[:SYNC_BITS] == sync_ref))
        data_end = SYNC_BITS + 8 * VIDEO_PAYLOAD_BYTES
        data = np.packbits(bits[SYNC_BITS:data_end].astype(np.uint8)).tobytes()
        crc = int(np.packbits(bits[data_end:].astype(np.uint8))[0])
        found = sync_ok >= SYNC_MATCH_MIN and crc == _crc8(data)
        return {"found": bool(found), "payload": data if found else None, "bits": bits,
                "sync_ok": sync_ok}


def video_message_bits(payload: bytes) -> np.ndarray:
    """The 88 message bits (0/1) that :class:`FrameWatermark` hides for ``payload``."""
    return _message_bits(bytes(payload))


class LabelStamp:
    """The visible label of :func:`label_image`, pre-rendered once for a frame size.

    The label box is rendered with PIL once; each frame then only blends that small box
    (``out = frame * (1 - alpha) + colour * alpha``), a fraction of a millisecond.
    """

    def __init__(self, height: int, width: int, text: str = DEFAULT_LABEL) -> None:
        self.height, self.width = int(height), int(width)
        x0, y0, x1, y1 = label_region(height, width, text)
        self.box = (x0, y0, x1, y1)
        # Render the label on black and on white: alpha and colour follow from the two.
        black = label_image(np.zeros((height, width, 3), np.uint8), text)[y0:y1, x0:x1]
        white = label_image(np.full((height, width, 3), 255, np.uint8), text)[y0:y1, x0:x1]
        alpha = 1.0 - (white.astype(np.float32) - black.astype(np.float32)) / 255.0
        self.alpha = np.clip(alpha, 0, 1)                                   # (h, w, 3)
        self.ink = black.astype(np.float32)                                 # colour * alpha

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """Label ``frame`` (uint8 ``(H, W, 3)``) in place and return it."""
        x0, y0, x1, y1 = self.box
        if x1 <= x0 or y1 <= y0:
            return frame
        region = frame[y0:y1, x0:x1]
        mixed = region.astype(np.float32) * (1 - self.alpha) + self.ink
        region[...] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
        return frame


class VideoMarker:
    """Both marks for the frames of one video: watermark first, then the label on top."""

    def __init__(self, height: int, width: int, payload: bytes, *, label: bool = True,
                 watermark: bool = True) -> None:
        self.payload = payload
        self.watermark = FrameWatermark(height, width) if watermark else None
        self.label = LabelStamp(height, width) if label else None

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """Mark a uint8 ``(H, W, 3)`` frame in place and return it."""
        if self.watermark is not None:
            self.watermark.embed(frame, self.payload, out=frame)
        if self.label is not None:
            self.label.apply(frame)
        return frame


def video_metadata(model_id: str, content_sha256: str, *, watermark: bool = True,
                   label: bool = True, extra: dict | None = None) -> dict[str, str]:
    """The mp4 metadata tags of a generated video (all values strings)."""
    extra = dict(extra or {})
    clash = sorted(set(extra) & set(RESERVED_KEYS + ("label", "content_sha256", "comment")))
    if clash:
        raise ValueError(f"extra metadata may not redefine reserved keys: {clash}")
    meta = {"ai_generated": "true", "generator": GENERATOR, "model": model_id,
            "watermark": VIDEO_WATERMARK_VERSION if watermark else "none",
            "label": DEFAULT_LABEL if label else "none", "content_sha256": content_sha256,
            "comment": f"AI-generated with {GENERATOR} (model {model_id})"}
    meta.update({str(k): str(v) for k, v in extra.items()})
    return meta


def _unescape_ffmetadata(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value):
            i += 1
        out.append(value[i])
        i += 1
    return "".join(out)


def read_video_metadata(path: str | Path) -> dict[str, str]:
    """The container's global metadata tags (``ffmpeg -f ffmetadata``), e.g. ``model``."""
    import subprocess

    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "ffmetadata",
           "-"]
    proc = subprocess.run(cmd, capture_output=True, timeout=60)
    if proc.returncode != 0:
        return {}
    meta: dict[str, str] = {}
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        if line.startswith("["):
            break  # stream and chapter sections follow the global tags
        if not line or line.startswith((";", "#")) or "=" not in line:
            continue
        key, _, value = line.partition("=")
        meta[_unescape_ffmetadata(key)] = _unescape_ffmetadata(value)
    return meta


def verify_video(path: str | Path, max_frames: int = 96) -> dict[str, Any]:
    """Check a video for the label, the watermark and its metadata.

    Up to ``max_frames`` frames spread over the clip are read.  Returns the keys of
    :func:`verify_image` - ``label`` (the label found on at least 90 % of the checked frames;
    ``None`` for frames under 32 px), ``watermark`` (the mark decodes from the soft votes of
    all checked frames), ``payload`` (hex) and ``metadata`` - plus ``kind="video"``,
    ``frames_checked``, ``label_frames`` and ``watermark_frames`` (fractions of the checked
    frames on which each mark is found alone), ``payload_fields`` (project, model and
    content fingerprints) and ``matches_metadata`` (do the fingerprints agree with the
    ``model`` and ``content_sha256`` tags; ``None`` without them).

    Raises ``ValueError`` naming the path if it is missing or not a readable video.
    """
    from .faces.errors import MediaError
    from .faces.media import iter_video, video_info

    path = Path(path)
    try:
        info = video_info(path)
    except MediaError as e:
        raise ValueError(str(e)) from None
    step = max(1, info.frames_estimate // max_frames)
    wm = None
    try:
        wm = FrameWatermark(info.height, info.width)
    except ValueError:
        pass  # too small for a mark: watermark stays False
    votes = np.zeros(VIDEO_MESSAGE_BITS)
    checked = labelled = label_judged = alone = 0
    for i, frame in iter_video(path):
        if i % step:
            continue
        checked += 1
        has_label = _detect_label(frame)
        if has_label is not None:
            label_judged += 1
            labelled += int(has_label)
        if wm is not None:
            v = wm.soft_bits(frame)
            votes += v
            alone += int(wm.decode(v)["found"])
        if checked >= max_frames:
            break
    if checked == 0:
        raise ValueError(f"{path}: no frames could be decoded")
    mark = FrameWatermark.decode(votes) if wm is not None else {"found": False,
                                                                 "payload": None}
    metadata = read_video_metadata(path)
    fields = parse_video_payload(mark["payload"]) if mark["found"] else None
    matches = None
    if fields is not None and "model" in metadata and "content_sha256" in metadata:
        try:
            expected = parse_video_payload(make_video_payload(metadata["model"],
                                                              metadata["content_sha256"]))
            matches = expected == fields
        except ValueError:
            matches = False
    return {
        "label": (labelled / label_judged >= 0.9) if label_judged else None,
        "watermark": bool(mark["found"]),
        "payload": mark["payload"].hex() if mark["found"] else None,
        "metadata": metadata,
        "kind": "video",
        "frames_checked": checked,
        "label_frames": round(labelled / label_judged, 4) if label_judged else None,
        "watermark_frames": round(alone / checked, 4),
        "payload_fields": fields,
        "matches_metadata": matches,
    }


def verify(path: str | Path) -> dict[str, Any]:
    """:func:`verify_video` for video files (by extension), else :func:`verify_image`."""
    from .faces.media import VIDEO_EXTENSIONS

    if Path(path).suffix.lower() in VIDEO_EXTENSIONS:
        return verify_video(path)
    return verify_image(path)
