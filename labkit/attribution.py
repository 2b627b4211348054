"""Attribution methods, in one module.

Part A: tf-keras-vis methods (saliency, SmoothGrad, guided/rectified, Grad-CAM family,
Score-CAM, Layer-CAM) and their faithfulness metrics (lab 1).
Part B: Captum-style methods written for Keras (integrated gradients, noise tunnel,
occlusion): no maintained Keras 3 library has them (lab 3).
"""

from __future__ import annotations

# === Part A: tf-keras-vis methods and faithfulness (lab 1) ===================
# tf-keras-vis computes every attention map; labkit only picks the layer, the scores and
# the modifiers, builds each modified clone once, and scores the maps. The faithfulness
# metrics (deletion/insertion, target-tile mass, model randomisation) are our own: they are
# a few lines each, and no maintained Keras 3 library has them.
import gc
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from labkit.errors import LabkitError, check_int
from labkit.models import CAFFE_MEAN_BGR, IMAGENET_MEAN, check_output, class_scores, input_batch, predict

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
_INPUT_WARNING = "The structure of `inputs` doesn't match"  # tf-keras-vis passes a list; harmless


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


def default_cam_layer(model) -> str:
    """The Grad-CAM layer: the last layer with a spatial (4-D) output that is not pooling.

    VGG16: ``block5_conv3`` (what the seeds' ``penultimate_layer=-1`` picks); EfficientNet:
    ``top_activation`` (tf-keras-vis' own search would stop at ``top_conv``, before BN and ReLU6).
    """
    import keras

    pooling = tuple(getattr(keras.layers, n) for n in dir(keras.layers) if "Pooling" in n)
    for layer in reversed(model.layers):
        shape = getattr(layer, "output", None) is not None and tuple(layer.output.shape)
        if shape and len(shape) == 4 and (shape[1] or 2) > 1 and not isinstance(layer, pooling):
            return layer.name
    raise LabkitError(f"model {model.name!r} has no layer with a spatial output for the CAM methods")


def cam_layer(model, penultimate_layer: str | int | None = None) -> str:
    """The name of the layer the CAM methods use (``None``: ``default_cam_layer``); one error if unknown."""
    if penultimate_layer is None:
        return default_cam_layer(model)
    try:
        layer = model.get_layer(index=penultimate_layer) if isinstance(penultimate_layer, int) else \
            model.get_layer(name=penultimate_layer)
    except (ValueError, IndexError):
        raise LabkitError(f"model {model.name!r} has no layer {penultimate_layer!r}") from None
    if len(layer.output.shape) != 4:
        raise LabkitError(f"layer {layer.name!r} has output shape {tuple(layer.output.shape)}; "
                          "the CAM methods need a spatial (batch, h, w, channels) output")
    return layer.name


# -- one modified clone per model, its backprop rule switched in place ---------------------------
# A clone of VGG16 costs ~1.9 GB, and each tf-keras-vis visualiser given a modifier clones again.
_CLONE: dict = {"base": None, "model": None, "rule": None, "activations": {}}


def modified_model(model, backprop: str = "vanilla"):
    """A clone of ``model`` with ``ReplaceToLinear`` and the ``backprop`` rule (vanilla/guided/rectified).

    One clone per model object, built on first use: asking for another rule restores the clone's
    own activations and applies the new rule in place, so an earlier returned reference follows the
    latest rule. ``release_clones()`` frees it (call it after changing ``model``'s weights in place).
    """
    from tf_keras_vis.saliency import Saliency

    from labkit import modifiers

    mods = modifiers.backprop_modifiers(backprop)  # checks the rule name
    base = _CLONE["base"]() if _CLONE["base"] is not None else None
    if base is not model or _CLONE["model"] is None:
        release_clones()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_INPUT_WARNING)
            clone = Saliency(model, model_modifier=mods[:1], clone=True).model  # ReplaceToLinear only
        _CLONE.update(base=weakref.ref(model), model=clone, rule="vanilla",
                      activations={layer.name: layer.activation for layer in clone.layers
                                   if hasattr(layer, "activation")})
    clone = _CLONE["model"]
    if _CLONE["rule"] != backprop:
        for name, activation in _CLONE["activations"].items():
            clone.get_layer(name).activation = activation
        _CLONE["rule"] = "vanilla"
        for modifier in mods[1:]:
            modifier(clone)
        _CLONE["rule"] = backprop
    return clone


