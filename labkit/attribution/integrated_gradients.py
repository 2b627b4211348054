"""Integrated Gradients (Sundararajan et al. 2017), as Captum's ``IntegratedGradients``, and its
completeness check.

Captum's definitions for Keras models that take raw RGB 0..255 pixels. Our own code, a few lines each: no
maintained Keras 3 library has it (Captum is PyTorch-only; tf-keras-vis has saliency and CAMs only).
``output="logit"`` attributes the class score before the softmax (what Captum attributed in seed 002:
torchvision models output logits); ``"probability"`` attributes the softmax output.
"""

from __future__ import annotations

import numpy as np

from labkit.attribution.baselines import baseline_batch
from labkit.deprecation import renamed
from labkit.errors import LabkitError, check_int, max_steps
from labkit.models import check_output, input_batch, input_gradient, predict, target_ids

IG_METHODS = ("gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle")


@renamed(n_steps="steps")
def ig_points(steps: int, method: str = "gausslegendre") -> tuple[np.ndarray, np.ndarray]:
    """Captum's path points ``alphas`` in [0, 1] and their quadrature ``weights`` (summing to 1); ``steps`` is
    capped by ``LABKIT_MAX_STEPS`` (the trapezoid rule keeps its two ends)."""
    requested = check_int("steps", steps)
    n = max_steps(requested)
    if method == "gausslegendre":
        nodes, w = np.polynomial.legendre.leggauss(n)
        return 0.5 * (nodes + 1), 0.5 * w
    if method == "riemann_trapezoid":
        if requested < 2:
            raise LabkitError("riemann_trapezoid needs steps >= 2")
        n = max(n, 2)
        w = np.full(n, 1.0 / (n - 1))
        w[[0, -1]] /= 2
        return np.linspace(0, 1, n), w
    starts = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_middle": 0.5}
    if method not in starts:
        raise LabkitError(f"unknown integration method {method!r}; one of {', '.join(IG_METHODS)}")
    return (np.arange(n) + starts[method]) / n, np.full(n, 1.0 / n)


@renamed(x="images", target="targets", n_steps="steps")
def integrated_gradients(model, images, targets=None, baseline=0, steps: int = 50,
                         internal_batch_size: int | None = None, method: str = "gausslegendre",
                         output: str = "logit", progress: bool = True) -> np.ndarray:
    """Integrated Gradients (Sundararajan et al. 2017), as Captum's ``IntegratedGradients.attribute``.

    ``(x - baseline) * sum_k w_k * grad f(baseline + a_k (x - baseline))`` over ``steps`` path points (Captum's
    ``n_steps``; Gauss-Legendre by default, as in Captum), in chunks of ``internal_batch_size`` gradient
    evaluations (``None``: all at once, as in Captum). ``images``: images or a batch (raw 0..255);
    ``targets``: a class name/index, one per image, or ``None`` (each image's top-1 class); ``baseline``: a
    number, an RGB colour, an image or ``"imagenet_mean"``. Returns ``(n, h, w, 3)`` float32; check it with
    ``ig_completeness``.
    """
    from tqdm import tqdm

    check_output(output)
    alphas, weights = ig_points(steps, method)
    if internal_batch_size is not None:
        check_int("internal_batch_size", internal_batch_size)
    x = input_batch(model, images)
    ids = target_ids(model, targets, len(x), images=x, output=output)
    b = baseline_batch(baseline, x)
    grad = input_gradient(model, output)
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


@renamed(x="images", target="targets")
def ig_completeness(model, images, attributions, targets=None, baseline=0, output: str = "logit"
                    ) -> dict[str, np.ndarray]:
    """IG's completeness axiom, checked: ``sum(attributions) ~= f(x) - f(baseline)`` per image.

    Returns arrays ``sum``, ``difference`` (f(x) - f(baseline)), ``delta`` (their difference, Captum's
    convergence delta) and ``relative_error`` = ``|delta| / |difference|``. ``f`` is the ``output``
    the attributions were computed for (same ``targets``, ``baseline``).
    """
    x = input_batch(model, images)
    attr = np.asarray(attributions, np.float64)
    if attr.shape != x.shape:
        raise LabkitError(f"attributions of shape {attr.shape} do not fit inputs of shape {x.shape}")
    ids = target_ids(model, targets, len(x), images=x, output=output)
    rows = np.arange(len(x))
    fx = predict(model, x, output=output)[rows, ids].astype(np.float64)
    fb = predict(model, baseline_batch(baseline, x), output=output)[rows, ids].astype(np.float64)
    total = attr.reshape(len(x), -1).sum(axis=1)
    diff = fx - fb
    delta = total - diff
    return {"sum": total, "difference": diff, "delta": delta,
            "relative_error": np.abs(delta) / np.maximum(np.abs(diff), 1e-12)}
