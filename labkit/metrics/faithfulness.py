"""Faithfulness of attention maps: deletion and insertion curves and their AUC (Petsiuk et al., RISE, 2018).

Our own, a few lines each: no maintained Keras 3 library has them. Every curve's steps go through one
batched compiled forward; the first and last steps, the same for every map, are predicted once per image.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from labkit.errors import LabkitError, check_steps
from labkit.metrics._utils import as_maps
from labkit.models import CAFFE_MEAN_BGR, PREDICT_BATCH, input_batch, predict, target_ids


def random_maps(shape: Sequence[int], seed: int = 0) -> np.ndarray:
    """Uniform random maps: the reference any method should beat."""
    return np.random.default_rng(seed).random(tuple(shape)).astype(np.float32)


FILLS = ("gray", "blur", "black", "mean")  # what deleted pixels become, or insertion starts from
CAFFE_MEAN_RGB = CAFFE_MEAN_BGR[::-1]  # the ImageNet mean colour that Caffe-preprocessed models (VGG16) read as 0


def fill_images(images: np.ndarray, kind: str = "blur", blur_sigma: float = 5.0) -> np.ndarray:
    """What replaces the pixels: ``gray`` (the ImageNet mean colour, which a normalised input reads
    as 0: RISE's deletion), ``blur`` (Gaussian, ``blur_sigma`` pixels at 224, scaled with the image
    size: RISE's insertion start), ``black`` (0) or ``mean`` (each image's own mean colour)."""
    x = np.asarray(images, dtype=np.float32)
    if kind == "gray":
        return np.broadcast_to(np.asarray(CAFFE_MEAN_RGB, np.float32), x.shape).copy()
    if kind == "black":
        return np.zeros_like(x)
    if kind == "mean":
        return np.broadcast_to(x.mean(axis=(1, 2), keepdims=True), x.shape).copy()
    if kind == "blur":
        from scipy.ndimage import gaussian_filter

        s = blur_sigma * x.shape[1] / 224
        return gaussian_filter(x, sigma=(0, s, s, 0)).astype(np.float32)
    raise LabkitError(f"unknown fill {kind!r}; one of {', '.join(FILLS)}")


def importance_ranks(maps: np.ndarray, seed: int = 0) -> np.ndarray:
    """Each pixel's rank, 0 = most important, per map (ties broken at random, seeded)."""
    m = as_maps(maps)
    flat = m.reshape(len(m), -1)
    rng = np.random.default_rng(seed)
    ranks = np.empty(flat.shape, np.int64)
    for i, row in enumerate(flat):
        order = np.lexsort((rng.random(row.size), -row))
        ranks[i, order] = np.arange(row.size)
    return ranks.reshape(m.shape)


def _check_steps(steps: int, *baselines: str) -> int:
    """``steps``, checked and capped by ``LABKIT_MAX_STEPS``, after the ``baselines``' names."""
    for b in baselines:
        if b not in FILLS:
            raise LabkitError(f"unknown baseline {b!r}; one of {', '.join(FILLS)}")
    return check_steps("steps", steps)


def _endpoints(model, x, ids, baselines, batch_size) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``{baseline: (filled images, p on x, p on the filled images)}``, each image's target probability: every
    curve's first and last step, whatever the map (no pixel or every pixel replaced), so they are made once."""
    filled = [fill_images(x, b) for b in baselines]
    probs = predict(model, np.concatenate([x, *filled]), batch_size).reshape(len(filled) + 1, len(x), -1)
    p = probs[:, np.arange(len(x)), ids]
    return {b: (filled[i], p[0], p[i + 1]) for i, b in enumerate(baselines)}


def _steps(model, x, ranks, ids, steps, ends, deletion, batch_size):
    """``(fractions, curves)`` from the pixels' ``ranks`` and a baseline's ``_endpoints``: the inner steps of
    every image in one batched prediction, ``(n, steps - 1, h, w, 3)``."""
    base, original, filled = ends
    pixels = x.shape[1] * x.shape[2]
    counts = np.rint(np.linspace(0, pixels, steps + 1)).astype(np.int64)
    start, end = (x, base) if deletion else (base, x)
    mask = (ranks[:, None] < counts[None, 1:-1, None, None])[..., None]
    batch = np.where(mask, end[:, None], start[:, None]).astype(np.float32).reshape((-1,) + x.shape[1:])
    inner = np.zeros((len(x), 0), np.float32)
    if len(batch):
        inner = predict(model, batch, batch_size).reshape(len(x), steps - 1, -1)[np.arange(len(x)), :, ids]
    first, last = (original, filled) if deletion else (filled, original)
    return counts / pixels, np.concatenate([first[:, None], inner, last[:, None]], axis=1)


