"""The baselines of Integrated Gradients and occlusion: what "no information" means for an image."""

from __future__ import annotations

import numpy as np

from labkit.errors import LabkitError
from labkit.models import IMAGENET_MEAN

IMAGENET_MEAN_PIXEL = (255 * np.array(IMAGENET_MEAN)).astype(np.float32)  # torchvision's mean, in 0..255


def baseline_batch(baseline, x: np.ndarray) -> np.ndarray:
    """``baseline`` as a batch like ``x``: a number, an RGB colour, ``"imagenet_mean"``, an image or a batch."""
    if isinstance(baseline, str):
        if baseline != "imagenet_mean":
            raise LabkitError(f"unknown baseline {baseline!r}; a number, an RGB colour, an image, or 'imagenet_mean'")
        baseline = IMAGENET_MEAN_PIXEL
    b = np.asarray(baseline, np.float32)
    try:
        return np.ascontiguousarray(np.broadcast_to(b, x.shape))
    except ValueError:
        raise LabkitError(f"a baseline of shape {b.shape} does not fit inputs of shape {x.shape}") from None
