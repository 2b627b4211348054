"""CS231n's class visualisation: gradient ascent on a class's logit from noise or from a photo, with L2
regularisation, jitter and blur (the compiled ``visualise`` step of ``labkit.attacks.steps``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labkit.attacks.steps import compiled_step
from labkit.attacks.units import from_cs231n, gaussian_kernel, to_cs231n
from labkit.deprecation import renamed
from labkit.errors import LabkitError, check_int, check_number, check_steps
from labkit.models import input_batch, input_size, predict, target_ids


@renamed(iterations="steps")
def check_visualisation(size: int, steps: int, max_jitter: int, blur_every: int, show_every: int,
                        l2_reg: float, learning_rate: float, blur_sigma: float) -> int:
    """Class-visualisation parameters for a ``size`` px model: one clear error for the first bad one; returns
    ``steps``, capped by ``LABKIT_MAX_STEPS``."""
    steps = check_steps("steps", steps)
    check_int("show_every", show_every, 1)
    check_int("blur_every", blur_every, 0)
    check_int("max_jitter", max_jitter, 0)
    check_number("l2_reg", l2_reg, allow_zero=True)
    check_number("learning_rate", learning_rate)
    if max_jitter >= size:
        raise LabkitError(f"max_jitter ({max_jitter} px) must be smaller than the image ({size} px)")
    if len(gaussian_kernel(check_number("blur_sigma", blur_sigma))) // 2 >= size:
        raise LabkitError(f"blur_sigma {blur_sigma} is too large for a {size} px image")
    return steps


@dataclass
class ClassVisualisation:
    """Images grown by gradient ascent, one per target, and their history."""

    images: np.ndarray  # (n, h, w, 3) float32 in 0..255
    target: np.ndarray
    probs: np.ndarray  # (steps, n): the target's probability at each step, on that step's jittered input
    final_prob: np.ndarray  # on the final image (no jitter)
    prediction: np.ndarray  # the model's class for the final image
    snapshots: np.ndarray  # (k, n, h, w, 3)
    snapshot_steps: list  # steps done at each snapshot
    snapshot_probs: np.ndarray  # (k, n): the target's probability for each snapshot (no jitter)


@renamed(target="targets", iterations="steps")
def class_visualisation(model, targets, init_img=None, *, l2_reg: float = 1e-3, learning_rate: float = 25.0,
                        steps: int = 100, max_jitter: int = 16, blur_every: int = 10, show_every: int = 25,
                        blur_sigma: float = 0.5, seed: int = 0, progress: bool = True) -> ClassVisualisation:
    """CS231n's class visualisation by gradient ascent on the target's logit, from noise or from ``init_img``.

    ``targets``: one class (name or index) or a list (one image each, optimised as one batch). ``init_img``:
    ``None`` (seeded N(0, 1) noise in CS231n's units), or one image for all targets, or one per target.
    ``steps`` steps (capped by ``LABKIT_MAX_STEPS``), each: random roll by 0..``max_jitter`` px (seeded), ascend
    ``s_y - l2_reg * ||z||^2`` by ``learning_rate * g / ||g||_2`` (``z`` in CS231n's units), unroll, clamp to
    0..255 pixels, and blur (Gaussian, ``blur_sigma``) when ``t % blur_every == 0`` (``blur_every=0``: never).
    Snapshots at ``t == 0``, every ``show_every`` steps and at the end.
    """
    import tensorflow as tf
    from tqdm import tqdm

    size = input_size(model)
    steps = check_visualisation(size, steps, max_jitter, blur_every, show_every, l2_reg, learning_rate, blur_sigma)
    kernel = gaussian_kernel(blur_sigma)
    n = len(targets) if isinstance(targets, (list, tuple, np.ndarray)) else 1
    t = target_ids(model, targets, n)
    rng = np.random.default_rng(seed)
    if init_img is None:
        z = rng.standard_normal((n, size, size, 3)).astype(np.float32)
    else:
        x = input_batch(model, init_img)
        if len(x) not in (1, n):
            raise LabkitError(f"got {len(x)} init images for {n} targets: give one, or one per target")
        z = to_cs231n(np.repeat(x, n // len(x), axis=0))
    shifts = rng.integers(0, max_jitter + 1, (steps, 2)).astype(np.int32)
    step = compiled_step(model, "visualise")
    lr_t, l2_t, k_t = (tf.constant(v, tf.float32) for v in (learning_rate, l2_reg, kernel))
    z = tf.constant(z)
    probs, snaps, snap_steps = [], [], []
    for i in tqdm(range(steps), desc="class visualisation", disable=not progress, leave=False):
        do_blur = tf.constant(blur_every > 0 and i % blur_every == 0)
        z, p = step(z, t, shifts[i], lr_t, l2_t, do_blur, k_t)
        probs.append(p.numpy())
        if i == 0 or (i + 1) % show_every == 0 or i == steps - 1:
            snaps.append(np.clip(from_cs231n(z.numpy()), 0, 255))
            snap_steps.append(i + 1)
    snaps = np.stack(snaps)
    p = predict(model, snaps.reshape(-1, *snaps.shape[2:])).reshape(len(snaps), n, -1)
    snap_probs = p[:, np.arange(n), t]
    return ClassVisualisation(snaps[-1], t, np.stack(probs), snap_probs[-1], p[-1].argmax(1), snaps, snap_steps,
                              snap_probs)