def _curve(model, images, maps, targets, steps, baseline, seed, batch_size, deletion):
    steps = _check_steps(steps, baseline)
    x = input_batch(model, images)
    m = as_maps(maps)
    if m.shape != x.shape[:3]:
        raise LabkitError(f"maps of shape {m.shape} do not match images of shape {x.shape[:3]}")
    ids = target_ids(model, targets, len(x))
    ends = _endpoints(model, x, ids, [baseline], batch_size)[baseline]
    return _steps(model, x, importance_ranks(m, seed), ids, steps, ends, deletion, batch_size)


def deletion_curve(model, images, maps, targets, steps: int = 16, baseline: str = "gray", seed: int = 0,
                   batch_size: int = PREDICT_BATCH) -> tuple[np.ndarray, np.ndarray]:
    """Target probability as the most important pixels are replaced by ``baseline``, in ``steps`` (capped by
    ``LABKIT_MAX_STEPS``).

    Returns ``(fractions, curves)``: ``steps + 1`` fractions from 0 to 1, curves ``(n, steps + 1)``.
    A faithful map makes the probability fall fast: low AUC is good. As in RISE, deleted pixels
    become the colour a normalised input reads as zero (``gray``).
    """
    return _curve(model, images, maps, targets, steps, baseline, seed, batch_size, deletion=True)


def insertion_curve(model, images, maps, targets, steps: int = 16, baseline: str = "blur", seed: int = 0,
                    batch_size: int = PREDICT_BATCH) -> tuple[np.ndarray, np.ndarray]:
    """Target probability as the most important pixels are put back into the ``baseline`` image.

    RISE starts insertion from a blurred copy. A faithful map makes the probability rise fast:
    high AUC is good.
    """
    return _curve(model, images, maps, targets, steps, baseline, seed, batch_size, deletion=False)


def auc(fractions: np.ndarray, curves: np.ndarray) -> np.ndarray:
    """Area under each curve (trapezoidal rule over the fraction of pixels, 0..1)."""
    return np.trapezoid(np.asarray(curves), np.asarray(fractions), axis=-1)


def faithfulness(model, images, maps: Mapping[str, np.ndarray], targets, steps: int = 16, seed: int = 0,
                 deletion_baseline: str = "gray", insertion_baseline: str = "blur", reference: bool = True,
                 progress: bool = True):
    """Deletion and insertion AUC of every method's maps, plus a random-map reference row.

    Returns ``(table, curves)``: a DataFrame indexed by method with ``deletion_auc`` (lower is
    better), ``insertion_auc`` (higher is better) and their difference ``ins_minus_del``;
    ``curves[method] = {"fractions", "deletion", "insertion"}``. Identical maps are scored once.
    """
    import pandas as pd
    from tqdm import tqdm

    x = input_batch(model, images)
    ids = target_ids(model, targets, len(x))
    steps = _check_steps(steps, deletion_baseline, insertion_baseline)
    for name, m in maps.items():
        if as_maps(m).shape != x.shape[:3]:
            raise LabkitError(f"maps of {name!r} have shape {np.shape(m)}, images {x.shape[:3]}")
    todo = dict(maps)
    if reference:
        todo["random"] = random_maps(x.shape[:3], seed)
    ends = _endpoints(model, x, ids, list(dict.fromkeys([deletion_baseline, insertion_baseline])), PREDICT_BATCH)
    rows, curves, seen = {}, {}, {}
    for name, m in tqdm(todo.items(), desc="deletion/insertion", disable=not progress, leave=False):
        key = as_maps(m).astype(np.float32).tobytes()
        if key in seen:  # e.g. Grad-CAM under another backprop rule, when no ReLU follows the CAM layer
            rows[name], curves[name] = dict(rows[seen[key]]), curves[seen[key]]
            continue
        seen[key] = name
        ranks = importance_ranks(m, seed)  # the same order for both curves
        f, d = _steps(model, x, ranks, ids, steps, ends[deletion_baseline], True, PREDICT_BATCH)
        _, ins = _steps(model, x, ranks, ids, steps, ends[insertion_baseline], False, PREDICT_BATCH)
        curves[name] = {"fractions": f, "deletion": d, "insertion": ins}
        rows[name] = {"deletion_auc": float(auc(f, d).mean()), "insertion_auc": float(auc(f, ins).mean())}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table["ins_minus_del"] = table["insertion_auc"] - table["deletion_auc"]
    table.index.name = "method"
    return table, curves
