"""What the exercises' checkers share: the tiny models they run on (the same weights in the grader and in the
student's kernel: seeded), seeded inputs, and comparisons that say what is wrong without the expected values."""

from __future__ import annotations

from functools import cache

import numpy as np

from labkit.exercises._spec import Arrays


@cache
def tiny(kind: str = "tanh10", size: int = 32):
    """A tiny model: ``tanh10`` (10 classes that differ clearly), ``relu`` or ``relu6`` (1000 classes)."""
    from labkit import testing

    return testing.tiny_tanh10(size) if kind == "tanh10" else testing.tiny_model(kind, size=size)


def images(seed: int, n: int = 2, size: int = 32) -> np.ndarray:
    """``n`` seeded RGB images in 0..255, float32: smooth blobs, so that gradients are not noise."""
    rng = np.random.default_rng(seed)
    low = rng.uniform(0, 255, (n, 4, 4, 3))
    up = np.repeat(np.repeat(low, size // 4, axis=1), size // 4, axis=2)
    return np.clip(up + rng.normal(0, 12, up.shape), 0, 255).astype(np.float32)


def as_array(value, name: str) -> np.ndarray:
    """The student's result as a float array, or a clear TypeError."""
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be numbers (an array), got {type(value).__name__}") from None


def same(got: np.ndarray, want: np.ndarray, atol: float, rtol: float = 0.0) -> bool:
    """Equal shapes and values within ``atol + rtol * max|want|``."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return got.shape == want.shape and bool(np.all(np.abs(got - want) <= atol + rtol * np.abs(want).max()))


def shape_problem(got: np.ndarray, expected: tuple, what: str) -> list[str]:
    """A message when ``got`` has not the shape ``expected`` (shapes are public knowledge, not answers)."""
    return [] if tuple(got.shape) == tuple(expected) else [f"{what} should have shape {tuple(expected)}, "
                                                           f"got {tuple(got.shape)}"]


def seed_of(inputs: Arrays) -> int:
    return int(inputs["seed"])
