"""What the metrics share: maps as an ``(n, h, w)`` array."""

from __future__ import annotations

import numpy as np

from labkit.errors import LabkitError


def as_maps(maps) -> np.ndarray:
    m = np.asarray(maps, dtype=np.float64)
    if m.ndim == 2:
        m = m[None]
    if m.ndim == 4:
        m = np.abs(m).max(axis=-1)
    if m.ndim != 3:
        raise LabkitError(f"maps must have shape (n, h, w) or (n, h, w, c), got {np.shape(maps)}")
    return m
