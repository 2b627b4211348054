"""Captum's ``NoiseTunnel``: an attribution method averaged over noisy copies of each image.

Captum's definitions for Keras models that take raw RGB 0..255 pixels. Our own code, a few lines each: no
maintained Keras 3 library has it (Captum is PyTorch-only; tf-keras-vis has saliency and CAMs only).
``output="logit"`` attributes the class score before the softmax (what Captum attributed in seed 002:
torchvision models output logits); ``"probability"`` attributes the softmax output.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from labkit.deprecation import renamed
from labkit.errors import LabkitError, check_int, max_steps
from labkit.models import input_batch, target_ids

NT_TYPES = ("smoothgrad", "smoothgrad_sq", "vargrad")
# Captum's default stdevs=1.0 acts on torchvision-normalised inputs (std ~0.226): ~58 in 0..255 pixels.
CAPTUM_STDEVS = float(1.0 * 0.226 * 255)


def noise_tunnel(method: Callable, nt_type: str = "smoothgrad", nt_samples: int = 5,
                 stdevs: float = CAPTUM_STDEVS, seed: int = 0) -> Callable:
    """Captum's ``NoiseTunnel``: ``method`` averaged over ``nt_samples`` noisy copies of each image.

    Returns a function with ``method``'s signature ``(model, images, targets=None, **kwargs)``. Gaussian
    noise of standard deviation ``stdevs`` in pixel units (default: Captum's 1.0 on normalised
    inputs, ~58 pixels), seeded. ``nt_type``: ``smoothgrad`` (mean), ``smoothgrad_sq`` (mean of
    squares) or ``vargrad`` (variance). All noisy copies go through ``method`` as one batch;
    ``nt_samples`` is capped by ``LABKIT_MAX_STEPS``.
    """
    if nt_type not in NT_TYPES:
        raise LabkitError(f"unknown nt_type {nt_type!r}; one of {', '.join(NT_TYPES)}")
    requested = check_int("nt_samples", nt_samples)
    if not np.isfinite(stdevs) or stdevs < 0:
        raise LabkitError(f"stdevs must be a number >= 0 (pixel units), got {stdevs!r}")

    @renamed(x="images", target="targets")
    def attribute(model, images, targets=None, **kwargs) -> np.ndarray:
        x, samples = input_batch(model, images), max_steps(requested)  # the cap when it is called
        output = kwargs.get("output", "logit")
        ids = target_ids(model, targets, len(x), images=x, output=output)  # the clean image's class (Captum's)
        noise = np.random.default_rng(seed).normal(0.0, stdevs, (len(x), samples, *x.shape[1:]))
        noisy = (x[:, None] + noise.astype(np.float32)).reshape(-1, *x.shape[1:])
        a = np.asarray(method(model, noisy, np.repeat(ids, samples), **kwargs), np.float64)
        a = a.reshape(len(x), samples, *x.shape[1:])
        if nt_type == "smoothgrad":
            out = a.mean(axis=1)
        elif nt_type == "smoothgrad_sq":
            out = np.square(a).mean(axis=1)
        else:
            out = a.var(axis=1)
        return out.astype(np.float32)

    attribute.__name__ = f"noise_tunnel_{nt_type}_{getattr(method, '__name__', 'method')}"
    return attribute
