"""Fooling images (CS231n's rule), targeted FGSM and PGD: a compiled step (``labkit.attacks.steps``) looped
until each image is classified as its target, and the result as a table of pairs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labkit.attacks.steps import compiled_step
from labkit.deprecation import renamed
from labkit.errors import LabkitError, check_int, check_number, check_steps, max_steps
from labkit.files import atomic_path
from labkit.models import input_batch, predict, target_ids


@dataclass
class AttackResult:
    """Adversarial images and what they did, one row per (image, target); pixel units (0..255)."""

    method: str
    original: np.ndarray  # (n, h, w, 3) float32
    images: np.ndarray  # the adversarial images, float32 in 0..255
    source: np.ndarray  # the model's class for the original
    target: np.ndarray
    prediction: np.ndarray  # the model's class for the adversarial image
    target_prob: np.ndarray
    iterations: np.ndarray  # gradient steps taken

    @property
    def success(self) -> np.ndarray:
        return self.prediction == self.target

    @property
    def linf(self) -> np.ndarray:
        """Largest change of one pixel value, in pixel (= /255) units."""
        return np.abs(self.images - self.original).max(axis=(1, 2, 3))

    @property
    def l2(self) -> np.ndarray:
        return np.sqrt(np.square(self.images - self.original).sum(axis=(1, 2, 3)))

    def summary(self) -> dict:
        """Success rate; median iterations, L-inf (/255) and L2 over the successful pairs (None if none)."""
        ok = self.success

        def med(v):
            return float(np.median(v[ok])) if ok.any() else None

        return {"method": self.method, "pairs": len(ok), "success_rate": float(ok.mean()),
                "median_iterations": med(self.iterations), "median_linf": med(self.linf), "median_l2": med(self.l2)}

    def rows(self, names: Sequence[str] | None = None) -> list[dict]:
        from labkit import imagenet

        names = list(names) if names is not None else [str(i) for i in range(len(self.target))]
        if len(names) != len(self.target):
            raise LabkitError(f"got {len(names)} names for {len(self.target)} images")
        return [{"image": names[i], "source_class": int(self.source[i]), "target": int(self.target[i]),
                 "target_name": imagenet.name(int(self.target[i])) if self.target[i] < imagenet.NUM_CLASSES else "",
                 "iterations": int(self.iterations[i]), "success": bool(self.success[i]),
                 "linf": float(self.linf[i]), "l2": float(self.l2[i])} for i in range(len(names))]


def _loop(call, x0: np.ndarray, steps: int, desc: str, progress: bool, early_stop: bool = True):
    """Step the images not yet at their target (all of them if not ``early_stop``); count steps per image."""
    from tqdm import tqdm

    x = x0.copy()
    taken = np.zeros(len(x), np.int64)
    active = np.arange(len(x))
    for _ in tqdm(range(steps), desc=desc, disable=not progress, leave=False):
        new, hit = call(active, x[active])
        hit = hit.numpy() if early_stop else np.zeros(len(active), bool)
        x[active] = new.numpy()
        taken[active[~hit]] += 1
        active = active[~hit]
        if not len(active):
            break
    return x, taken


@renamed(x0="originals", x="images", target="targets")
def attack_result(method: str, model, originals, images, targets, steps) -> AttackResult:
    """The ``AttackResult`` of adversarial ``images`` made from ``originals`` (float32 batches at the model's size,
    by any loop, a student's too): labkit classifies both itself; ``targets`` and ``steps`` (the steps taken) give
    one value per image."""
    x0, x = np.asarray(originals, np.float32), np.asarray(images, np.float32)
    targets, steps = np.asarray(targets, np.int64).reshape(-1), np.asarray(steps).reshape(-1)
    p0, p = predict(model, x0), predict(model, x)
    return AttackResult(method, x0, x, p0.argmax(1), targets, p.argmax(1), p[np.arange(len(x)), targets], steps)


@renamed(lr="learning_rate", max_iterations="steps")
def fooling_images(model, images, targets, learning_rate: float = 1.0, steps: int = 100,
                   progress: bool = True) -> AttackResult:
    """CS231n's fooling images: ``learning_rate * g / ||g||_2`` steps on the target's logit until the model says
    the target, at most ``steps`` (CS231n's ``max_iter``; capped by ``LABKIT_MAX_STEPS``).

    ``images``: raw 0..255 (names, paths, arrays or a batch); ``targets``: one class for all or one per image.
    ``learning_rate`` is in CS231n's units (an L2 step of 1 in ImageNet-normalised pixels, ~57 pixel units).
    """
    import tensorflow as tf

    steps = check_steps("steps", steps)
    learning_rate = check_number("learning_rate", learning_rate)
    x0 = input_batch(model, images)
    t = target_ids(model, targets, len(x0))
    step, lr_t = compiled_step(model, "fool"), tf.constant(learning_rate, tf.float32)
    x, taken = _loop(lambda idx, xa: step(xa, t[idx], lr_t), x0, steps, "fooling", progress)
    return attack_result("fooling", model, x0, x, t, taken)


@renamed(iterations="steps")
def pgd(model, images, targets, eps: float = 8.0, step_size: float = 1.0, steps: int = 10,
        early_stop: bool = True, random_start: bool = False, seed: int = 0, progress: bool = True) -> AttackResult:
    """Targeted PGD under an L-inf budget (Kurakin/Madry): ``steps`` signed cross-entropy steps (capped by
    ``LABKIT_MAX_STEPS``), projected on ``eps``.

    ``eps`` and ``step_size`` in pixel (= /255) units; ``early_stop`` freezes an image once it is classified
    as its target (as the fooling loop does); ``random_start`` starts uniformly in the eps-ball (seeded).
    """
    import tensorflow as tf

    eps, step_size = check_number("eps", eps), check_number("step_size", step_size)
    requested = check_int("steps", steps)  # PGD or FGSM as asked, whatever the cap leaves of it
    steps, method = max_steps(requested), "pgd" if requested > 1 else "fgsm"
    x0 = input_batch(model, images)
    t = target_ids(model, targets, len(x0))
    start = x0
    if random_start:
        noise = np.random.default_rng(seed).uniform(-eps, eps, x0.shape).astype(np.float32)
        start = np.clip(x0 + noise, 0, 255)
    step = compiled_step(model, "pgd")
    args = tf.constant(step_size, tf.float32), tf.constant(eps, tf.float32), tf.constant(early_stop)
    x, taken = _loop(lambda idx, xa: step(xa, x0[idx], t[idx], *args), start, steps,
                     method.upper(), progress and requested > 1, early_stop)
    return attack_result(method, model, x0, x, t, taken)


def fgsm(model, images, targets, eps: float = 8.0) -> AttackResult:
    """Targeted one-step FGSM: ``x - eps * sign(grad of the cross-entropy to the target)``, clipped to 0..255."""
    return pgd(model, images, targets, eps=eps, step_size=eps, steps=1, progress=False)


def random_targets(sources: Sequence[int], m: int, seed: int = 0, classes: int = 1000) -> np.ndarray:
    """``(n, m)`` distinct random target classes per source class, never the source itself (seeded)."""
    check_int("number of targets", m)
    if m > classes - 1:
        raise LabkitError(f"at most {classes - 1} targets per image, got {m}")
    rng = np.random.default_rng(seed)
    return np.stack([rng.choice(np.setdiff1d(np.arange(classes), [s]), m, replace=False) for s in sources])


def save_fooled(result: AttackResult, out_dir: str | os.PathLike, names: Sequence[str],
                prefix: str = "fooled") -> list[dict]:
    """Save each adversarial image as ``.npy`` (float32, 0..255, model size) in ``out_dir``, atomically.

    Returns ``result.rows(names)`` with each row's ``file`` (relative to ``out_dir``): what the grader re-classifies.
    """
    rows = result.rows(names)  # checks names first: nothing written on bad input
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for i, row in enumerate(rows):
        stem = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in f"{prefix}_{i:03d}_{row['image']}")
        row["file"] = f"{stem}_to_{row['target']}.npy"
        with atomic_path(out / row["file"]) as tmp:
            np.save(tmp, result.images[i].astype(np.float32))
    return rows
