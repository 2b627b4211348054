"""The sanity check of Adebayo et al. (2018): re-initialise the top layers and measure how much each map changes."""

from __future__ import annotations

import gc
from collections.abc import Mapping, Sequence

import numpy as np

from labkit.attribution import attention_maps, check_methods, release_clones
from labkit.errors import LabkitError
from labkit.metrics._utils import as_maps
from labkit.models import input_batch, target_ids


def weighted_layers(model) -> list[str]:
    """Names of the layers with a kernel (conv, depthwise conv, dense), input to output."""
    return [layer.name for layer in model.layers if getattr(layer, "kernel", None) is not None]


def randomize_top_layers(model, k: int = 1, seed: int = 0):
    """A clone of ``model`` whose top ``k`` weighted layers are re-initialised at random (seeded).

    Each kernel and bias is redrawn from a normal distribution with the original's standard
    deviation, so activations keep their scale; the original model is untouched.
    """
    import keras

    names = _top_layers(model, k)
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    _redraw(clone, names, seed)
    return clone


def _top_layers(model, k: int) -> list[str]:
    names = weighted_layers(model)
    if not 1 <= k <= len(names):
        raise LabkitError(f"k must be in 1..{len(names)} (weighted layers of {model.name}), got {k}")
    return names[-k:]


def _redraw(model, names: list[str], seed: int) -> list:
    """Redraw the weights of layers ``names`` of ``model`` in place (seeded); returns ``[(variable, old value)]``."""
    rng = np.random.default_rng(seed)
    saved = []
    for name in names:
        for w in model.get_layer(name).trainable_weights:
            old = np.asarray(w.numpy())
            saved.append((w, old))
            w.assign(rng.normal(0.0, float(old.std()), old.shape).astype(old.dtype))
    return saved


def map_change(before, after) -> np.ndarray:
    """How much each map changed: 1 - Spearman rank correlation (0 same ranking, 1 unrelated, 2 reversed).

    A constant map carries no ranking: its correlation counts as 0. Spearman's rho is the Pearson correlation
    of the average ranks (``scipy.stats.spearmanr``), computed for every map at once.
    """
    from scipy.stats import rankdata

    a, b = as_maps(before), as_maps(after)
    if a.shape != b.shape:
        raise LabkitError(f"maps of shapes {a.shape} and {b.shape} cannot be compared")
    ra, rb = (rankdata(m.reshape(len(m), -1), axis=1) for m in (a, b))
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    norm = np.sqrt((ra * ra).sum(axis=1) * (rb * rb).sum(axis=1))
    rho = np.divide((ra * rb).sum(axis=1), norm, out=np.zeros(len(a)), where=norm > 0)  # constant map: 0
    return 1.0 - rho


def randomisation_check(model, images, targets, methods: str | Sequence[str] = "all", k: int = 1,
                        seed: int = 0, maps: Mapping[str, np.ndarray] | None = None, **options):
    """Maps before and after ``randomize_top_layers(model, k, seed)``: the mean ``map_change`` per method.

    ``maps``: the original model's maps, if already computed. Returns ``(changes, randomised_maps)``.
    """
    names = check_methods(methods)
    ids = target_ids(model, targets, len(input_batch(model, images)))
    if maps is None or any(m not in maps for m in names):
        maps = attention_maps(model, images, ids, names, seed=seed, **options)
    if options.get("engine", "compiled") == "compiled":
        # the same weights as randomize_top_layers, drawn into ``model`` itself and put back after: the
        # compiled maps read its variables, so they serve again with no clone and no retrace
        saved = _redraw(model, _top_layers(model, k), seed)
        try:
            after = attention_maps(model, images, ids, names, seed=seed, **options)
        finally:
            for w, old in saved:
                w.assign(old)
    else:  # tf-keras-vis' clones hold copies of the weights
        rand = randomize_top_layers(model, k, seed)
        after = attention_maps(rand, images, ids, names, seed=seed, **options)
        release_clones()
        del rand
        gc.collect()
    return {m: float(map_change(maps[m], after[m]).mean()) for m in names}, after
