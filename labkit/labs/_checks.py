"""The grading checks' shared vocabulary: what a check sees of one submission (``Context``) and the checks every
lab uses.

Points come from what the grader observes and recomputes in its own process: how the notebook's run ended,
whether its exercises are the student's own and done (``labkit.grading.cleanroom``), and what a student's
function returned when the grader ran it on a case of its own (``Check.case``). What the notebook merely
recorded (``results.json``, its outputs) is read as hostile data (``labkit.untrusted``) and earns
nothing: such checks are shown, worth 0. Students see a check's message, never its code.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

MODEL_LOCK = threading.Lock()  # checks of several submissions share one model per name
RESULTS_LIMIT = 8 << 20  # bytes of a results.json the grader reads


@dataclass
class Context:
    """What a check of one submission sees: its lab, how its run ended, the folder the sandbox wrote in (``root``,
    the grader's own), the executed notebook (as read, outputs capped), the lab's ``out_dir`` under ``root``, the
    coding exercises' results and each check's own case and its result (``probed``: check name -> ``(case,
    result)``, the result ``("ok", outputs)``, ``(status, error)`` or None)."""

    lab: object  # labkit.labs.Lab
    status: str
    root: Path
    notebook: object | None = None
    out_dir: str = "labkit-out"
    exercises: Sequence = ()  # labkit.grading.checks.CheckResult of each coding exercise
    probed: dict = field(default_factory=dict)

    @property
    def results(self) -> dict:
        """The key results the notebook recorded (its outputs, then ``results.json``): untrusted, worth nothing."""
        if not hasattr(self, "_results"):
            from labkit.results import MIME
            from labkit.untrusted import read_json

            data: dict = {}
            for cell in (self.notebook or {}).get("cells", []):
                for out in cell.get("outputs", []):
                    value = out.get("data", {}).get(MIME) if isinstance(out, dict) else None
                    if isinstance(value, dict):
                        data.update(value)
            recorded = read_json(self.root, Path(self.out_dir) / "results.json", RESULTS_LIMIT)
            data.update(recorded if isinstance(recorded, dict) else {})
            self._results = data
        return self._results

    def array(self, name):
        """The ``.npy`` array ``name`` the notebook saved in its ``out_dir`` (None: missing, a link, not a plain
        array, or a path that leaves the folder)."""
        from labkit.untrusted import read_npy

        return read_npy(self.root, Path(self.out_dir) / name) if isinstance(name, str) and name else None


CheckFunction = Callable[[Context], tuple[bool, str]]


def runs(ctx: Context) -> tuple[bool, str]:
    """The notebook ran to its end with the student's work in it: every coding exercise written."""
    undone = [e.name for e in ctx.exercises if not getattr(e, "done", True)]
    if ctx.status != "ok":
        return False, f"the notebook did not run to the end (status: {ctx.status})"
    return not undone, (f"the notebook ran to its end, but exercise(s) {', '.join(undone)} are not done: a run "
                        "earns its points with your work in it")


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
