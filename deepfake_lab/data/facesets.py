"""Facesets: real faces on disk, aligned and labelled, written so that they are never half-made.

A faceset is a folder::

    DIR/
      faceset.json        provenance: format version, deepfake-lab version, the parameters
                          of the extraction, the backend, every source file (path, SHA-256,
                          frames, faces found, frames without a face)
      attributes.jsonl    one JSON line per face: crop file, source, frame, time, box,
                          landmarks (source pixels), alignment matrix, pose, expression,
                          identity embedding
      crops/*.jpg         the aligned crops, all the same size and crop kind

**Written atomically.**  :class:`FacesetWriter` builds the folder beside its destination
(``.DIR.partial``) and renames it into place only when every source is done, so a crash or
Ctrl-C never leaves a ``DIR`` that looks complete but is not.  The partial folder remembers
which sources it finished (``progress.json``); running the same extraction again continues
from there, and adding files to an input folder extracts only the new ones.

**Read** with :class:`Faceset`: records, crops as uint8 ``(H, W, 3)`` RGB arrays, and the
attributes as a matrix in schema order.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ..attributes import EXPRESSION, POSE
from ..faces.errors import FacesetError

FORMAT = "deepfake-lab faceset"
FORMAT_VERSION = 1
META_FILE, RECORDS_FILE, CROPS_DIR, PROGRESS_FILE = (
    "faceset.json", "attributes.jsonl", "crops", "progress.json")


def _write_json_atomic(path: Path, data: Mapping) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise FacesetError(path, f"cannot read ({e})") from None


def is_faceset(path: str | Path) -> bool:
    """Whether ``path`` is a complete faceset folder."""
    return (Path(path) / META_FILE).is_file()


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------
class Faceset:
    """A faceset folder, read: ``len(fs)``, ``fs.records[i]``, ``fs.image(i)``.

    >>> fs = Faceset("facesets/wolfgang")                       # doctest: +SKIP
    >>> fs.image(0).shape, fs.attributes()[0]                   # doctest: +SKIP
    ((128, 128, 3), {'yaw': -3.1, 'pitch': 8.2, ...})
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise FacesetError(self.path, "no such faceset folder")
        if not is_faceset(self.path):
            raise FacesetError(self.path, f"not a faceset (no {META_FILE}); create one with "
                                          f"'deepfake-lab extract INPUT --out {self.path}'")
        self.meta = _read_json(self.path / META_FILE)
        if self.meta.get("format") != FORMAT:
            raise FacesetError(self.path, f"{META_FILE} is not a {FORMAT!r} file")
        if self.meta.get("version") != FORMAT_VERSION:
            raise FacesetError(self.path, f"faceset format version {self.meta.get('version')} "
                                          f"is not supported (expected {FORMAT_VERSION})")
        self.records: list[dict] = list(read_records(self.path / RECORDS_FILE))

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict]:
        return iter(self.records)

    @property
    def size(self) -> int:
        """Side of the crops in pixels."""
        return int(self.meta["parameters"]["size"])

    @property
    def crop_kind(self) -> str:
        return str(self.meta["parameters"]["crop"])

    def image_path(self, i: int) -> Path:
        return self.path / self.records[i]["file"]

    def image(self, i: int) -> np.ndarray:
        """Crop ``i`` as uint8 ``(size, size, 3)`` RGB."""
        from ..faces.media import load_image

        return load_image(self.image_path(i))

    def attributes(self) -> list[dict[str, float]]:
        """Pose and expression of every face, physical units, schema names."""
        return [{**r["pose"], **r["expression"]} for r in self.records]

    def attribute_matrix(self) -> np.ndarray:
        """``(N, 7)`` float32: pose then expression, in the schema's order and units."""
        names = [a.name for a in POSE + EXPRESSION]
        return np.array([[row[n] for n in names] for row in self.attributes()],
                        dtype=np.float32).reshape(len(self), len(names))

    def embeddings(self) -> np.ndarray:
        """``(N, D)`` float32 identity embeddings (rows of NaN where none was computed)."""
        dim = int(self.meta.get("embedding_dim", 128))
        out = np.full((len(self), dim), np.nan, dtype=np.float32)
        for i, r in enumerate(self.records):
            if r.get("embedding") is not None:
                out[i] = r["embedding"]
        return out

    def __repr__(self) -> str:
        return (f"Faceset({str(self.path)!r}, faces={len(self)}, size={self.size}, "
                f"crop={self.crop_kind!r})")