def release_clones(clear_session: bool = False) -> None:
    """Drop the cached modified clone (and optionally Keras' global state) and collect garbage."""
    _CLONE.update(base=None, model=None, rule=None, activations={})
    if clear_session:
        import keras

        keras.backend.clear_session()
    gc.collect()


# -- inputs -------------------------------------------------------------------------------------

def target_ids(targets, n: int) -> list[int]:
    """One class index per image from a name/index, a list of them, or a tf-keras-vis score."""
    from labkit import imagenet

    if callable(targets):  # CategoricalScore (.indices) or scores.per_image_score (.targets)
        ids = getattr(targets, "targets", None) or getattr(targets, "indices", None)
        if ids is None:
            raise LabkitError("a score function needs .targets or .indices (use labkit.scores)")
        return imagenet.targets(list(ids), n)
    return imagenet.targets(targets, n)


def _n_images(images) -> int:
    return len(images) if not (isinstance(images, np.ndarray) and images.ndim == 3) else 1


# -- the methods --------------------------------------------------------------------------------

def attention_maps(model, images, targets, methods: str | Sequence[str] = "all", *, smooth_samples: int = 20,
                   smooth_noise: float = 0.20, penultimate_layer: str | int | None = None,
                   scorecam_max_n: int | None = None, seed: int = 0, progress: bool = True) -> dict[str, np.ndarray]:
    """Attention maps ``{method: (n, h, w) in 0..1}`` for raw RGB ``images`` and one target per image.

    Every tf-keras-vis visualiser shares one modified clone of the model. ``targets``: a
    class name/index for all images, one per image, or a ``labkit.scores`` score.
    ``scorecam_max_n``: Faster-Score-CAM's channel count (``None`` or 0: every channel, plain Score-CAM).
    """
    names = check_methods(methods)  # all checks before any heavy work
    n = _n_images(images)
    ids = target_ids(targets, n)
    layer = cam_layer(model, penultimate_layer) if any(METHODS[m][0] != "saliency" for m in names) else None
    if smooth_samples < 1 or smooth_noise < 0:
        raise LabkitError(f"smooth_samples must be >= 1 and smooth_noise >= 0, got {smooth_samples}, {smooth_noise}")
    scorecam_max_n = scorecam_max_n or None
    if scorecam_max_n is not None and "scorecam" in names:
        channels = int(model.get_layer(layer).output.shape[-1])
        if not 1 <= scorecam_max_n <= channels:
            raise LabkitError(f"scorecam_max_n must be in 0..{channels} (channels of {layer}; 0: all), "
                              f"got {scorecam_max_n}")
    x = input_batch(model, images)
    needed = list(dict.fromkeys(("guided_backprop", "gradcam", m) if m == "guided_gradcam" else (m,)
                                for m in names))
    needed = list(dict.fromkeys(k for group in needed for k in group))
    from tqdm import tqdm

    out: dict[str, np.ndarray] = {}
    for m in tqdm(needed, desc="attention maps", disable=not progress, leave=False):
        out[m] = _one_method(model, x, ids, m, out, smooth_samples=smooth_samples, smooth_noise=smooth_noise,
                             layer=layer, scorecam_max_n=scorecam_max_n, seed=seed)
    return {m: out[m] for m in names}


def _one_method(model, x, ids, method, done, *, smooth_samples, smooth_noise, layer, scorecam_max_n, seed):
    import keras
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.layercam import Layercam
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.scores import CategoricalScore

    kind, rule, _ = METHODS[method]
    if kind == "product":  # elementwise product of two maps computed just before
        return _normalize(done["guided_backprop"] * done["gradcam"])
    clone = modified_model(model, rule)
    score = CategoricalScore(ids)
    cam = {"penultimate_layer": layer, "seek_penultimate_conv_layer": False}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_INPUT_WARNING)
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


def _normalize(maps: np.ndarray) -> np.ndarray:
    m = np.asarray(maps, dtype=np.float32)
    lo = m.min(axis=(1, 2), keepdims=True)
    span = m.max(axis=(1, 2), keepdims=True) - lo
    return np.where(span > 0, (m - lo) / np.where(span > 0, span, 1), 0).astype(np.float32)


def saliency(model, images, target, backprop: str = "vanilla") -> np.ndarray:
    """Saliency maps through the ``vanilla``, ``guided`` or ``rectified`` backprop rule."""
    name = {"vanilla": "saliency", "guided": "guided_backprop", "rectified": "rectified_backprop"}.get(backprop)
    if name is None:
        raise LabkitError(f"unknown backprop rule {backprop!r}; one of vanilla, guided, rectified")
    return attention_maps(model, images, target, [name], progress=False)[name]


