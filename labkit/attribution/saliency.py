"""Saliency (vanilla, guided, rectified) and SmoothGrad, compiled: tf-keras-vis' ``Saliency`` on the shared
engine's trace, which gives every gradient map (``_core.rule_maps_function``), SmoothGrad's noisy copies a batch
at a time."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from labkit.attribution._core import rule_maps_function
from labkit.attribution._utils import check_rule, inputs, normalize, rule_index
from labkit.deprecation import renamed
from labkit.errors import LabkitError, check_int, check_number, check_steps

# noisy copies per forward+backward: on 2 CPU cores, EfficientNet-Lite0 runs 4-8 copies a pass at ~0.9x a
# 2-image forward+backward per sample, 40 in one pass at ~1.15x (memory traffic)
SMOOTHGRAD_BATCH = 8


def smoothgrad_function(model, backprop: str = "vanilla", layer: str | None = None):
    """``f(noisy (samples, n, h, w, c), targets, batch_size) -> (n, h, w)``: the noisy copies through the trace of
    ``rule_maps_function`` at ``layer`` (``None``: the default CAM layer), ``batch_size`` copies a call, their
    absolute gradients averaged as tf-keras-vis does."""
    import tensorflow as tf

    fn, rule = rule_maps_function(model, backprop, layer), rule_index(backprop)

    def smoothgrad(noisy, targets, batch_size):
        noisy = np.asarray(noisy, np.float32)
        samples, n = noisy.shape[:2]
        step = max(1, int(batch_size) // n)  # samples per forward+backward
        total = tf.zeros(noisy.shape[1:], tf.float32)
        for start in range(0, samples, step):
            part = noisy[start:start + step]
            grads = fn(part.reshape(-1, *part.shape[2:]), np.tile(targets, len(part)), rule)["input_gradients"]
            total += tf.reduce_sum(tf.reshape(tf.abs(grads), part.shape), axis=0)
        return normalize(tf.reduce_max(total / samples, axis=-1))

    return smoothgrad


@renamed(target="targets")
def saliency(model, images, targets, backprop: str = "vanilla") -> np.ndarray:
    """Saliency maps ``(n, h, w)`` in 0..1: ``max over colour of |d score / d pixel|`` through the ``backprop``
    rule (``vanilla``, ``guided``, ``rectified``), normalised per map as tf-keras-vis does."""
    fn = rule_maps_function(model, backprop)  # the CAMs' trace, at the default CAM layer
    x, ids = inputs(model, images, targets)
    return fn(x, ids, rule_index(backprop))["saliency"].numpy()


def smoothgrad_noise(x: np.ndarray, samples: int = 20, noise: float = 0.20, seed: int | None = 0) -> np.ndarray:
    """tf-keras-vis' SmoothGrad noise for the batch ``x``: ``(samples, n, h, w, c)`` float32.

    Per image, Gaussian noise of standard deviation ``noise * (max - min)`` of its pixels, drawn in one
    ``np.random.normal`` call as tf-keras-vis draws it, from ``RandomState(seed)``, which equals
    ``np.random.seed(seed)`` (``None``: the global ``np.random`` state, advanced as tf-keras-vis would).
    """
    x = np.asarray(x, np.float32)
    spread = x.max(axis=tuple(range(1, x.ndim))) - x.min(axis=tuple(range(1, x.ndim)))
    sigma = (np.float32(noise) * spread).reshape((1, len(x)) + (1,) * (x.ndim - 1))
    shape = (samples, *x.shape)
    if seed is None:
        return np.random.normal(0.0, sigma, shape).astype(np.float32)
    # normal(0, sigma) is 0 + sigma * standard_normal() in float64, value for value: the same bits
    return (sigma.astype(np.float64) * _standard_normal(seed, shape)).astype(np.float32)


@lru_cache(maxsize=1)
def _standard_normal(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """``RandomState(seed)``'s standard normal draw, kept for the next batch of the same shape (lab 1 draws it five
    times: 0.6 s each for 20 x 4 images)."""
    z = np.random.RandomState(seed).standard_normal(shape)
    z.flags.writeable = False
    return z


@renamed(target="targets")
def smoothgrad(model, images, targets, samples: int = 20, noise: float = 0.20, seed: int | None = 0, *,
               noise_array: np.ndarray | None = None, backprop: str = "vanilla",
               batch_size: int = SMOOTHGRAD_BATCH) -> np.ndarray:
    """SmoothGrad maps ``(n, h, w)``: saliency of ``samples`` noisy copies (capped by ``LABKIT_MAX_STEPS``, as
    tf-keras-vis caps them), averaged (tf-keras-vis' defaults).

    The noisy copies go through the compiled rule maps (``smoothgrad_function``), ``batch_size`` copies per
    forward+backward (at least one sample of every image).
    ``noise_array``: the additive noise ``(samples, n, h, w, c)`` in pixel units (default:
    ``smoothgrad_noise(x, samples, noise, seed)``, what tf-keras-vis draws after ``np.random.seed(seed)``).
    """
    check_rule(backprop)
    check_int("batch_size", batch_size)
    x, ids = inputs(model, images, targets)
    if noise_array is None:
        samples = check_steps("samples", samples)
        check_number("noise", noise, allow_zero=True)
        noise_array = smoothgrad_noise(x, samples, noise, seed)
    noise_array = np.asarray(noise_array, np.float32)
    if noise_array.ndim != x.ndim + 1 or noise_array.shape[1:] != x.shape or len(noise_array) < 1:
        raise LabkitError(f"noise_array must have shape (samples, *{x.shape}), got {noise_array.shape}")
    return smoothgrad_function(model, backprop)(x[None] + noise_array, ids, batch_size).numpy()
