"""Grad-CAM, Grad-CAM++ and Layer-CAM (under any backprop rule), and classic Guided Grad-CAM, compiled:
tf-keras-vis' ``Gradcam``, ``GradcamPlusPlus`` and ``Layercam`` in one graph each."""

from __future__ import annotations

import numpy as np

from labkit.attribution._utils import (
    backprop_rule,
    cached,
    check_rule,
    inputs,
    normalize,
    signature,
    spatial_shape,
    target_score,
    upsampler,
)

CAMS = ("gradcam", "gradcam++", "layercam")


def _cam(kind: str, grads, acts, score):
    """The class activation map ``(n, h, w)`` before ReLU, as tf-keras-vis' ``_calculate_cam`` of ``kind``."""
    import tensorflow as tf

    if kind == "gradcam":  # channels weighted by their mean gradient
        return tf.reduce_sum(acts * tf.reduce_mean(grads, axis=[1, 2], keepdims=True), axis=-1)
    if kind == "layercam":  # activations weighted by their positive gradient, per pixel
        return tf.reduce_sum(acts * tf.nn.relu(grads), axis=-1)
    # Grad-CAM++, with tf-keras-vis' exp(score) derivatives and its guards against dividing by zero
    first = tf.exp(score)[:, None, None, None] * grads
    second = first * grads
    third = second * grads
    global_sum = tf.reduce_sum(acts, axis=[1, 2], keepdims=True)
    denom = second * 2.0 + third * global_sum
    alphas = second / (denom + tf.cast(second == 0.0, second.dtype))
    norm = tf.reduce_sum(alphas, axis=[1, 2], keepdims=True)
    alphas = alphas / (norm + tf.cast(norm == 0.0, norm.dtype))
    weights = tf.reduce_sum(tf.nn.relu(first) * alphas, axis=[1, 2], keepdims=True)
    return tf.reduce_sum(weights * acts, axis=-1)


def _cam_function(ref, kind: str, rule: str, layer: str):
    import keras
    import tensorflow as tf

    model = ref()
    both = keras.Model(model.inputs, [*model.outputs, model.get_layer(layer).output])  # shares the layers
    up = upsampler(spatial_shape(model, layer), tuple(model.input_shape[1:3]))

    @tf.function(input_signature=signature(model), autograph=False)
    def cam(x, targets):
        with backprop_rule(ref(), rule), tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(x)
            outputs, acts = both(x, training=False)
            score = target_score(outputs, targets)
        grads = tape.gradient(score, acts)
        return normalize(up(tf.nn.relu(_cam(kind, grads, acts, score))))

    return cam


def cam_function(model, kind: str = "gradcam", backprop: str = "vanilla", layer: str | None = None):
    """The compiled ``f(x, targets) -> (n, h, w)`` of CAM ``kind`` (``gradcam``, ``gradcam++``, ``layercam``)
    at ``layer`` (``None``: ``attribution.default_cam_layer``) under the ``backprop`` rule (cached)."""
    from labkit.attribution.methods import cam_layer

    if kind not in CAMS:
        raise ValueError(f"unknown CAM {kind!r}; one of {', '.join(CAMS)}")
    check_rule(backprop)  # before the model is looked at
    layer = cam_layer(model, layer)
    return cached(model, (kind, backprop, layer), lambda ref: _cam_function(ref, kind, backprop, layer))


def _maps(kind, model, images, target, backprop, penultimate_layer) -> np.ndarray:
    fn = cam_function(model, kind, backprop, penultimate_layer)
    x, ids = inputs(model, images, target)
    return fn(x, ids).numpy()


def gradcam(model, images, target, backprop: str = "vanilla", penultimate_layer: str | int | None = None
            ) -> np.ndarray:
    """Grad-CAM ``(n, h, w)`` in 0..1 at ``penultimate_layer``, upsampled and normalised as tf-keras-vis does;
    ``backprop="guided"``/``"rectified"``: Grad-CAM of the model under that rule."""
    return _maps("gradcam", model, images, target, backprop, penultimate_layer)


def gradcam_plus_plus(model, images, target, backprop: str = "vanilla", penultimate_layer: str | int | None = None
                      ) -> np.ndarray:
    """Grad-CAM++ ``(n, h, w)`` in 0..1, as tf-keras-vis' ``GradcamPlusPlus``."""
    return _maps("gradcam++", model, images, target, backprop, penultimate_layer)


def layercam(model, images, target, backprop: str = "vanilla", penultimate_layer: str | int | None = None
             ) -> np.ndarray:
    """Layer-CAM ``(n, h, w)`` in 0..1, as tf-keras-vis' ``Layercam``."""
    return _maps("layercam", model, images, target, backprop, penultimate_layer)


def renormalize(maps: np.ndarray) -> np.ndarray:
    """Per map ``(m - min) / (max - min)`` (0 where constant): how labkit renormalises a product of maps."""
    m = np.asarray(maps, dtype=np.float32)
    lo = m.min(axis=(1, 2), keepdims=True)
    span = m.max(axis=(1, 2), keepdims=True) - lo
    return np.where(span > 0, (m - lo) / np.where(span > 0, span, 1), 0).astype(np.float32)


def guided_gradcam(model, images, target, penultimate_layer: str | int | None = None) -> np.ndarray:
    """Classic Guided Grad-CAM (Selvaraju et al.): guided-backprop saliency x Grad-CAM, renormalised."""
    from labkit.attribution.saliency import saliency

    return renormalize(saliency(model, images, target, "guided") * gradcam(model, images, target, "vanilla",
                                                                           penultimate_layer))
