"""The one reader of what comes out of a submission's sandbox: results, the executed notebook, the clean room's
outputs. Everything there is hostile data: regular files only, no symbolic link followed on the way, nothing
opened that could block (a FIFO, a device), sizes capped before reading, no pickles, and a notebook's outputs
capped per cell and in all (truncated with a note)."""

from __future__ import annotations

import io
import json
import os
import stat
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["NOTEBOOK_LIMIT", "read_bytes", "read_json", "read_notebook", "read_npy", "read_npz"]

NOTEBOOK_LIMIT = 64 << 20  # bytes of an executed notebook the grader reads
OUTPUT_LIMIT = 100_000  # characters of one cell's outputs kept (text and tracebacks)
OUTPUTS_LIMIT = 2_000_000  # characters of all the notebook's outputs kept


def read_bytes(root: str | os.PathLike, relative: str | os.PathLike, limit: int) -> bytes | None:
    """The bytes of the regular file ``root/relative`` (``root`` is the grader's own folder), or None: no symbolic
    link followed in ``relative``, no path out of ``root``, no special file opened, nothing larger than ``limit``
    bytes read."""
    parts = [p for p in Path(relative).parts if p not in ("", ".")]
    if not parts or Path(relative).is_absolute() or ".." in parts:  # an absolute path would ignore dir_fd
        return None
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(root, flags | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        for part in parts[:-1]:
            next_fd = os.open(part, flags | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        file_fd = os.open(parts[-1], flags | os.O_NONBLOCK, dir_fd=fd)
    except OSError:
        os.close(fd)
        return None
    os.close(fd)
    try:
        info = os.fstat(file_fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(file_fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        data = b"".join(chunks)
        return data if len(data) <= limit else None
    except OSError:
        return None
    finally:
        os.close(file_fd)


def read_json(root, relative, limit: int = 1 << 20) -> object | None:
    """A JSON value from the sandbox, or None (missing, a link, too large, not JSON)."""
    data = read_bytes(root, relative, limit)
    try:
        return None if data is None else json.loads(data)
    except (ValueError, RecursionError):
        return None


def _arrays(data: bytes | None, limit: int) -> dict[str, np.ndarray] | None:
    if data is None:
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            if sum(i.file_size for i in z.infolist()) > limit:
                return None  # a zip bomb is refused before it is unpacked
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except Exception:  # noqa: BLE001 - not an npz, pickled objects, truncated...
        return None


def read_npz(root, relative, limit: int = 64 << 20) -> dict[str, np.ndarray] | None:
    """The arrays of an ``.npz`` from the sandbox (no pickles; at most ``limit`` bytes packed and unpacked)."""
    return _arrays(read_bytes(root, relative, limit), limit)


def read_npy(root, relative, limit: int = 64 << 20) -> np.ndarray | None:
    """One ``.npy`` array from the sandbox (no pickles), or None."""
    data = read_bytes(root, relative, limit)
    try:
        return None if data is None else np.load(io.BytesIO(data), allow_pickle=False)
    except Exception:  # noqa: BLE001 - anything but a plain array
        return None


def _cap(cell: dict, budget: list[int]) -> None:
    """Cut one cell's outputs to ``OUTPUT_LIMIT`` characters and what is left of the notebook's ``budget``."""
    kept, used = [], 0
    for out in cell.get("outputs", []):
        if not isinstance(out, dict):
            continue
        size = len(json.dumps(out))
        room = min(OUTPUT_LIMIT - used, budget[0])
        if size <= room:
            kept.append(out)
            used += size
            budget[0] -= size
            continue
        dropped = len(cell["outputs"]) - len(kept)
        kept.append({"output_type": "stream", "name": "stderr",
                     "text": f"[... {dropped} output(s) cut by the grader: over its limit of {OUTPUT_LIMIT} "
                             "characters per cell or of the notebook's outputs ...]\n"})
        break
    cell["outputs"] = kept


def read_notebook(root, relative, limit: int = NOTEBOOK_LIMIT):
    """An executed notebook from the sandbox as an ``nbformat`` node, outputs capped per cell and in all; None
    when it is missing, a link, too large or no notebook."""
    import nbformat

    data = read_bytes(root, relative, limit)
    if data is None:
        return None
    try:
        raw = json.loads(data)
        budget = [OUTPUTS_LIMIT]
        for cell in raw.get("cells", []) if isinstance(raw, dict) else []:
            if isinstance(cell, dict) and isinstance(cell.get("outputs"), list):
                _cap(cell, budget)
        return nbformat.from_dict(raw)
    except (ValueError, AttributeError, TypeError, RecursionError):
        return None
