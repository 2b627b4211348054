"""Lab 4's exercises: the K masks (stripes, squares: a partition), the loss over the K masked copies."""

from __future__ import annotations

import numpy as np

from labkit.exercises._common import TANH10, close, images, tiny
from labkit.exercises._spec import Checker
from labkit.exercises.harness import Case


def partition_problems(m: np.ndarray, k: int, size: int) -> list[str]:
    """What is wrong with ``m`` as K masks that partition a ``size`` x ``size`` image (mask i hides part i); the
    messages name no K, size or mask number (the grader's are hidden)."""
    if m.shape != (k, size, size):
        return ["K masks of a size x size image should have shape (K, size, size)"]
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
    for mask in m:
        top, bottom, left, right = _bbox(mask)
        if (left, right) != (0, size) or mask[top:bottom].sum() != (bottom - top) * size:
            return ["a mask is not one horizontal stripe of whole rows"]
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
    for mask in m:
        top, bottom, left, right = _bbox(mask)
        if mask[top:bottom, left:right].sum() != (bottom - top) * (right - left):
            return ["a mask is not one rectangular cell"]
        if max(bottom - top, right - left) > 2.5 * min(bottom - top, right - left) + 1:
            return ["a mask is a long rectangle, not a near-square cell"]
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

    def public_cases(self) -> list[Case]:
        return [Case(self.function, (k, size)) for k, size in ((2, 8), (5, 20), (9, 30))]

    def cases(self, seed: int) -> list[Case]:
        rng = np.random.default_rng(seed)
        prime = int(rng.choice([5, 7, 11, 13]))
        sizes = [int(x) for x in rng.integers(40, 72, 4)]
        pairs = {"two parts": (2, sizes[0]), "three parts": (3, sizes[1]),
                 "K prime, rows that do not divide by K": (prime, prime * int(rng.integers(3, 6))
                                                          + int(rng.integers(2, prime))),
                 "K a square": (int(rng.choice([4, 9, 16])), sizes[2]),
                 "K not a square": (int(rng.choice([6, 8, 10, 12, 14])), sizes[3])}
        return [Case(self.function, pair, {}, about) for about, pair in pairs.items()]

    def grade(self, case: Case, out, public: bool = False) -> str:
        k, size = case.args
        problems = self.problems(np.asarray(out["masks"], np.float64), k, size)
        return "" if not problems else f"K = {k}, {size}x{size}: {problems[0]}" if public else problems[0]


class MaskedLoss(Checker):
    """4.3: ``masked_copies_loss(model, image, masks, targets)``: the mean cross-entropy of the K masked copies of
    ``image`` (hidden parts set to 0, each copy resized bilinearly to the model's input) against their targets,
    computed from the logits."""

    def _case(self, seed, kind: str, k: int, size: int, about: str = "", twice: bool = False) -> Case:
        from labkit import masks

        rng = np.random.default_rng(seed)
        targets = rng.permutation(10)[:k]
        if twice:
            targets[-1] = targets[0]
        image = images(seed, 1, 64)[0][:size, :size]
        return Case("masked_copies_loss", (TANH10, image, masks.masks(kind, k, size), targets), {}, about)

    def public_cases(self) -> list[Case]:
        return [self._case(7, "stripes", 3, 16)]

    def cases(self, seed: int) -> list[Case]:
        rng = np.random.default_rng(seed)
        s = [int(x) for x in rng.integers(1 << 30, size=3)]
        return [self._case(s[0], "stripes", int(rng.integers(2, 6)), int(rng.integers(16, 31)), "stripes"),
                self._case(s[1], "squares", int(rng.choice([4, 6])), int(rng.integers(36, 64)), "square cells"),
                self._case(s[2], "stripes", 3, 32, "an image at the model's size, a target twice", twice=True)]

    def grade(self, case: Case, out, public: bool = False) -> str:
        from labkit import attacks

        _, image, m, targets = case.args
        loss = np.ravel(out["loss"])
        want = attacks.masked_loss(tiny(), image, m, targets)
        if loss.shape == (1,) and close(loss, [want], 1e-4, 1e-6):
            return ""
        return ("the loss is not the mean cross-entropy of the masked copies: hide part i of copy i (zero), resize "
                "each copy to the model's input, and take the cross-entropy of its logits against target i")
