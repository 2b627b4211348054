"""The grading checks' shared vocabulary: what a check reads (``Context``) and the checks every lab uses.

A check reads the key results the notebook recorded (``results.json`` in its ``out_dir``, else the executed
notebook's outputs) and re-verifies artefacts itself (a fooling image is re-classified, a universal image's
masked copies are re-predicted), whatever the notebook printed. Students see its message, never its code.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

MODEL_LOCK = threading.Lock()  # checks of several submissions share one model per name


@dataclass
class Context:
    """What a check of one submission sees: its lab, how its run ended, its executed notebook and out_dir."""

    lab: object  # labkit.labs.Lab
    status: str
    executed: Path | None
    out_dir: Path

    @property
    def results(self) -> dict:
        from labkit import results

        if not hasattr(self, "_results"):
            data: dict = {}
            for source in (self.executed, self.out_dir / "results.json"):
                if source is not None and Path(source).is_file():
                    try:
                        data.update(results.read(source))
                    except Exception:  # a corrupt file is a missing result, which the checks report
                        pass
            self._results = data
        return self._results


CheckFunction = Callable[[Context], tuple[bool, str]]


def runs(ctx: Context) -> tuple[bool, str]:
    """The notebook ran to its end."""
    return ctx.status == "ok", f"the notebook did not run to the end (status: {ctx.status})"


def records(*keys: str) -> CheckFunction:
    """The notebook recorded these key results (not empty)."""
    def check(ctx: Context) -> tuple[bool, str]:
        missing = [k for k in keys if ctx.results.get(k) in (None, [], {})]
        return not missing, f"key results not recorded: {', '.join(missing)}"

    check.keys = keys  # what it reads: each must be a result the lab declares
    return check


@cache
def model(name: str):
    """A registry model, loaded once per grading process."""
    from labkit import models

    return models.load_model(name)


def saved_file(ctx: Context, name) -> Path | None:
    """The file ``name`` inside the submission's ``out_dir``, or None (missing, or a path that leaves it)."""
    if not isinstance(name, str) or not name:
        return None
    path = (ctx.out_dir / name).resolve()
    if ctx.out_dir.resolve() not in path.parents or not path.is_file():
        return None
    return path


def numbers(obj, skip: tuple[str, ...] = ()) -> list[float]:
    """Every number in a nested dict/list, leaving out dict entries named in ``skip``."""
    if isinstance(obj, dict):
        return [v for k, x in obj.items() if k not in skip for v in numbers(x, skip)]
    if isinstance(obj, list):
        return [v for x in obj for v in numbers(x, skip)]
    return [float(obj)] if isinstance(obj, (int, float)) and not isinstance(obj, bool) else []


def probabilities(key: str, skip: tuple[str, ...] = ()) -> CheckFunction:
    """Every number recorded under ``key`` is a probability."""
    def check(ctx: Context) -> tuple[bool, str]:
        values = numbers(ctx.results.get(key), skip)
        return bool(values) and all(0.0 <= v <= 1.0 for v in values), f"{key}: expected probabilities in [0, 1]"

    check.keys = (key,)
    return check
