"""The shared gradient engine of the compiled maps: one forward+backward under a backprop rule, with the target's
score and the CAM layer's output on one tape, gives every gradient map of that rule (``rule_maps_function``):
saliency and SmoothGrad's samples from the gradient w.r.t. the pixels, the CAMs (``_cam``, tf-keras-vis'
formulas) from the gradient w.r.t. the CAM layer. ``saliency`` and ``gradcam`` read their maps from it."""

from __future__ import annotations

from labkit.attribution._utils import (
    backprop_rule,
    cached,
    check_relus,
    check_rule,
    normalize,
    rule_index,
    signature,
    spatial_shape,
    upsampler,
)
from labkit.models import target_score

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


def _upsampler(ref, layer: str):
    model = ref()
    return upsampler(spatial_shape(model, layer), tuple(model.input_shape[1:3]))


def _split(model, layer: str):
    """``(lower, upper)``: Keras models from the input to ``layer``'s output and from there to the output, sharing
    ``model``'s layers; ``None`` when a connection skips over ``layer`` (no single tensor separates the two)."""
    import keras

    cut = model.get_layer(layer).output
    try:
        return keras.Model(model.inputs, cut), keras.Model(cut, model.outputs)
    except ValueError:
        return None


def _rule_maps_function(ref, layer: str):
    """One forward+backward under ``rule`` (a ``rule_index`` tensor, read at run time), with the target's score
    and ``layer``'s output on one tape: the gradients w.r.t. the pixels and w.r.t. ``layer`` give every map.

    Where ``layer`` separates the model, under the guided and rectified rules the layers above it also run under
    the vanilla rule, from the same activations: Guided Grad-CAM's Grad-CAM (``vanilla_gradcam``) comes from the
    guided pass, at the cost of the classifier head's layers (ReLUs above the CAM layer, VGG16's fc1 and fc2,
    make the two rules differ there)."""
    import keras
    import tensorflow as tf

    model = ref()
    parts = _split(model, layer)
    both = None if parts else keras.Model(model.inputs, [*model.outputs, model.get_layer(layer).output])
    up = _upsampler(ref, layer)

    @tf.function(input_signature=signature(model, rule=True), autograph=False)
    def maps(x, targets, rule):
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(x)
            with backprop_rule(ref(), rule):
                if parts:
                    acts = parts[0](x, training=False)
                    outputs = parts[1](acts, training=False)
                else:
                    outputs, acts = both(x, training=False)
                score = target_score(outputs, targets)
        grads_x, grads = tape.gradient(score, [x, acts])
        out = {kind: normalize(up(tf.nn.relu(_cam(kind, grads, acts, score)))) for kind in CAMS}
        out.update(saliency=normalize(tf.reduce_max(tf.abs(grads_x), axis=-1)), input_gradients=grads_x,
                   activations=acts, gradients=grads)
        if parts:  # under the vanilla rule, Grad-CAM itself
            out["vanilla_gradcam"] = tf.cond(tf.equal(rule, rule_index("vanilla")), lambda: out["gradcam"],
                                             lambda: head(acts, targets))
        return out

    def head(acts, targets):
        """Grad-CAM from the layers above ``layer`` under the vanilla rule, on a tape of its own (one shared with
        the pass below would trace that pass's backward again)."""
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(acts)
            with backprop_rule(ref(), "vanilla"):
                score = target_score(parts[1](acts, training=False), targets)
        return normalize(up(tf.nn.relu(_cam("gradcam", tape.gradient(score, acts), acts, score))))

    return maps


KINDS = ("saliency", *CAMS)  # the maps of one forward+backward of a rule


def rule_maps_function(model, backprop: str = "vanilla", layer: str | int | None = None):
    """The compiled ``f(x, targets, rule_index(backprop)) -> {name: tensor}``: the ``KINDS`` maps ``(n, h, w)``, the
    target score's ``input_gradients`` ``(n, h, w, c)``, the CAM ``layer``'s ``activations`` and ``gradients``
    ``(n, h', w', c)`` and, where ``layer`` separates the model, ``vanilla_gradcam``, all from ONE forward+backward
    under the ``backprop`` rule: the gradients w.r.t. the pixels (saliency, SmoothGrad) and w.r.t. the CAM
    ``layer`` (the CAMs) come from the same tape. The rule is an argument, read at run time (``backprop_rule``):
    one trace per (model, layer) serves every gradient method of every rule (cached)."""
    from labkit.attribution.methods import cam_layer

    check_rule(backprop)  # before the model is looked at
    layer = cam_layer(model, layer)
    check_relus(model, backprop)
    return cached(model, ("rule_maps", "any", layer), lambda ref: _rule_maps_function(ref, layer))
