"""Saliency (vanilla, guided, rectified) and SmoothGrad, compiled: tf-keras-vis' ``Saliency`` in one graph."""

from __future__ import annotations

import numpy as np

from labkit.attribution._utils import (
    backprop_rule,
    cached,
    check_rule,
    inputs,
    normalize,
    rule_index,
    signature,
    target_score,
)
from labkit.errors import LabkitError, check_int, check_number

# noisy copies per forward+backward: on 2 CPU cores, EfficientNet-Lite0 runs 4-8 copies a pass at ~0.9x a
# 2-image forward+backward per sample, 40 in one pass at ~1.15x (memory traffic)
SMOOTHGRAD_BATCH = 8


def _saliency_function(ref, rule: str):
    import tensorflow as tf

    @tf.function(input_signature=signature(ref()), autograph=False)
    def saliency(x, targets):
        model = ref()
        with backprop_rule(model, rule), tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(x)
            score = target_score(model(x, training=False), targets)
        grads = tape.gradient(score, x)
        return normalize(tf.reduce_max(tf.abs(grads), axis=-1))

    return saliency


def _smoothgrad_function(ref, rule: str):
    import tensorflow as tf

    model = ref()
    h, w, c = model.input_shape[1:]
    x_spec, t_spec = signature(model)

    @tf.function(input_signature=[tf.TensorSpec([None, None, h, w, c], tf.float32), t_spec,
                                  tf.TensorSpec([], tf.int32)], autograph=False)
    def smoothgrad(noisy, targets, batch_size):
        model = ref()
        samples, n = tf.shape(noisy)[0], tf.shape(noisy)[1]
        step = tf.maximum(1, batch_size // n)  # samples per forward+backward

        def chunk(start, total):
            part = noisy[start:start + step]
            k = tf.shape(part)[0]
            flat = tf.reshape(part, [-1, h, w, c])
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(flat)
                score = target_score(model(flat, training=False), tf.tile(targets, [k]))
            grads = tf.abs(tape.gradient(score, flat))
            return start + step, total + tf.reduce_sum(tf.reshape(grads, [k, n, h, w, c]), axis=0)

        with backprop_rule(model, rule):
            _, total = tf.while_loop(lambda start, _: start < samples, chunk, [0, tf.zeros_like(noisy[0])])
        return normalize(tf.reduce_max(total / tf.cast(samples, tf.float32), axis=-1))

    return smoothgrad


def saliency_function(model, backprop: str = "vanilla"):
    """The compiled ``f(x, targets) -> (n, h, w)`` maps of ``model`` under the ``backprop`` rule (cached)."""
    return cached(model, ("saliency", check_rule(backprop), None), lambda ref: _saliency_function(ref, backprop))


def smoothgrad_function(model, backprop: str = "vanilla"):
    """The compiled ``f(noisy (samples, n, h, w, c), targets, batch_size) -> (n, h, w)`` (cached)."""
    return cached(model, ("smoothgrad", check_rule(backprop), None), lambda ref: _smoothgrad_function(ref, backprop))


def saliency(model, images, target, backprop: str = "vanilla") -> np.ndarray:
    """Saliency maps ``(n, h, w)`` in 0..1: ``max over colour of |d score / d pixel|`` through the ``backprop``
    rule (``vanilla``, ``guided``, ``rectified``), normalised per map as tf-keras-vis does."""
    from labkit.attribution.gradcam import rule_maps_function
    from labkit.attribution.methods import spatial_layer

    check_rule(backprop)
    x, ids = inputs(model, images, target)
    layer = spatial_layer(model)
    if layer is None:  # no CAM layer: saliency alone
        return saliency_function(model, backprop)(x, ids).numpy()
    return rule_maps_function(model, backprop, layer)(x, ids, rule_index(backprop))[0].numpy()  # the CAMs' trace


def smoothgrad_noise(x: np.ndarray, samples: int = 20, noise: float = 0.20, seed: int | None = 0) -> np.ndarray:
    """tf-keras-vis' SmoothGrad noise for the batch ``x``: ``(samples, n, h, w, c)`` float32.

    Per image, Gaussian noise of standard deviation ``noise * (max - min)`` of its pixels, drawn in one
    ``np.random.normal`` call as tf-keras-vis draws it, from ``RandomState(seed)``, which equals
    ``np.random.seed(seed)`` (``None``: the global ``np.random`` state, advanced as tf-keras-vis would).
    """
    x = np.asarray(x, np.float32)
    spread = x.max(axis=tuple(range(1, x.ndim))) - x.min(axis=tuple(range(1, x.ndim)))
    sigma = (np.float32(noise) * spread).reshape((1, len(x)) + (1,) * (x.ndim - 1))
    rng = np.random if seed is None else np.random.RandomState(seed)
    return rng.normal(0.0, sigma, (samples, *x.shape)).astype(np.float32)


def smoothgrad(model, images, target, samples: int = 20, noise: float = 0.20, seed: int | None = 0, *,
               noise_array: np.ndarray | None = None, backprop: str = "vanilla",
               batch_size: int = SMOOTHGRAD_BATCH) -> np.ndarray:
    """SmoothGrad maps ``(n, h, w)``: saliency of ``samples`` noisy copies, averaged (tf-keras-vis' defaults).

    The noisy copies go through one compiled call, ``batch_size`` copies per forward+backward (at least
    one sample of every image).
    ``noise_array``: the additive noise ``(samples, n, h, w, c)`` in pixel units (default:
    ``smoothgrad_noise(x, samples, noise, seed)``, what tf-keras-vis draws after ``np.random.seed(seed)``).
    """
    check_rule(backprop)
    check_int("batch_size", batch_size)
    x, ids = inputs(model, images, target)
    if noise_array is None:
        check_int("samples", samples)
        check_number("noise", noise, allow_zero=True)
        noise_array = smoothgrad_noise(x, samples, noise, seed)
    noise_array = np.asarray(noise_array, np.float32)
    if noise_array.ndim != x.ndim + 1 or noise_array.shape[1:] != x.shape or len(noise_array) < 1:
        raise LabkitError(f"noise_array must have shape (samples, *{x.shape}), got {noise_array.shape}")
    return smoothgrad_function(model, backprop)(x[None] + noise_array, ids, batch_size).numpy()
