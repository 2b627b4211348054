"""Test models and helpers, for labkit's tests and for anyone checking a method fast (as tf-keras-vis'
``utils/test.py`` and Captum's ``testing/helpers``): tiny CNNs shaped like the real models, and ``assert_close``,
the comparison of float arrays that holds on every numeric path."""

from __future__ import annotations

import numpy as np

from labkit.models.preprocessing import preprocess_layer


def assert_close(actual, expected, rel: float = 1e-6, scale: float | None = None, err_msg: str = "") -> None:
    """``actual`` equals ``expected`` (same shape, NaN where it is NaN) within ``rel`` of the values' magnitude:
    ``max |actual - expected| <= rel * scale``, ``scale`` by default ``max |expected|``.

    A float32 result carries its rounding relative to the magnitude of the terms it sums, not to its own value: an
    element that cancels to near zero moves by ulps of the large terms when oneDNN, the instruction set or the
    thread count change the summation order. So the tolerance scales with the array, never a fixed absolute floor
    (``atol=1e-9`` on gradients of 5e-5 failed on AVX-512), and each ``rel`` says how many float32 roundings
    (6e-8 each) the comparison allows.
    """
    a, e = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    if scale is None:
        scale = float(np.abs(e[np.isfinite(e)]).max(initial=0.0))
    # NumPy's own comparison (shapes, NaN and infinities where expected has them) with our absolute tolerance
    np.testing.assert_allclose(a, e, rtol=0, atol=rel * scale, strict=True,
                               err_msg=f"tolerance {rel:g} x {scale:.3g} (the values' magnitude) {err_msg}".strip())


def tiny_model(activation: str = "relu", size: int = 32, classes: int = 1000, seed: int = 0, hidden: int = 0):
    """A small random CNN shaped like the real ones (raw 0..255 in, softmax ``predictions``).

    For fast tests and examples; ``activation`` is any Keras activation name; ``hidden``: the width of a dense
    layer with that activation before the head (0: none).
    """
    import keras

    L = keras.layers
    init = keras.initializers.HeNormal(seed=seed)
    inputs = keras.Input((size, size, 3), name="image")
    x = preprocess_layer("lite")(inputs)
    x = L.Conv2D(8, 3, padding="same", activation=activation, kernel_initializer=init, name="conv1")(x)
    x = L.Conv2D(16, 3, strides=2, padding="same", kernel_initializer=init, name="conv2")(x)
    x = L.Activation(activation, name="conv2_act")(x)
    x = L.Conv2D(16, 3, padding="same", activation=activation, kernel_initializer=init, name="conv3")(x)
    x = L.GlobalAveragePooling2D(name="avg_pool")(x)
    if hidden:
        x = L.Dense(hidden, activation=activation, kernel_initializer=init, name="dense_hidden")(x)
    outputs = L.Dense(classes, activation="softmax", kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
                      name="predictions")(x)
    return keras.Model(inputs, outputs, name=f"tiny_{activation}")


def tiny_tanh10(size: int = 32):
    """A tiny 10-class tanh CNN with its head scaled x10, so that classes differ clearly and one can reach a
    high probability (ReLU networks this small are nearly constant)."""
    model = tiny_model("tanh", size=size, classes=10)
    head = model.get_layer("predictions")
    w, b = head.get_weights()
    head.set_weights([10 * w, b])
    return model
