"""``attention_maps``: every method of lab 1 on a batch, by either engine, in one call."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from labkit.attribution._core import KINDS, rule_maps_function
from labkit.attribution._utils import rule_index
from labkit.attribution.gradcam import guided_gradcam, renormalize
from labkit.attribution.methods import ENGINES, METHODS, cam_layer, check_methods
from labkit.attribution.saliency import SMOOTHGRAD_BATCH, smoothgrad_function, smoothgrad_noise
from labkit.attribution.scorecam import SCORECAM_BATCH, scorecam_channels, scorecam_function
from labkit.deprecation import renamed
from labkit.errors import LabkitError, check_number, check_steps
from labkit.models import input_batch, target_ids


@renamed(penultimate_layer="layer")
def attention_maps(model, images, targets, methods: str | Sequence[str] = "all", *, smooth_samples: int = 20,
                   smooth_noise: float = 0.20, layer: str | int | None = None,
                   scorecam_max_n: int | None = None, seed: int = 0, progress: bool = True,
                   engine: str = "compiled") -> dict[str, np.ndarray]:
    """Attention maps ``{method: (n, h, w) in 0..1}`` for raw RGB ``images`` and one target per image.

    ``engine="compiled"``: labkit's compiled maps (each ~1x a forward+backward, equal to tf-keras-vis' within 1e-4;
    one ``tf.function`` per CAM layer gives saliency and the CAMs under every backprop rule); ``"tf-keras-vis"``:
    the reference, eager, every visualiser sharing one modified clone of the model. ``targets``: a class
    name/index for all images, one per image, or a ``labkit.scores`` score. ``layer``: the CAM layer (``None``:
    ``default_cam_layer``). ``smooth_samples`` (capped by ``LABKIT_MAX_STEPS``): SmoothGrad's noisy copies;
    ``scorecam_max_n``: Faster-Score-CAM's channel count (``None`` or 0: every channel; ``scorecam_channels``).
    """
    if engine not in ENGINES:
        raise LabkitError(f"unknown engine {engine!r}; one of {', '.join(ENGINES)}")
    names = check_methods(methods)  # all checks before any heavy work
    ids = target_ids(model, targets, n_images(images))
    layer = cam_layer(model, layer) if any(METHODS[m][0] != "saliency" for m in names) else None
    smooth_samples = check_steps("smooth_samples", smooth_samples)
    check_number("smooth_noise", smooth_noise, allow_zero=True)
    if "scorecam" in names:
        scorecam_max_n = scorecam_channels(model, layer, scorecam_max_n, "scorecam_max_n")
    x = input_batch(model, images)
    # tf-keras-vis' Guided Grad-CAM multiplies two maps computed before it; the compiled one is in the guided pass
    needed = [k for m in names for k in (("guided_backprop", "gradcam", m) if m == "guided_gradcam"
                                         and engine == "tf-keras-vis" else (m,))]
    from tqdm import tqdm

    if engine == "tf-keras-vis":
        from labkit.attribution.tf_keras_vis import one_map
    else:
        one_map = compiled_map
    out: dict[str, np.ndarray] = {}
    todo = list(dict.fromkeys(needed))
    if engine == "compiled":  # per rule, every gradient map from one forward+backward (saliency alone too)
        out.update(fused_maps(model, x, ids, todo, layer or cam_layer(model)))
    for m in tqdm([m for m in todo if m not in out], desc="attention maps", disable=not progress, leave=False):
        out[m] = one_map(model, x, ids, m, out, smooth_samples=smooth_samples, smooth_noise=smooth_noise,
                         layer=layer, scorecam_max_n=scorecam_max_n, seed=seed)
    return {m: out[m] for m in names}


def fused_maps(model, x: np.ndarray, ids, methods: Sequence[str], layer: str) -> dict[str, np.ndarray]:
    """The saliency-type and CAM methods among ``methods`` and Guided Grad-CAM, grouped by backprop rule: one
    compiled forward+backward per rule gives the saliency and every CAM of that rule (``rule_maps_function``),
    and the guided one also Guided Grad-CAM's Grad-CAM where the CAM layer separates the model."""
    by_rule: dict[str, list[tuple[str, str]]] = {}
    for m in methods:
        kind, rule, _ = METHODS[m]
        if m != "smoothgrad" and (kind in KINDS or kind == "product"):
            by_rule.setdefault(rule, []).append((m, kind))
    out = {}
    for rule, group in by_rule.items():
        maps = rule_maps_function(model, rule, layer)(x, np.asarray(ids, np.int32), rule_index(rule))
        for m, kind in group:
            if kind != "product":
                out[m] = maps[kind].numpy()
            elif "vanilla_gradcam" in maps:  # else compiled_map multiplies two passes
                out[m] = renormalize(maps["saliency"].numpy() * maps["vanilla_gradcam"].numpy())
    return out


def n_images(images) -> int:
    """How many images ``images`` holds (one image, a batch, or a list), without loading them."""
    return len(images) if not (isinstance(images, np.ndarray) and images.ndim == 3) else 1


def compiled_map(model, x: np.ndarray, ids, method: str, done: dict, *, smooth_samples: int = 20,
                 smooth_noise: float = 0.20, layer: str | None = None, scorecam_max_n: int | None = None,
                 seed: int = 0) -> np.ndarray:
    """One ``METHODS`` map, compiled, for the checked batch ``x`` and class ids (``done``: maps computed before in
    the same call: Guided Grad-CAM multiplies two of them)."""
    kind, rule, _ = METHODS[method]
    if kind == "product":
        if "guided_backprop" in done and "gradcam" in done:  # both asked for: their product is free
            return renormalize(done["guided_backprop"] * done["gradcam"])
        return guided_gradcam(model, x, ids, layer)
    ids = np.asarray(ids, np.int32)
    if method == "smoothgrad":
        noisy = x[None] + smoothgrad_noise(x, smooth_samples, smooth_noise, seed)
        return smoothgrad_function(model, rule, layer)(noisy, ids, SMOOTHGRAD_BATCH).numpy()
    if kind == "scorecam":
        max_n = scorecam_channels(model, layer, scorecam_max_n, "scorecam_max_n")
        return scorecam_function(model, layer)(x, ids, max_n, SCORECAM_BATCH).numpy()
    return rule_maps_function(model, rule, layer)(x, ids, rule_index(rule))[kind].numpy()
