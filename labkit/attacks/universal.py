"""Seed 001's universal masked image: one small image whose K masked copies each get their own class.

Freeze the model and optimise the pixels of one image so that each of its K masked copies
(``labkit.masks``: copy i has part i hidden) is classified as its own target class. Our own loop (no
library does this). The image is optimised in [0, 1] units, as in the seed, so SGD's learning rate 0.1
means what it meant there; it is clipped to [0, 1] after every step (projected gradient descent) and fed
to the model as 255 * x, resized (bilinear) to the model's input inside the graph. The loss is the mean
cross-entropy over the K copies, computed on the logits, which is exact and numerically stable. One
compiled step per (model, image size, optimiser, hidden mode), reused for every K and target.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from labkit.attacks.universal_check import reclassify_universal, relative_norms, universal_targets
from labkit.deprecation import renamed
from labkit.errors import LabkitError, check_int, check_number, check_steps
from labkit.files import atomic_path
from labkit.models import cached, input_size, logits_model, num_classes

UNIVERSAL_LR = {"sgd": 0.1, "adam": 0.1}  # optimiser -> default learning rate (pixels in [0, 1])


@renamed(lr="learning_rate")
def check_universal_params(k: int | None = None, targets: Sequence[int | str] | None = None, *,
                           mask_kind: str = "stripes", hidden: str = "zero", size: int = 64,
                           optimizer: str = "sgd", learning_rate: float | None = None, steps: int = 5000,
                           seed: int = 0, noise_seed: int | None = None, classes: int = 1000) -> dict:
    """Every parameter of ``universal_image`` checked (one ``LabkitError``, before any work) and resolved:
    returns ``k``, ``targets`` (indices), ``learning_rate`` (the optimiser's default when None), ``steps`` (capped
    by ``LABKIT_MAX_STEPS``) and ``noise_seed`` (``seed`` when None)."""
    from labkit import masks

    masks.check_mask_kind(mask_kind)
    masks.check_hidden(hidden)
    if k is None:
        if targets is None:
            raise LabkitError("give K or the list of target classes")
        k = 1 if isinstance(targets, (str, int, np.integer)) else len(targets)
    masks.check_parts(mask_kind, k, size)  # K over 1000, or more parts than the image has rows: here
    if k < 2:
        raise LabkitError(f"a universal image needs K >= 2 masked copies, got {k}")
    if optimizer not in UNIVERSAL_LR:
        raise LabkitError(f"unknown optimiser {optimizer!r}; one of {', '.join(UNIVERSAL_LR)}")
    learning_rate = check_number("learning_rate", UNIVERSAL_LR[optimizer] if learning_rate is None else learning_rate)
    steps = check_steps("steps", steps)
    for name, value in (("seed", seed), ("noise_seed", noise_seed)):
        if value is not None:
            check_int(name, value, 0)
    ids = universal_targets(int(k), targets, seed=seed, classes=classes)
    return {"k": int(k), "targets": ids, "learning_rate": learning_rate, "steps": steps,
            "noise_seed": int(seed if noise_seed is None else noise_seed)}


def _masked_logits(lm, image, m, hidden: str, noise, input_size: int):
    """Logits of the K masked copies of ``image`` (0..255), resized (bilinear) to the model's input."""
    import tensorflow as tf

    from labkit.masks import apply_masks

    copies = apply_masks(image, m, hidden, noise)
    return lm(tf.image.resize(copies, (input_size, input_size), method="bilinear"), training=False)


def universal_step(model, size: int, optimizer: str, hidden: str):
    """``(image, optimiser, step)``: the image variable (pixels in [0, 1]), its optimiser and the compiled step
    ``step(masks, targets, noise) -> (loss, hits)``, built once per (model, size, optimiser, hidden mode).
    ``universal_image`` resets the image and the optimiser's state for every run; benchmarks time ``step``."""
    return cached(model, ("universal", size, optimizer, hidden),
                  lambda: _build_universal(logits_model(model), input_size(model), size, optimizer, hidden))


def _build_universal(lm, s: int, size: int, optimizer: str, hidden: str):
    import keras
    import tensorflow as tf

    x = tf.Variable(tf.zeros((size, size, 3)), name="universal_image")
    opt = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam}[optimizer](UNIVERSAL_LR[optimizer])
    opt.build([x])  # its variables exist before tracing; universal_image resets them for every run

    @tf.function(input_signature=[tf.TensorSpec([None, size, size], tf.float32), tf.TensorSpec([None], tf.int32),
                                  tf.TensorSpec([size, size, 3], tf.float32)])
    def step(m, targets, noise):
        """Loss and hits of the current image; one optimiser step (then clip to [0, 1]) unless every copy hits."""
        with tf.GradientTape() as tape:
            logits = _masked_logits(lm, 255.0 * x, m, hidden, noise, s)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits))
        hits = tf.reduce_sum(tf.cast(tf.argmax(logits, axis=-1, output_type=tf.int32) == targets, tf.int32))
        grad = tape.gradient(loss, x)

        def update():
            opt.apply_gradients([(grad, x)])
            x.assign(tf.clip_by_value(x, 0.0, 1.0))
            return tf.constant(True)

        tf.cond(hits < tf.shape(targets)[0], update, lambda: tf.constant(False))
        return loss, hits

    return x, opt, step


