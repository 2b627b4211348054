"""Hidden checks per lab, for ``labkit grade``: points and a message each.

Checks read the key results a lab records (``labkit.results``: ``results.json`` in the
notebook's ``out_dir``, else the executed notebook's outputs) and re-verify artefacts
themselves: a fooling image is re-classified, a universal image's masked copies are
re-checked, whatever the notebook printed. Students see messages, never this code.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from labkit.errors import LabkitError

# The result keys each lab records (align here if a lab renames one).
KEYS = {
    1: {"methods": "faithfulness"},
    2: {"model": "model_name", "fooling": "fooling"},
    3: {"confidence": "confidence", "auroc": "auroc"},
    4: {"universal": "universal"},
}
REQUIRED_METHODS = ["saliency", "smoothgrad", "guided_backprop", "rectified_backprop", "gradcam",
                    "gradcam_guided", "gradcam_rectified", "gradcam++"]


@dataclass
class CheckResult:
    name: str
    points: float
    max_points: float
    passed: bool
    message: str


@dataclass
class Context:
    lab: int
    status: str
    executed: Path | None
    out_dir: Path

    @property
    def results(self) -> dict:
        from labkit import results

        if not hasattr(self, "_results"):
            data: dict = {}
            if self.executed is not None:
                try:
                    data.update(results.read(self.executed))
                except Exception:
                    pass
            path = self.out_dir / "results.json"
            if path.is_file():
                try:
                    data.update(results.read(path))
                except Exception:
                    pass
            self._results = data
        return self._results


Check = Callable[[Context], tuple[bool, str]]


def check_lab(lab: int) -> int:
    if lab not in KEYS:
        raise LabkitError(f"unknown lab {lab}; one of {', '.join(map(str, KEYS))}")
    return lab


# -- shared ------------------------------------------------------------------------------------

def _runs(ctx: Context) -> tuple[bool, str]:
    return ctx.status == "ok", f"the notebook did not run to the end (status: {ctx.status})"


def _has(*keys: str) -> Check:
    def check(ctx: Context) -> tuple[bool, str]:
        missing = [k for k in keys if ctx.results.get(k) in (None, [], {})]
        return not missing, f"key results not recorded: {', '.join(missing)}"

    return check


_MODEL_LOCK = threading.Lock()


@cache
def _model(name: str):
    from labkit import models

    return models.load_model(name)


def _file(ctx: Context, name) -> Path | None:
    if not isinstance(name, str) or not name:
        return None
    path = (ctx.out_dir / name).resolve()
    if ctx.out_dir.resolve() not in path.parents or not path.is_file():
        return None
    return path


# -- lab 1 -------------------------------------------------------------------------------------

def _methods(ctx: Context) -> tuple[bool, str]:
    table = ctx.results.get(KEYS[1]["methods"]) or {}
    found: set[str] = set()
    for key, value in table.items() if isinstance(table, dict) else []:
        found.add(str(key))
        if isinstance(value, dict):
            found.update(map(str, value))
    missing = [m for m in REQUIRED_METHODS if m not in found]
    return not missing, f"methods not computed: {', '.join(missing)}"


# -- lab 2 -------------------------------------------------------------------------------------

def _fooling_really_fools(ctx: Context) -> tuple[bool, str]:
    from labkit import models

    rows = [r for r in ctx.results.get(KEYS[2]["fooling"]) or [] if isinstance(r, dict) and r.get("success")]
    if not rows:
        return False, "no successful fooling image was recorded"
    name = ctx.results.get(KEYS[2]["model"])
    try:
        model = _model(str(name))
    except LabkitError as exc:
        return False, f"cannot load the model the notebook names ({name!r}): {exc}"
    size = models.input_size(model)
    for r in rows:
        path = _file(ctx, r.get("file"))
        if path is None:
            return False, f"fooling image file {r.get('file')!r} is missing"
        try:
            x = np.load(path, allow_pickle=False).astype(np.float32)
        except (ValueError, OSError):
            return False, f"{r.get('file')} is not a NumPy image"
        if x.shape != (size, size, 3) or x.min() < 0 or x.max() > 255:
            return False, f"{r.get('file')}: expected pixels in 0..255 of shape {(size, size, 3)}, got {x.shape}"
        with _MODEL_LOCK:
            predicted = int(models.predict(model, x[None]).argmax())
        if predicted != r.get("target"):
            return False, (f"{r.get('file')} is classified as {predicted}, not as its target {r.get('target')}: "
                           "it does not fool the model")
    return True, ""


# -- lab 3 -------------------------------------------------------------------------------------

def _numbers(obj, skip: tuple[str, ...] = ()) -> list[float]:
    """Every number in a nested dict/list, leaving out dict entries named in ``skip``."""
    if isinstance(obj, dict):
        return [v for k, x in obj.items() if k not in skip for v in _numbers(x, skip)]
    if isinstance(obj, list):
        return [v for x in obj for v in _numbers(x, skip)]
    return [float(obj)] if isinstance(obj, (int, float)) and not isinstance(obj, bool) else []


def _in_unit_interval(key: str, skip: tuple[str, ...] = ()) -> Check:
    def check(ctx: Context) -> tuple[bool, str]:
        values = _numbers(ctx.results.get(key), skip)
        ok = bool(values) and all(0.0 <= v <= 1.0 for v in values)
        return ok, f"{key}: expected probabilities in [0, 1]"

    return check


# -- lab 4 -------------------------------------------------------------------------------------

def _universal_really_hits(ctx: Context) -> tuple[bool, str]:
    from labkit import attacks

    rows = [r for r in ctx.results.get(KEYS[4]["universal"]) or [] if isinstance(r, dict) and r.get("success") == 1]
    if not rows:
        return False, "no universal image reached 100% success"
    for r in rows:
        path = _file(ctx, r.get("file"))
        if path is None:
            return False, f"universal image file {r.get('file')!r} is missing"
        try:
            model = _model(str(r.get("model")))
            with _MODEL_LOCK:
                table = attacks.check_universal(model, path, r.get("targets"), r.get("mask_kind"),
                                                r.get("hidden", "zero"), noise_seed=r.get("noise_seed", 0))
        except (LabkitError, ValueError, OSError) as exc:
            return False, f"{r.get('file')}: cannot re-check it: {exc}"
        if not table.hit.all():
            return False, (f"{r.get('file')}: {int((~table.hit).sum())} of {len(table)} masked copies miss their "
                           "target when the grader re-classifies them")
    return True, ""


# (name, points, check) per lab
CHECKS: dict[int, list[tuple[str, float, Check]]] = {
    1: [("runs", 2, _runs), ("results", 1, _has(KEYS[1]["methods"])), ("methods", 3, _methods)],
    2: [("runs", 2, _runs), ("results", 1, _has(*KEYS[2].values())), ("fooling", 4, _fooling_really_fools)],
    3: [("runs", 2, _runs), ("results", 1, _has(*KEYS[3].values())),
        ("confidence", 2, _in_unit_interval(KEYS[3]["confidence"], skip=("count",))),
        ("auroc", 1, _in_unit_interval(KEYS[3]["auroc"]))],
    4: [("runs", 2, _runs), ("results", 1, _has(KEYS[4]["universal"])), ("universal", 4, _universal_really_hits)],
}


def run_checks(ctx: Context) -> list[CheckResult]:
    """Every check of ``ctx.lab``; a check that crashes fails with a message, never stops the batch."""
    out = []
    for name, points, check in CHECKS[check_lab(ctx.lab)]:
        try:
            passed, message = check(ctx)
        except Exception as exc:
            passed, message = False, f"could not be checked: {type(exc).__name__}"
        out.append(CheckResult(name, points if passed else 0, points, passed, "" if passed else message))
    return out


def failed_checks(lab: int, message: str) -> list[CheckResult]:
    """Zero points on every check of ``lab`` (for a submission that could not be run)."""
    return [CheckResult(name, 0, points, False, message) for name, points, _ in CHECKS[check_lab(lab)]]
