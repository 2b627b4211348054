"""Model modifiers for tf-keras-vis: linear output, guided and rectified backpropagation; the backprop rules'
names (``RULES``), checked here for every method that takes one.

``ReplaceToLinear`` and ``GuidedBackpropagation`` are tf-keras-vis's own. Ours add two
things it lacks: the ReLU family is found by itself (tf-keras-vis only patches
``relu``, so on a relu6 network guided backprop silently changes nothing), and a
modifier that would patch zero layers raises instead of doing nothing.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from tf_keras_vis.utils.model_modifiers import GuidedBackpropagation as _TkvGuided
from tf_keras_vis.utils.model_modifiers import ModelModifier, ReplaceToLinear

from labkit.errors import LabkitError

__all__ = ["MODIFIERS", "RULES", "GuidedBackpropagation", "RectifiedBackpropagation", "ReplaceToLinear",
           "backprop_modifiers", "check_rule", "relu_family", "relu_layers"]

RULES = ("vanilla", "guided", "rectified")  # the backprop rules, in the order the switched functions index them


def check_rule(rule: str) -> str:
    """``rule`` if it is one of ``RULES``, else one clear error."""
    if rule not in RULES:
        raise LabkitError(f"unknown backprop rule {rule!r}; one of {', '.join(RULES)}")
    return rule


def relu_family() -> list:
    """The activation functions that guided and rectified backprop patch."""
    acts = keras.activations
    return [acts.relu, acts.relu6, tf.keras.activations.relu, tf.nn.relu, tf.nn.relu6]


def relu_layers(model, targets=None) -> list:
    """Layers of ``model`` whose ``.activation`` is in the ReLU family (or ``targets``)."""
    targets = relu_family() if targets is None else list(targets)
    return [layer for layer in model.layers if getattr(layer, "activation", None) in targets]


def _patch(model, targets, make, what: str) -> None:
    layers = relu_layers(model, targets)
    if not layers:
        raise LabkitError(f"{what} found no ReLU-family activation to modify in model {model.name!r}; "
                          "pass target_activations=[...] with the activations the model uses")
    for layer in layers:
        layer.activation = make(layer.activation)


class GuidedBackpropagation(_TkvGuided):
    """Guided backprop: the gradient passes where ``dy > 0`` and ``x > 0`` (Springenberg et al.)."""

    def __init__(self, target_activations=None) -> None:
        super().__init__(target_activations=relu_family() if target_activations is None else target_activations)

    def __call__(self, model) -> None:
        _patch(model, self.target_activations, self._get_guided_activation, "GuidedBackpropagation")


class RectifiedBackpropagation(ModelModifier):
    """Rectified ("deconvnet") backprop: the gradient passes where ``dy > 0`` only (Zeiler & Fergus).

    Seed 003's modifier, made correct under Keras 3: the activation's own forward is kept
    and only the backward rule changes; guided backprop gates on ``x > 0`` as well.
    """

    def __init__(self, target_activations=None) -> None:
        self.target_activations = relu_family() if target_activations is None else target_activations

    @staticmethod
    def _get_rectified_activation(activation):
        @tf.custom_gradient
        def rectified_activation(x):
            def grad(dy):
                return tf.cast(dy > 0, dy.dtype) * dy

            return activation(x), grad

        return rectified_activation

    def __call__(self, model) -> None:
        _patch(model, self.target_activations, self._get_rectified_activation, "RectifiedBackpropagation")


MODIFIERS = dict(zip(RULES, (None, GuidedBackpropagation, RectifiedBackpropagation), strict=True))


def backprop_modifiers(kind: str = "vanilla") -> list:
    """``[ReplaceToLinear(), <kind>]``: the modifier list for a tf-keras-vis visualiser."""
    extra = MODIFIERS[check_rule(kind)]
    return [ReplaceToLinear()] + ([extra()] if extra else [])
