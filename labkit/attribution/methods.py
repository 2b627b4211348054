"""The attention methods of lab 1: their names, the backprop rule each uses, and the layer the CAMs read."""

from __future__ import annotations

from collections.abc import Sequence

from labkit.deprecation import renamed
from labkit.errors import LabkitError

# name -> (tf-keras-vis visualiser, backprop rule for its model clone, what it is)
METHODS: dict[str, tuple[str, str, str]] = {
    "saliency": ("saliency", "vanilla", "vanilla saliency: |d score / d pixel|, max over colour channels"),
    "smoothgrad": ("saliency", "vanilla", "SmoothGrad: saliency averaged over noisy copies of the image"),
    "guided_backprop": ("saliency", "guided", "saliency through guided backprop (gradient passes if dy>0 and x>0)"),
    "rectified_backprop": ("saliency", "rectified", "saliency through rectified (deconvnet) backprop (dy>0)"),
    "gradcam": ("gradcam", "vanilla", "Grad-CAM: CAM-layer channels weighted by their mean gradient"),
    "gradcam_guided": ("gradcam", "guided", "seed 003's 'guided Grad-CAM': Grad-CAM on the guided-backprop model"),
    "gradcam_rectified": ("gradcam", "rectified", "seed 003's 'rectified Grad-CAM': Grad-CAM on the rectified model"),
    "gradcam++": ("gradcam++", "vanilla", "Grad-CAM++: higher-order weights for each channel"),
    "scorecam": ("scorecam", "vanilla", "(Faster-)Score-CAM: channels weighted by the score of the masked image"),
    "layercam": ("layercam", "vanilla", "Layer-CAM: activations weighted by their positive gradients, per pixel"),
    "guided_gradcam": ("product", "guided", "classic Guided Grad-CAM (Selvaraju et al.): guided backprop x Grad-CAM"),
}
_ALIASES = {"vanilla_saliency": "saliency", "gradcam_plus_plus": "gradcam++", "gradcampp": "gradcam++",
            "guided": "guided_backprop", "rectified": "rectified_backprop", "faster_scorecam": "scorecam"}
ENGINES = ("compiled", "tf-keras-vis")  # labkit.maps, and the eager reference it is tested against


def check_methods(methods: str | Sequence[str] = "all") -> list[str]:
    """Method names (``"all"`` or a list, aliases allowed) as canonical names; one error for unknown ones."""
    if isinstance(methods, str):
        methods = list(METHODS) if methods == "all" else [methods]
    names = [_ALIASES.get(str(m).strip().lower(), str(m).strip().lower()) for m in methods]
    unknown = [m for m, n in zip(methods, names, strict=True) if n not in METHODS]
    if unknown:
        raise LabkitError(f"unknown attention method(s) {', '.join(map(repr, unknown))}; "
                          f"known: {', '.join(METHODS)}")
    if not names:
        raise LabkitError("no attention method selected")
    return list(dict.fromkeys(names))


def spatial_layer(model) -> str | None:
    """The last layer with a spatial (4-D) output that is not pooling, or None."""
    import keras

    pooling = tuple(getattr(keras.layers, n) for n in dir(keras.layers) if "Pooling" in n)
    for layer in reversed(model.layers):
        shape = getattr(layer, "output", None) is not None and tuple(layer.output.shape)
        if shape and len(shape) == 4 and (shape[1] or 2) > 1 and not isinstance(layer, pooling):
            return layer.name
    return None


def default_cam_layer(model) -> str:
    """The Grad-CAM layer: the last layer with a spatial (4-D) output that is not pooling.

    VGG16: ``block5_conv3`` (what the seeds' ``penultimate_layer=-1`` picks); EfficientNet:
    ``top_activation`` (tf-keras-vis' own search would stop at ``top_conv``, before BN and ReLU6).
    """
    layer = spatial_layer(model)
    if layer is None:
        raise LabkitError(f"model {model.name!r} has no layer with a spatial output for the CAM methods")
    return layer


@renamed(penultimate_layer="layer")
def cam_layer(model, layer: str | int | None = None) -> str:
    """The name of the layer the CAM methods use, given by name or index (``None``: ``default_cam_layer``); one
    error if unknown or not spatial."""
    if layer is None:
        return default_cam_layer(model)
    try:
        found = model.get_layer(index=layer) if isinstance(layer, int) else model.get_layer(name=layer)
    except (ValueError, IndexError):
        raise LabkitError(f"model {model.name!r} has no layer {layer!r}") from None
    if len(found.output.shape) != 4:
        raise LabkitError(f"layer {found.name!r} has output shape {tuple(found.output.shape)}; "
                          "the CAM methods need a spatial (batch, h, w, channels) output")
    return found.name


@renamed(penultimate_layer="layer")
def rule_layer(model, layer: str | int | None = None) -> str:
    """A CAM layer where the backprop rules change Grad-CAM: ``layer`` (the default CAM layer when None) if a
    ReLU-family activation follows it, else the input of the last such activation before it.

    VGG16: ``block5_conv3`` (fc1 and fc2 are ReLUs); EfficientNet-Lite0: ``top_bn``, the input of ``top_activation``
    (ReLU6), since nothing but pooling and the classifier follow the default CAM layer.
    """
    from labkit import modifiers

    layer = cam_layer(model, layer)
    names = [x.name for x in model.layers]
    relus = [x.name for x in modifiers.relu_layers(model)]
    if any(names.index(r) > names.index(layer) for r in relus):
        return layer
    before = [r for r in relus if names.index(r) <= names.index(layer)]
    for relu in reversed(before):
        feeding = model.get_layer(relu).input
        source = getattr(feeding, "_keras_history", None)
        if source is not None and len(source.operation.output.shape) == 4:
            return source.operation.name
    raise LabkitError(f"model {model.name!r} has no ReLU-family activation after a spatial layer: the backprop "
                      "rules give the same Grad-CAM everywhere")