def smoothgrad(model, images, target, samples: int = 20, noise: float = 0.20, seed: int = 0) -> np.ndarray:
    """SmoothGrad (tf-keras-vis' defaults: 20 samples, noise 0.20 of the value range), seeded."""
    return attention_maps(model, images, target, ["smoothgrad"], smooth_samples=samples, smooth_noise=noise,
                          seed=seed, progress=False)["smoothgrad"]


def gradcam(model, images, target, backprop: str = "vanilla", penultimate_layer: str | int | None = None
            ) -> np.ndarray:
    """Grad-CAM; ``backprop="guided"``/``"rectified"`` is seed 003's Grad-CAM on the modified model."""
    name = {"vanilla": "gradcam", "guided": "gradcam_guided", "rectified": "gradcam_rectified"}.get(backprop)
    if name is None:
        raise LabkitError(f"unknown backprop rule {backprop!r}; one of vanilla, guided, rectified")
    return attention_maps(model, images, target, [name], penultimate_layer=penultimate_layer, progress=False)[name]


def gradcam_plus_plus(model, images, target, penultimate_layer: str | int | None = None) -> np.ndarray:
    """Grad-CAM++."""
    return attention_maps(model, images, target, ["gradcam++"], penultimate_layer=penultimate_layer,
                          progress=False)["gradcam++"]


def scorecam(model, images, target, max_n: int | None = None, penultimate_layer: str | int | None = None
             ) -> np.ndarray:
    """Score-CAM; with ``max_n``, Faster-Score-CAM on the ``max_n`` channels of largest variance."""
    return attention_maps(model, images, target, ["scorecam"], scorecam_max_n=max_n,
                          penultimate_layer=penultimate_layer, progress=False)["scorecam"]


def layercam(model, images, target, penultimate_layer: str | int | None = None) -> np.ndarray:
    """Layer-CAM."""
    return attention_maps(model, images, target, ["layercam"], penultimate_layer=penultimate_layer,
                          progress=False)["layercam"]


def guided_gradcam(model, images, target, penultimate_layer: str | int | None = None) -> np.ndarray:
    """Classic Guided Grad-CAM: guided-backprop saliency times Grad-CAM, renormalised."""
    return attention_maps(model, images, target, ["guided_gradcam"], penultimate_layer=penultimate_layer,
                          progress=False)["guided_gradcam"]


def random_maps(shape: Sequence[int], seed: int = 0) -> np.ndarray:
    """Uniform random maps: the reference any method should beat."""
    return np.random.default_rng(seed).random(tuple(shape)).astype(np.float32)


# -- faithfulness: deletion and insertion (Petsiuk et al., RISE, 2018) --------------------------

BASELINES = ("gray", "blur", "black", "mean")
IMAGENET_MEAN_RGB = CAFFE_MEAN_BGR[::-1]  # what Caffe-preprocessed models (VGG16) read as 0


def baseline_images(images: np.ndarray, kind: str = "blur", blur_sigma: float = 5.0) -> np.ndarray:
    """What replaces the pixels: ``gray`` (the ImageNet mean colour, which a normalised input reads
    as 0: RISE's deletion), ``blur`` (Gaussian, ``blur_sigma`` pixels at 224, scaled with the image
    size: RISE's insertion start), ``black`` (0) or ``mean`` (each image's own mean colour)."""
    x = np.asarray(images, dtype=np.float32)
    if kind == "gray":
        return np.broadcast_to(np.asarray(IMAGENET_MEAN_RGB, np.float32), x.shape).copy()
    if kind == "black":
        return np.zeros_like(x)
    if kind == "mean":
        return np.broadcast_to(x.mean(axis=(1, 2), keepdims=True), x.shape).copy()
    if kind == "blur":
        from scipy.ndimage import gaussian_filter

        s = blur_sigma * x.shape[1] / 224
        return gaussian_filter(x, sigma=(0, s, s, 0)).astype(np.float32)
    raise LabkitError(f"unknown baseline {kind!r}; one of {', '.join(BASELINES)}")


def importance_ranks(maps: np.ndarray, seed: int = 0) -> np.ndarray:
    """Each pixel's rank, 0 = most important, per map (ties broken at random, seeded)."""
    m = _as_maps(maps)
    flat = m.reshape(len(m), -1)
    rng = np.random.default_rng(seed)
    ranks = np.empty(flat.shape, np.int64)
    for i, row in enumerate(flat):
        order = np.lexsort((rng.random(row.size), -row))
        ranks[i, order] = np.arange(row.size)
    return ranks.reshape(m.shape)


