"""Where a map puts its mass: in the target tile of a mosaic (the truth is known), or in a few pixels."""

from __future__ import annotations

import numpy as np

from labkit.errors import LabkitError
from labkit.metrics._utils import as_maps


def tile_mass(maps, tile: int, grid: int = 2) -> np.ndarray:
    """Share of each map's (non-negative) mass inside tile ``tile`` (row-major) of a ``grid`` x ``grid``
    mosaic; 1/grid**2 is chance, NaN for an all-zero map."""
    m = as_maps(maps)
    m = m - np.minimum(m.min(axis=(1, 2), keepdims=True), 0)  # signed maps: shift to >= 0
    if not 0 <= tile < grid * grid:
        raise LabkitError(f"tile must be in 0..{grid * grid - 1}, got {tile}")
    h, w = m.shape[1] // grid, m.shape[2] // grid
    r, c = divmod(tile, grid)
    inside = m[:, r * h:(r + 1) * h, c * w:(c + 1) * w].sum(axis=(1, 2))
    total = m.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / np.where(total > 0, total, 1), np.nan)


def concentration(attributions, top: float = 0.1) -> np.ndarray:
    """Per image, the share of the total |attribution| (colour channels summed) held by the ``top``
    fraction of its pixels: 1.0 = all in a few pixels, ``top`` = spread evenly."""
    if not 0 < top <= 1:
        raise LabkitError(f"top must be in (0, 1], got {top}")
    a = np.abs(np.asarray(attributions, np.float64))
    if a.ndim == 3:
        a = a[None]
    a = a.sum(axis=-1).reshape(len(a), -1)
    k = max(1, int(round(top * a.shape[1])))
    total = a.sum(axis=1)
    share = -np.sort(-a, axis=1)[:, :k].sum(axis=1) / np.where(total > 0, total, 1)
    return np.where(total > 0, share, 0.0)
