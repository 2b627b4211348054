"""What the compiled maps share: one cache per model, the backprop rule applied while tracing, the inputs,
and tf-keras-vis' post-processing (normalisation, CAM upsampling) written in TensorFlow."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from contextlib import contextmanager

import numpy as np

from labkit.errors import LabkitError
from labkit.models import cache as models_cache

EPSILON = 1e-7  # keras.backend.epsilon(): tf-keras-vis' normalize divides by (max - min + EPSILON)


class Compiled:
    """A ``tf.function`` run as tf-keras-vis' eager code computes: Grappler's arithmetic optimizer off.

    That pass rewrites float arithmetic in the forward pass (an ulp off eager); on EfficientNet-Lite0 this
    flips a ReLU6 gate whose input is -1.4e-6 and moves a saliency map by 1%. Without it the gradients
    equal eager TensorFlow's bit for bit, at no measurable cost. The option is set for this call only, in
    this thread (TensorFlow's per-thread function-call options); each function is optimised once so.
    """

    _options = None  # (eager context, its function-call options with the arithmetic optimizer off), built once

    def __init__(self, function) -> None:
        self.function = function
        # one trace per model and layer by design; TF's "frequent retracing" warning counts
        # traces per Python function body across all of them, and would warn after five
        function._omit_frequent_tracing_warning = True

    @classmethod
    def _call_options(cls):
        if cls._options is None:
            try:
                from tensorflow.core.protobuf import config_pb2, rewriter_config_pb2
                from tensorflow.python.eager import context

                ctx = context.context()
                config = config_pb2.ConfigProto.FromString(ctx.function_call_options.config_proto_serialized)
                config.graph_options.rewrite_options.arithmetic_optimization = rewriter_config_pb2.RewriterConfig.OFF
                cls._options = (ctx, context.FunctionCallOptions(config_proto=config))
            except (ImportError, AttributeError):  # a TensorFlow without them: Grappler's defaults
                cls._options = (None, None)
        return cls._options

    def __call__(self, *args):
        ctx, options = self._call_options()
        if ctx is None:
            return self.function(*args)
        saved = ctx.function_call_options
        ctx.function_call_options = options
        try:
            return self.function(*args)
        finally:
            ctx.function_call_options = saved

    def experimental_get_tracing_count(self) -> int:
        """How many times the function was traced (once, whatever the batch size)."""
        return self.function.experimental_get_tracing_count()


def cached(model, key: tuple, build: Callable) -> Compiled:
    """The compiled function ``key`` of ``model`` (in ``labkit.models``' cache), built once by
    ``build(weakref.ref(model))``: a weak reference only, so that the cache never keeps ``model`` alive."""
    return models_cache.cached(model, ("map", *key), lambda: Compiled(build(weakref.ref(model))))


def release(model=None) -> None:
    """Drop the compiled maps of ``model`` (``None``: of every model) and collect garbage."""
    models_cache.release(model, "map")


def functions(model) -> dict:
    """The compiled maps cached for ``model``: ``{(method, rule, layer): Compiled}``."""
    return {k[1:]: v for k, v in models_cache.entries(model).items() if isinstance(k, tuple) and k[0] == "map"}


def check_rule(rule: str) -> str:
    """``rule`` if it is a backprop rule (``labkit.modifiers.RULES``, imported when asked: it needs TensorFlow),
    else one clear error."""
    from labkit import modifiers

    return modifiers.check_rule(rule)


@contextmanager
def backprop_rule(model, rule):
    """``model`` as tf-keras-vis' modified clone: linear output (``ReplaceToLinear``) and the ``rule``, restored on
    exit. ``rule``: a name, fixed in the graph (``labkit.modifiers``: the guided/rectified rules patch ReLU and
    ReLU6), or an int32 scalar tensor, a ``labkit.modifiers.RULES`` index read at run time (``_switched``): one
    trace then serves the three rules.

    Used only while a ``tf.function`` traces: the graph keeps the patched activations, the model
    object is left as it was, and no clone is needed.
    """
    from labkit import modifiers

    def switch(model):
        for layer in modifiers.relu_layers(model):
            layer.activation = _switched(layer.activation, rule)

    mods = modifiers.backprop_modifiers(rule) if isinstance(rule, str) else \
        [*modifiers.backprop_modifiers("vanilla"), switch]
    saved = [(layer, layer.activation) for layer in model.layers if hasattr(layer, "activation")]
    try:
        for modifier in mods:
            modifier(model)
        yield model
    finally:
        for layer, activation in saved:
            layer.activation = activation


def rule_index(rule: str) -> np.int32:
    """The ``labkit.modifiers.RULES`` index of ``rule``: the runtime argument of the functions traced under
    ``backprop_rule`` with a tensor."""
    from labkit.modifiers import RULES

    return np.int32(RULES.index(check_rule(rule)))


def check_relus(model, rule: str) -> None:
    """One clear error where ``rule`` would change nothing: a guided or rectified rule on a model without ReLUs."""
    from labkit import modifiers

    if rule != "vanilla" and not modifiers.relu_layers(model):
        raise LabkitError(f"the {rule} rule found no ReLU-family activation to modify in model {model.name!r}")


def _switched(activation, rule):
    """``activation`` whose backward follows ``rule``, an int32 scalar tensor read at run time (a
    ``labkit.modifiers.RULES`` index): vanilla (ReLU's or ReLU6's own gradient kernel), guided (``dy > 0`` and
    ``x > 0``, tf-keras-vis' ``GuidedBackpropagation``) or rectified (``dy > 0``,
    ``labkit.modifiers.RectifiedBackpropagation``). With the activation's own kernel and each branch computing only
    its gates, the vanilla rule's forward+backward of 8 images takes 6-15% longer than the unpatched model's on
    Lite0 (27% with the gates computed as arithmetic)."""
    import keras
    import tensorflow as tf

    from labkit.modifiers import RULES

    capped = activation in (keras.activations.relu6, tf.nn.relu6)
    own = tf.raw_ops.Relu6Grad if capped else tf.raw_ops.ReluGrad

    @tf.custom_gradient
    def switched(x):
        def grad(dy):
            def passes():
                return tf.cast(dy > 0, dy.dtype)

            branches = {"vanilla": lambda: own(gradients=dy, features=x),
                        "guided": lambda: passes() * tf.cast(x > 0, dy.dtype) * dy,
                        "rectified": lambda: passes() * dy}
            return tf.switch_case(rule, [branches[r] for r in RULES])

        return activation(x), grad

    return switched


def inputs(model, images, targets) -> tuple[np.ndarray, np.ndarray]:
    """``(x, ids)``: the float32 0..255 batch at ``model``'s input size and one class index per image."""
    from labkit.models import input_batch, target_ids

    x = input_batch(model, images)
    return x, target_ids(model, targets, len(x))


def signature(model, rule: bool = False) -> list:
    """``labkit.models.batch_signature`` (``rule``: and the rule's index, an int32 scalar)."""
    import tensorflow as tf

    from labkit.models import batch_signature

    return [*batch_signature(model), tf.TensorSpec([], tf.int32)] if rule else batch_signature(model)


def normalize(maps):
    """tf-keras-vis' ``normalize``: per map, ``(m - min) / (max - min + 1e-7)`` over all but the first axis."""
    import tensorflow as tf

    axes = list(range(1, maps.shape.rank))
    lo = tf.reduce_min(maps, axis=axes, keepdims=True)
    hi = tf.reduce_max(maps, axis=axes, keepdims=True)
    return (maps - lo) / (hi - lo + EPSILON)


def zoom_matrix(n_in: int, n_out: int) -> np.ndarray:
    """``(n_out, n_in)`` weights of ``scipy.ndimage.zoom(order=1)`` along one axis: linear interpolation with
    the corners aligned (output pixel ``o`` reads input coordinate ``o * (n_in - 1) / (n_out - 1)``)."""
    if n_in == 1:
        return np.ones((n_out, 1), np.float32)
    if n_out == 1:  # scipy reads coordinate 0
        return np.eye(1, n_in, dtype=np.float32)
    c = np.arange(n_out) * ((n_in - 1) / (n_out - 1))
    lo = np.minimum(np.floor(c).astype(np.int64), n_in - 2)
    frac = c - lo
    m = np.zeros((n_out, n_in))
    m[np.arange(n_out), lo] = 1 - frac
    m[np.arange(n_out), lo + 1] += frac
    return m.astype(np.float32)


def upsampler(small: tuple[int, int], size: tuple[int, int]) -> Callable:
    """``f(maps)``: ``(n, h, w[, c])`` maps resized to ``size`` as tf-keras-vis' ``zoom(..., order=1)`` does
    (its modes ``constant`` and ``nearest`` agree here: every output pixel falls inside the input)."""
    import tensorflow as tf

    if tuple(small) == tuple(size):
        return lambda maps: maps
    mh = tf.constant(zoom_matrix(small[0], size[0]))
    mw = tf.constant(zoom_matrix(small[1], size[1]))

    def up(maps):
        if maps.shape.rank == 3:
            return tf.einsum("Hh,nhw,Ww->nHW", mh, maps, mw)
        return tf.einsum("Hh,nhwc,Ww->nHWc", mh, maps, mw)

    return up


def spatial_shape(model, layer: str) -> tuple[int, int]:
    shape = model.get_layer(layer).output.shape
    return int(shape[1]), int(shape[2])
