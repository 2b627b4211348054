"""The one exception type labkit raises for bad input, and the checks of plain numeric parameters."""

import numpy as np


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
    ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and np.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        raise LabkitError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} number, got {value!r}")
    return float(value)
