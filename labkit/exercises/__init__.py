"""Exercises: what a student writes in a lab notebook, the self-check, and what the grader runs.

In a notebook (each lab's setup cell imports ``check`` and ``exercise``):

- ``check("2.2")`` runs exercise 2.2's public checks on the functions the notebook defines, in a few seconds on
  a tiny model, and says what is wrong, never the expected answer; it always ends by saying that the grader
  runs more tests (it is no verdict: nothing it prints counts);
- ``with exercise("2.2"):`` around a step that uses the student's code: while the exercise is not done (its
  stub raises ``NotImplementedError``, or its function is missing), the step says so and is skipped, and
  so are the later steps that need its results; the notebook still runs to its end.

The grader's side: ``probe`` (inside the sandboxed kernel, after the notebook ran) calls the student's functions
on hidden inputs and saves their raw outputs; ``labkit.grading.exercises`` compares them with labkit's reference
in the grader's own process. Each lab declares its exercises in its module in ``labkit.labs``.

Where each idea lives: ``_spec`` (``Exercise``, ``Checker``), ``_common`` (what the checkers share), and one
module per lab with its checkers (``attention_maps``, ``network_visualisation``, ``noise_fooling``,
``universal_masked_image``).
"""

from __future__ import annotations

import inspect
import json
import shutil
import signal
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from labkit.errors import LabkitError
from labkit.exercises._spec import Checker, Exercise

__all__ = ["Checker", "Exercise", "check", "exercise", "get", "probe"]

CHECK_SECONDS = 120  # a self-check that takes longer stops with a message (an endless loop)
_NOT_DONE: set[str] = set()  # exercises found not done in this kernel


def get(name: str) -> Exercise:
    """The exercise called ``name`` ("2.2"), from its lab's declaration."""
    from labkit import labs

    number = str(name).split(".", 1)[0]
    if not number.isdigit():
        raise LabkitError(f"no exercise {name!r}: exercises are named like 2.2 (lab, then exercise)")
    lab = labs.get(int(number))
    for ex in lab.exercises:
        if ex.name == str(name):
            return ex
    raise LabkitError(f"no exercise {name!r} in lab {lab.number}; its exercises: "
                      f"{', '.join(e.name for e in lab.exercises)}")


def _functions(ex: Exercise, namespace: Mapping[str, object]) -> tuple[dict[str, Callable], list[str]]:
    found = {n: namespace[n] for n in ex.defines if callable(namespace.get(n))}
    return found, [n for n in ex.defines if n not in found]


def _caller_namespace() -> dict:
    frame = inspect.currentframe().f_back.f_back
    return frame.f_globals


def check(name: str, namespace: Mapping[str, object] | None = None) -> bool:
    """Run exercise ``name``'s public checks on the functions defined in the notebook (``namespace``: the
    caller's globals); print what is wrong. True when every public check passed (no verdict on the grade)."""
    ex = get(name)
    if ex.written:
        print(f"exercise {ex.name} is a written answer: the teacher reads it, there is nothing to check here")
        return False
    functions, missing = _functions(ex, _caller_namespace() if namespace is None else namespace)
    if missing:
        print(f"exercise {ex.name}: no function {', '.join(missing)} (define it, and run its cell)")
        return False
    try:
        with _time_limit(CHECK_SECONDS):
            problems = ex.checker.public(functions)
    except NotImplementedError:
        problems = ["not done yet: write it where it raises NotImplementedError, run its cell, check again"]
    except TimeoutError:
        problems = [f"the check stopped after {CHECK_SECONDS} s: does {', '.join(ex.defines)} loop forever?"]
    except Exception as exc:  # the student's code raised: say where, in their code, not in labkit's
        problems = [f"{', '.join(ex.defines)} raised {type(exc).__name__}: {exc}"]
    for problem in problems:
        print(f"exercise {ex.name}: {problem}")
    if not problems:
        print(f"exercise {ex.name}: the public checks pass (the grader runs more tests, on inputs you have not seen)")
    return not problems


