"""Using a model: its input size and batches, its logits, one compiled forward per model and output,
the one input gradient, and the one resolver of target classes."""

from __future__ import annotations

import weakref
from collections.abc import Callable

import numpy as np

from labkit.errors import LabkitError, check_int
from labkit.models.cache import cached


def input_size(model) -> int:
    """The square input side length a model expects."""
    return int(model.input_shape[1])


OUTPUTS = ("probability", "logit")
# images per compiled forward: on 2 CPU cores EfficientNet-Lite0 runs 4-16 a pass at ~23 ms per image and 32 at
# ~31 ms (memory traffic); VGG16 is flat (300-320 ms) from 4 to 64 (benchmarks/bench_models.py)
PREDICT_BATCH = 16


def input_batch(model, images) -> np.ndarray:
    """A float32 0..255 batch at ``model``'s input size from names, paths, arrays or a batch."""
    from labkit.images import fit_batch

    return fit_batch(images, input_size(model))


def logits_model(model):
    """``model`` without its final softmax: the unnormalised class scores (logits), built once per model.

    Shares every layer with ``model`` except a ``Dense`` head, which is copied into a linear
    twin: change ``model``'s weights before, not after, calling this (or ``release(model)`` after).
    """
    return cached(model, "logits", lambda: _logits_model(model))


def _logits_model(model):
    import keras

    last = model.layers[-1]
    act = getattr(last, "activation", None)
    if act is keras.activations.linear:
        return model
    if act is not keras.activations.softmax or not isinstance(last, (keras.layers.Dense, keras.layers.Activation)):
        raise LabkitError(f"model {model.name!r} must end in a softmax Dense or Activation layer to get its logits; "
                          f"its last layer is {type(last).__name__} {last.name!r}")
    if isinstance(last, keras.layers.Activation):
        out = last.input
    else:
        head = keras.layers.Dense(last.units, use_bias=last.use_bias, name=f"{last.name}_logits")
        out = head(last.input)
        head.set_weights(last.get_weights())
    return keras.Model(model.inputs, out, name=f"{model.name}_logits")


def check_output(output: str) -> str:
    """``output`` if it is ``probability`` or ``logit``, else one clear error."""
    if output not in OUTPUTS:
        raise LabkitError(f"output must be one of {', '.join(OUTPUTS)}, got {output!r}")
    return output


def class_scores(model, output: str = "probability"):
    """``f(x, training=False)``: ``model``'s class probabilities or logits (``output``), for compiled steps.

    Holds no strong reference to ``model``, so caches keyed weakly on it can let it go.
    """
    if check_output(output) == "logit":
        return logits_model(model)  # shares the layers, holds no reference to ``model``
    ref = weakref.ref(model)

    def f(x, training=False):
        return ref()(x, training=training)

    return f


def predict(model, images, batch_size: int = PREDICT_BATCH, output: str = "probability") -> np.ndarray:
    """Class probabilities (``output="logit"``: the scores before the softmax) of raw RGB images of any size.

    One compiled forward per model and output, ``batch_size`` images at a time.
    """
    check_int("batch_size", batch_size)
    forward = compiled_forward(model, output)
    x = input_batch(model, images)
    return np.concatenate([forward(x[i:i + batch_size]).numpy() for i in range(0, len(x), batch_size)])


def compiled_forward(model, output: str = "probability") -> Callable:
    """``f(x)``: the compiled forward of ``model``'s probabilities or logits on a batch, traced once per model."""
    import tensorflow as tf

    check_output(output)

    def build():
        f = class_scores(model, output)
        return tf.function(lambda x: f(x, training=False), input_signature=batch_signature(model)[:1])

    return cached(model, ("forward", output), build)


def batch_signature(model) -> list:
    """``[images, targets]``, the ``tf.function`` input signature of a batch and its per-image target classes, any
    batch size: ``(None, h, w, c)`` float32 at ``model``'s input and ``(None,)`` int32. Every compiled step uses
    it (the forward takes the first)."""
    import tensorflow as tf

    return [tf.TensorSpec([None, *model.input_shape[1:]], tf.float32), tf.TensorSpec([None], tf.int32)]


def target_score(outputs, targets):
    """Traceable: each image's output for its own target class, ``outputs[i, ..., targets[i]]`` (the last axis
    holds the classes; tf-keras-vis' ``CategoricalScore``)."""
    import tensorflow as tf

    return tf.gather(outputs, targets, axis=len(outputs.shape) - 1, batch_dims=1)


def score_gradient(f: Callable, x, targets):
    """Traceable: ``(outputs, score, d score / d x)`` of ``f`` on a batch ``x``, ``score`` the output of each
    image's target class (``target_score``). The one input gradient: the compiled steps of IG, the fooling attack
    and the benchmarks' reference are built on it."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(x)
        out = f(x, training=False)
        score = target_score(out, targets)
    return out, score, tape.gradient(score, x)


def input_gradient(model, output: str = "logit") -> Callable:
    """``g(x, target) -> (score, gradient)``: the compiled gradient of each image's target score (its logit, or its
    probability) w.r.t. the input pixels, one forward+backward per batch, traced once per model and output."""
    import tensorflow as tf

    check_output(output)

    def build():
        f = class_scores(model, output)

        @tf.function(input_signature=batch_signature(model))
        def gradient(x, targets):
            _, score, grad = score_gradient(f, x, targets)
            return score, grad

        return gradient

    return cached(model, ("input_gradient", output), build)


def num_classes(model) -> int:
    return int(model.output_shape[-1])


def target_ids(model, targets, n: int, images=None, output: str = "probability") -> np.ndarray:
    """One class index per image (int32), the one resolver of targets: a class name or index for all ``n``
    images, one per image, an array, a tf-keras-vis score (``labkit.scores``), or ``None`` for each image's
    top-1 class under ``output`` (then ``images`` is needed). ``model``: the model, or its number of classes.
    One error for an unknown name, a wrong count or a class the model does not have."""
    from labkit import imagenet

    if targets is None:
        if images is None:
            raise LabkitError("targets=None means each image's top-1 class: give the images too")
        return predict(model, images, output=output).argmax(1).astype(np.int32)
    if callable(targets):  # CategoricalScore (.indices) or scores.per_image_score (.targets)
        ids = getattr(targets, "targets", None) or getattr(targets, "indices", None)
        if ids is None:
            raise LabkitError("a score function needs .targets or .indices (use labkit.scores)")
        targets = list(ids)
    if isinstance(targets, np.ndarray):
        targets = targets.tolist()
    ids = np.array(imagenet.targets(targets, n), np.int32)
    classes = model if isinstance(model, int) else num_classes(model)
    if len(ids) and int(ids.max()) >= classes:
        raise LabkitError(f"target class {int(ids.max())} is out of range for a model with {classes} classes")
    return ids