def _as_maps(maps) -> np.ndarray:
    m = np.asarray(maps, dtype=np.float64)
    if m.ndim == 2:
        m = m[None]
    if m.ndim == 4:
        m = np.abs(m).max(axis=-1)
    if m.ndim != 3:
        raise LabkitError(f"maps must have shape (n, h, w) or (n, h, w, c), got {np.shape(maps)}")
    return m


def _curve(model, images, maps, targets, steps, baseline, seed, batch_size, deletion):
    if baseline not in BASELINES:
        raise LabkitError(f"unknown baseline {baseline!r}; one of {', '.join(BASELINES)}")
    if steps < 1:
        raise LabkitError(f"steps must be at least 1, got {steps}")
    x = input_batch(model, images)
    m = _as_maps(maps)
    if m.shape != x.shape[:3]:
        raise LabkitError(f"maps of shape {m.shape} do not match images of shape {x.shape[:3]}")
    ids = target_ids(targets, len(x))
    ranks = importance_ranks(m, seed)
    pixels = x.shape[1] * x.shape[2]
    counts = np.rint(np.linspace(0, pixels, steps + 1)).astype(np.int64)
    base = baseline_images(x, baseline)
    start, end = (x, base) if deletion else (base, x)
    # every step of every image in one batched prediction: (n, steps + 1, h, w, 3)
    mask = (ranks[:, None] < counts[None, :, None, None])[..., None]
    batch = np.where(mask, end[:, None], start[:, None]).astype(np.float32)
    probs = predict(model, batch.reshape((-1,) + x.shape[1:]), batch_size)
    probs = probs.reshape(len(x), steps + 1, -1)
    return counts / pixels, probs[np.arange(len(x)), :, ids]


def deletion_curve(model, images, maps, targets, steps: int = 16, baseline: str = "gray", seed: int = 0,
                   batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Target probability as the most important pixels are replaced by ``baseline``, in ``steps``.

    Returns ``(fractions, curves)``: ``steps + 1`` fractions from 0 to 1, curves ``(n, steps + 1)``.
    A faithful map makes the probability fall fast: low AUC is good. As in RISE, deleted pixels
    become the colour a normalised input reads as zero (``gray``).
    """
    return _curve(model, images, maps, targets, steps, baseline, seed, batch_size, deletion=True)


def insertion_curve(model, images, maps, targets, steps: int = 16, baseline: str = "blur", seed: int = 0,
                    batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Target probability as the most important pixels are put back into the ``baseline`` image.

    RISE starts insertion from a blurred copy. A faithful map makes the probability rise fast:
    high AUC is good.
    """
    return _curve(model, images, maps, targets, steps, baseline, seed, batch_size, deletion=False)


def auc(fractions: np.ndarray, curves: np.ndarray) -> np.ndarray:
    """Area under each curve (trapezoidal rule over the fraction of pixels, 0..1)."""
    return np.trapezoid(np.asarray(curves), np.asarray(fractions), axis=-1)


def faithfulness(model, images, maps: Mapping[str, np.ndarray], targets, steps: int = 16, seed: int = 0,
                 deletion_baseline: str = "gray", insertion_baseline: str = "blur", reference: bool = True,
                 progress: bool = True):
    """Deletion and insertion AUC of every method's maps, plus a random-map reference row.

    Returns ``(table, curves)``: a DataFrame indexed by method with ``deletion_auc`` (lower is
    better), ``insertion_auc`` (higher is better) and their difference ``ins_minus_del``;
    ``curves[method] = {"fractions", "deletion", "insertion"}``. Identical maps are scored once.
    """
    import pandas as pd
    from tqdm import tqdm

    x = input_batch(model, images)
    ids = target_ids(targets, len(x))
    for b in (deletion_baseline, insertion_baseline):
        if b not in BASELINES:
            raise LabkitError(f"unknown baseline {b!r}; one of {', '.join(BASELINES)}")
    for name, m in maps.items():
        if _as_maps(m).shape != x.shape[:3]:
            raise LabkitError(f"maps of {name!r} have shape {np.shape(m)}, images {x.shape[:3]}")
    todo = dict(maps)
    if reference:
        todo["random"] = random_maps(x.shape[:3], seed)
    rows, curves, seen = {}, {}, {}
    for name, m in tqdm(todo.items(), desc="deletion/insertion", disable=not progress, leave=False):
        key = _as_maps(m).astype(np.float32).tobytes()
        if key in seen:  # e.g. Grad-CAM under another backprop rule, when no ReLU follows the CAM layer
            rows[name], curves[name] = dict(rows[seen[key]]), curves[seen[key]]
            continue
        seen[key] = name
        f, d = deletion_curve(model, x, m, ids, steps, deletion_baseline, seed)
        _, ins = insertion_curve(model, x, m, ids, steps, insertion_baseline, seed)
        curves[name] = {"fractions": f, "deletion": d, "insertion": ins}
        rows[name] = {"deletion_auc": float(auc(f, d).mean()), "insertion_auc": float(auc(f, ins).mean())}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table["ins_minus_del"] = table["insertion_auc"] - table["deletion_auc"]
    table.index.name = "method"
    return table, curves


# -- localisation where the truth is known: the target tile of a mosaic -------------------------

def tile_mass(maps, tile: int, grid: int = 2) -> np.ndarray:
    """Share of each map's (non-negative) mass inside tile ``tile`` (row-major) of a ``grid`` x ``grid``
    mosaic; 1/grid**2 is chance, NaN for an all-zero map."""
    m = _as_maps(maps)
    m = m - np.minimum(m.min(axis=(1, 2), keepdims=True), 0)  # signed maps: shift to >= 0
    if not 0 <= tile < grid * grid:
        raise LabkitError(f"tile must be in 0..{grid * grid - 1}, got {tile}")
    h, w = m.shape[1] // grid, m.shape[2] // grid
    r, c = divmod(tile, grid)
    inside = m[:, r * h:(r + 1) * h, c * w:(c + 1) * w].sum(axis=(1, 2))
    total = m.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / np.where(total > 0, total, 1), np.nan)


