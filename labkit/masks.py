"""Masks for the universal masked image (lab 4, seed 001): the image is cut into K parts,
and mask i hides part i.

Two shapes, for any K: ``stripes`` (K horizontal bands of near-equal height) and ``squares``
(a grid of near-square cells: ``round(sqrt(K))`` rows of near-equal height, the K cells spread
over the rows as evenly as possible, so K = 4, 9, 16, ... give an exact square grid). What
"hidden" means is a parameter: ``zero`` (black), ``mean`` (the image's own mean colour, per
channel) or ``noise`` (a fixed, seeded uniform-noise image).

A mask array has shape ``(K, H, W)`` with 1 where the part is hidden; the K masks partition the
image (every pixel is hidden in exactly one copy). Images are raw RGB in 0..255, like every
labkit model input. ``apply_masks`` uses ``keras.ops``, so the same code runs on NumPy arrays
and inside a compiled TensorFlow graph.
"""

from __future__ import annotations

import math

import numpy as np

from labkit.errors import LabkitError, check_int

MASK_KINDS = ("squares", "stripes")
HIDDEN_MODES = ("zero", "mean", "noise")
MAX_PARTS = 1000  # one distinct ImageNet class per part


def _size(size) -> int:
    return check_int("the image size", size)


def check_mask_kind(kind: str) -> str:
    """``kind`` if it is a known mask shape, else one clear error."""
    if kind not in MASK_KINDS:
        raise LabkitError(f"unknown mask kind {kind!r}; one of {', '.join(MASK_KINDS)}")
    return kind


def check_hidden(hidden: str) -> str:
    """``hidden`` if it is a known way to hide a part, else one clear error."""
    if hidden not in HIDDEN_MODES:
        raise LabkitError(f"unknown hidden mode {hidden!r}; one of {', '.join(HIDDEN_MODES)}")
    return hidden


def grid_layout(k: int) -> list[int]:
    """Cells per row of the ``squares`` grid for ``k`` parts: ``round(sqrt(k))`` rows, the last
    rows one cell longer when ``k`` is not a multiple of the row count."""
    rows = max(1, round(math.sqrt(k)))
    q, rem = divmod(k, rows)
    return [q + (1 if r >= rows - rem else 0) for r in range(rows)]


def max_parts(kind: str, size: int) -> int:
    """The largest K the mask shape allows on a ``size`` x ``size`` image (capped at ``MAX_PARTS``):
    every part needs at least one pixel row (stripes) or one pixel row and column (squares)."""
    check_mask_kind(kind)
    size = _size(size)
    if kind == "stripes":
        return min(size, MAX_PARTS)
    k = 1
    while k < MAX_PARTS and _grid_fits(k + 1, size):
        k += 1
    return k


def _grid_fits(k: int, size: int) -> bool:
    layout = grid_layout(k)
    return len(layout) <= size and max(layout) <= size


def check_parts(kind: str, k: int, size: int) -> int:
    """``k`` if ``kind`` masks can cut a ``size`` x ``size`` image into ``k`` parts, else one clear error."""
    check_mask_kind(kind)
    size = _size(size)
    k = check_int("the number of parts K", k)
    if k > MAX_PARTS:
        raise LabkitError(f"K = {k} is over {MAX_PARTS}: each part needs its own ImageNet class")
    limit = max_parts(kind, size)
    if k > limit:
        raise LabkitError(f"K = {k} {kind} do not fit a {size}x{size} image: at most {limit} parts "
                          "(each part needs at least one pixel row)")
    return k


def part_map(kind: str, k: int, size: int) -> np.ndarray:
    """``(size, size)`` int array: the part (0..k-1) each pixel belongs to, row-major."""
    check_parts(kind, k, size)
    edges = lambda n: np.rint(np.linspace(0, size, n + 1)).astype(int)  # noqa: E731
    out = np.empty((size, size), np.int64)
    layout = [1] * k if kind == "stripes" else grid_layout(k)
    rows = edges(len(layout))
    part = 0
    for r, cols in enumerate(layout):
        col_edges = edges(cols)
        for c in range(cols):
            out[rows[r]:rows[r + 1], col_edges[c]:col_edges[c + 1]] = part
            part += 1
    return out


