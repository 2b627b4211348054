"""The one exception type labkit raises for bad input, the checks of plain numeric parameters, and the step cap
(``LABKIT_MAX_STEPS``) that every loop taking a step count applies."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

_UNCAPPED: ContextVar[bool] = ContextVar("labkit_uncapped", default=False)


class LabkitError(ValueError):
    """A readable error about bad input: raised early, before any heavy work."""


class Unavailable(BaseException):  # noqa: N818 - read as "labkit's own ... is unavailable here"
    """What labkit's own implementation of an exercise raises in the grader's clean room, where it is left out.
    A ``BaseException``, so that a student's ``except Exception`` does not hide it."""


def check_int(name: str, value, minimum: int = 1) -> int:
    """``value`` if it is an integer >= ``minimum``, else one clear error."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise LabkitError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_number(name: str, value, allow_zero: bool = False) -> float:
    """``value`` as a float if it is a finite positive (or non-negative) number, else one clear error."""
    ok = isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_)) and np.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        raise LabkitError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} number, got {value!r}")
    return float(value)


def max_steps(steps: int) -> int:
    """``steps``, capped by the environment variable ``LABKIT_MAX_STEPS`` when it is set (as tf-keras-vis'
    ``TF_KERAS_VIS_MAX_STEPS``): read at every call, so a test or a notebook may set it at any time."""
    cap = os.environ.get("LABKIT_MAX_STEPS")
    if not cap or _UNCAPPED.get():
        return steps
    try:
        return max(1, min(steps, int(cap)))
    except ValueError:
        raise LabkitError(f"LABKIT_MAX_STEPS must be an integer, got {cap!r}") from None


@contextmanager
def uncapped() -> Iterator[None]:
    """Loops in this block take their whole step count, whatever ``LABKIT_MAX_STEPS`` says: the grader's
    references and the cases it makes (a student's loop knows no cap, so labkit's own must not either)."""
    token = _UNCAPPED.set(True)
    try:
        yield
    finally:
        _UNCAPPED.reset(token)


def check_steps(name: str, value) -> int:
    """A loop's step count: an integer >= 1 (else one clear error), capped by ``max_steps``. Every loop that takes
    a step count calls it, so ``LABKIT_MAX_STEPS`` caps the loop however it is reached."""
    return max_steps(check_int(name, value))