# -- sanity check: model randomisation (Adebayo et al., 2018) -----------------------------------

def weighted_layers(model) -> list[str]:
    """Names of the layers with a kernel (conv, depthwise conv, dense), input to output."""
    return [layer.name for layer in model.layers if getattr(layer, "kernel", None) is not None]


def randomize_top_layers(model, k: int = 1, seed: int = 0):
    """A clone of ``model`` whose top ``k`` weighted layers are re-initialised at random (seeded).

    Each kernel and bias is redrawn from a normal distribution with the original's standard
    deviation, so activations keep their scale; the original model is untouched.
    """
    import keras

    names = weighted_layers(model)
    if not 1 <= k <= len(names):
        raise LabkitError(f"k must be in 1..{len(names)} (weighted layers of {model.name}), got {k}")
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    rng = np.random.default_rng(seed)
    for name in names[-k:]:
        for w in clone.get_layer(name).trainable_weights:
            old = np.asarray(w.numpy())
            w.assign(rng.normal(0.0, float(old.std()), old.shape).astype(old.dtype))
    return clone


def map_change(before, after) -> np.ndarray:
    """How much each map changed: 1 - Spearman rank correlation (0 same ranking, 1 unrelated, 2 reversed).

    A constant map carries no ranking: its correlation counts as 0.
    """
    from scipy.stats import spearmanr

    a, b = _as_maps(before), _as_maps(after)
    if a.shape != b.shape:
        raise LabkitError(f"maps of shapes {a.shape} and {b.shape} cannot be compared")
    out = np.empty(len(a))
    for i, (u, v) in enumerate(zip(a, b, strict=True)):
        if np.ptp(u) == 0 or np.ptp(v) == 0:
            out[i] = 1.0
        else:
            out[i] = 1.0 - spearmanr(u.ravel(), v.ravel()).statistic
    return out


def randomisation_check(model, images, targets, methods: str | Sequence[str] = "all", k: int = 1,
                        seed: int = 0, maps: Mapping[str, np.ndarray] | None = None, **options):
    """Maps before and after ``randomize_top_layers(model, k, seed)``: the mean ``map_change`` per method.

    ``maps``: the original model's maps, if already computed. Returns ``(changes, randomised_maps)``.
    """
    names = check_methods(methods)
    n = _n_images(images)
    ids = target_ids(targets, n)
    if maps is None or any(m not in maps for m in names):
        maps = attention_maps(model, images, ids, names, seed=seed, **options)
    rand = randomize_top_layers(model, k, seed)
    after = attention_maps(rand, images, ids, names, seed=seed, **options)
    release_clones()
    del rand
    gc.collect()
    return {m: float(map_change(maps[m], after[m]).mean()) for m in names}, after