def read_records(path: Path) -> Iterator[dict]:
    """The records of an ``attributes.jsonl`` file (raises :class:`FacesetError`)."""
    if not path.is_file():
        raise FacesetError(path, "missing")
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as e:
                    raise FacesetError(path, f"line {n} is not valid JSON ({e})") from None


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------
class FacesetWriter:
    """Build or extend a faceset without ever leaving a half-written ``DIR``.

    ``parameters`` are the extraction settings that shape the crops and labels; a faceset
    can only be extended with the same ones (``overwrite=True`` starts afresh).  Usage::

        w = FacesetWriter(out, parameters)
        for source in sources:
            if w.is_done(sha):
                continue
            w.begin_source(sha, info)
            w.add(record, crop)          # for every face
            w.end_source(stats)          # the source's records become durable
        w.commit(meta)                   # rename into place
    """

    def __init__(self, out: str | Path, parameters: Mapping, *, overwrite: bool = False,
                 jpeg_quality: int = 92) -> None:
        self.out = Path(out)
        self.parameters = json.loads(json.dumps(dict(parameters)))  # JSON-normalised
        self.jpeg_quality = int(jpeg_quality)
        self.stage = self.out.with_name(f".{self.out.name}.partial")
        self._old = self.out.with_name(f".{self.out.name}.old")
        self._pending: list[dict] = []
        self._current: dict | None = None
        self._recover()
        if overwrite and self.stage.exists():
            shutil.rmtree(self.stage)
        existing = self._existing_sources(overwrite)
        #: whether the staged folder differs from ``out`` (something to commit)
        self.dirty = False
        if self.stage.exists() and self._stage_matches():
            self.progress = _read_json(self.stage / PROGRESS_FILE)
            self.dirty = True  # finished sources of an interrupted run
        else:
            if self.stage.exists():
                shutil.rmtree(self.stage)
            self._make_stage(existing)
        self.resumed = self.dirty and bool(self.progress["sources"])

    # ---- set-up --------------------------------------------------------------------
    def _recover(self) -> None:
        """Finish a swap that was interrupted between its two renames."""
        if self._old.exists() and not self.out.exists():
            os.replace(self._old, self.out)
        elif self._old.exists():
            shutil.rmtree(self._old)

    def _existing_sources(self, overwrite: bool) -> list[dict]:
        if not self.out.exists():
            return []
        if not self.out.is_dir():
            raise FacesetError(self.out, "exists and is not a folder")
        if not is_faceset(self.out):
            if any(self.out.iterdir()):
                raise FacesetError(self.out, "exists, is not empty and is not a faceset; "
                                             "choose another --out")
            return []
        if overwrite:
            return []
        meta = _read_json(self.out / META_FILE)
        if meta.get("parameters") != self.parameters:
            diff = sorted(k for k in {*self.parameters, *meta.get("parameters", {})}
                          if self.parameters.get(k) != meta.get("parameters", {}).get(k))
            raise FacesetError(self.out, f"holds a faceset made with other parameters "
                                         f"({', '.join(diff)} differ); use another --out "
                                         f"or --overwrite")
        return list(meta.get("sources", []))

    def _stage_matches(self) -> bool:
        p = self.stage / PROGRESS_FILE
        return p.is_file() and _read_json(p).get("parameters") == self.parameters

    def _make_stage(self, existing: list[dict]) -> None:
        (self.stage / CROPS_DIR).mkdir(parents=True)
        records = self.stage / RECORDS_FILE
        if existing:  # extending: start from the complete faceset (hard links are free)
            for src in (self.out / CROPS_DIR).iterdir():
                try:
                    os.link(src, self.stage / CROPS_DIR / src.name)
                except OSError:
                    shutil.copy2(src, self.stage / CROPS_DIR / src.name)
            shutil.copy2(self.out / RECORDS_FILE, records)
        else:
            records.touch()
        self.progress = {"parameters": self.parameters, "sources": existing}
        _write_json_atomic(self.stage / PROGRESS_FILE, self.progress)

    # ---- per source ------------------------------------------------------------------
    def is_done(self, sha256: str) -> bool:
        """Whether the source with this hash is already in the faceset."""
        return any(s["sha256"] == sha256 for s in self.progress["sources"])

    def begin_source(self, info: Mapping) -> None:
        """Start a source; ``info`` needs ``sha256`` and ``path`` (more is recorded)."""
        self._current = dict(info)
        self._pending = []

    def add(self, record: Mapping, crop: np.ndarray) -> str:
        """Write one aligned crop and queue its record; returns the crop's relative path."""
        from PIL import Image

        if self._current is None:
            raise RuntimeError("add() outside begin_source() / end_source()")
        name = record["file"]
        Image.fromarray(np.asarray(crop, dtype=np.uint8)).save(
            self.stage / name, quality=self.jpeg_quality)
        self._pending.append(dict(record))
        return name

    def end_source(self, stats: Mapping) -> None:
        """The source is complete: append its records and mark it done (durably)."""
        if self._current is None:
            raise RuntimeError("end_source() without begin_source()")
        with open(self.stage / RECORDS_FILE, "a") as f:
            for r in self._pending:
                f.write(json.dumps(r, separators=(",", ":")) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.progress["sources"].append({**self._current, **stats})
        _write_json_atomic(self.stage / PROGRESS_FILE, self.progress)
        self._current, self._pending = None, []
        self.dirty = True

    @property
    def sources(self) -> list[dict]:
        return list(self.progress["sources"])

    def n_faces(self) -> int:
        return sum(int(s.get("faces", 0)) for s in self.progress["sources"])

    # ---- finish ----------------------------------------------------------------------
    def commit(self, meta: Mapping) -> Path:
        """Write ``faceset.json`` and move the staged folder into place; returns ``out``."""
        full = {"format": FORMAT, "version": FORMAT_VERSION,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                **dict(meta), "parameters": self.parameters,
                "sources": self.progress["sources"],
                "counts": {k: sum(int(s.get(k, 0)) for s in self.progress["sources"])
                           for k in ("frames", "faces", "no_face", "no_match")}}
        _write_json_atomic(self.stage / META_FILE, full)
        (self.stage / PROGRESS_FILE).unlink()
        if self.out.exists():
            os.replace(self.out, self._old)
        os.replace(self.stage, self.out)
        if self._old.exists():
            shutil.rmtree(self._old)
        return self.out

    def discard(self) -> None:
        """Throw the staged work away (nothing to commit, e.g. no face at all)."""
        if self.stage.exists():
            shutil.rmtree(self.stage)
