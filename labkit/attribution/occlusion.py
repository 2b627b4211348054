"""Occlusion (Zeiler & Fergus 2014), as Captum's ``Occlusion``.

Captum's definitions for Keras models that take raw RGB 0..255 pixels. Our own code, a few lines each: no
maintained Keras 3 library has it (Captum is PyTorch-only; tf-keras-vis has saliency and CAMs only).
``output="logit"`` attributes the class score before the softmax (what Captum attributed in seed 002:
torchvision models output logits); ``"probability"`` attributes the softmax output.
"""

from __future__ import annotations

import numpy as np

from labkit.attribution.baselines import baseline_batch
from labkit.deprecation import renamed
from labkit.errors import LabkitError, check_int
from labkit.models import check_output, input_batch, predict, target_ids


def _pair(name: str, value) -> tuple[int, int]:
    v = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(v) != 2:
        raise LabkitError(f"{name} must be an int or (height, width), got {value!r}")
    return check_int(name, v[0]), check_int(name, v[1])


def occlusion_windows(size: tuple[int, int], window, strides) -> list[tuple[int, int, int, int]]:
    """Captum's window positions ``(top, bottom, left, right)``: ``ceil((side - window) / stride) + 1``
    per axis, the last window cut at the border, so every pixel is covered when ``stride <= window``."""
    (wh, ww), (sh, sw) = _pair("window", window), _pair("strides", strides)
    h, w = size
    if wh > h or ww > w:
        raise LabkitError(f"window {(wh, ww)} is larger than the image {(h, w)}")
    rows = [r * sh for r in range(-(-(h - wh) // sh) + 1)]
    cols = [c * sw for c in range(-(-(w - ww) // sw) + 1)]
    return [(r, min(r + wh, h), c, min(c + ww, w)) for r in rows for c in cols]


@renamed(x="images", target="targets")
def occlusion(model, images, targets=None, window=(15, 15), strides=(8, 8), baseline=0, batch_size: int = 64,
              output: str = "logit", progress: bool = True) -> np.ndarray:
    """Occlusion (Zeiler & Fergus 2014), as Captum's ``Occlusion.attribute``.

    Slides a ``window`` (all colour channels, as the seed's ``(3, 15, 15)``) by ``strides``, replaces it
    by ``baseline``, and gives every pixel of the window ``f(x) - f(occluded)``, averaged over the
    windows that cover it (pixels no window covers get 0). The occluded copies are classified in
    batches of ``batch_size``. Returns ``(n, h, w, 3)`` float32.
    """
    from tqdm import tqdm

    check_output(output)
    batch_size = check_int("batch_size", batch_size)
    x = input_batch(model, images)
    windows = occlusion_windows(x.shape[1:3], window, strides)
    ids = target_ids(model, targets, len(x), images=x, output=output)
    b = baseline_batch(baseline, x)
    base = predict(model, x, batch_size, output)[np.arange(len(x)), ids]
    total = np.zeros(x.shape[:3], np.float64)
    count = np.zeros(x.shape[1:3], np.float64)
    for top, bottom, left, right in windows:
        count[top:bottom, left:right] += 1
    jobs = [(i, k) for i in range(len(x)) for k in range(len(windows))]
    for start in tqdm(range(0, len(jobs), batch_size), desc="occlusion", disable=not progress, leave=False):
        part = jobs[start:start + batch_size]
        batch = x[[i for i, _ in part]]  # a copy
        for j, (i, k) in enumerate(part):
            top, bottom, left, right = windows[k]
            batch[j, top:bottom, left:right] = b[i, top:bottom, left:right]
        out = predict(model, batch, batch_size, output)
        for j, (i, k) in enumerate(part):
            top, bottom, left, right = windows[k]
            total[i, top:bottom, left:right] += base[i] - out[j, ids[i]]
    attr = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    return np.repeat(attr[..., None], x.shape[-1], axis=-1).astype(np.float32)
