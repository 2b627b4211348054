"""Parameter checks for the labs' declarations: each returns a function that takes a value and returns the
value to use (a list for a single name, say), or raises one ``LabkitError`` naming the parameter."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from labkit.errors import LabkitError, check_int, check_number

Validator = Callable[[object], object]


def integer(name: str, minimum: int = 1) -> Validator:
    return lambda v: check_int(name, v, minimum)


def number(name: str, allow_zero: bool = False, below: float | None = None) -> Validator:
    def check(v):
        v = check_number(name, v, allow_zero=allow_zero)
        if below is not None and v >= below:
            raise LabkitError(f"{name} must be below {below:g}, got {v!r}")
        return v

    return check


def choice(name: str, options: Sequence) -> Validator:
    def check(v):
        if v not in options:
            raise LabkitError(f"{name} must be one of {', '.join(map(str, options))}, got {v!r}")
        return v

    return check


def boolean(name: str, allow_none: bool = False) -> Validator:
    def check(v):
        if not (isinstance(v, (bool, np.bool_)) or (allow_none and v is None)):
            raise LabkitError(f"{name} must be True or False{' or None' if allow_none else ''}, got {v!r}")
        return v if v is None else bool(v)

    return check


def text(name: str) -> Validator:
    def check(v):
        if not isinstance(v, str) or not v:
            raise LabkitError(f"{name} must be a non-empty string, got {v!r}")
        return v

    return check


def items(name: str, each: Validator | None = None, non_empty: bool = True, allow_none: bool = False) -> Validator:
    """A list (a single item becomes a one-item list), each item checked with ``each``."""
    def check(v):
        if v is None and allow_none:
            return None
        values = [v] if isinstance(v, (str, int, float)) else list(v) if isinstance(v, (list, tuple)) else None
        if values is None:
            raise LabkitError(f"{name} must be a list, got {v!r}")
        if non_empty and not values:
            raise LabkitError(f"{name} must not be empty")
        return [each(x) for x in values] if each else values

    return check


def photo(name: str) -> Validator:
    """A bundled photo's name or a readable image file (kept as given), checked before the lab starts."""
    def check(v):
        from labkit import images

        v = text(name)(v)
        try:
            return images.check_image(v)
        except LabkitError as exc:
            raise LabkitError(f"{name}: {exc}") from None

    return check


def model_name(name: str) -> Validator:
    """A registry model name or ``auto`` (kept as given: ``auto`` is resolved when the model loads)."""
    def check(v):
        from labkit import models

        if not isinstance(v, str):
            raise LabkitError(f"{name} must be a model name, got {v!r}")
        models.spec(v)
        return v

    return check


def class_name(name: str) -> Validator:
    """An ImageNet class name or index (kept as given)."""
    def check(v):
        from labkit import imagenet

        imagenet.index(v)
        return v

    return check


def optional(check: Validator) -> Validator:
    return lambda v: None if v is None else check(v)
