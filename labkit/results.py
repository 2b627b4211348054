"""Key results as data: each lab records its numbers so tests, graders and the report
read values, not pixels.

``record(name, value)`` stores a JSON-able value in ``<out_dir>/results.json`` (written
atomically) and, inside a notebook, also as a ``application/x.labkit+json`` display
output, scrapbook-style, so the value travels with the executed notebook. That output shows nothing (its
text is empty) and ``record`` returns nothing: a student's notebook shows no echo of it.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from labkit.files import atomic_path

MIME = "application/x.labkit+json"
_STATE: dict = {"path": None, "data": {}}


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "to_dict"):  # pandas objects
        return _plain(value.to_dict())
    return value


def start(out_dir: str | os.PathLike, lab: str, **params) -> Path:
    """Begin a lab's results in ``out_dir`` (created), with the parameters; an earlier run's ``results.json``
    there is removed, and the file is written at the first ``record`` (a lab that stops before recording
    anything leaves none)."""
    path = Path(out_dir) / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    _STATE["path"] = path
    _STATE["data"] = {"lab": lab, "params": _plain(params)}
    return path


def record(name: str, value, display: bool = True) -> None:
    """Record one key result (JSON-able: numbers, strings, lists, dicts, arrays, DataFrames)."""
    plain = _plain(value)
    _STATE["data"][name] = plain
    if _STATE["path"] is not None:
        _write()
    if display:
        try:
            from IPython import get_ipython
            from IPython.display import display as ipy_display

            if get_ipython() is not None:
                ipy_display({MIME: {name: plain}, "text/plain": ""}, raw=True)
        except ImportError:
            pass


def _write() -> None:
    path = _STATE["path"]
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_STATE["data"], indent=1))  # insertion order: tables keep their column order


def update(path: str | os.PathLike, **values) -> None:
    """Add keys to an existing ``results.json``, atomically (``labkit run`` adds the exercises' status)."""
    path = Path(path)
    data = json.loads(path.read_text())
    data.update(_plain(values))
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1))


def read(path: str | os.PathLike) -> dict:
    """Key results from a ``results.json`` or from an executed notebook's outputs."""
    path = Path(path)
    if path.suffix == ".json":
        return json.loads(path.read_text())
    import nbformat

    nb = nbformat.read(path, as_version=4)
    out: dict = {}
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            data = o.get("data", {})
            if MIME in data:
                out.update(data[MIME])
    return out
