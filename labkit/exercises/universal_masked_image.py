"""Lab 4's exercises (seed 001): the K masks (stripes, squares: a partition), the loss over the K masked
copies."""

from __future__ import annotations

import numpy as np

from labkit.exercises._common import as_array, images, seed_of, tiny
from labkit.exercises._spec import Checker


def partition_problems(m: np.ndarray, k: int, size: int) -> list[str]:
    """What is wrong with ``m`` as K masks that partition a ``size`` x ``size`` image (mask i hides part i)."""
    if m.shape != (k, size, size):
        return [f"K = {k} masks of a {size}x{size} image should have shape {(k, size, size)}, got {m.shape}"]
    if not np.isin(m, (0, 1)).all():
        return ["masks should hold only 0 (kept) and 1 (hidden)"]
    if not (m.sum(axis=0) == 1).all():
        return ["the masks should partition the image: every pixel hidden in exactly one mask"]
    if (m.sum(axis=(1, 2)) == 0).any():
        return ["every mask should hide a part of the image"]
    return []


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


def stripe_problems(m: np.ndarray, k: int, size: int) -> list[str]:
    problems = partition_problems(m, k, size)
    if problems:
        return problems
    for i, mask in enumerate(m):
        top, bottom, left, right = _bbox(mask)
        if (left, right) != (0, size) or mask[top:bottom].sum() != (bottom - top) * size:
            return [f"mask {i} is not a horizontal stripe of whole rows"]
    heights = m.sum(axis=(1, 2)) / size
    if heights.max() - heights.min() > 1:
        return ["the stripes should have near-equal heights (within one row)"]
    if [_bbox(mask)[0] for mask in m] != sorted(_bbox(mask)[0] for mask in m):
        return ["mask i should hide stripe i, from the top"]
    return []


def square_problems(m: np.ndarray, k: int, size: int) -> list[str]:
    problems = partition_problems(m, k, size)
    if problems:
        return problems
    areas = []
    for i, mask in enumerate(m):
        top, bottom, left, right = _bbox(mask)
        if mask[top:bottom, left:right].sum() != (bottom - top) * (right - left):
            return [f"mask {i} is not one rectangular cell"]
        if max(bottom - top, right - left) > 2.5 * min(bottom - top, right - left) + 1:
            return [f"mask {i} is a long rectangle, not a near-square cell"]
        areas.append((bottom - top) * (right - left))
    if max(areas) > 2.5 * min(areas):
        return ["the cells should have near-equal areas"]
    return []


class Masks(Checker):
    """4.1 and 4.2: ``stripe_masks(k, size)`` / ``square_masks(k, size)``: ``(k, size, size)`` masks of 0 and 1,
    mask i hiding part i; together they hide every pixel exactly once."""

    def __init__(self, kind: str):
        self.kind = kind
        self.function = f"{'stripe' if kind == 'stripes' else 'square'}_masks"
        self.problems = stripe_problems if kind == "stripes" else square_problems

    def _masks(self, functions, k, size):
        return as_array(functions[self.function](k, size), "the masks")

    def public(self, functions) -> list[str]:
        for k, size in ((2, 8), (5, 20), (9, 30)):
            problems = self.problems(self._masks(functions, k, size), k, size)
            if problems:
                return [f"K = {k}, {size}x{size}: {problems[0]}"]
        return []

    def inputs(self, seed: int):
        rng = np.random.default_rng(seed)
        return {"k": rng.integers(2, 17, 3), "size": rng.integers(40, 72, 3)}

    def run(self, functions, inputs):
        return {f"m{i}": self._masks(functions, int(k), int(s))
                for i, (k, s) in enumerate(zip(inputs["k"], inputs["size"], strict=True))}

    def grade(self, inputs, outputs):
        for i, (k, s) in enumerate(zip(inputs["k"], inputs["size"], strict=True)):
            problems = self.problems(outputs[f"m{i}"], int(k), int(s))
            if problems:
                said = problems[0] if not any(ch.isdigit() for ch in problems[0]) else "the masks' shape is wrong"
                return False, f"on the grader's K and image size: {said}"  # never the hidden K or size
        return True, ""


def loss_reference(image: np.ndarray, m: np.ndarray, targets) -> float:
    from labkit import attacks

    return attacks.masked_loss(tiny(), image, m, targets)


class MaskedLoss(Checker):
    """4.3: ``masked_copies_loss(model, image, masks, targets)``: the mean cross-entropy of the K masked copies of
    ``image`` (hidden parts set to 0, each copy resized bilinearly to the model's input) against their targets,
    computed from the logits."""

    def _case(self, seed, k=3, size=16):
        from labkit import masks

        rng = np.random.default_rng(seed)
        return images(seed, 1, 32)[0][:size, :size], masks.masks("stripes", k, size), rng.permutation(10)[:k]

    def _run(self, functions, image, m, targets) -> float:
        return float(as_array(functions["masked_copies_loss"](tiny(), image.copy(), m, targets), "the loss"))

    def public(self, functions) -> list[str]:
        image, m, targets = self._case(7)
        got = self._run(functions, image, m, targets)
        if not np.isclose(got, loss_reference(image, m, targets), rtol=1e-4, atol=1e-5):
            return ["the loss is not the mean cross-entropy of the masked copies: hide part i of copy i (zero), resize "
                    "each copy to the model's input, and take the cross-entropy of its logits against target i"]
        return []

    def inputs(self, seed: int):
        return {"seed": np.array(seed)}

    def run(self, functions, inputs):
        return {"loss": np.array(self._run(functions, *self._case(seed_of(inputs), k=4, size=24)))}

    def grade(self, inputs, outputs):
        want = loss_reference(*self._case(seed_of(inputs), k=4, size=24))
        ok = bool(np.isclose(float(outputs["loss"]), want, rtol=1e-4, atol=1e-5))
        return ok, "the loss differs on the grader's image"