def masks(kind: str, k: int, size: int) -> np.ndarray:
    """``(k, size, size)`` float32 masks: mask i is 1 on part i (hidden there), 0 elsewhere."""
    parts = part_map(kind, k, size)
    return (parts[None] == np.arange(k)[:, None, None]).astype(np.float32)


def check_partition(m) -> bool:
    """True if the masks are 0/1 and every pixel is hidden in exactly one of them, else one clear error."""
    m = np.asarray(m)
    if m.ndim != 3:
        raise LabkitError(f"masks must have shape (K, H, W), got {m.shape}")
    if not np.isin(m, (0, 1)).all():
        raise LabkitError("masks must hold only 0 and 1")
    total = m.sum(axis=0)
    if not (total == 1).all():
        bad = int((total != 1).sum())
        raise LabkitError(f"the masks do not partition the image: {bad} pixels are hidden "
                          f"{int(total.min())}..{int(total.max())} times instead of once")
    return True


def cells_per_row(m) -> list[int]:
    """How many parts each row of cells holds: for every pixel row where a part begins, the number of parts
    hiding a pixel of it (``squares``: the grid's layout, ``grid_layout``; ``stripes``: K ones)."""
    m = np.asarray(m)
    part = np.argmax(m, axis=0)
    tops = sorted({int(np.flatnonzero(mi.any(axis=1))[0]) for mi in m if mi.any()})
    return [len(np.unique(part[t])) for t in tops]


def noise_fill(size: int, seed: int = 0) -> np.ndarray:
    """The fixed fill for ``hidden="noise"``: seeded uniform noise, ``(size, size, 3)`` float32 in 0..255."""
    from labkit.images import uniform_noise

    return uniform_noise(1, size=_size(size), seed=seed)[0].astype(np.float32)


def apply_masks(image, m, hidden: str = "zero", noise=None):
    """The K masked copies ``(K, H, W, 3)`` of ``image`` ``(H, W, 3)``: part i of copy i is hidden.

    ``hidden``: ``zero`` (0), ``mean`` (the image's mean colour per channel, so it follows the
    image while it is optimised) or ``noise`` (``noise``, e.g. ``noise_fill(size, seed)``).
    Works on NumPy arrays and TensorFlow tensors alike (``keras.ops``); returns a tensor.
    """
    from keras import ops

    check_hidden(hidden)
    image = ops.convert_to_tensor(image, "float32")
    keep = 1.0 - ops.convert_to_tensor(m, "float32")[..., None]  # (K, H, W, 1)
    if hidden == "zero":
        return image[None] * keep
    if hidden == "mean":
        fill = ops.mean(image, axis=(0, 1), keepdims=True)  # (1, 1, 3)
    else:
        if noise is None:
            raise LabkitError('hidden="noise" needs the noise image (masks.noise_fill(size, seed))')
        fill = ops.convert_to_tensor(noise, "float32")
    return image[None] * keep + fill[None] * (1.0 - keep)


def masked_copies(image, kind: str, k: int, hidden: str = "zero", noise_seed: int = 0) -> np.ndarray:
    """The K masked copies of a square image ``(H, H, 3)`` in 0..255, as a NumPy array."""
    image = np.asarray(image, np.float32)
    if image.ndim != 3 or image.shape[0] != image.shape[1] or image.shape[2] != 3:
        raise LabkitError(f"expected a square RGB image (H, H, 3), got shape {image.shape}")
    check_hidden(hidden)
    size = image.shape[0]
    noise = noise_fill(size, noise_seed) if hidden == "noise" else None
    return np.asarray(apply_masks(image, masks(kind, k, size), hidden, noise))