# === Part B: Captum-style methods for Keras (lab 3) ==========================
# Integrated Gradients, a noise tunnel and occlusion, as Captum defines them, for Keras models that
# take raw RGB 0..255 pixels. Our own code, a few lines each: no maintained Keras 3 library has them
# (Captum is PyTorch-only; tf-keras-vis has saliency/CAM methods but not these three).
# Every gradient is one compiled, batched ``tf.function`` per model and output.
# ``output="logit"`` attributes the class score before the softmax (what Captum attributed in
# seed 002: torchvision models output logits); ``"probability"`` attributes the softmax output.
IG_METHODS = ("gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle")
NT_TYPES = ("smoothgrad", "smoothgrad_sq", "vargrad")
IMAGENET_MEAN_PIXEL = (255 * np.array(IMAGENET_MEAN)).astype(np.float32)  # torchvision's mean, in 0..255
# Captum's default stdevs=1.0 acts on torchvision-normalised inputs (std ~0.226): ~58 in 0..255 pixels.
CAPTUM_STDEVS = float(1.0 * 0.226 * 255)
_STEPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {output: compiled gradient step}


def _gradient_step(model, output: str):
    """The compiled gradient step: the target's score and its gradient w.r.t. the input pixels."""
    import tensorflow as tf

    entry = _STEPS.setdefault(model, {})
    if check_output(output) in entry:
        return entry[output]
    f = class_scores(model, output)

    @tf.function(input_signature=[tf.TensorSpec([None, *model.input_shape[1:]], tf.float32),
                                  tf.TensorSpec([None], tf.int32)])
    def step(x, target):
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.gather(f(x, training=False), target, axis=1, batch_dims=1)
        return score, tape.gradient(score, x)

    entry[output] = step
    return step


def _target_ids(model, target, x: np.ndarray, output: str) -> np.ndarray:
    """One class per image; ``None``: each image's top-1 class (what the seed attributed)."""
    from labkit import imagenet

    n, classes = len(x), int(model.output_shape[-1])
    if target is None:
        return predict(model, x, output=output).argmax(1).astype(np.int32)
    if isinstance(target, np.ndarray):
        target = target.tolist()
    ids = np.array(imagenet.targets(target, n), np.int32)
    if (ids >= classes).any():
        raise LabkitError(f"target class {int(ids.max())} is out of range for a model with {classes} classes")
    return ids


def _baselines(baseline, x: np.ndarray) -> np.ndarray:
    """``baseline`` as a batch like ``x``: a number, an RGB colour, ``"imagenet_mean"``, an image or a batch."""
    if isinstance(baseline, str):
        if baseline != "imagenet_mean":
            raise LabkitError(f"unknown baseline {baseline!r}; a number, an RGB colour, an image, or 'imagenet_mean'")
        baseline = IMAGENET_MEAN_PIXEL
    b = np.asarray(baseline, np.float32)
    try:
        return np.ascontiguousarray(np.broadcast_to(b, x.shape))
    except ValueError:
        raise LabkitError(f"a baseline of shape {b.shape} does not fit inputs of shape {x.shape}") from None


def ig_points(n_steps: int, method: str = "gausslegendre") -> tuple[np.ndarray, np.ndarray]:
    """Captum's path points ``alphas`` in [0, 1] and their quadrature ``weights`` (summing to 1)."""
    n = check_int("n_steps", n_steps)
    if method == "gausslegendre":
        nodes, w = np.polynomial.legendre.leggauss(n)
        return 0.5 * (nodes + 1), 0.5 * w
    if method == "riemann_trapezoid":
        if n < 2:
            raise LabkitError("riemann_trapezoid needs n_steps >= 2")
        w = np.full(n, 1.0 / (n - 1))
        w[[0, -1]] /= 2
        return np.linspace(0, 1, n), w
    starts = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_middle": 0.5}
    if method not in starts:
        raise LabkitError(f"unknown integration method {method!r}; one of {', '.join(IG_METHODS)}")
    return (np.arange(n) + starts[method]) / n, np.full(n, 1.0 / n)


