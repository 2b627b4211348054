"""Small statistics for verdicts that must not flip on a rounding error: bootstrap intervals,
three-way comparisons with a threshold, the first step over one."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from labkit.errors import LabkitError


def bootstrap_interval(values: Sequence[float], statistic: Callable = np.median, level: float = 0.9,
                       n_boot: int = 2000, seed: int = 0) -> tuple[float, float]:
    """The percentile bootstrap interval of ``statistic`` over ``values`` (seeded); NaN, NaN when empty."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if not 0 < level < 1:
        raise LabkitError(f"level must be in (0, 1), got {level}")
    if not len(v):
        return float("nan"), float("nan")
    draws = np.random.default_rng(seed).choice(v, size=(n_boot, len(v)), replace=True)
    stats = np.apply_along_axis(statistic, 1, draws)
    lo, hi = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def below(interval: tuple[float, float], threshold: float) -> str:
    """``"yes"`` when the whole interval lies below ``threshold``, ``"no"`` when none of it does, else
    ``"undecided"`` (the sample cannot tell)."""
    lo, hi = interval
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "undecided"
    return "yes" if hi < threshold else "no" if lo >= threshold else "undecided"


def first_at_least(values: Sequence[float], threshold: float) -> int | None:
    """The first step (1-based) whose value is at least ``threshold``; None when none is."""
    hits = np.flatnonzero(np.asarray(values) >= threshold)
    return int(hits[0]) + 1 if len(hits) else None
