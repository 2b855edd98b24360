"""Files the studio hands to Gradio: content-named, written atomically into Gradio's cache."""

from __future__ import annotations

import hashlib
from pathlib import Path


def png_in_cache(data: bytes | None, cache_dir: str, folder: str) -> str | None:
    """PNG bytes -> ``cache_dir/folder/ab/<sha256>.png`` (served by Gradio as it is).

    The name is the content's hash, so identical images share one file; the write goes to a
    temporary name first and is renamed, so a concurrent identical request never sees half a
    file.  Files inside the cache are removed with the rest of it (``delete_cache``).
    """
    if data is None:
        return None
    digest = hashlib.sha256(data).hexdigest()
    path = Path(cache_dir) / folder / digest[:2] / f"{digest}.png"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return str(path)