def integrated_gradients(model, x, target=None, baseline=0, n_steps: int = 50,
                         internal_batch_size: int | None = None, method: str = "gausslegendre",
                         output: str = "logit", progress: bool = True) -> np.ndarray:
    """Integrated Gradients (Sundararajan et al. 2017), as Captum's ``IntegratedGradients.attribute``.

    ``(x - baseline) * sum_k w_k * grad f(baseline + a_k (x - baseline))`` over ``n_steps`` path
    points (Gauss-Legendre by default, as in Captum), in chunks of ``internal_batch_size`` gradient
    evaluations (``None``: all at once, as in Captum). ``x``: images or a batch (raw 0..255); ``target``:
    a class name/index, one per image, or ``None`` (each image's top-1 class); ``baseline``: a number,
    an RGB colour, an image or ``"imagenet_mean"``. Returns ``(n, h, w, 3)`` float32; check it with
    ``ig_completeness``.
    """
    from tqdm import tqdm

    check_output(output)
    alphas, weights = ig_points(n_steps, method)
    if internal_batch_size is not None:
        check_int("internal_batch_size", internal_batch_size)
    x = input_batch(model, x)
    ids = _target_ids(model, target, x, output)
    b = _baselines(baseline, x)
    grad = _gradient_step(model, output)
    total = len(x) * len(alphas)
    chunk = internal_batch_size or total
    acc = np.zeros(x.shape, np.float64)
    for start in tqdm(range(0, total, chunk), desc="integrated gradients", disable=not progress, leave=False):
        idx = np.arange(start, min(start + chunk, total))
        img, k = idx // len(alphas), idx % len(alphas)
        a = alphas[k].astype(np.float32)[:, None, None, None]
        _, g = grad(b[img] + a * (x[img] - b[img]), ids[img])
        g = g.numpy().astype(np.float64) * weights[k][:, None, None, None]
        for i in np.unique(img):
            acc[i] += g[img == i].sum(axis=0)
    return (acc * (x - b)).astype(np.float32)


def ig_completeness(model, x, attributions, target=None, baseline=0, output: str = "logit") -> dict[str, np.ndarray]:
    """IG's completeness axiom, checked: ``sum(attributions) ~= f(x) - f(baseline)`` per image.

    Returns arrays ``sum``, ``difference`` (f(x) - f(baseline)), ``delta`` (their difference, Captum's
    convergence delta) and ``relative_error`` = ``|delta| / |difference|``. ``f`` is the ``output``
    the attributions were computed for (same ``target``, ``baseline``).
    """
    x = input_batch(model, x)
    attr = np.asarray(attributions, np.float64)
    if attr.shape != x.shape:
        raise LabkitError(f"attributions of shape {attr.shape} do not fit inputs of shape {x.shape}")
    ids = _target_ids(model, target, x, output)
    rows = np.arange(len(x))
    fx = predict(model, x, output=output)[rows, ids].astype(np.float64)
    fb = predict(model, _baselines(baseline, x), output=output)[rows, ids].astype(np.float64)
    total = attr.reshape(len(x), -1).sum(axis=1)
    diff = fx - fb
    delta = total - diff
    return {"sum": total, "difference": diff, "delta": delta,
            "relative_error": np.abs(delta) / np.maximum(np.abs(diff), 1e-12)}


def noise_tunnel(method: Callable, nt_type: str = "smoothgrad", nt_samples: int = 5,
                 stdevs: float = CAPTUM_STDEVS, seed: int = 0) -> Callable:
    """Captum's ``NoiseTunnel``: ``method`` averaged over ``nt_samples`` noisy copies of each image.

    Returns a function with ``method``'s signature ``(model, x, target=None, **kwargs)``. Gaussian
    noise of standard deviation ``stdevs`` in pixel units (default: Captum's 1.0 on normalised
    inputs, ~58 pixels), seeded. ``nt_type``: ``smoothgrad`` (mean), ``smoothgrad_sq`` (mean of
    squares) or ``vargrad`` (variance). All noisy copies go through ``method`` as one batch.
    """
    if nt_type not in NT_TYPES:
        raise LabkitError(f"unknown nt_type {nt_type!r}; one of {', '.join(NT_TYPES)}")
    samples = check_int("nt_samples", nt_samples)
    if not np.isfinite(stdevs) or stdevs < 0:
        raise LabkitError(f"stdevs must be a number >= 0 (pixel units), got {stdevs!r}")

    def attribute(model, x, target=None, **kwargs) -> np.ndarray:
        x = input_batch(model, x)
        output = kwargs.get("output", "logit")
        ids = _target_ids(model, target, x, output)  # the clean image's class, as Captum's target
        noise = np.random.default_rng(seed).normal(0.0, stdevs, (len(x), samples, *x.shape[1:]))
        noisy = (x[:, None] + noise.astype(np.float32)).reshape(-1, *x.shape[1:])
        a = np.asarray(method(model, noisy, np.repeat(ids, samples), **kwargs), np.float64)
        a = a.reshape(len(x), samples, *x.shape[1:])
        if nt_type == "smoothgrad":
            out = a.mean(axis=1)
        elif nt_type == "smoothgrad_sq":
            out = np.square(a).mean(axis=1)
        else:
            out = a.var(axis=1)
        return out.astype(np.float32)

    attribute.__name__ = f"noise_tunnel_{nt_type}_{getattr(method, '__name__', 'method')}"
    return attribute


