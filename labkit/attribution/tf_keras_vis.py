"""The reference engine: tf-keras-vis itself, eager, every visualiser sharing one modified clone of the model.
The compiled maps (``saliency``, ``gradcam``, ``scorecam``) are tested against it."""

from __future__ import annotations

import warnings

import numpy as np

from labkit.attribution.gradcam import renormalize
from labkit.attribution.methods import METHODS
from labkit.models import cached, cached_models, release
from labkit.quiet import INPUT_STRUCTURE_WARNING

# A clone of VGG16 costs ~1.9 GB, and each tf-keras-vis visualiser given a modifier clones again: one clone at
# a time, in labkit.models' cache, its backprop rule switched in place.


def modified_model(model, backprop: str = "vanilla"):
    """A clone of ``model`` with ``ReplaceToLinear`` and the ``backprop`` rule (vanilla/guided/rectified).

    One clone, of the last model asked for, built on first use: asking for another rule restores the clone's
    own activations and applies the new rule in place, so an earlier returned reference follows the latest
    rule. ``release_clones()`` frees it (call it after changing ``model``'s weights in place).
    """
    from labkit import modifiers

    mods = modifiers.backprop_modifiers(backprop)  # checks the rule name
    for other in cached_models("clone"):
        if other is not model:
            release(other, "clone")
    state = cached(model, "clone", lambda: _clone(model, mods[0]))
    clone = state["model"]
    if state["rule"] != backprop:
        for name, activation in state["activations"].items():
            clone.get_layer(name).activation = activation
        state["rule"] = "vanilla"
        for modifier in mods[1:]:
            modifier(clone)
        state["rule"] = backprop
    return clone


def _clone(model, replace_to_linear) -> dict:
    from tf_keras_vis.saliency import Saliency

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=INPUT_STRUCTURE_WARNING)
        clone = Saliency(model, model_modifier=[replace_to_linear], clone=True).model
    return {"model": clone, "rule": "vanilla",
            "activations": {layer.name: layer.activation for layer in clone.layers if hasattr(layer, "activation")}}


def release_clones(clear_session: bool = False) -> None:
    """Drop the cached modified clones (and optionally Keras' global state) and collect garbage."""
    release(kind="clone", clear_session=clear_session)


def one_map(model, x, ids, method, done, *, smooth_samples, smooth_noise, layer, scorecam_max_n, seed):
    import keras
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.layercam import Layercam
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.scores import CategoricalScore

    """One ``METHODS`` map by tf-keras-vis itself for the checked batch ``x`` and class ids (``done``: maps
    computed before in the same call, which Guided Grad-CAM multiplies)."""
    kind, rule, _ = METHODS[method]
    if kind == "product":  # elementwise product of two maps computed just before
        return renormalize(done["guided_backprop"] * done["gradcam"])
    clone = modified_model(model, rule)
    ids = [int(i) for i in ids]
    score = CategoricalScore(ids)
    cam = {"penultimate_layer": layer, "seek_penultimate_conv_layer": False}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=INPUT_STRUCTURE_WARNING)
        if kind == "saliency":
            samples = smooth_samples if method == "smoothgrad" else 0
            state = np.random.get_state()  # tf-keras-vis draws SmoothGrad's noise from np.random
            np.random.seed(seed)
            try:
                maps = Saliency(clone, clone=False)(score, x, smooth_samples=samples, smooth_noise=smooth_noise)
            finally:
                np.random.set_state(state)
        elif kind == "gradcam":
            maps = Gradcam(clone, clone=False)(score, x, **cam)
        elif kind == "gradcam++":
            maps = GradcamPlusPlus(clone, clone=False)(score, x, **cam)
        elif kind == "layercam":
            maps = Layercam(clone, clone=False)(score, x, **cam)
        else:  # Score-CAM, one image at a time: its masked copies take channels x n images of memory
            quiet = keras.config.is_interactive_logging_enabled()
            keras.config.disable_interactive_logging()  # its model.predict would draw progress bars
            try:
                maps = np.concatenate([Scorecam(clone, clone=False)(CategoricalScore([t]), x[i:i + 1],
                                                                       max_N=scorecam_max_n, **cam)
                                       for i, t in enumerate(ids)])
            finally:
                if quiet:
                    keras.config.enable_interactive_logging()
    return np.asarray(maps, dtype=np.float32).reshape(x.shape[:3])
