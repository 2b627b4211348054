"""What a lab notebook calls for its exercises: ``check("2.2")`` and ``with exercise("2.2"):``.

- ``check("2.2")`` runs exercise 2.2's public checks on the functions the notebook defines, in a few seconds on
  a tiny model, and says what is wrong, never the expected answer; it always ends by saying that the grader
  runs more tests (it is no verdict: nothing it prints counts);
- ``with exercise("2.2"):`` around a step that uses the student's code: while the exercise is not done (a
  function it defines is missing, or still holds its stub), a failing step says so and is skipped, and the
  notebook runs on to its end. Whether it is done is looked up at every step, never remembered: once the
  exercise is written, any error in the step shows with its traceback;
- ``status(exercise, namespace)``: the same public checks as data (passes, fails, not done), for ``labkit check``
  and ``labkit run`` (``labkit.handin``).

``check`` prints and returns nothing, so no ``True``/``False`` is echoed under a student's cell.
The exercises themselves are declared with their labs (``labkit.labs``), their checkers in ``labkit.exercises``.
"""

from __future__ import annotations

import inspect
import signal
import types
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from labkit import labs
from labkit.exercises import Exercise

__all__ = ["ANSWERED", "CHECK_SECONDS", "FAILS", "NOT_ANSWERED", "NOT_DONE", "PASSES", "Status", "check", "exercise",
           "not_done", "status", "time_limit"]

CHECK_SECONDS = 120  # a self-check that takes longer stops with a message (an endless loop)
PASSES, FAILS, NOT_DONE, ANSWERED, NOT_ANSWERED = "passes", "fails", "not done", "answered", "not answered"


def _functions(ex: Exercise, namespace: Mapping[str, object]) -> tuple[dict[str, Callable], list[str]]:
    found = {n: namespace[n] for n in ex.defines if callable(namespace.get(n))}
    return found, [n for n in ex.defines if n not in found]


def _caller_namespace(depth: int = 2) -> dict:
    frame = inspect.currentframe()
    for _ in range(depth):
        frame = frame.f_back
    return frame.f_globals


def _codes(obj) -> list[types.CodeType]:
    """The code objects of a function, or of every function of a class, nested ones included."""
    found = []
    if inspect.isclass(obj):
        for value in vars(obj).values():
            found += _codes(getattr(value, "__func__", value))
    elif isinstance(obj, types.FunctionType):
        stack = [obj.__code__]
        while stack:
            code = stack.pop()
            found.append(code)
            stack += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    return found


def not_done(ex: Exercise, namespace: Mapping[str, object]) -> str:
    """Why exercise ``ex`` is not done in ``namespace`` ("" when done): a function it defines is missing, or still
    holds the released stub (``raise NotImplementedError("exercise 2.2 is not done yet")``)."""
    functions, missing = _functions(ex, namespace)
    if missing:
        return f"no function {', '.join(missing)}"
    stub = f"exercise {ex.name} is not done yet"
    if any(stub in code.co_consts for fn in functions.values() for code in _codes(fn)):
        return "not done yet"
    return ""


@dataclass
class Status:
    """Where one exercise stands. ``state``: ``passes`` (written, and its public checks pass), ``fails`` (they
    do not, or its code raised), ``not done`` (a function missing or still the stub) for a coding exercise;
    ``answered`` or ``not answered`` for a written one. ``problems``: what is wrong, in the student's words."""

    exercise: Exercise
    state: str
    problems: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        """Whether nothing is left to do: its public checks pass, or it is answered."""
        return self.state in (PASSES, ANSWERED)

    def as_dict(self) -> dict:
        ex = self.exercise
        return {"name": ex.name, "title": ex.title, "kind": "written" if ex.written else "coding",
                "status": self.state, "problems": list(self.problems)}


def status(ex: Exercise, namespace: Mapping[str, object]) -> Status:
    """Coding exercise ``ex``'s status, from the functions defined in ``namespace``: its public checks run (in a
    few seconds, on a tiny model; at most ``CHECK_SECONDS``)."""
    functions, missing = _functions(ex, namespace)
    if missing:
        return Status(ex, NOT_DONE, [f"no function {', '.join(missing)} (define it, and run its cell)"])
    if not_done(ex, namespace):
        return Status(ex, NOT_DONE, [_NOT_DONE])
    try:
        with time_limit(CHECK_SECONDS):
            problems = ex.checker.public(functions)
    except NotImplementedError:
        return Status(ex, NOT_DONE, [_NOT_DONE])
    except TimeoutError:
        problems = [f"the check stopped after {CHECK_SECONDS} s: does {', '.join(ex.defines)} loop forever?"]
    except Exception as exc:  # the student's code raised: say where, in their code, not in labkit's
        problems = [f"{', '.join(ex.defines)} raised {type(exc).__name__}: {exc}"]
    return Status(ex, FAILS if problems else PASSES, problems)


_NOT_DONE = "not done yet: write it where it raises NotImplementedError, run its cell, check again"


def check(name: str, namespace: Mapping[str, object] | None = None) -> None:
    """Run exercise ``name``'s public checks on the functions defined in the notebook (``namespace``: the
    caller's globals) and print what is wrong; no verdict on the grade (the grader runs more tests)."""
    ex = labs.exercise(name)
    if ex.written:
        print(f"exercise {ex.name} is a written answer: the teacher reads it, there is nothing to check here")
        return
    result = status(ex, _caller_namespace() if namespace is None else namespace)
    for problem in result.problems:
        print(f"exercise {ex.name}: {problem}")
    if result.state == PASSES:
        print(f"exercise {ex.name}: the public checks pass (the grader runs more tests, on inputs you have not seen)")


@contextmanager
def time_limit(seconds: int):
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
    """``with exercise("2.2"):`` a step that needs exercise 2.2: skipped, with a message, where it fails while the
    exercise is not done (looked up now, in the caller's namespace); a real error once it is done."""

    def __init__(self, name: str, namespace: Mapping[str, object] | None = None):
        self.ex = labs.exercise(name)
        self.namespace = _caller_namespace() if namespace is None else namespace

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb) -> bool:
        if kind is None or not issubclass(kind, Exception):
            return False
        why = not_done(self.ex, self.namespace)
        if not why:
            return False  # the exercise is done: a real error, shown as it is
        print(f"exercise {self.ex.name}: {why}: this step is skipped")
        return True
