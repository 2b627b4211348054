"""A universal image's K targets, its re-check from its pixels (what the grader does), and how far its
masked copies are from it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from labkit.errors import LabkitError, check_int
from labkit.models import input_size, num_classes, predict, target_ids


def universal_targets(k: int, targets: Sequence[int | str] | None = None, seed: int = 0,
                      classes: int = 1000) -> list[int]:
    """K distinct target classes: drawn at random without repeats (seeded) when ``targets`` is None,
    else the K listed names or indices (``labkit.models.target_ids``), which must be distinct."""
    k = check_int("the number of targets K", k)
    if k > classes:
        raise LabkitError(f"K = {k} targets, but the model has only {classes} classes")
    if targets is None:
        return [int(i) for i in np.random.default_rng(seed).choice(classes, k, replace=False)]
    listed = [targets] if isinstance(targets, (str, int, np.integer)) else list(targets)
    if len(listed) != k:
        raise LabkitError(f"got {len(listed)} target classes for K = {k}: give exactly K")
    ids = [int(i) for i in target_ids(classes, listed, k)]
    seen: dict[int, object] = {}
    dups = []
    for t, i in zip(listed, ids, strict=True):
        if i in seen:
            dups.append(f"{t!r} repeats {seen[i]!r} (class {i})")
        seen.setdefault(i, t)
    if dups:
        raise LabkitError(f"the K target classes must be distinct; repeated: {', '.join(dups)}")
    return ids


def relative_norms(image, copies) -> dict:
    """How far the masked copies ``(K, H, W, 3)`` are from the image ``(H, W, 3)``, relative to its norm.

    Seed 001 reports "the relative norm difference of the masked images is at most 1.6%" for 64
    stripes without defining it. We give four readings (maxima over copies i or pairs i, j; x the image,
    m_i its copies): ``l1_radius`` = max ||m_i - x||_1 / ||x||_1 (the headline ``relative_norm_diff``:
    with zero-hidden stripes it is the largest share of the image's intensity in one part, about 1/K,
    so 1/64 = 1.56% for the seed's case), ``l2_radius`` = max ||m_i - x||_2 / ||x||_2 (about
    sqrt(1/K)), ``l2_diameter`` = max ||m_i - m_j||_2 / ||x||_2, and ``l2_norm_gap`` =
    max | ||x||_2 - ||m_i||_2 | / ||x||_2 (the literal "difference of norms", about 1/(2K)).
    """
    x = np.asarray(image, np.float64).reshape(-1)
    c = np.asarray(copies, np.float64).reshape(len(copies), -1)
    nx1, nx2 = max(np.abs(x).sum(), 1e-12), max(np.linalg.norm(x), 1e-12)
    d = c - x
    sq = np.square(c).sum(axis=1)
    gram = sq[:, None] + sq[None, :] - 2.0 * (c @ c.T)
    out = {"l1_radius": float(np.abs(d).sum(axis=1).max() / nx1),
           "l2_radius": float(np.linalg.norm(d, axis=1).max() / nx2),
           "l2_diameter": float(np.sqrt(max(gram.max(), 0.0)) / nx2),
           "l2_norm_gap": float(np.abs(nx2 - np.sqrt(sq)).max() / nx2)}
    out["relative_norm_diff"] = out["l1_radius"]
    return out


def masked_loss(model, image, m, targets: Sequence[int]) -> float:
    """The mean cross-entropy, from the logits, of the K masked copies of ``image`` (pixels 0..255; copy i with
    part i of ``m`` set to 0, then resized bilinearly to the model's input) against their K ``targets``: what
    ``universal_image`` minimises, with ``hidden="zero"``."""
    import tensorflow as tf

    from labkit.masks import apply_masks
    from labkit.models import logits_model

    s = input_size(model)
    copies = tf.image.resize(apply_masks(np.asarray(image, np.float32), m, "zero"), (s, s), method="bilinear")
    logits = logits_model(model)(copies, training=False)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(np.asarray(targets, np.int32), logits)
    return float(tf.reduce_mean(ce))


def load_universal(image) -> np.ndarray:
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if not path.is_file():
            raise LabkitError(f"universal image file not found: {path}")
        try:
            image = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise LabkitError(f"cannot read universal image {path}: {exc}") from None
    a = np.asarray(image, np.float32)
    if a.ndim != 3 or a.shape[0] != a.shape[1] or a.shape[2] != 3:
        raise LabkitError(f"a universal image is a square RGB array (H, H, 3), got shape {a.shape}")
    if not np.isfinite(a).all() or a.min() < 0 or a.max() > 255:
        raise LabkitError(f"universal image pixels must be in 0..255, got {a.min():.3f}..{a.max():.3f}")
    return a


def reclassify_universal(model, image, targets: Sequence[int | str], mask_kind: str, hidden: str = "zero",
                    noise_seed: int = 0, batch_size: int = 64):
    """Re-check a universal image: what ``model`` says about each of its K masked copies.

    ``image``: ``(H, H, 3)`` in 0..255, or the path of the ``.npy`` that ``save_universal`` wrote;
    ``targets``: the K target classes, in part order. Returns a DataFrame, one row per copy:
    ``part``, ``target``, ``target_name``, ``predicted``, ``predicted_name``, ``probability`` (of the
    predicted class), ``target_probability`` and ``hit``; ``df.hit.all()`` means the image is universal.
    """
    import pandas as pd
    import tensorflow as tf

    from labkit import imagenet, masks

    masks.check_mask_kind(mask_kind)
    masks.check_hidden(hidden)
    a = load_universal(image)
    if targets is None:
        raise LabkitError("reclassify_universal needs the K target classes, in part order")
    k = 1 if isinstance(targets, (str, int, np.integer)) else len(targets)
    masks.check_parts(mask_kind, k, a.shape[0])
    ids = universal_targets(k, targets, classes=num_classes(model))
    copies = masks.masked_copies(a, mask_kind, k, hidden, noise_seed)
    s = input_size(model)
    x = tf.image.resize(copies, (s, s), method="bilinear").numpy()
    probs = predict(model, x, batch_size)  # the compiled forward: traced once per model, any K
    pred = probs.argmax(axis=1)

    def label(i):
        return imagenet.name(int(i)) if i < imagenet.NUM_CLASSES else str(i)

    return pd.DataFrame({"part": np.arange(k), "target": ids, "target_name": [label(i) for i in ids],
                         "predicted": pred, "predicted_name": [label(i) for i in pred],
                         "probability": probs[np.arange(k), pred], "target_probability": probs[np.arange(k), ids],
                         "hit": pred == np.asarray(ids)})
