"""What otter's and nbgrader's tests call in the grading kernel (``labkit.autograde``'s docstring says how):
``public`` (the self-check), ``hidden`` (the clean room's points on the hidden cases), ``cases``."""

from __future__ import annotations

import contextlib
import io
import sys
import warnings
from collections.abc import Mapping, Sequence

from labkit import labs
from labkit.exercises import Exercise

__all__ = ["MEMORY_MB", "STUDENT", "TIMEOUT", "cases", "hidden", "public"]

STUDENT = ""  # the id the hidden cases are drawn for: one for every submission (the tools do not pass one in)
TIMEOUT = 60  # seconds for an exercise's hidden cases, besides the clean room's start (as ``labkit grade``)
MEMORY_MB = 8192

_ROOMS: dict[tuple[str, int, str], tuple[float, float, str, str]] = {}  # (exercise, seed, code) -> _graded's result


def _coding(name: str) -> Exercise:
    ex = labs.exercise(name)
    if ex.written:
        raise ValueError(f"exercise {ex.name} is a written answer: the teacher grades it, no test does")
    return ex


def cases(name: str, seed: int) -> int:
    """How many hidden cases exercise ``name`` has under ``seed`` (what ``--format otter`` writes one test per)."""
    from labkit.grading.cleanroom import exercise_seed

    ex = _coding(name)
    return len(ex.checker.cases(exercise_seed(seed, STUDENT, ex.name)))


@contextlib.contextmanager
def _quiet():
    """Warnings are ignored and stderr goes to stdout: nbgrader scores a test cell that writes to stderr 0."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(sys.stdout):
        warnings.simplefilter("ignore")
        yield


def _kernel_cells() -> list[str]:
    """The source of every cell this kernel ran, in order (IPython's input history)."""
    try:
        from IPython import get_ipython
    except ImportError:
        shell = None
    else:
        shell = get_ipython()
    if shell is None:
        raise RuntimeError("labkit.autograde.hidden runs in the notebook's kernel (IPython), as otter and nbgrader "
                           "run tests")
    return [str(s) for s in shell.history_manager.input_hist_raw if str(s).strip()]


def _notebook(cells: Sequence[str]) -> dict:
    return {"cells": [{"cell_type": "code", "source": s} for s in cells]}


def public(name: str, namespace: Mapping[str, object]) -> None:
    """Exercise ``name``'s public checks on the functions in ``namespace`` (the kernel's globals); an
    ``AssertionError`` with what is wrong unless they all pass."""
    from labkit.student import PASSES, status

    ex = _coding(name)
    with _quiet(), contextlib.redirect_stdout(io.StringIO()):
        result = status(ex, namespace)
    if result.state != PASSES:
        raise AssertionError(f"exercise {ex.name}: " + "; ".join(result.problems or [result.state]))


def _graded(ex: Exercise, seed: int, cells: Sequence[str]) -> tuple[float, float, str, str]:
    """(points, max points, message, room) of ``ex`` on its hidden cases, once per code and seed in this kernel;
    ``room``: empty in labkit's sandbox, else what says the clean room ran without one, and why."""
    from labkit.exercises.source import program
    from labkit.grading.cleanroom import grade_exercise
    from labkit.grading.isolate import sandbox_support

    nb = _notebook(cells)
    key = (ex.name, int(seed), program(nb, ex).source)
    if key not in _ROOMS:
        support = sandbox_support()
        with _quiet():
            result, _ = grade_exercise(ex, nb, seed=int(seed), student=STUDENT, timeout=TIMEOUT, memory_mb=MEMORY_MB,
                                       sandbox=support.available)
        room = "" if support.available else (" [the clean room ran WITHOUT labkit's sandbox, with resource limits "
                                             f"only: {support.message}]")
        _ROOMS[key] = (result.points, result.max_points, result.message, room)
    return _ROOMS[key]


def hidden(name: str, seed: int, at_least: int | None = None, of: int | None = None,
           cells: Sequence[str] | None = None) -> float | None:
    """Exercise ``name`` on its hidden cases drawn from ``seed``, in a clean room, on the code this kernel ran
    (``cells``: those sources instead). Returns the points earned and prints the room's message; with
    ``at_least=k`` (of ``of`` cases, the number the test was written for), returns None if at least k cases pass,
    else raises ``AssertionError`` with what failed (the kind of case, never its values). The clean room is
    sandboxed where a sandbox can start (``labkit.grading.isolate.sandbox_support``); where none can, it runs with
    resource limits only, and the message printed or raised says so and why."""
    ex = _coding(name)
    n = cases(ex.name, seed)
    if at_least is not None and of is not None and of != n:
        raise AssertionError(f"exercise {ex.name}: these tests were written for {of} hidden cases, this labkit draws "
                             f"{n}: write them again (labkit assign --format ...)")
    points, most, message, room = _graded(ex, seed, _kernel_cells() if cells is None else cells)
    if at_least is None:
        print((message or f"exercise {ex.name}: every hidden test passes") + room)
        return points
    passed = round(points / most * n) if most else 0
    if passed < at_least:
        raise AssertionError((message or f"exercise {ex.name}: {passed} of {n} hidden tests pass") + room)
    return None