@dataclass
class UniversalResult:
    """One universal image and what it did (pixels 0..255; ``check`` is ``reclassify_universal`` on ``image``)."""

    image: np.ndarray  # (size, size, 3) float32 in 0..255
    targets: list
    mask_kind: str
    hidden: str
    noise_seed: int
    optimizer: str
    lr: float
    steps: int  # optimiser steps taken (stops at the first image on which every copy hits, or at the cap)
    cap: int
    seconds: float  # wall time of the loop, the step's first-call compilation included
    loss: np.ndarray  # cross-entropy of the image after t steps, t = 0..
    hits: np.ndarray  # copies on target after t steps
    check: object = field(repr=False)  # DataFrame from reclassify_universal

    @property
    def k(self) -> int:
        return len(self.targets)

    @property
    def success(self) -> float:
        """Share of the masked copies classified as their target (on the returned image)."""
        return float(np.mean(self.check["hit"]))

    @property
    def steps_to_success(self) -> int | None:
        """Steps to 100% success, None if the cap came first."""
        return self.steps if self.success == 1.0 else None

    def copies(self) -> np.ndarray:
        from labkit.masks import masked_copies

        return masked_copies(self.image, self.mask_kind, self.k, self.hidden, self.noise_seed)

    def norms(self) -> dict:
        return relative_norms(self.image, self.copies())

    def row(self, model: str, file: str | None = None) -> dict:
        """The record for ``labkit.results``: what the grader re-checks with ``reclassify_universal``."""
        return {"model": model, "K": self.k, "mask_kind": self.mask_kind, "hidden": self.hidden,
                "noise_seed": self.noise_seed, "targets": list(self.targets), "optimizer": self.optimizer,
                "lr": self.lr, "success": self.success, "steps": self.steps_to_success, "steps_taken": self.steps,
                "cap": self.cap, "seconds": round(self.seconds, 3),
                "relative_norm_diff": self.norms()["relative_norm_diff"], "file": file}


@renamed(lr="learning_rate")
def universal_image(model, k: int | None = None, targets: Sequence[int | str] | None = None, *,
                    mask_kind: str = "stripes", hidden: str = "zero", size: int = 64, steps: int = 5000,
                    optimizer: str = "sgd", learning_rate: float | None = None, seed: int = 0,
                    noise_seed: int | None = None, progress: bool = True) -> UniversalResult:
    """Seed 001's universal masked image: one ``size`` x ``size`` image whose K masked copies each get their target.

    ``targets``: K class names or indices (distinct), or None for K random classes drawn with ``seed``;
    ``mask_kind``: ``stripes`` or ``squares``; ``hidden``: ``zero``, ``mean`` or ``noise`` (seeded by
    ``noise_seed``, default ``seed``); ``optimizer``: ``sgd`` (the seed's) or ``adam``, both with a learning rate
    of 0.1 by default, ``learning_rate`` in [0, 1] pixel units. Starts from uniform noise (seeded), minimises the
    mean cross-entropy
    of the K copies and stops at the first image on which every copy hits its target, or after
    ``steps`` steps (capped by ``LABKIT_MAX_STEPS``). A progress bar shows the copies on target.
    """
    import tensorflow as tf
    from tqdm import tqdm

    from labkit import masks

    p = check_universal_params(k, targets, mask_kind=mask_kind, hidden=hidden, size=size, optimizer=optimizer,
                               learning_rate=learning_rate, steps=steps, seed=seed, noise_seed=noise_seed,
                               classes=num_classes(model))
    k, ids, cap = p["k"], p["targets"], p["steps"]
    m = tf.constant(masks.masks(mask_kind, k, size))
    fill = masks.noise_fill(size, p["noise_seed"]) if hidden == "noise" else np.zeros((size, size, 3), np.float32)
    noise = tf.constant(fill)
    t_ids = tf.constant(ids, tf.int32)
    x, opt, step = universal_step(model, size, optimizer, hidden)
    x.assign(np.random.default_rng(seed).random((size, size, 3), dtype=np.float32))
    for v in opt.variables:  # a fresh optimiser state for every run
        if not v.path.endswith("learning_rate"):
            v.assign(tf.zeros_like(v))
    opt.learning_rate = p["learning_rate"]
    losses, hits = [], []
    start = time.perf_counter()
    with tqdm(total=cap, desc=f"universal K={k} {mask_kind}", disable=not progress, leave=False) as bar:
        for _ in range(cap):
            loss, hit = step(m, t_ids, noise)
            losses.append(float(loss))
            hits.append(int(hit))
            if hits[-1] == k:
                break
            bar.update(1)
            bar.set_postfix_str(f"on target {hits[-1]}/{k}", refresh=False)
    seconds = time.perf_counter() - start
    taken = len(hits) - 1 if hits[-1] == k else len(hits)
    image = (255.0 * x.numpy()).astype(np.float32)
    check = reclassify_universal(model, image, ids, mask_kind, hidden, p["noise_seed"])
    return UniversalResult(image, ids, mask_kind, hidden, p["noise_seed"], optimizer, p["learning_rate"], taken, cap,
                           seconds, np.array(losses), np.array(hits), check)


def save_universal(result: UniversalResult, out_dir: str | os.PathLike, name: str) -> str:
    """Save the universal image as ``<name>.npy`` (float32, 0..255, its own size) in ``out_dir``, atomically;
    returns the file name (relative to ``out_dir``)."""
    if not name or any(not (ch.isalnum() or ch in "-_.") for ch in name):
        raise LabkitError(f"a file name of letters, digits, '-', '_' and '.' please, got {name!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    file = f"{name}.npy"
    with atomic_path(out / file) as tmp:
        np.save(tmp, result.image.astype(np.float32))
    return file
