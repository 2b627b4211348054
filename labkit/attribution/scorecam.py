"""(Faster-)Score-CAM, compiled: tf-keras-vis' ``Scorecam`` in one graph, its masked copies batched.

As labkit has always called tf-keras-vis (one image at a time), each image keeps its own ``max_n`` channels;
tf-keras-vis given a whole batch would use the union of every image's channels for all of them.
"""

from __future__ import annotations

import numpy as np

from labkit.attribution._utils import (
    EPSILON,
    backprop_rule,
    cached,
    inputs,
    normalize,
    signature,
    spatial_shape,
    upsampler,
)
from labkit.deprecation import renamed
from labkit.errors import LabkitError, check_int, max_steps
from labkit.models import target_score

SCORECAM_BATCH = 16  # masked copies per forward: on 2 CPU cores, 8-16 run at ~0.85x a 2-image forward per copy


def _scorecam_function(ref, layer: str):
    import keras
    import tensorflow as tf

    model = ref()
    acts_model = keras.Model(model.inputs, model.get_layer(layer).output)  # shares the layers
    h, w, c = model.input_shape[1:]
    up = upsampler(spatial_shape(model, layer), (h, w))

    @tf.function(input_signature=[*signature(model), tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32)],
                 autograph=False)
    def scorecam(x, targets, max_n, batch_size):
        model = ref()
        n = tf.shape(x)[0]
        step = tf.maximum(1, batch_size // n)  # channels per forward: n * step masked copies

        def chunk(i, weights):
            masks = up(acts[..., i * step:(i + 1) * step])  # (n, h, w, k), upsampled as zoom(mode="nearest")
            lo = tf.reduce_min(masks, axis=[1, 2], keepdims=True)
            hi = tf.reduce_max(masks, axis=[1, 2], keepdims=True)
            masks = tf.transpose((masks - lo) / (hi - lo + EPSILON), [0, 3, 1, 2])[..., None]
            copies = tf.reshape(x[:, None] * masks, [-1, h, w, c])  # image-major: (n * k, h, w, c)
            probs = tf.nn.softmax(model(copies, training=False))
            probs = tf.reshape(probs, [n, -1, tf.shape(probs)[-1]])
            return i + 1, weights.write(i, tf.transpose(target_score(probs, targets)))  # (k, n)

        with backprop_rule(model, "vanilla"):  # linear output: the softmax above is tf-keras-vis' own
            acts = acts_model(x, training=False)
            # Faster-Score-CAM: the max_n channels of largest spatial standard deviation, per image
            _, top = tf.math.top_k(tf.math.reduce_std(acts, axis=[1, 2]), max_n)
            acts = tf.gather(acts, top, axis=3, batch_dims=1)  # (n, h', w', max_n)
            chunks = (max_n + step - 1) // step
            weights = tf.TensorArray(tf.float32, size=chunks, infer_shape=False)
            _, weights = tf.while_loop(lambda i, _: i < chunks, chunk, [0, weights])
        weights = tf.transpose(weights.concat())  # (n, max_n): the target's probability on each masked copy
        cam = tf.einsum("nhwk,nk->nhw", acts, weights)
        return normalize(up(tf.nn.relu(cam)))

    return scorecam


def scorecam_function(model, layer: str | int | None = None):
    """The compiled ``f(x, targets, max_n, batch_size) -> (n, h, w)`` at ``layer`` (cached)."""
    from labkit.attribution.methods import cam_layer

    layer = cam_layer(model, layer)
    return cached(model, ("scorecam", "vanilla", layer), lambda ref: _scorecam_function(ref, layer))


def scorecam_channels(model, layer: str, max_n: int | None, name: str = "max_n") -> int:
    """How many channels of the CAM ``layer`` Score-CAM masks the image with: ``max_n`` (``None`` or 0: every
    channel), one clear error outside 0..channels, capped by ``LABKIT_MAX_STEPS`` (as tf-keras-vis caps
    ``max_N``)."""
    channels = int(model.get_layer(layer).output.shape[-1])
    if max_n is not None and (isinstance(max_n, bool) or not isinstance(max_n, (int, np.integer))
                              or not 0 <= max_n <= channels):
        raise LabkitError(f"{name} must be in 0..{channels} (channels of {layer}; 0: all), got {max_n!r}")
    return max_steps(int(max_n or channels))


@renamed(target="targets", penultimate_layer="layer")
def scorecam(model, images, targets, max_n: int | None = None, layer: str | int | None = None,
             batch_size: int = SCORECAM_BATCH) -> np.ndarray:
    """(Faster-)Score-CAM ``(n, h, w)`` in 0..1: the CAM layer's channels weighted by the target's softmax
    probability on the image masked by each (upsampled, normalised) channel, as tf-keras-vis' ``Scorecam``.

    ``max_n``: Faster-Score-CAM's channel count, the ``max_n`` of largest variance (``None`` or 0: every
    channel, plain Score-CAM; ``scorecam_channels``). The masked copies go through the model ``batch_size`` at a
    time (at least one channel of every image), all in one compiled call.
    """
    from labkit.attribution.methods import cam_layer

    layer = cam_layer(model, layer)
    max_n = scorecam_channels(model, layer, max_n)
    check_int("batch_size", batch_size)
    x, ids = inputs(model, images, targets)
    return scorecam_function(model, layer)(x, ids, max_n, batch_size).numpy()