@contextmanager
def _time_limit(seconds: int):
    """Raise TimeoutError in this (main) thread after ``seconds``; no limit where signals cannot be used."""
    def stop(signum, frame):
        raise TimeoutError

    try:
        previous = signal.signal(signal.SIGALRM, stop)
    except (ValueError, AttributeError):  # not the main thread, or no SIGALRM
        yield
        return
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


class exercise:  # noqa: N801 - a context manager read as a phrase: ``with exercise("2.2"):``
    """``with exercise("2.2"):`` a step that needs exercise 2.2: skipped, with a message, while it is not done."""

    def __init__(self, name: str):
        self.ex = get(name)

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb) -> bool:
        if kind is None:
            return False
        missing = isinstance(value, NameError) and getattr(value, "name", None) in self.ex.defines
        if not (isinstance(value, NotImplementedError) or missing or self.ex.name in _NOT_DONE):
            return False  # the exercise is done: a real error, shown as it is
        why = f": no function {value.name}" if missing else " is not done yet"
        after = " (this step needs it)" if self.ex.name in _NOT_DONE else ""
        _NOT_DONE.add(self.ex.name)
        print(f"exercise {self.ex.name}{why}: this step is skipped{after}")
        return True


def probe(name: str, namespace: Mapping[str, object], folder: str) -> None:
    """The grader's probe, run in the student's kernel after the notebook: exercise ``name``'s functions on the
    inputs in ``folder/inputs.npz``; their raw outputs to ``folder/outputs.npz`` and how it went to
    ``folder/status.json``: ``ok``, ``missing`` (no such function), ``not done`` (NotImplementedError), ``raised``
    (the student's code raised: its type only, never its message, which may show the hidden inputs), ``bad
    result`` (what it returned is not what the checker can read), ``no inputs``. Compares nothing: the grader
    does, outside.

    Against forgery: it first deletes ``outputs.npz`` and ``status.json`` (what the notebook wrote there counts
    for nothing), and the grader reads ``outputs.npz`` only where ``status.json`` says ok, never trusts a message
    from here, makes the inputs again and compares with labkit's reference in its own process. NOT prevented: the
    kernel is the student's, so a notebook can monkeypatch labkit itself (this function, a checker's ``run``) or
    leave a process that rewrites both files afterwards, and the student's function may call labkit's own
    implementation; all of these still need outputs that match the reference on the grader's hidden inputs.
    """
    ex, out = get(name), Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for stale in (out / "outputs.npz", out / "status.json"):
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale)
        else:
            stale.unlink(missing_ok=True)
    functions, missing = _functions(ex, namespace)
    status: dict = {"status": "ok"}
    try:
        with np.load(out / "inputs.npz", allow_pickle=False) as data:
            inputs = {k: data[k] for k in data.files}
    except Exception:  # noqa: BLE001 - removed or replaced by the notebook
        status, inputs = {"status": "no inputs"}, None
    if inputs is not None and missing:
        status = {"status": "missing", "missing": missing}
    elif inputs is not None:
        try:
            outputs = {k: np.asarray(v) for k, v in ex.checker.run(functions, inputs).items()}
            if any(v.dtype.kind == "O" for v in outputs.values()):
                raise TypeError("not an array of numbers")
            np.savez(out / "outputs.npz", **outputs)
        except NotImplementedError:
            status = {"status": "not done"}
        except Exception as exc:  # noqa: BLE001 - the student's function raised on the grader's inputs
            status = {"status": "bad result" if _raised_here(exc) else "raised", "error": type(exc).__name__}
    (out / "status.json").write_text(json.dumps(status))


def _raised_here(exc: BaseException) -> bool:
    """Whether ``exc`` was raised in labkit.exercises (a checker reading a result), not in the student's code."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and Path(tb.tb_frame.f_code.co_filename).resolve().parent == Path(__file__).resolve().parent
