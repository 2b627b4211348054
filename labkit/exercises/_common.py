"""What the exercises' checkers share: the tiny models they run on (built by ``labkit.exercises.harness``, so the
grader and the clean room use the same seeded weights), seeded inputs, and comparisons whose tolerance scales
with the values compared."""

from __future__ import annotations

import numpy as np

from labkit.exercises.harness import Model, build

TANH10 = Model("tanh10")  # 10 classes that differ clearly: targets are reachable
RELU, RELU6 = Model("relu"), Model("relu6")  # 1000 classes, as ImageNet models


def tiny(model: Model = TANH10):
    return build(model)


def images(seed: int, n: int = 2, size: int = 32) -> np.ndarray:
    """``n`` seeded RGB images in 0..255, float32: smooth blobs, so that gradients are not noise."""
    rng = np.random.default_rng(seed)
    low = rng.uniform(0, 255, (n, 4, 4, 3))
    up = np.repeat(np.repeat(low, size // 4, axis=1), size // 4, axis=2)
    return np.clip(up + rng.normal(0, 12, up.shape), 0, 255).astype(np.float32)


def close(got, want, rtol: float, atol: float = 0.0) -> bool:
    """Equal shapes, finite, and ``|got - want| <= atol + rtol * max|want|`` everywhere: a tolerance scaled to the
    values compared (float32 rounding of a result grows with its magnitude). The checkers' ``rtol`` (1e-6 to 2e-3)
    sits between the spread of correct solutions in other styles (float64 for float32, a batch for a loop: at most
    4e-7 of max|want|, measured) and the smallest planted bug (3e-2)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape or not np.isfinite(got).all():
        return False
    scale = float(np.abs(want).max()) if want.size else 0.0
    return bool(np.all(np.abs(got - want) <= atol + rtol * scale))


def shape_problem(got: np.ndarray, expected: tuple, what: str, public: bool = True) -> str:
    """What is wrong with ``got``'s shape ("" when right); the shapes themselves only in public checks."""
    if tuple(np.shape(got)) == tuple(expected):
        return ""
    if public:
        return f"{what} should have shape {tuple(expected)}, got {tuple(np.shape(got))}"
    return f"{what} has the wrong shape"
