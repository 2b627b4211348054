"""Grad-CAM, Grad-CAM++ and Layer-CAM (under any backprop rule), and classic Guided Grad-CAM, compiled:
tf-keras-vis' ``Gradcam``, ``GradcamPlusPlus`` and ``Layercam``, each a map of the shared engine's one
forward+backward (``_core.rule_maps_function``)."""

from __future__ import annotations

import numpy as np

from labkit.attribution._core import CAMS, rule_maps_function
from labkit.attribution._utils import inputs, normalize, rule_index, upsampler
from labkit.deprecation import renamed
from labkit.errors import LabkitError

Layer = str | int | None  # a layer's name or index; None: the default CAM layer (``attribution.default_cam_layer``)


def cam_function(model, kind: str = "gradcam", backprop: str = "vanilla", layer: Layer = None):
    """The compiled ``f(x, targets) -> (n, h, w)`` of CAM ``kind`` (``gradcam``, ``gradcam++``, ``layercam``)
    at ``layer`` under the ``backprop`` rule: ``rule_maps_function``'s trace, with the rule bound."""
    if kind not in CAMS:
        raise LabkitError(f"unknown CAM {kind!r}; one of {', '.join(CAMS)}")
    fn, rule = rule_maps_function(model, backprop, layer), rule_index(backprop)
    return lambda x, targets: fn(x, targets, rule)[kind]


@renamed(target="targets")
def layer_gradients(model, images, targets, layer: Layer = None, backprop: str = "vanilla"
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``(activations, gradients)``, each ``(n, h, w, c)``: the CAM ``layer``'s output and the gradient of the
    target's logit with respect to it, under the ``backprop`` rule (what Grad-CAM is computed from; compiled: the
    trace of ``rule_maps_function``, which the maps of that rule and layer share)."""
    fn = rule_maps_function(model, backprop, layer)
    x, ids = inputs(model, images, targets)
    out = fn(x, ids, rule_index(backprop))
    return out["activations"].numpy(), out["gradients"].numpy()


def upsample_cam(cams, size: int | tuple[int, int]) -> np.ndarray:
    """CAMs ``(n, h, w)`` at a layer's resolution, resized to ``size`` and scaled to 0..1 per map, as tf-keras-vis'
    ``Gradcam`` does after its weighted sum (linear zoom, corners aligned; then ``normalize``)."""
    cams = np.asarray(cams, np.float32)
    if cams.ndim != 3:
        raise LabkitError(f"CAMs must be (n, h, w), got shape {cams.shape}")
    size = (size, size) if isinstance(size, int) else tuple(size)
    import tensorflow as tf

    return normalize(upsampler(cams.shape[1:], size)(tf.constant(cams))).numpy()


def _maps(kind, model, images, targets, backprop, layer) -> np.ndarray:
    return cam_function(model, kind, backprop, layer)(*inputs(model, images, targets)).numpy()


@renamed(target="targets", penultimate_layer="layer")
def gradcam(model, images, targets, backprop: str = "vanilla", layer: Layer = None) -> np.ndarray:
    """Grad-CAM ``(n, h, w)`` in 0..1 at ``layer``, upsampled and normalised as tf-keras-vis does;
    ``backprop="guided"``/``"rectified"``: Grad-CAM of the model under that rule."""
    return _maps("gradcam", model, images, targets, backprop, layer)


@renamed(target="targets", penultimate_layer="layer")
def gradcam_plus_plus(model, images, targets, backprop: str = "vanilla", layer: Layer = None) -> np.ndarray:
    """Grad-CAM++ ``(n, h, w)`` in 0..1, as tf-keras-vis' ``GradcamPlusPlus``."""
    return _maps("gradcam++", model, images, targets, backprop, layer)


@renamed(target="targets", penultimate_layer="layer")
def layercam(model, images, targets, backprop: str = "vanilla", layer: Layer = None) -> np.ndarray:
    """Layer-CAM ``(n, h, w)`` in 0..1, as tf-keras-vis' ``Layercam``."""
    return _maps("layercam", model, images, targets, backprop, layer)


def renormalize(maps: np.ndarray) -> np.ndarray:
    """Per map ``(m - min) / (max - min)`` (0 where constant): how labkit renormalises a product of maps."""
    m = np.asarray(maps, dtype=np.float32)
    lo = m.min(axis=(1, 2), keepdims=True)
    span = m.max(axis=(1, 2), keepdims=True) - lo
    return np.where(span > 0, (m - lo) / np.where(span > 0, span, 1), 0).astype(np.float32)


@renamed(target="targets", penultimate_layer="layer")
def guided_gradcam(model, images, targets, layer: Layer = None) -> np.ndarray:
    """Classic Guided Grad-CAM (Selvaraju et al.): guided-backprop saliency x Grad-CAM, renormalised; both maps
    from one forward+backward of ``rule_maps_function`` where the CAM layer separates the model (else one per
    rule)."""
    fn = rule_maps_function(model, "guided", layer)
    x, ids = inputs(model, images, targets)
    guided = fn(x, ids, rule_index("guided"))
    cam = guided.get("vanilla_gradcam")
    if cam is None:  # a connection skips the CAM layer: a vanilla pass of its own
        cam = fn(x, ids, rule_index("vanilla"))["gradcam"]
    return renormalize(guided["saliency"].numpy() * cam.numpy())