def _pair(name: str, value) -> tuple[int, int]:
    v = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(v) != 2:
        raise LabkitError(f"{name} must be an int or (height, width), got {value!r}")
    return check_int(name, v[0]), check_int(name, v[1])


def occlusion_windows(size: tuple[int, int], window, strides) -> list[tuple[int, int, int, int]]:
    """Captum's window positions ``(top, bottom, left, right)``: ``ceil((side - window) / stride) + 1``
    per axis, the last window cut at the border, so every pixel is covered when ``stride <= window``."""
    (wh, ww), (sh, sw) = _pair("window", window), _pair("strides", strides)
    h, w = size
    if wh > h or ww > w:
        raise LabkitError(f"window {(wh, ww)} is larger than the image {(h, w)}")
    rows = [r * sh for r in range(-(-(h - wh) // sh) + 1)]
    cols = [c * sw for c in range(-(-(w - ww) // sw) + 1)]
    return [(r, min(r + wh, h), c, min(c + ww, w)) for r in rows for c in cols]


def occlusion(model, x, target=None, window=(15, 15), strides=(8, 8), baseline=0, batch_size: int = 64,
              output: str = "logit", progress: bool = True) -> np.ndarray:
    """Occlusion (Zeiler & Fergus 2014), as Captum's ``Occlusion.attribute``.

    Slides a ``window`` (all colour channels, as the seed's ``(3, 15, 15)``) by ``strides``, replaces it
    by ``baseline``, and gives every pixel of the window ``f(x) - f(occluded)``, averaged over the
    windows that cover it (pixels no window covers get 0). The occluded copies are classified in
    batches of ``batch_size``. Returns ``(n, h, w, 3)`` float32.
    """
    from tqdm import tqdm

    check_output(output)
    batch_size = check_int("batch_size", batch_size)
    x = input_batch(model, x)
    windows = occlusion_windows(x.shape[1:3], window, strides)
    ids = _target_ids(model, target, x, output)
    b = _baselines(baseline, x)
    base = predict(model, x, batch_size, output)[np.arange(len(x)), ids]
    total = np.zeros(x.shape[:3], np.float64)
    count = np.zeros(x.shape[1:3], np.float64)
    for top, bottom, left, right in windows:
        count[top:bottom, left:right] += 1
    jobs = [(i, k) for i in range(len(x)) for k in range(len(windows))]
    for start in tqdm(range(0, len(jobs), batch_size), desc="occlusion", disable=not progress, leave=False):
        part = jobs[start:start + batch_size]
        batch = x[[i for i, _ in part]]  # a copy
        for j, (i, k) in enumerate(part):
            top, bottom, left, right = windows[k]
            batch[j, top:bottom, left:right] = b[i, top:bottom, left:right]
        out = predict(model, batch, batch_size, output)
        for j, (i, k) in enumerate(part):
            top, bottom, left, right = windows[k]
            total[i, top:bottom, left:right] += base[i] - out[j, ids[i]]
    attr = np.where(count > 0, total / np.maximum(count, 1), 0.0)
    return np.repeat(attr[..., None], x.shape[-1], axis=-1).astype(np.float32)


def concentration(attributions, top: float = 0.1) -> np.ndarray:
    """Per image, the share of the total |attribution| (colour channels summed) held by the ``top``
    fraction of its pixels: 1.0 = all in a few pixels, ``top`` = spread evenly."""
    if not 0 < top <= 1:
        raise LabkitError(f"top must be in (0, 1], got {top}")
    a = np.abs(np.asarray(attributions, np.float64))
    if a.ndim == 3:
        a = a[None]
    a = a.sum(axis=-1).reshape(len(a), -1)
    k = max(1, int(round(top * a.shape[1])))
    total = a.sum(axis=1)
    share = -np.sort(-a, axis=1)[:, :k].sum(axis=1) / np.where(total > 0, total, 1)
    return np.where(total > 0, share, 0.0)
